"""Stage 3: judge captured data against the reference's, check by check, in the grader process.

Also builds the probe plan (which values each check needs, placed around which cells), since
that is the check kinds' side of the contract with the executor.
"""
from __future__ import annotations

from .i18n import is_chinese, say

import traceback

from .checks import REGISTRY, Context, Region
from . import locate
from .execute import Plan
from .model import (ERROR, FAIL, PASS, TIMEOUT, CheckResult, CheckSpec, Execution, Question,
                    QuestionResult, Rubric, Text, question_status)


def probe_id(q: Question, c: CheckSpec, role: str) -> str:
    return f"{q.id}/{c.name}/{role}"


def selected(rubric: Rubric, public_only: bool):
    for q, c in rubric.checks():
        if public_only and c.visibility != "public":
            continue
        yield q, c


def region_of(ex: Execution, indices: list[int], anchor: str | None = None) -> Region:
    runs = {r.index: r for r in ex.cells}
    parts = ex.parts.get(anchor, {}) if anchor else {}
    prose = []
    for i in indices:
        if ex.sources[i]:
            prose.append(locate.prose(parts.get(i, ex.sources[i]), "code"))
        elif ex.markdown[i]:
            prose.append(parts.get(i, ex.markdown[i]))
    return Region(code=[ex.sources[i] for i in indices if ex.sources[i]],
                  markdown=[parts.get(i, ex.markdown[i]) for i in indices if ex.markdown[i]],
                  runs=[runs[i] for i in indices if i in runs], prose=[p for p in prose if p.strip()],
                  indices=list(indices))


def build_plan(rubric: Rubric, located: dict[str, list[int]], ex: Execution, public_only: bool) -> Plan:
    plan = Plan()
    for q, c in selected(rubric, public_only):
        indices = located.get(c.cell)
        if not indices:
            continue
        region = region_of(ex, indices, c.cell)
        for role, (when, request) in REGISTRY[c.kind].requests(c, region).items():
            plan.add(indices[0] if when == "pre" else indices[-1], when, probe_id(q, c, role), request)
    return plan


def judge(rubric: Rubric, ex: Execution, expected: dict | None, lang: str, public_only: bool,
          not_found: dict[str, Text]) -> list[QuestionResult]:
    out = []
    for q in rubric.questions:
        checks = [c for c in q.checks if not public_only or c.visibility == "public"]
        if not checks:
            continue
        if all(c.cell in ex.not_applicable for c in checks):
            # the student's edition has no such exercise: nothing to grade, not counted
            results = [CheckResult(name=c.name, status=PASS, score=0.0, max_score=0.0,
                                   message=ex.not_applicable[c.cell].get(lang), visibility=c.visibility) for c in checks]
            out.append(QuestionResult(id=q.id, title=q.title.get(lang), status=PASS, score=0.0, max_score=0.0,
                                      checks=results))
            continue
        results = [_judge_one(rubric, q, c, ex, expected, lang, not_found) for c in checks]
        out.append(QuestionResult(id=q.id, title=q.title.get(lang), status=question_status(results),
                                  score=round(sum(r.score for r in results), 4),
                                  max_score=sum(r.max_score for r in results), checks=results))
    return out


def _judge_one(rubric, q, c, ex, expected, lang, not_found) -> CheckResult:
    def result(status: str, fraction: float, message: str) -> CheckResult:
        if status not in (PASS,) and c.feedback and status != "manual":
            hint = c.feedback.get(lang)
            message = f"{message} — {hint}" if message else hint
        if status != PASS and c.cell in ex.fallback:
            note = ex.fallback[c.cell].get(lang)
            message = f"{message}（{note}）" if is_chinese(lang) else f"{message} ({note})"
        return CheckResult(name=c.name, status=status, score=round(c.points * fraction, 4),
                           max_score=c.points, message=message, visibility=c.visibility)

    t = (lambda zh, en: say(lang, zh, en))
    if c.cell in not_found or c.cell in ex.not_applicable:
        why = (not_found.get(c.cell) or ex.not_applicable[c.cell]).get(lang)
        # an answer for review is always listed for review, found or not
        return result("manual" if REGISTRY[c.kind].review else FAIL, 0.0, why)
    indices = ex.located[c.cell]
    region = region_of(ex, indices, c.cell)
    kind = REGISTRY[c.kind]
    if kind.uses_events:  # what was recorded before a cell was lost still counts
        try:
            early = kind.judge(Context(spec=c, lang=lang, region=region, got={}, expected=None,
                                       all_events=ex.events))
        except Exception:
            early = None
        if early is not None and early.status == PASS:
            return result(PASS, max(0.0, min(1.0, early.fraction)), early.message)
    # a cell past its time limit dooms the checks anchored to it; a check over a whole scope
    # (the section, the notebook) is still judged on the rest, the timeout noted by its own checks
    timed_out = [r for r in region.runs if r.status == "timeout"]
    if timed_out and rubric.anchors[c.cell].scope is None:
        n, head = timed_out[0].index + 1, _first_line(timed_out[0].source)
        return result(TIMEOUT, 0.0, t(f"第 {n} 個儲存格（{head}）執行超過時間限制（{rubric.limits.cell_timeout:g} 秒），已被中斷；是不是有無窮迴圈？",
                                      f"cell {n} ({head}) ran past its time limit ({rubric.limits.cell_timeout:g} s) and was interrupted: an endless loop?"))
    roles = kind.requests(c, region)
    got = {}
    for role in roles:
        pid = probe_id(q, c, role)
        if pid in ex.probe_errors:
            status, msg = ex.probe_errors[pid]
            return result(status, 0.0, _translate_lost(msg, lang))
        got[role] = ex.captures.get(pid)
    skipped = [r for r in region.runs if r.status in ("skipped", "dead")]
    if skipped:
        return result(ERROR, 0.0, t("核心（kernel）在執行這些儲存格之前或期間停止了，這題無法評分",
                                    "the kernel died before or while running these cells, so this could not be graded"))
    exp = None
    if kind.needs_reference:
        if expected is None:
            return result(ERROR, 0.0, t("沒有參考解的預期值", "no expected values from the reference"))
        exp = {role: expected.get(probe_id(q, c, role)) for role in roles}
        if any(v is None for v in exp.values()):
            return result(ERROR, 0.0, t("參考解缺少這個檢查的值", "the reference has no value for this check"))
    ctx = Context(spec=c, lang=lang, region=region, got=got, expected=exp, all_events=ex.events)
    try:
        v = kind.judge(ctx)
    except Exception as e:  # a bug in one check must not stop the others
        where = traceback.extract_tb(e.__traceback__)[-1]
        return result(ERROR, 0.0, f"internal grader error in check {c.name} ({type(e).__name__}: {e} at "
                                  f"{where.filename.rsplit('/', 1)[-1]}:{where.lineno})")
    message = v.message
    lost_before = [i for i in ex.restarts if i < indices[0]]
    if v.status == FAIL and lost_before and ("NameError" in message or any(r.ename == "NameError" for r in region.runs)):
        n = lost_before[-1] + 1
        return result(ERROR, 0.0, t(f"核心（kernel）在第 {n} 個儲存格停止了；之後在新的核心中繼續執行，但這題用到之前定義的變數，所以無法評分",
                                    f"the kernel was lost at cell {n}; the rest ran in a fresh kernel, but this relies on "
                                    f"variables defined before that, so it could not be graded"))
    if v.status == FAIL:
        errs = [r for r in region.runs if r.status == "error"]
        if errs and not _mentions(message, errs[0].ename) and c.kind != "exception" \
                and rubric.anchors[c.cell].scope is None:
            r = errs[0]
            message += t(f"（第 {r.index + 1} 個儲存格引發 {r.ename}: {r.evalue[:160]}）",
                         f" (cell {r.index + 1} raised {r.ename}: {r.evalue[:160]})")
    return result(v.status, max(0.0, min(1.0, v.fraction)), message)


def _first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return f"`{line[:40]}{'…' if len(line) > 40 else ''}`"


def _mentions(message: str, ename: str) -> bool:
    return bool(ename) and ename in message


_LOST = {
    "the kernel died before this was captured": "核心（kernel）在擷取這個值之前就停止了",
    "the kernel died while running this cell": "核心（kernel）在執行這個儲存格時停止了",
    "the kernel died while the grader was reading values": "核心（kernel）在讀取值時停止了",
    "the notebook ran out of time before this was captured": "整本筆記本的執行時間用完了，這個值沒有被擷取",
    "reading the values took longer than the time limit": "讀取值的時間超過了限制（你的函式是否在某些輸入上無窮迴圈？）",
    "the cell ran past its time limit and ignored the interrupt; the kernel was stopped":
        "儲存格超過時間限制且忽略中斷，核心（kernel）已被停止",
    "the kernel sent malformed messages (was something in it patched?); it was stopped":
        "核心（kernel）送出格式錯誤的訊息（是否修改了其中的模組？），已被停止",
}


def _translate_lost(msg: str, lang: str) -> str:
    if not lang.startswith("zh"):
        return msg
    for en, zh in _LOST.items():
        if msg.startswith(en):
            return zh + msg[len(en):]
    return msg
