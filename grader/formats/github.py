"""GitHub Classroom and GitHub Actions: the grading-reporter result (a base64 JSON step output
named ``result``), a Markdown job summary, and at most 10 ``::error`` annotations.

Everything that may contain text from the student's notebook is printed between
``::stop-commands::TOKEN`` and ``::TOKEN::`` with a fresh random token, so a notebook that
prints ``::notice title=Autograding complete::Points 100/100`` forges nothing."""
from __future__ import annotations

from ..i18n import say

import base64
import json
import secrets
from typing import TextIO

from ..model import SubmissionResult

MAX_ANNOTATIONS = 10


def reporter_result(r: SubmissionResult, max_score: float | None = None) -> dict:
    """The grading-reporter schema: ``tests`` always present, ``line_no`` a number. With
    ``max_score``, every score is scaled so that the runner is worth that many points."""
    scale = (max_score / r.max_score) if max_score and r.max_score else 1.0
    tests = []
    if r.status == "error":
        tests.append({"name": "notebook", "status": "error", "score": 0, "message": (r.error or "")[:300],
                      "test_code": "", "filename": "", "line_no": 0, "execution_time": f"{r.seconds:.2f}s"})
    for q in r.questions:
        for c in q.checks:
            full = c.status == "pass" or c.status == "manual" and c.score >= c.max_score  # provisional, but full
            status = "pass" if full else "error" if c.status in ("error", "timeout") else "fail"
            tests.append({"name": f"{q.id}: {c.name}", "status": status, "score": round(c.score * scale, 4),
                          "message": c.message[:300], "test_code": "", "filename": "", "line_no": 0,
                          "execution_time": "0s"})
    status = "error" if r.status == "error" or any(t["status"] == "error" for t in tests) else \
        "fail" if any(t["status"] == "fail" for t in tests) else "pass"
    return {"version": 1, "status": status, "max_score": max_score or r.max_score, "tests": tests}


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def summary_markdown(r: SubmissionResult, lang: str) -> str:
    t = (lambda zh, en: say(lang, zh, en))
    lines = [f"## {t('自動評分', 'Autograding')}: {r.submission} — {r.score:g} / {r.max_score:g}", ""]
    if r.status == "error":
        lines += [f"**{t('無法評分', 'Could not be graded')}:** {_md(r.error or '')}", ""]
    lines += [f"| {t('題目', 'Question')} | {t('分數', 'Score')} | {t('狀態', 'Status')} | {t('回饋', 'Feedback')} |",
              "|---|---|---|---|"]
    for q in r.questions:
        notes = "<br>".join(f"{c.name}: {_md(c.message)}" for c in q.checks if c.status != "pass" and c.message)
        lines.append(f"| {q.id} {_md(q.title)} | {q.score:g} / {q.max_score:g} | {q.status} | {notes} |")
    return "\n".join(lines) + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")[:600]


def write(r: SubmissionResult, notebook: str, lang: str, report: str, stdout: TextIO,
          output_path: str | None, summary_path: str | None, max_score: float | None = None) -> None:
    """Print the report (commands stopped), the annotations, and write the step output and summary."""
    token = secrets.token_hex(16)
    stdout.write(f"::stop-commands::{token}\n{report}\n::{token}::\n")
    count = 0
    for q in r.questions:
        for c in q.checks:
            if c.status in ("pass", "manual") or count >= MAX_ANNOTATIONS:
                continue
            count += 1
            title = _escape_property(f"{q.id}: {c.name} ({c.score:g}/{c.max_score:g})")
            stdout.write(f"::error file={_escape_property(notebook)},line=1,title={title}::{_escape_data(c.message[:500])}\n")
    if r.status == "error":
        stdout.write(f"::error file={_escape_property(notebook)},line=1,title=grader::{_escape_data(r.error or '')}\n")
    if output_path:
        payload = base64.b64encode(json.dumps(reporter_result(r, max_score), ensure_ascii=False).encode()).decode()
        with open(output_path, "a", encoding="utf-8") as f:
            f.write(f"result={payload}\n")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as f:
            f.write(summary_markdown(r, lang))
