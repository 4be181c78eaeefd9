"""The formats a run writes besides its own output (``--format NAME=FILE``, ``--junit FILE``):
chosen and checked before any grading starts, written once the results are in."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..model import Rubric, SubmissionResult


def wanted(junit: str | None, items: list[str]) -> list[tuple[object, Path]]:
    """--format NAME=FILE (and --junit FILE): checked before any grading starts."""
    from ..plugins import get_format

    chosen = [("junit", junit)] if junit else []
    for item in items:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise InputError(f"--format {item}: expected NAME=FILE, e.g. junit=grades.xml")
        chosen.append((name, file))
    return [(get_format(name), Path(file)) for name, file in chosen]


def write_all(formats: list[tuple[object, Path]], results: list[SubmissionResult], rubric: Rubric, lang: str) -> None:
    from ..report import write_atomic

    for fmt, file in formats:
        write_atomic(file, fmt.render(results, rubric, lang))
