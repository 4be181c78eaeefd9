"""pytest plugin: ``pytest --grade NOTEBOOK [--rubric R]`` turns each public check into a test
item named ``<question>::<check>``, so any pytest-aware tool (an IDE, CI, ``--junitxml``)
shows the grade. The notebook is graded once, in a sandboxed kernel like ``grader check``."""
from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("grader", "grade a notebook")
    group.addoption("--grade", metavar="NOTEBOOK", help="grade NOTEBOOK: one test per public check")
    group.addoption("--rubric", dest="grader_rubric", metavar="RUBRIC", help="rubric for --grade")
    group.addoption("--grade-lang", default=None,
                    help="language of --grade's messages: zh-CN, zh-TW, en or one the rubric's messages add")


def pytest_configure(config):
    notebook = config.getoption("grade", None)
    if notebook:
        config.args[:] = [str(Path(notebook).resolve())]  # collect the notebook, nothing else


def pytest_collect_file(file_path, parent):
    notebook = parent.config.getoption("grade", None)
    if notebook and file_path == Path(notebook).resolve():
        return GradedNotebook.from_parent(parent, path=file_path)
    return None


class CheckFailed(Exception):
    pass


class GradedNotebook(pytest.File):
    def collect(self):
        from .errors import InputError
        from .grade import expected_values, grade_path
        from .rubric import load
        from .kernel.factory import SandboxUnavailable, make_launcher

        try:
            rubric = load(self.config.getoption("grader_rubric"))
        except InputError as e:
            raise pytest.UsageError(str(e)) from None
        lang = self.config.getoption("grade_lang") or rubric.lang
        if lang not in rubric.languages():
            raise pytest.UsageError(f"--grade-lang {lang}: not a language of this rubric "
                                    f"(known: {', '.join(rubric.languages())})")
        try:
            launcher = make_launcher(True, rubric.limits)
        except SandboxUnavailable:
            launcher = make_launcher(False, rubric.limits)
        result = grade_path(self.path, rubric, expected_values(rubric, launcher), lang, public_only=True,
                            launcher=launcher)
        if result.status == "error":
            yield CheckItem.from_parent(self, name="notebook", check=None, error=result.error)
            return
        for q in result.questions:
            for c in q.checks:
                yield CheckItem.from_parent(self, name=f"{q.id}::{c.name}", check=c, error=None)


class CheckItem(pytest.Item):
    def __init__(self, *, check, error, **kwargs):
        super().__init__(**kwargs)
        self.check, self.error = check, error

    def runtest(self):
        if self.error is not None:
            raise CheckFailed(self.error)
        c = self.check
        if c.status == "manual":
            pytest.skip(f"awaiting manual review ({c.score:g}/{c.max_score:g}): {c.message}")
        if c.status != "pass":
            raise CheckFailed(f"{c.status}: {c.score:g}/{c.max_score:g} {c.message}")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        points = f" ({self.check.score:g}/{self.check.max_score:g})" if self.check else ""
        return self.path, 0, f"{self.name}{points}"
