"""In-notebook self-check for students::

    from grader import check
    check("ex2-backward-twice")   # one question
    check()                       # every public check

grades the notebook *as saved* (save it first) with ``grader check`` in a separate, sandboxed
kernel, and shows the public checks' results right in the notebook, in the student's language.
Hidden checks are never run or shown here."""
from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from pathlib import Path

from .i18n import say

INSIDE = "GRADER_INSIDE"  # set in every kernel the grader runs: check() there does nothing
MARK = {"pass": "✅", "partial": "🟡", "fail": "❌", "error": "⚠️", "timeout": "⏱️", "manual": "📝"}


def _notebook_path(path: str | None) -> Path:
    if path:
        return Path(path)
    try:  # Jupyter (ipykernel >= 6.23 with jupyter_server >= 2) tells the kernel its notebook
        session = get_ipython().user_ns.get("__session__")  # noqa: F821
    except NameError:
        session = None
    session = session or os.environ.get("JPY_SESSION_NAME")
    if session and str(session).endswith(".ipynb") and Path(session).is_file():
        return Path(session)
    raise FileNotFoundError("could not tell which notebook this is: call check(..., path='my_notebook.ipynb')")


def check(question: str | None = None, path: str | None = None, lang: str | None = None,
          rubric: str | None = None, timeout: float = 600):
    """Grade the saved notebook's public checks (of one question, or all) and show the result."""
    if os.environ.get(INSIDE):
        return None  # this notebook is being graded right now: don't grade it again from inside
    nb = _notebook_path(path)
    cmd = [sys.executable, "-m", "grader", "check", str(nb), "--json"]
    for flag, value in (("--question", question), ("--lang", lang), ("--rubric", rubric)):
        if value:
            cmd += [flag, value]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode == 2 or not proc.stdout.strip():
        raise ValueError(proc.stderr.strip().removeprefix("grader: error: ") or "grader check failed")
    result = json.loads(proc.stdout)
    report = SelfCheck(result, lang or "zh-TW")
    try:
        from IPython.display import display

        display(report)
    except ImportError:
        print(report)
    return result


class SelfCheck:
    """A result that shows as a table in Jupyter and as text elsewhere."""

    def __init__(self, result: dict, lang: str):
        self.result, self.lang = result, lang

    def _t(self, zh: str, en: str) -> str:
        return say(self.lang, zh, en)

    def __repr__(self) -> str:
        r = self.result
        lines = [f"{r['submission']}: {r['score']:g} / {r['max_score']:g}"]
        for q in r["questions"]:
            lines.append(f"{MARK.get(q['status'], '')} {q['id']} {q['score']:g}/{q['max_score']:g}")
            lines += [f"    {c['name']}: {c['message']}" for c in q["checks"] if c["status"] != "pass" and c["message"]]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        r = self.result
        if r["status"] == "error":
            return f"<p>{html.escape(self._t('無法評分：', 'Could not be graded: '))}{html.escape(r['error'] or '')}</p>"
        rows = []
        for q in r["questions"]:
            notes = "<br>".join(f"<b>{html.escape(c['name'])}</b>: {html.escape(c['message'])}"
                                for c in q["checks"] if c["status"] != "pass" and c["message"])
            rows.append(f"<tr><td>{MARK.get(q['status'], '')} {html.escape(q['id'])}</td>"
                        f"<td>{q['score']:g} / {q['max_score']:g}</td><td>{notes}</td></tr>")
        head = self._t("自我檢查（只含公開的檢查）", "Self-check (public checks only)")
        return (f"<p><b>{html.escape(head)}: {r['score']:g} / {r['max_score']:g}</b></p>"
                f"<table><tr><th>{self._t('題目', 'Question')}</th><th>{self._t('分數', 'Score')}</th>"
                f"<th>{self._t('回饋', 'Feedback')}</th></tr>{''.join(rows)}</table>")
