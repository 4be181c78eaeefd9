"""A feedback file per submission, for the student: each question, its score, and for each check
that did not pass what went wrong and a hint, in the rubric's language (Markdown and a
self-contained HTML page). Only what the result model holds: no hidden check's code or
reference values (hidden checks' messages never contain them)."""
from __future__ import annotations

import html

from ..i18n import say
from ..model import SubmissionResult

MARK = {"pass": "✅", "partial": "🟡", "fail": "❌", "error": "⚠️", "timeout": "⏱️", "manual": "📝"}


def _t(lang: str, zh: str, en: str) -> str:
    return say(lang, zh, en)


def markdown(r: SubmissionResult, lang: str) -> str:
    t = lambda zh, en: _t(lang, zh, en)  # noqa: E731
    out = [f"# {t('評分回饋', 'Feedback')}: {r.submission}", ""]
    if r.status == "error":
        return "\n".join(out + [t("這份檔案無法評分：", "This file could not be graded: ") + (r.error or ""), ""])
    out += [f"**{t('總分', 'Total')}: {r.score:g} / {r.max_score:g}**", ""]
    out += [f"> {n}" for n in r.notes] + ([""] if r.notes else [])
    for q in r.questions:
        out.append(f"## {MARK.get(q.status, '')} {q.title} — {q.score:g} / {q.max_score:g}")
        for c in q.checks:
            if c.status == "pass" and not c.message:
                continue
            status = {"pass": t("通過", "passed"), "fail": t("未通過", "not passed"), "error": t("無法評分", "not graded"),
                      "timeout": t("超時", "timed out"), "manual": t("待人工複核", "awaiting review")}.get(c.status, c.status)
            out.append(f"- **{c.name}** ({c.score:g}/{c.max_score:g}, {status}): {c.message}")
        out.append("")
    return "\n".join(out)


def html_page(r: SubmissionResult, lang: str) -> str:
    t = lambda zh, en: _t(lang, zh, en)  # noqa: E731
    rows = []
    for q in r.questions:
        checks = "".join(
            f"<li class='{c.status}'><b>{html.escape(c.name)}</b> {c.score:g}/{c.max_score:g}"
            f"{' — ' + html.escape(c.message) if c.message else ''}</li>"
            for c in q.checks if c.status != "pass" or c.message)
        rows.append(f"<section class='{q.status}'><h2>{MARK.get(q.status, '')} {html.escape(q.title)} "
                    f"<span>{q.score:g} / {q.max_score:g}</span></h2>{'<ul>' + checks + '</ul>' if checks else ''}</section>")
    rows = [f"<p class='note'>{html.escape(n)}</p>" for n in r.notes] + rows
    body = "".join(rows) if r.status != "error" else \
        f"<p>{t('這份檔案無法評分：', 'This file could not be graded: ')}{html.escape(r.error or '')}</p>"
    return (f"<!doctype html><html lang='{lang}'><meta charset='utf-8'><title>{html.escape(r.submission)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}section{border-left:4px solid #ccc;"
            "padding:0 1em;margin:1em 0}section.pass{border-color:#2a2}section.fail,section.error,section.timeout"
            "{border-color:#c22}section.partial,section.manual{border-color:#e90}h2 span{float:right}"
            "li.fail,li.error,li.timeout{color:#a00}</style>"
            f"<h1>{t('評分回饋', 'Feedback')}: {html.escape(r.submission)} — {r.score:g} / {r.max_score:g}</h1>"
            f"{body}</html>\n")
