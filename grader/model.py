"""Plain data classes shared by every stage of the pipeline.

rubric -> execute -> check -> report: each stage reads and writes only these.
Nothing here imports torch, nbclient or yaml.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from .i18n import LANGS, say  # noqa: F401  (re-exported)
VISIBILITIES = ("public", "hidden")

# Status of one check, then of a question (same words, plus "partial").
PASS, FAIL, ERROR, TIMEOUT, MANUAL, PARTIAL = "pass", "fail", "error", "timeout", "manual", "partial"


@dataclass(frozen=True)
class Text:
    """A message in every language the grader speaks."""

    zh: str
    en: str
    cn: str | None = None  # an explicit Simplified Chinese wording (else converted from zh)

    def get(self, lang: str) -> str:
        return say(lang, self.zh, self.en, self.cn)


@dataclass(frozen=True)
class Edition:
    """A book (or course text) students may have worked from: how it numbers the exercises.

    ``signs``: regexes of its own section text; ``others``: (number, ((lang, phrases), ...)) for
    exercises of its list that no anchor grades (they end the previous exercise's cells)."""

    id: str
    lang: str  # zh-CN | zh-TW | en
    exercises: int  # how many exercises its list has
    title: str = ""
    signs: tuple[str, ...] = ()
    others: tuple[tuple[int, tuple[tuple[str, tuple[str, ...]], ...]], ...] = ()


@dataclass(frozen=True)
class Anchor:
    """How to find one cell (or an exercise's cells) in a notebook.

    An exercise anchor has ``exercise`` (its number where ``numbers`` does not say otherwise),
    ``numbers`` ((edition id, number), ...; an edition left out does not have the exercise) and
    ``phrases`` ((language, (regex, ...)), ...): key phrases of its question; ``code``: what an
    answer's code looks like (used only to tell editions apart)."""

    id: str
    tag: str | None = None
    patterns: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    after: str | None = None
    exercise: int | None = None
    scope: str | None = None  # "notebook": every cell; "section": every cell before the first exercise
    line: int = 0
    numbers: tuple[tuple[str, int], ...] = ()
    phrases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    code: tuple[str, ...] = ()  # regexes (all must match) typical of an answer's code: edition evidence

    def number_in(self, edition: str) -> int | None:
        """The exercise's number in an edition (None: the edition does not have it)."""
        if self.numbers:
            return dict(self.numbers).get(edition)
        return self.exercise
    free_choice: bool = False  # constants and comparisons here are the student's choice (mutants leave them)


@dataclass(frozen=True)
class CheckSpec:
    """One check of a question, as the rubric states it. ``params`` are kind-specific."""

    name: str
    kind: str
    cell: str
    points: float
    visibility: str
    feedback: Text | None
    params: dict[str, Any]
    line: int = 0


@dataclass(frozen=True)
class Question:
    id: str
    title: Text
    points: float
    checks: tuple[CheckSpec, ...]


@dataclass(frozen=True)
class Limits:
    cell_timeout: float = 15.0
    probe_timeout: float = 30.0
    notebook_timeout: float = 300.0
    interrupt_grace: float = 5.0
    memory_mb: float = 4096.0  # address space of the kernel process
    cpu_seconds: float = 300.0  # CPU time of the kernel process
    processes: float = 256.0  # processes and threads of the kernel's user
    file_mb: float = 64.0  # largest file the kernel may write
    disk_mb: float = 256.0  # size of its /work and of its /tmp
    output_kb: float = 1024.0  # output kept per cell; the rest is dropped with a note
    restarts: float = 3.0  # fresh kernels allowed after a lost one (0: stop at the first loss)


@dataclass(frozen=True)
class Rubric:
    path: str
    assignment: str
    lang: str
    seed: int
    reference: str
    limits: Limits
    anchors: dict[str, Anchor]
    questions: tuple[Question, ...]
    digest: str
    editions: tuple[Edition, ...] = ()
    packages: tuple[str, ...] = ()  # what students' notebooks may import (the course's environment)
    notebook: str = ""  # the file name students hand in (and `grader release` writes)
    messages: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> code -> wording (the rubric's own)

    def checks(self):
        for q in self.questions:
            yield from ((q, c) for c in q.checks)

    def languages(self) -> tuple[str, ...]:
        """The languages results can be worded in: the built-in ones and those of ``messages``."""
        return tuple(dict.fromkeys(LANGS + tuple(self.messages)))


@dataclass
class Probe:
    """Something the kernel must send back, placed before or after an anchored cell.

    ``id`` is unique within a run; ``code`` is what runs in the kernel (kind-specific)."""

    id: str
    cell: str
    when: str  # "pre" or "post"
    request: dict[str, Any]


@dataclass
class CellRun:
    """What happened when one student cell ran."""

    index: int
    source: str
    status: str  # ok | error | timeout | dead | skipped
    ename: str = ""
    evalue: str = ""
    stream: str = ""


@dataclass
class Execution:
    """Everything the execute stage hands to the check stage for one notebook (where the cells
    are, and what each check asked for, stay in the plan: plan.py)."""

    cells: list[CellRun] = field(default_factory=list)
    captures: dict[str, Any] = field(default_factory=dict)  # probe id -> decoded payload
    probe_errors: dict[str, tuple[str, Any]] = field(default_factory=dict)  # probe id -> (status, Reason)
    sources: list[str] = field(default_factory=list)  # code-cell sources by notebook index
    markdown: list[str] = field(default_factory=list)  # markdown sources by notebook index
    numbers: list[int] = field(default_factory=list)  # each cell's number as handed in (locate.Cell.number)
    kernel_died_at: int | None = None
    kernel_error: str = ""
    restarts: list[int] = field(default_factory=list)  # cells after which a fresh kernel took over
    events: list[dict[str, Any]] = field(default_factory=list)  # what the code did (events.py), in order, each with its "cell"
    # and "written" (the other cells whose code was on the stack: a function defined there did it)
    counts: dict[int, int] = field(default_factory=dict)  # execution count -> cell index
    seconds: float = 0.0

    def number(self, index: int) -> int:
        """The number the student knows cell ``index`` by (parts of a cut cell share it)."""
        return self.numbers[index] if 0 <= index < len(self.numbers) else index + 1


@dataclass
class CheckResult:
    name: str
    status: str
    score: float
    max_score: float
    message: str  # the reason worded in the run's language (messages/), with the rubric's hint
    visibility: str
    reason: dict[str, Any] | None = None  # {code, params}: why, for formats to decide by (messages/)


@dataclass
class QuestionResult:
    id: str
    title: str
    score: float
    max_score: float
    status: str
    checks: list[CheckResult]


@dataclass
class SubmissionResult:
    submission: str
    status: str  # graded | error
    error: str | None
    score: float
    max_score: float
    questions: list[QuestionResult]
    seconds: float = 0.0
    sandbox: str = ""  # how the kernel was isolated
    notebook_sha256: str = ""  # content of the submission graded
    rubric_sha256: str = ""  # rubric (and reference) it was graded against
    notes: list[str] = field(default_factory=list)  # about the notebook as a whole (e.g. a package it imports)
    phases: dict[str, float] = field(default_factory=dict, compare=False)  # seconds per phase (timing.py), not saved

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SubmissionResult":
        qs = [QuestionResult(**{**q, "checks": [CheckResult(**c) for c in q["checks"]]}) for q in d["questions"]]
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k != "questions"}
        return cls(**{**fields, "questions": qs})

    def to_dict(self) -> dict[str, Any]:
        d = _plain(self)
        d.pop("phases")
        d["seconds"] = round(self.seconds, 3)
        return d


def _plain(v: Any) -> Any:
    """``dataclasses.asdict`` without its deep copy of every leaf (a result holds only plain
    data: strings, numbers, and lists and dicts of them); a fresh container at every level."""
    if is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def question_status(checks: list[CheckResult]) -> str:
    """One word for a question, from the statuses of its checks."""
    statuses = {c.status for c in checks}
    if not checks or statuses == {PASS}:
        return PASS
    for s in (TIMEOUT, ERROR, MANUAL):
        if s in statuses:
            return s
    return PARTIAL if sum(c.score for c in checks) > 0 else FAIL
