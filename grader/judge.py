"""Stage 3: judge captured data against the reference's, check by check, in the grader process.

Also builds the probe plan (which values each check needs, placed around which cells), since
that is the check kinds' side of the contract with the executor.
"""
from __future__ import annotations

import traceback

from .checks import REGISTRY, Context, Region
from . import locate
from .execute import Plan
from .messages import Reason, render
from .model import (ERROR, FAIL, PASS, TIMEOUT, CheckResult, CheckSpec, Execution, Question,
                    QuestionResult, Rubric, question_status)


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
          not_found: dict[str, Reason]) -> list[QuestionResult]:
    out = []
    for q in rubric.questions:
        checks = [c for c in q.checks if not public_only or c.visibility == "public"]
        if not checks:
            continue
        if all(c.cell in ex.not_applicable for c in checks):
            # the student's edition has no such exercise: nothing to grade, not counted
            results = []
            for c in checks:
                why = ex.not_applicable[c.cell]
                results.append(CheckResult(name=c.name, status=PASS, score=0.0, max_score=0.0,
                                           message=render(why, lang, rubric.messages), visibility=c.visibility,
                                           reason=why.to_dict()))
            out.append(QuestionResult(id=q.id, title=q.title.get(lang), status=PASS, score=0.0, max_score=0.0,
                                      checks=results))
            continue
        results = [_judge_one(rubric, q, c, ex, expected, lang, not_found) for c in checks]
        out.append(QuestionResult(id=q.id, title=q.title.get(lang), status=question_status(results),
                                  score=round(sum(r.score for r in results), 4),
                                  max_score=sum(r.max_score for r in results), checks=results))
    return out


def _judge_one(rubric, q, c, ex, expected, lang, not_found) -> CheckResult:
    def result(status: str, fraction: float, reason: Reason | None) -> CheckResult:
        """The check's result: its reason, and the reason worded in ``lang`` with the rubric's
        hint (not for a pass or a review) and the locator's note (cells found by the fallback)."""
        message = render(reason, lang, rubric.messages)
        if status not in (PASS,) and c.feedback and status != "manual":
            hint = c.feedback.get(lang)
            message = render(Reason("result.hint", message=message, hint=hint), lang, rubric.messages) if message else hint
        if status != PASS and c.cell in ex.fallback:
            message = render(Reason("result.fallback", message=message, note=ex.fallback[c.cell]), lang, rubric.messages)
        return CheckResult(name=c.name, status=status, score=round(c.points * fraction, 4),
                           max_score=c.points, message=message, visibility=c.visibility,
                           reason=reason.to_dict() if reason is not None else None)

    if c.cell in not_found or c.cell in ex.not_applicable:
        why = not_found.get(c.cell) or ex.not_applicable[c.cell]
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
            return result(PASS, max(0.0, min(1.0, early.fraction)), early.reason)
    # a cell past its time limit dooms the checks anchored to it; a check over a whole scope
    # (the section, the notebook) is still judged on the rest, the timeout noted by its own checks
    timed_out = [r for r in region.runs if r.status == "timeout"]
    if timed_out and rubric.anchors[c.cell].scope is None:
        return result(TIMEOUT, 0.0, Reason("judge.timeout", cell=timed_out[0].index + 1, head=_first_line(timed_out[0].source),
                                           limit=rubric.limits.cell_timeout))
    roles = kind.requests(c, region)
    got = {}
    for role in roles:
        pid = probe_id(q, c, role)
        if pid in ex.probe_errors:
            status, why = ex.probe_errors[pid]
            return result(status, 0.0, why)
        got[role] = ex.captures.get(pid)
    skipped = [r for r in region.runs if r.status in ("skipped", "dead")]
    if skipped:
        return result(ERROR, 0.0, Reason("judge.kernel_died"))
    exp = None
    if kind.needs_reference:
        if expected is None:
            return result(ERROR, 0.0, Reason("judge.no_expected"))
        exp = {role: expected.get(probe_id(q, c, role)) for role in roles}
        if any(v is None for v in exp.values()):
            return result(ERROR, 0.0, Reason("judge.reference_missing"))
    ctx = Context(spec=c, lang=lang, region=region, got=got, expected=exp, all_events=ex.events)
    try:
        v = kind.judge(ctx)
    except Exception as e:  # a bug in one check must not stop the others
        where = traceback.extract_tb(e.__traceback__)[-1]
        return result(ERROR, 0.0, Reason("judge.internal_error", check=c.name, error=f"{type(e).__name__}: {e}",
                                         where=f"{where.filename.rsplit('/', 1)[-1]}:{where.lineno}"))
    reason = v.reason
    lost_before = [i for i in ex.restarts if i < indices[0]]
    if v.status == FAIL and lost_before and (_mentions(reason, "NameError") or any(r.ename == "NameError" for r in region.runs)):
        return result(ERROR, 0.0, Reason("judge.lost_before", cell=lost_before[-1] + 1))
    if v.status == FAIL:
        errs = [r for r in region.runs if r.status == "error"]
        if errs and not _mentions(reason, errs[0].ename) and c.kind != "exception" \
                and rubric.anchors[c.cell].scope is None:
            r = errs[0]
            reason = Reason("judge.cell_raised", message=reason, cell=r.index + 1, ename=r.ename, evalue=r.evalue[:160])
    return result(v.status, max(0.0, min(1.0, v.fraction)), reason)


def _first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return f"`{line[:40]}{'…' if len(line) > 40 else ''}`"


def _mentions(reason: Reason | None, ename: str) -> bool:
    """The reason already names the error (the English wording holds what every wording holds)."""
    return bool(ename) and reason is not None and ename in render(reason, "en")
