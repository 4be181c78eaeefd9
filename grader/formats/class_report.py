"""The instructor's class report (``grader report DIR``): one self-contained HTML page with the
score distribution and per-question pass rates as plots, the most common failure message per
check, the submissions that errored or timed out, and the answers awaiting manual review."""
from __future__ import annotations

import html
import io
from collections import Counter

from ..i18n import say
from ..messages import render as render_reason

from ..model import Rubric, SubmissionResult


# Text in the plots stays SVG text (not glyph outlines), so the reader's browser draws it with
# its own fonts in any language; matplotlib lays it out with a CJK font where one is installed.
CJK_FONTS = {"zh-CN": "Noto Sans CJK SC", "zh-TW": "Noto Sans CJK TC"}


def _style(lang: str) -> dict:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [n for n in (CJK_FONTS.get(lang), "Noto Sans CJK JP", "WenQuanYi Zen Hei", "Droid Sans Fallback")
           if n and n in names]
    # the families by name: matplotlib falls back along font.family for a missing glyph, and
    # 3.11 no longer does so through the "sans-serif" alias
    families = ["DejaVu Sans", *cjk[:1]]
    return {"svg.fonttype": "none", "font.family": families, "font.sans-serif": families}


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _plots(results: list[SubmissionResult], rubric: Rubric, lang: str) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(_style(lang)):
        return _draw(plt, results, rubric, lang)


def _draw(plt, results: list[SubmissionResult], rubric: Rubric, lang: str) -> tuple[str, str]:
    t = (lambda zh, en: say(lang, zh, en))
    graded = [r for r in results if r.status == "graded"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([r.score for r in graded], bins=10, range=(0, max((r.max_score for r in graded), default=100)),
            color="#4a7ebb", edgecolor="white")
    ax.set_xlabel(t("總分", "total score"))
    ax.set_ylabel(t("人數", "submissions"))
    ax.set_title(t("分數分布", "Score distribution"))
    hist = _svg(fig)
    plt.close(fig)
    qids = [q.id for q in rubric.questions]
    rates = []
    for qid in qids:
        qs = [q for r in graded for q in r.questions if q.id == qid]
        rates.append(100 * sum(q.score >= q.max_score for q in qs) / len(qs) if qs else 0)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.barh(qids[::-1], rates[::-1], color="#5a9e5a")
    ax.set_xlim(0, 100)
    ax.set_xlabel(t("滿分比例 (%)", "full marks (%)"))
    ax.set_title(t("各題通過率", "Pass rate per question"))
    bars = _svg(fig)
    plt.close(fig)
    return hist, bars


def _why(check, lang: str, rubric: Rubric) -> str:
    """The check's reason worded alone (without the rubric's hint); a result saved before reasons
    existed has only its message."""
    if check.reason:
        return render_reason(check.reason, lang, rubric.messages)
    return check.message.split(" — ")[0]


def render(results: list[SubmissionResult], rubric: Rubric, lang: str) -> str:
    t = (lambda zh, en: say(lang, zh, en))
    e = html.escape
    hist, bars = _plots(results, rubric, lang)
    graded = [r for r in results if r.status == "graded"]
    rows = []
    for q in rubric.questions:
        for c in q.checks:
            got = [ch for r in graded for qq in r.questions if qq.id == q.id for ch in qq.checks if ch.name == c.name]
            passed = sum(ch.score >= ch.max_score for ch in got)
            fails = Counter(_why(ch, lang, rubric)[:160] for ch in got
                            if ch.status not in ("pass", "manual") and ch.message)
            common = fails.most_common(1)
            rows.append(f"<tr><td>{e(q.id)}</td><td>{e(c.name)}</td><td>{passed}/{len(got)}</td>"
                        f"<td>{e(common[0][0]) + f' ({common[0][1]}×)' if common else ''}</td></tr>")
    broken = [r for r in results if r.status == "error" or any(q.status in ("error", "timeout") for q in r.questions)]
    broken_items = "".join(
        f"<li>{e(r.submission)}: {e(r.error or ', '.join(q.id + ' (' + q.status + ')' for q in r.questions if q.status in ('error', 'timeout')))}</li>"
        for r in broken)
    manual = [(r.submission, q.id, c) for r in graded for q in r.questions for c in q.checks if c.status == "manual"]
    manual_items = "".join(f"<li>{e(s)} — {e(qid)}/{e(c.name)}: {c.score:g}/{c.max_score:g}</li>" for s, qid, c in manual)
    mean = sum(r.score for r in graded) / len(graded) if graded else 0
    return f"""<!doctype html><html lang="{lang}"><meta charset="utf-8"><title>{e(rubric.assignment)}</title>
<style>body{{font-family:sans-serif,'Noto Sans CJK SC','Noto Sans CJK TC';max-width:70em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}.plots{{display:flex;flex-wrap:wrap;gap:2em}}
.plots svg{{max-width:34em;height:auto}}</style>
<h1>{e(t('全班報告', 'Class report'))}: {e(rubric.assignment)}</h1>
<p>{len(results)} {e(t('份繳交', 'submissions'))}, {len(graded)} {e(t('份已評分', 'graded'))};
{e(t('平均', 'mean'))} {mean:.1f}</p>
<div class="plots"><figure id="distribution">{hist}</figure><figure id="pass-rates">{bars}</figure></div>
<h2>{e(t('各檢查的通過數與最常見的錯誤', 'Checks: passes and the most common failure'))}</h2>
<table id="checks"><tr><th>{e(t('題目', 'question'))}</th><th>{e(t('檢查', 'check'))}</th>
<th>{e(t('通過', 'passed'))}</th><th>{e(t('最常見的錯誤訊息', 'most common failure'))}</th></tr>{''.join(rows)}</table>
<h2>{e(t('出錯或超時', 'Errors and timeouts'))} ({len(broken)})</h2><ul id="broken">{broken_items}</ul>
<h2>{e(t('待人工複核', 'Awaiting manual review'))} ({len(manual)})</h2><ul id="manual">{manual_items}</ul>
</html>
"""
