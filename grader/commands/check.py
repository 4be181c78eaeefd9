"""``grader check NOTEBOOK``: a student's notebook against the public checks (a report, JSON,
or GitHub Classroom's outputs); exit 0 when every public check passes, 1 when not."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from ..errors import InputError
from ..formats import output
from ..model import Rubric, SubmissionResult
from . import options


def _github_error(args, rubric: Rubric, lang: str, error: str) -> None:
    from ..formats import github
    from ..report import student_report

    total = sum(c.points for _, c in rubric.checks() if c.visibility == "public")
    result = SubmissionResult(Path(args.notebook).stem, "error", error, 0.0, total, [])
    github.write(result, args.notebook, lang, student_report(result, lang), sys.stdout,
                 os.environ.get("GITHUB_OUTPUT"), os.environ.get("GITHUB_STEP_SUMMARY"), args.max_score)


def run(args) -> int:
    if args.max_score is not None and args.max_score <= 0:  # before any grading, not after it
        raise InputError(f"--max-score {args.max_score:g}: must be positive")
    rubric = full = options.rubric(args)
    if args.question:
        chosen = tuple(q for q in rubric.questions if q.id == args.question)
        if not chosen:
            raise InputError(f"--question {args.question}: no such question (known: "
                             f"{', '.join(q.id for q in rubric.questions)})")
        rubric = dataclasses.replace(rubric, questions=chosen)
    path = Path(args.notebook)
    if not path.is_file():
        raise InputError("no such notebook", args.notebook)
    lang = options.lang(args, rubric)
    launcher = options.launcher(args, rubric, fallback=True)
    # the kernel's process starts now: its imports (1.5-2 s) overlap the rest of this process's
    # (the executor, the judge), reading the notebook and planning
    launcher.prestart()
    try:
        return _check(args, rubric, full, path, lang, launcher)
    finally:
        launcher.close()


def _check(args, rubric: Rubric, full: Rubric, path: Path, lang: str, launcher) -> int:
    from ..grade import START_ERROR, KernelUnavailable, NotANotebook, expected_values, grade_path, read_notebook
    from ..report import student_report

    try:
        read_notebook(path)
    except NotANotebook as e:
        if not args.github:
            raise InputError(str(e), args.notebook) from None
    try:
        expected = expected_values(full, launcher)  # always every check's: the cache is shared
    except KernelUnavailable as e:
        if args.github:  # the reporter still gets a result: this notebook could not be graded
            _github_error(args, rubric, lang, str(e))
        raise
    result = grade_path(path, rubric, expected, lang, public_only=True, launcher=launcher)
    if result.status == "error" and (result.error or "").startswith(START_ERROR):
        if args.github:
            _github_error(args, rubric, lang, result.error)
        raise KernelUnavailable(f"{result.error} (run `grader doctor`)")
    output.write_all(args.formats, [result], rubric, lang)
    if args.github:
        from ..formats import github

        github.write(result, args.notebook, lang, student_report(result, lang), sys.stdout,
                     os.environ.get("GITHUB_OUTPUT"), os.environ.get("GITHUB_STEP_SUMMARY"), args.max_score)
    elif args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        print(student_report(result, lang))
    if result.status == "error":
        return 1
    ok = all(c.status == "pass" or c.status == "manual" and c.score >= c.max_score
             for q in result.questions for c in q.checks)
    return 0 if ok else 1
