"""Benchmark: grading a class with `grader grade` against the baseline of plain nbclient.

    python bench/bench.py [-n 200] [--jobs N] [--with-timeouts]

Generates N submissions (copies of the correct, wrong and broken samples of submissions/, each
with a unique name and a marker cell so no two are byte-identical), then in one run:

  (a) baseline: plain nbclient, a fresh kernel per notebook, the notebooks run one after the
      other (what nbgrader costs: it grades strictly serially);
  (b) `grader grade` at its defaults (sandbox, pre-warmed kernels, one worker per core);
  (c) `grader grade -j 1`, whose results must equal (b)'s;
  (d) `grader check` on one notebook against plain nbclient running that notebook.

and prints seconds per notebook, the throughput ratio (b over a), the peak memory of (b)'s whole
process tree (sum of PSS), and whether (b) equals (c). The infinite-loop sample is left out
unless --with-timeouts: both sides would spend the same cell timeout on it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIX = ["reference", "book_layout", "seed_answers", "typical_mistakes", "hardcoded_f", "syntax_error",
       "kills_kernel", "not_a_notebook"]


def generate(n: int, dest: Path, with_timeouts: bool) -> list[Path]:
    mix = MIX + (["infinite_loop"] if with_timeouts else [])
    paths = []
    for i in range(n):
        name = mix[i % len(mix)]
        src = (ROOT / "submissions" / f"{name}.ipynb").read_text(encoding="utf-8")
        path = dest / f"s{i:04d}_{name}.ipynb"
        try:
            nb = json.loads(src)
            nb["cells"].append({"cell_type": "markdown", "id": f"bench{i}", "metadata": {}, "source": f"student {i}"})
            src = json.dumps(nb, ensure_ascii=False)
        except ValueError:
            pass  # the broken file stays broken
        path.write_text(src, encoding="utf-8")
        paths.append(path)
    return paths


def baseline(paths: list[Path], timeout: int) -> float:
    """Plain nbclient, fresh kernel per notebook, serially. Returns wall seconds."""
    import nbformat
    from nbclient import NotebookClient

    started = time.monotonic()
    for p in paths:
        try:
            nb = nbformat.read(str(p), as_version=4)
        except Exception:
            continue  # nbclient cannot run a file that is not a notebook either
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                           interrupt_on_timeout=True).execute()
        except Exception:
            pass  # a dead kernel ends that notebook, as it would in nbgrader
    return time.monotonic() - started


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], env: dict) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run a command; return wall seconds, peak PSS of its process tree (KiB), the process."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], sum(_pss_kib(p) for p in _tree(proc.pid)))
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    wall = time.monotonic() - started
    t.join()
    return wall, peak[0], subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def results_of(out: Path) -> dict:
    res = {}
    for p in out.glob("*.json"):
        r = json.loads(p.read_text())
        r.pop("seconds", None)
        res[p.stem] = r
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=200, help="number of submissions (default 200)")
    ap.add_argument("--jobs", type=int, default=None, help="workers for (b) (default: grader's default)")
    ap.add_argument("--with-timeouts", action="store_true", help="include the infinite-loop sample in the mix")
    ap.add_argument("--sandbox-overhead", type=int, default=24, metavar="K",
                    help="also grade K of the notebooks with and without the sandbox, cold and warm, one worker "
                         "each, to measure what the sandbox costs per notebook (0 to skip; default 24)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    env = {**os.environ, "GRADER_CACHE": str(work / "cache")}
    try:
        subs = work / "subs"
        subs.mkdir()
        paths = generate(args.n, subs, args.with_timeouts)
        grade = [sys.executable, "-m", "grader", "grade", str(subs)]
        # warm the expected-values cache once, outside every measurement
        subprocess.run([sys.executable, "-m", "grader", "check", str(ROOT / "submissions" / "reference.ipynb")],
                       cwd=ROOT, env=env, capture_output=True)
        print(f"{args.n} submissions ({', '.join(MIX + (['infinite_loop'] if args.with_timeouts else []))}), "
              f"{os.cpu_count()} cores", flush=True)

        t_base = baseline(paths, timeout=10)
        print(f"(a) plain nbclient, fresh kernel, serial: {t_base:8.1f} s  {t_base / args.n:.3f} s/notebook", flush=True)

        jobs = ["-j", str(args.jobs)] if args.jobs else []
        t_fast, peak, p_fast = run_measured(grade + ["--out", str(work / "out_b")] + jobs, env)
        assert p_fast.returncode == 0, p_fast.stderr[-2000:]
        print(f"(b) grader grade (defaults):             {t_fast:8.1f} s  {t_fast / args.n:.3f} s/notebook", flush=True)

        t_one, _, p_one = run_measured(grade + ["--out", str(work / "out_c"), "-j", "1"], env)
        assert p_one.returncode == 0, p_one.stderr[-2000:]
        print(f"(c) grader grade -j 1:                   {t_one:8.1f} s  {t_one / args.n:.3f} s/notebook", flush=True)
        same = results_of(work / "out_b") == results_of(work / "out_c")

        one = str(ROOT / "submissions" / "reference.ipynb")
        t_check, _, p_check = run_measured([sys.executable, "-m", "grader", "check", one], env)
        t_plain_one = baseline([Path(one)], timeout=10)
        # plain nbclient above ran in this process (no interpreter start): time it as a command too
        t_plain_cmd, _, _ = run_measured([sys.executable, "-c",
                                          "import nbformat,sys\nfrom nbclient import NotebookClient\n"
                                          "nb=nbformat.read(sys.argv[1],as_version=4)\n"
                                          "NotebookClient(nb,timeout=10,kernel_name='python3',allow_errors=True).execute()",
                                          one], env)

        overhead = []
        if args.sandbox_overhead:
            few = work / "few"
            few.mkdir()
            for p in paths[: args.sandbox_overhead]:
                shutil.copy(p, few)
            for label, extra in (("cold, sandbox", ["--cold"]), ("cold, --no-sandbox", ["--cold", "--no-sandbox"]),
                                 ("warm, sandbox", []), ("warm, --no-sandbox", ["--no-sandbox"])):
                out = work / f"out_{label.replace(' ', '').replace(',', '_')}"
                t, _, p = run_measured([sys.executable, "-m", "grader", "grade", str(few), "--out", str(out),
                                        "-j", "1", *extra], env)
                assert p.returncode == 0, p.stderr[-2000:]
                overhead.append((label, t / args.sandbox_overhead))
                print(f"(e) {label:20s} -j 1, {args.sandbox_overhead} notebooks: {t:6.1f} s  "
                      f"{t / args.sandbox_overhead:.3f} s/notebook", flush=True)

        print()
        print(f"throughput ratio (b over a):   {t_base / t_fast:.1f}x   (target >= 10x)")
        print(f"peak memory of (b):            {peak / 1024:.0f} MiB (sum of PSS of the grader and every kernel; target < 3072)")
        print(f"(b) results identical to -j 1: {same}")
        print(f"grader check, one notebook:    {t_check:.2f} s  vs plain nbclient {t_plain_cmd:.2f} s as a command "
              f"({t_plain_one:.2f} s in-process)")
        if overhead:
            o = dict(overhead)
            print(f"sandbox overhead per notebook: cold {o['cold, sandbox'] - o['cold, --no-sandbox']:+.3f} s, "
                  f"warm {o['warm, sandbox'] - o['warm, --no-sandbox']:+.3f} s")
        summary = [line for line in p_fast.stdout.splitlines() if "graded (" in line]
        if summary:
            print(f"(b) summary: {summary[0]}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
