"""Stage 4: render results (a terminal report, a score table, JSON files, the CSV)."""
from __future__ import annotations

from .i18n import say

import csv
import io
import json
import os
from pathlib import Path

from .model import Rubric, SubmissionResult

MARK = {"pass": "✓", "fail": "✗", "partial": "~", "error": "!", "timeout": "⏱", "manual": "?"}


def _fmt(x: float) -> str:
    return f"{x:g}"


def student_report(r: SubmissionResult, lang: str) -> str:
    t = (lambda zh, en: say(lang, zh, en))
    lines = [f"{r.submission}: " + (t("無法評分", "could not be graded") + f" — {r.error}" if r.status == "error"
                                     else f"{_fmt(r.score)} / {_fmt(r.max_score)}")]
    if r.sandbox.startswith("no sandbox"):
        lines.append(t("（注意：未使用沙箱執行）", "(note: run without the sandbox)"))
    lines += [f"! {n}" for n in getattr(r, "notes", [])]
    for q in r.questions:
        lines.append(f"\n{MARK.get(q.status, ' ')} {q.id}  {q.title}  {_fmt(q.score)}/{_fmt(q.max_score)}  [{q.status}]")
        for c in q.checks:
            line = f"    {MARK.get(c.status, ' ')} {c.name} {_fmt(c.score)}/{_fmt(c.max_score)}"
            if c.message:
                line += f"  {c.message}"
            lines.append(line)
    return "\n".join(lines)


def table(results: list[SubmissionResult], rubric: Rubric) -> str:
    qids = [q.id for q in rubric.questions]
    short = [q.replace("ex", "e").split("-")[0] if q.startswith("ex") else q.split("-")[0][:8] for q in qids]
    head = ["submission"] + short + ["total", "status"]
    rows = []
    for r in results:
        by = {q.id: q for q in r.questions}
        row = [r.submission]
        for qid in qids:
            q = by.get(qid)
            row.append("-" if q is None else _fmt(q.score) + ("" if q.status in ("pass", "partial", "fail") else f"{MARK[q.status]}"))
        row += [f"{_fmt(r.score)}/{_fmt(r.max_score)}", r.status if r.status == "error" else "ok"]
        rows.append(row)
    widths = [max(len(str(x[i])) for x in [head] + rows) for i in range(len(head))]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(head, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in rows]
    legend = "questions: " + ", ".join(f"{s}={q}" for s, q in zip(short, qids))
    return "\n".join(out + ["", legend, "marks: ⏱ timeout, ! error, ? awaiting manual review"])


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_result(out: Path, r: SubmissionResult) -> None:
    write_atomic(out / f"{r.submission}.json", json.dumps(r.to_dict(), ensure_ascii=False, indent=1))


def csv_text(results: list[SubmissionResult], rubric: Rubric) -> str:
    qids = [q.id for q in rubric.questions]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["submission", *qids, "total", "max_score", "status"])
    for r in results:
        by = {q.id: q.score for q in r.questions}
        w.writerow([r.submission, *(_fmt(by[q]) if q in by else "" for q in qids), _fmt(r.score),
                    _fmt(r.max_score), r.status])
    return buf.getvalue()
