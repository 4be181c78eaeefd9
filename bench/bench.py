"""Benchmark: grading a class with `grader grade` against the baseline of plain nbclient.

    python bench/bench.py [--sizes 60,200] [--jobs N] [--cluster local:2] [--with-timeouts]

For each size N, generates N distinct submissions (copies of the correct, wrong and broken
samples of submissions/, each with its own comment in a code cell and its own marker cell, so no
two are byte-identical and no cache helps), then in one run:

  (a) baseline: plain nbclient, a fresh kernel per notebook, the notebooks run one after the
      other (what nbgrader costs: it grades strictly serially);
  (b) `grader grade` at its defaults (sandbox, pre-warmed kernels, one worker more than cores), with
      GRADER_TIMINGS set: where one notebook's time goes, from the grader's own timers;
  (c) `grader grade -j 1` (first size only), whose results must equal (b)'s;
  (f) with --cluster: the same batch on that Dask cluster, whose results must equal (b)'s, and
      (g) for local:N, `grader grade -j N` when N is not (b)'s number of workers (like with like);
  (d) `grader check` on one notebook against plain nbclient running that notebook (once).

and prints seconds per notebook, the throughput ratio (b over a), the peak memory of (b)'s whole
process tree (sum of PSS), the time breakdown, and whether the results agree. The infinite-loop
sample is left out unless --with-timeouts: both sides would spend the same cell timeout on it.
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
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        name = mix[i % len(mix)]
        src = (ROOT / "submissions" / f"{name}.ipynb").read_text(encoding="utf-8")
        path = dest / f"s{i:04d}_{name}.ipynb"
        try:
            nb = json.loads(src)
            for cell in nb["cells"]:  # a different input each: the code itself differs
                if cell.get("cell_type") == "code":
                    body = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                    cell["source"] = f"# student {i}\n" + body
                    break
            nb["cells"].append({"cell_type": "markdown", "id": f"bench{i}", "metadata": {}, "source": f"student {i}"})
            src = json.dumps(nb, ensure_ascii=False)
        except ValueError:
            src += f"\n{i}"  # the broken file stays broken, and distinct
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


def _machine_cpu() -> tuple[float, float]:
    """CPU seconds this machine has spent busy and idle since boot (all cores, /proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:8]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / hz, (ticks[3] + ticks[4]) / hz


LAST_CPU: dict[str, float] = {}  # of the last run_measured: machine busy and idle, the command's own process


def run_measured(cmd: list[str], env: dict) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run a command; return wall seconds, peak PSS of its process tree (KiB), the process.
    ``LAST_CPU`` gets where the CPU went meanwhile: the machine's busy and idle seconds, and the
    command's own process (its rusage; the sandboxed kernels and fork servers are not its
    direct children, so their CPU is the machine's busy time less this)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, idle0 = _machine_cpu()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], sum(_pss_kib(p) for p in _tree(proc.pid)))
            time.sleep(0.5)  # (reading smaps costs the kernel CPU: not too often)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    wall = time.monotonic() - started
    busy1, idle1 = _machine_cpu()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    t.join()
    LAST_CPU.update(busy=busy1 - busy0, idle=idle1 - idle0,
                    own=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))
    return wall, peak[0], subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def cpu_line(n: int) -> str:
    c = LAST_CPU
    rest = c["busy"] - c["own"]
    return (f"  where the CPU went: machine busy {c['busy']:.1f} cpu-s, idle {c['idle']:.1f}; the grader process "
            f"{c['own']:.1f} ({c['own'] / n:.3f} a notebook); kernels, fork servers, sandboxes and the rest "
            f"{rest:.1f} ({rest / n:.3f} a notebook)")


def results_of(out: Path) -> dict:
    res = {}
    for p in out.glob("*.json"):
        r = json.loads(p.read_text())
        r.pop("seconds", None)
        res[p.stem] = r
    return res


PHASES = [("kernel", "kernel fork and ready (*)"), ("setup", "probe set-up in the kernel"),
          ("cells", "student cells"), ("probes", "probes / recorder"),
          ("teardown", "kernel stop, reap (+ next fork)"), ("read", "read the notebook"),
          ("locate", "locate cells, plan"), ("judge_wait", "waiting for the judge's imports"), ("judge", "judge")]


def breakdown(timings: Path, wall: float, workers: int, started: float) -> list[str]:
    """Where one notebook's time goes, from the grader's own timers (GRADER_TIMINGS)."""
    try:
        lines = [json.loads(line) for line in timings.read_text().splitlines() if line.strip()]
    except OSError:
        return ["  (no timings were written)"]
    if not lines:
        return ["  (no timings were written)"]
    n = len(lines)
    mean = {k: sum(x.get(k, 0.0) for x in lines) / n for k, _ in PHASES + [("seconds", ""), ("write", "")]}
    measured = sum(mean[k] for k, _ in PHASES)
    first = min(x["t"] for x in lines) - started
    out = [f"  where one notebook's time goes ({n} notebooks, {workers} workers; mean seconds per notebook):"]
    for key, label in PHASES:
        share = mean[key] / mean["seconds"] if mean["seconds"] else 0.0
        out.append(f"    {label:34s} {mean[key]:7.3f} s  {share:6.1%}")
    out.append(f"    {'other (in grade_path, untimed)':34s} {mean['seconds'] - measured:7.3f} s")
    out.append(f"    {'= one notebook on a worker':34s} {mean['seconds']:7.3f} s   (*) with each worker's fork-server start")
    out.append(f"    {'writing results (the writer)':34s} {mean['write']:7.3f} s  (JSON, gradebook; beside the workers)")
    idle = (wall * workers - mean["seconds"] * n) / n
    out.append(f"    {'start-up, waiting, idle':34s} {idle:7.3f} s  (wall x workers / notebooks - the above; "
               f"first result after {first:.1f} s)")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="60,200", help="numbers of submissions, comma-separated (default 60,200)")
    ap.add_argument("-n", type=int, default=None, help="one size only (same as --sizes N)")
    ap.add_argument("--jobs", type=int, default=None, help="workers for (b) (default: grader's default)")
    ap.add_argument("--cluster", metavar="ADDRESS", help="also grade each batch with --cluster ADDRESS (e.g. local:2)")
    ap.add_argument("--with-timeouts", action="store_true", help="include the infinite-loop sample in the mix")
    ap.add_argument("--sandbox-overhead", type=int, default=24, metavar="K",
                    help="also grade K of the notebooks with and without the sandbox, cold and warm, one worker "
                         "each, to measure what the sandbox costs per notebook (0 to skip; default 24)")
    args = ap.parse_args()
    sizes = [args.n] if args.n else [int(x) for x in args.sizes.split(",") if x.strip()]
    from grader.cli import default_jobs

    workers = args.jobs or default_jobs()

    work = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    env = {**os.environ, "GRADER_CACHE": str(work / "cache")}
    env.pop("GRADER_TIMINGS", None)
    ok = True
    try:
        # warm the expected-values cache once, outside every measurement
        subprocess.run([sys.executable, "-m", "grader", "check", str(ROOT / "submissions" / "reference.ipynb")],
                       cwd=ROOT, env=env, capture_output=True)
        with open("/proc/loadavg") as f:
            load = f.read().split()[:3]
        print(f"mix: {', '.join(MIX + (['infinite_loop'] if args.with_timeouts else []))}; {os.cpu_count()} cores, "
              f"load average {' '.join(load)} at the start", flush=True)
        summary = []
        for k, n in enumerate(sizes):
            subs = work / f"subs{n}"
            paths = generate(n, subs, args.with_timeouts)
            grade = [sys.executable, "-m", "grader", "grade", str(subs)]
            print(f"\n== {n} submissions", flush=True)
            t_base = baseline(paths, timeout=10)
            print(f"(a) plain nbclient, fresh kernel, serial: {t_base:8.1f} s  {t_base / n:.3f} s/notebook", flush=True)

            jobs = ["-j", str(args.jobs)] if args.jobs else []
            timings = work / f"timings{n}.jsonl"
            started = time.time()
            t_fast, peak, p_fast = run_measured(grade + ["--out", str(work / f"out_b{n}")] + jobs,
                                                {**env, "GRADER_TIMINGS": str(timings)})
            assert p_fast.returncode == 0, p_fast.stderr[-2000:]
            print(f"(b) grader grade (defaults):             {t_fast:8.1f} s  {t_fast / n:.3f} s/notebook  "
                  f"{t_base / t_fast:.1f}x, peak {peak / 1024:.0f} MiB", flush=True)
            print(cpu_line(n), flush=True)
            print("\n".join(breakdown(timings, t_fast, min(workers, n), started)), flush=True)
            line = f"{n:5d} notebooks: ratio (b over a) {t_base / t_fast:5.1f}x, (b) {t_fast / n:.3f} s/notebook, " \
                   f"peak {peak / 1024:.0f} MiB"
            if k == 0:
                t_one, _, p_one = run_measured(grade + ["--out", str(work / f"out_c{n}"), "-j", "1"], env)
                assert p_one.returncode == 0, p_one.stderr[-2000:]
                same = results_of(work / f"out_b{n}") == results_of(work / f"out_c{n}")
                ok &= same
                print(f"(c) grader grade -j 1:                   {t_one:8.1f} s  {t_one / n:.3f} s/notebook; "
                      f"identical to (b): {same}", flush=True)
            if args.cluster:
                # like with like: a local:N cluster against -j N on this machine (the default may differ)
                local_n = int(args.cluster.split(":", 1)[1]) if args.cluster.startswith("local:") else workers
                t_same, label = t_fast, "(b)"
                if local_n != workers:
                    t_same, _, p_same = run_measured(grade + ["--out", str(work / f"out_g{n}"), "-j", str(local_n)], env)
                    assert p_same.returncode == 0, p_same.stderr[-2000:]
                    label = f"-j {local_n}"
                    print(f"(g) grader grade -j {local_n}:                   {t_same:8.1f} s  {t_same / n:.3f} s/notebook; "
                          f"identical to (b): {results_of(work / f'out_b{n}') == results_of(work / f'out_g{n}')}",
                          flush=True)
                ctimings = work / f"ctimings{n}.jsonl"
                started = time.time()
                t_cl, peak_cl, p_cl = run_measured(grade + ["--out", str(work / f"out_f{n}"), "--cluster", args.cluster],
                                                   {**env, "GRADER_TIMINGS": str(ctimings)})
                assert p_cl.returncode == 0, p_cl.stderr[-2000:]
                same = results_of(work / f"out_b{n}") == results_of(work / f"out_f{n}")
                ok &= same
                print(f"(f) grader grade --cluster {args.cluster}: {t_cl:8.1f} s  {t_cl / n:.3f} s/notebook, peak "
                      f"{peak_cl / 1024:.0f} MiB; vs {label} {t_cl / t_same:.2f}x the wall time; identical to (b): {same}",
                      flush=True)
                print("\n".join(breakdown(ctimings, t_cl, min(local_n, n), started)), flush=True)
                line += f"; --cluster {args.cluster} {t_cl:.1f} s vs {label} {t_same:.1f} s"
            summary.append(line)

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
            for p in sorted((work / f"subs{sizes[0]}").glob("*.ipynb"))[: args.sandbox_overhead]:
                shutil.copy(p, few)
            k = len(list(few.glob("*.ipynb")))
            for label, extra in (("cold, sandbox", ["--cold"]), ("cold, --no-sandbox", ["--cold", "--no-sandbox"]),
                                 ("warm, sandbox", []), ("warm, --no-sandbox", ["--no-sandbox"])):
                out = work / f"out_{label.replace(' ', '').replace(',', '_')}"
                t, _, p = run_measured([sys.executable, "-m", "grader", "grade", str(few), "--out", str(out),
                                        "-j", "1", *extra], env)
                assert p.returncode == 0, p.stderr[-2000:]
                overhead.append((label, t / k))
                print(f"(e) {label:20s} -j 1, {k} notebooks: {t:6.1f} s  {t / k:.3f} s/notebook", flush=True)

        print()
        for line in summary:
            print(line)
        print(f"targets: ratio >= 15x at 60, >= 18x at 200; peak < 1536 MiB at -j 2")
        print(f"grader check, one notebook:    {t_check:.2f} s  vs plain nbclient {t_plain_cmd:.2f} s as a command "
              f"({t_plain_one:.2f} s in-process): {t_check / t_plain_cmd:.0%} (target <= 60%)")
        if overhead:
            o = dict(overhead)
            print(f"sandbox overhead per notebook: cold {o['cold, sandbox'] - o['cold, --no-sandbox']:+.3f} s, "
                  f"warm {o['warm, sandbox'] - o['warm, --no-sandbox']:+.3f} s")
        with open("/proc/loadavg") as f:
            print(f"load average at the end: {' '.join(f.read().split()[:3])} (other work on the machine skews every figure)")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
