"""The built-in batch formats, behind the same interface as plug-ins (grader.plugins.Format)."""
from __future__ import annotations

import json

from ..model import Rubric, SubmissionResult
from .base import Format, register_format


@register_format
class JUnit(Format):
    name = "junit"
    help = "JUnit XML: a <testsuite> per submission, a <testcase> per check"

    def render(self, results: list[SubmissionResult], rubric: Rubric, lang: str) -> str:
        from . import junit

        return junit.render(results)


@register_format
class Json(Format):
    name = "json"
    help = "every result in one JSON list (the per-submission JSON format)"

    def render(self, results: list[SubmissionResult], rubric: Rubric, lang: str) -> str:
        return json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=1) + "\n"
