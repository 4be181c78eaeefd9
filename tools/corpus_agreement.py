"""Agreement of the grader with a teacher's verdicts, per question and overall.

    python3 tools/corpus_agreement.py                        # the project's corpus (tests/corpus)
    python3 tools/corpus_agreement.py /work/shared/real-dev  # real notebooks (nb/ + VERDICTS.json)
    python3 tools/corpus_agreement.py DIR --out OUT          # keep the grader's results in OUT
    python3 tools/corpus_agreement.py DIR -- -j 1 --lang en  # after --: more arguments for `grader grade`

DIR holds the notebooks in DIR/notebooks or DIR/nb (or DIR itself) and the verdicts in
DIR/verdicts.json or DIR/VERDICTS.json: {stem: {"verdicts": {question id: verdict}, "needs": [...]}}.
The grader is used as a black box: `python3 -m grader grade NOTEBOOKS --out OUT --force`, then each
OUT/<stem>.json is read. A verdict agrees with a score when
  full      score == max          positive  0 < score < max
  notfull   score < max           zero      score == 0
  -         not counted (the question does not exist in that edition)
A notebook the grader could not grade (status "error") counts as 0 on every question.
Notebooks whose `needs` packages are not importable here are skipped, and the output says so.
Exit status: 0, or 2 when the grader itself failed.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EPS = 1e-6
VERDICTS = ("full", "positive", "notfull", "zero", "-")
QIDS = ["autograd-basics", "sum-gradient", "nonscalar-backward", "detach", "control-flow",
        "ex1-second-derivative-cost", "ex2-backward-twice", "ex3-vector-input", "ex4-own-control-flow",
        "ex5-sin-derivative-plot"]   # the order of the report (others follow)


def agrees(verdict: str, score: float, max_score: float) -> bool:
    if verdict == "full":
        return score >= max_score - EPS
    if verdict == "positive":
        return EPS < score < max_score - EPS
    if verdict == "notfull":
        return score < max_score - EPS
    if verdict == "zero":
        return score <= EPS
    raise ValueError(f"unknown verdict {verdict!r}")


def locate(folder: Path) -> tuple[Path, Path]:
    """The notebooks' folder and the verdicts file of a corpus folder."""
    nbdir = next((folder / d for d in ("notebooks", "nb") if (folder / d).is_dir()), folder)
    vfile = next((folder / f for f in ("verdicts.json", "VERDICTS.json") if (folder / f).is_file()), None)
    if vfile is None:
        raise SystemExit(f"error: {folder}: no verdicts.json or VERDICTS.json")
    return nbdir, vfile


def missing_needs(entry: dict) -> list[str]:
    return [p for p in entry.get("needs", []) if importlib.util.find_spec(p) is None]


def grade(notebooks: list[Path], out: Path, extra: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "grader", "grade", *map(str, notebooks), "--out", str(out), "--force", *extra]
    env = dict(os.environ)
    # expected values computed afresh by this grader, not read from a cache another version wrote
    env["GRADER_CACHE"] = str(out / ".grader-cache")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)


def measure(folder: Path, out: Path | None = None, extra: list[str] | None = None,
            match: list[str] | None = None) -> dict:
    """Grades every notebook of `folder` and compares with its verdicts. Returns a summary dict:
    {"per_question": {qid: [agree, total]}, "agree", "total", "rate", "disagreements": [...],
     "skipped": {stem: [missing packages]}, "missing": [stems with a verdict but no notebook],
     "grader": CompletedProcess}."""
    nbdir, vfile = locate(folder)
    verdicts = json.loads(vfile.read_text(encoding="utf-8"))
    skipped = {s: m for s, e in verdicts.items() if (m := missing_needs(e))}
    todo, missing = [], []
    for stem in sorted(verdicts):
        if stem in skipped or (match and not any(m in stem for m in match)):
            continue
        p = nbdir / f"{stem}.ipynb"
        (todo if p.is_file() else missing).append(p if p.is_file() else stem)
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="corpus-")
        out = Path(tmp.name)
    out.mkdir(parents=True, exist_ok=True)
    proc = grade(todo, out, extra or [])
    per_q: dict[str, list[int]] = {}
    per_verdict: dict[str, list[int]] = {}   # the same by verdict: does it give full marks to good work,
                                             # and does it withhold them from wrong work?
    disagreements = []
    for p in todo:
        stem = p.stem
        rfile = out / f"{stem}.json"
        result = json.loads(rfile.read_text(encoding="utf-8")) if rfile.is_file() else None
        by_q = {q["id"]: q for q in (result or {}).get("questions", [])}
        for qid, verdict in verdicts[stem]["verdicts"].items():
            if verdict == "-":
                continue
            q = by_q.get(qid)
            score = q["score"] if q else 0.0
            max_score = q["max_score"] if q else float("nan")
            ok = q is not None and agrees(verdict, score, max_score)
            cnt = per_q.setdefault(qid, [0, 0])
            cnt[0] += ok
            cnt[1] += 1
            cls = per_verdict.setdefault(verdict, [0, 0])
            cls[0] += ok
            cls[1] += 1
            if not ok:
                if q is None:
                    why = [f"not graded: {(result or {}).get('error') or 'no result'}"]
                else:
                    why = [f"{c['name']} [{c['status']} {c['score']:g}/{c['max_score']:g}]: "
                           f"{(c.get('message') or '').strip()}" for c in q["checks"] if c["status"] != "pass"]
                disagreements.append({"notebook": stem, "question": qid, "verdict": verdict,
                                      "score": score, "max_score": max_score, "checks": why,
                                      "why": verdicts[stem].get("why") or verdicts[stem].get("notes", "")})
    order = {q: i for i, q in enumerate(QIDS)}
    per_q = dict(sorted(per_q.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    agree = sum(a for a, _ in per_q.values())
    total = sum(t for _, t in per_q.values())
    if tmp is not None:
        tmp.cleanup()
    wrong = [sum(per_verdict.get(v, [0, 0])[i] for v in ("positive", "notfull", "zero")) for i in (0, 1)]
    return {"per_question": per_q, "agree": agree, "total": total, "rate": agree / total if total else 0.0,
            "per_verdict": per_verdict, "rate_wrong": wrong[0] / wrong[1] if wrong[1] else 1.0,
            "disagreements": disagreements, "skipped": skipped, "missing": missing, "graded": len(todo),
            "grader": proc}


def report(summary: dict, folder: Path, width: int = 200) -> str:
    lines = [f"corpus {folder}: {summary['graded']} notebook(s) graded"]
    for stem, pkgs in sorted(summary["skipped"].items()):
        lines.append(f"  skipped {stem}: needs {', '.join(pkgs)} (not importable here)")
    for stem in summary["missing"]:
        lines.append(f"  missing {stem}: a verdict but no notebook")
    lines.append("")
    lines.append(f"{'question':30} {'agree':>7} {'total':>6} {'rate':>7}")
    for qid, (a, t) in summary["per_question"].items():
        lines.append(f"{qid:30} {a:7d} {t:6d} {a / t:7.1%}")
    lines.append(f"{'overall':30} {summary['agree']:7d} {summary['total']:6d} {summary['rate']:7.1%}")
    lines.append("")
    lines.append(f"{'by verdict':30} {'agree':>7} {'total':>6} {'rate':>7}")
    for v in VERDICTS:
        if v in summary["per_verdict"]:
            a, t = summary["per_verdict"][v]
            lines.append(f"{v:30} {a:7d} {t:6d} {a / t:7.1%}")
    lines.append(f"{'not full (positive+notfull+zero)':30} {'':7} {'':6} {summary['rate_wrong']:7.1%}")
    if summary["disagreements"]:
        lines.append("")
        lines.append("disagreements (notebook, question, verdict, score):")
        for d in summary["disagreements"]:
            lines.append(f"- {d['notebook']}  {d['question']}  verdict {d['verdict']}, "
                         f"score {d['score']:g}/{d['max_score']:g}   ({d['why'][:120]})")
            for c in d["checks"]:
                c = " ".join(c.split())
                lines.append(f"    {c[:width]}{'…' if len(c) > width else ''}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=ROOT / "tests" / "corpus")
    ap.add_argument("--out", type=Path, help="keep the grader's results here (default: a temporary folder)")
    ap.add_argument("--json", type=Path, help="also write the summary as JSON to this file")
    ap.add_argument("--width", type=int, default=200, help="characters of each failing check's message")
    ap.add_argument("--match", action="append", metavar="TEXT",
                    help="only notebooks whose name contains TEXT (repeatable), e.g. --match en10 --match bad_")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []   # after --: more arguments for `grader grade`
    argv = argv[:argv.index("--")] if "--" in argv else argv
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"error: {args.folder}: not a folder", file=sys.stderr)
        return 2
    s = measure(args.folder, args.out, extra, args.match)
    proc = s.pop("grader")
    if proc.returncode not in (0, 1):
        print(f"error: grader grade exited {proc.returncode}: {proc.stderr.strip()[-2000:]}", file=sys.stderr)
        return 2
    print(report(s, args.folder, args.width))
    if args.json:
        args.json.write_text(json.dumps(s, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
