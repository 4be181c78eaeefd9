"""The output-format interface: built-in formats and plug-ins (``grader.plugins``) alike."""
from __future__ import annotations

from ..model import Rubric, SubmissionResult


class Format:
    """Renders the results of one run (a batch, or one notebook for ``check``) as one file."""

    name: str = ""
    help: str = ""

    def render(self, results: list[SubmissionResult], rubric: Rubric, lang: str) -> str:
        raise NotImplementedError


FORMATS: dict[str, Format] = {}


def register_format(cls: type[Format]) -> type[Format]:
    FORMATS[cls.name] = cls()
    return cls
