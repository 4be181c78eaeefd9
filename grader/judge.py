"""Stage 3: judge captured data against the reference's, check by check, in the grader
process. Which probes each check asked for, and where its cells are, come from the plan
(plan.py) the executor ran: nothing is asked of the kinds twice.
"""
from __future__ import annotations

import dataclasses
import traceback

from .checks import REGISTRY, Context
from .messages import Reason, render
from .model import (ERROR, FAIL, PASS, TIMEOUT, CheckResult, Execution, QuestionResult, Rubric,
                    question_status)
from .plan import Plan, check_key


def judge(rubric: Rubric, plan: Plan, ex: Execution, expected: dict | None, lang: str) -> list[QuestionResult]:
    """The results of the checks the plan selected, question by question."""
    out = []
    located = plan.located
    for q in rubric.questions:
        checks = [c for c in q.checks if not plan.public_only or c.visibility == "public"]
        if not checks:
            continue
        if all(c.cell in located.not_applicable for c in checks):
            # the student's edition has no such exercise: nothing to grade, not counted
            results = []
            for c in checks:
                why = located.not_applicable[c.cell]
                results.append(CheckResult(name=c.name, status=PASS, score=0.0, max_score=0.0,
                                           message=render(why, lang, rubric.messages), visibility=c.visibility,
                                           reason=why.to_dict()))
            out.append(QuestionResult(id=q.id, title=q.title.get(lang), status=PASS, score=0.0, max_score=0.0,
                                      checks=results))
            continue
        results = [_judge_one(rubric, plan, q, c, ex, expected, lang) for c in checks]
        out.append(QuestionResult(id=q.id, title=q.title.get(lang), status=question_status(results),
                                  score=round(sum(r.score for r in results), 4),
                                  max_score=sum(r.max_score for r in results), checks=results))
    return out


def _judge_one(rubric, plan, q, c, ex, expected, lang) -> CheckResult:
    located = plan.located

    def result(status: str, fraction: float, reason: Reason | None) -> CheckResult:
        """The check's result: its reason, and the reason worded in ``lang`` with the rubric's
        hint (not for a pass or a review) and the locator's note (cells found by the fallback)."""
        message = render(reason, lang, rubric.messages)
        if status not in (PASS,) and c.feedback and status != "manual":
            hint = c.feedback.get(lang)
            message = render(Reason("result.hint", message=message, hint=hint), lang, rubric.messages) if message else hint
        if status != PASS and c.cell in located.fallback:
            message = render(Reason("result.fallback", message=message, note=located.fallback[c.cell]), lang,
                             rubric.messages)
        return CheckResult(name=c.name, status=status, score=round(c.points * fraction, 4),
                           max_score=c.points, message=message, visibility=c.visibility,
                           reason=reason.to_dict() if reason is not None else None)

    if c.cell in located.missing or c.cell in located.not_applicable:
        why = located.missing.get(c.cell) or located.not_applicable[c.cell]
        # an answer for review is always listed for review, found or not
        return result("manual" if REGISTRY[c.kind].review else FAIL, 0.0, why)
    indices = located.found[c.cell]
    runs = {r.index: r for r in ex.cells}
    region = dataclasses.replace(plan.region(c.cell), runs=[runs[i] for i in indices if i in runs],
                                 fallback=c.cell in located.fallback)
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
        return result(TIMEOUT, 0.0, Reason("judge.timeout", cell=ex.number(timed_out[0].index), head=_first_line(timed_out[0].source),
                                           limit=rubric.limits.cell_timeout))
    roles = plan.roles.get(check_key(q, c), {})  # role -> probe id, as planned
    got = {}
    for role, pid in roles.items():
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
        exp = {role: expected.get(pid) for role, pid in roles.items()}
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
        return result(ERROR, 0.0, Reason("judge.lost_before", cell=ex.number(lost_before[-1])))
    if v.status == FAIL:
        errs = [r for r in region.runs if r.status == "error"]
        if errs and not _mentions(reason, errs[0].ename) and c.kind != "exception" \
                and rubric.anchors[c.cell].scope is None and not region.fallback:
            r = errs[0]
            reason = Reason("judge.cell_raised", message=reason, cell=ex.number(r.index), ename=r.ename, evalue=r.evalue[:160])
    return result(v.status, max(0.0, min(1.0, v.fraction)), reason)


def _first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return f"`{line[:40]}{'…' if len(line) > 40 else ''}`"


def _mentions(reason: Reason | None, ename: str) -> bool:
    """The reason already names the error (the English wording holds what every wording holds)."""
    return bool(ename) and reason is not None and ename in render(reason, "en")
