"""Manual review: an instructor's overrides (``DIR/overrides.yaml``) of check scores.

    - submission: seed_answers
      check: ex1-second-derivative-cost/key-ideas     # question/check, or just the check name
      score: 8
      comment: 提到了計算圖，但沒有說明記憶體

Applied on every ``grade`` (and ``report``) to what is written: the per-submission JSON, the
feedback files and the CSV; the gradebook keeps the machine's grade next to them."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import InputError
from .messages import Reason, render
from .model import PASS, SubmissionResult, question_status


@dataclass(frozen=True)
class Override:
    submission: str
    check: str
    score: float
    comment: str


def load(path: Path) -> list[Override]:
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(e, 'problem', e)}", str(path), mark.line + 1 if mark else None) from None
    if not isinstance(data, list):
        raise InputError("expected a list of overrides", str(path))
    out = []
    for i, item in enumerate(data):
        key = f"[{i}]"
        if not isinstance(item, dict) or set(item) - {"submission", "check", "score", "comment"}:
            raise InputError("each override has submission, check, score and an optional comment", str(path), key=key)
        if not isinstance(item.get("submission"), str) or not isinstance(item.get("check"), str):
            raise InputError("submission and check must be strings", str(path), key=key)
        score = item.get("score")
        if not isinstance(score, (int, float)) or isinstance(score, bool) or score < 0:
            raise InputError("score must be a number >= 0", str(path), key=key)
        out.append(Override(item["submission"], item["check"], float(score), str(item.get("comment") or "")))
    return out


def apply(r: SubmissionResult, overrides: list[Override], lang: str, messages=None) -> SubmissionResult:
    """A copy of ``r`` with the overrides for it applied (scores capped at each check's maximum),
    each check's reason ``review.overridden`` (worded with the rubric's ``messages``, if given)."""
    mine = [o for o in overrides if o.submission == r.submission]
    if not mine:
        return r
    r = copy.deepcopy(r)
    for q in r.questions:
        for c in q.checks:
            for o in mine:
                if o.check in (c.name, f"{q.id}/{c.name}"):
                    c.score = min(o.score, c.max_score)
                    c.status = PASS if c.score >= c.max_score else "fail"
                    why = Reason("review.overridden_comment", score=c.score, max_score=c.max_score, comment=o.comment) \
                        if o.comment else Reason("review.overridden", score=c.score, max_score=c.max_score)
                    c.message, c.reason = render(why, lang, messages), why.to_dict()
        q.score = round(sum(c.score for c in q.checks), 4)
        q.status = question_status(q.checks)
    r.score = round(sum(q.score for q in r.questions), 4)
    return r
