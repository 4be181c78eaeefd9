"""What every check kind is made of, and the registry that holds them.

A kind is a small class: the parameters it accepts (validated when the rubric loads), the
probe requests it needs run in the kernel, and a ``judge`` that turns captured data (and the
reference's, when the kind compares against it) into a verdict. Kinds never see each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..i18n import say
from ..messages import Reason, add_plugin_messages, as_reason, render
from ..model import CellRun, CheckSpec, Text

REGISTRY: dict[str, "CheckKind"] = {}


def register(cls: type["CheckKind"]) -> type["CheckKind"]:
    if cls.messages:  # a plug-in's own codes and their wordings
        add_plugin_messages(cls.kind, cls.messages)
    REGISTRY[cls.kind] = cls()
    return cls


@dataclass(frozen=True)
class Param:
    type: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""


@dataclass
class Verdict:
    status: str  # pass | fail | error | manual
    fraction: float
    reason: Reason | None = None  # why (a plug-in may give plain text: the ``text`` reason)

    def __post_init__(self):
        self.reason = as_reason(self.reason)

    def text(self, lang: str = "en", overrides=None) -> str:
        """The reason worded in ``lang`` by the catalogue (messages/)."""
        return render(self.reason, lang, overrides)

    @property
    def message(self) -> str:
        return self.text("en")


@dataclass
class Region:
    """The located cells of a check's anchor, as the kinds need them."""

    code: list[str] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)
    runs: list[CellRun] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)  # markdown, comments and strings (this anchor's part of shared cells)
    indices: list[int] = field(default_factory=list)  # notebook indices of the cells
    fallback: bool = False  # found by no marker of its own: the cells after the section nobody claimed


@dataclass
class Context:
    spec: CheckSpec
    lang: str
    region: Region
    got: dict[str, Any]  # role -> payload the student's kernel sent back
    expected: dict[str, Any] | None  # role -> payload from the reference run
    all_events: list[dict[str, Any]] = field(default_factory=list)  # what the notebook's code did, in order

    @property
    def events(self) -> list[dict[str, Any]]:
        """The recorded events of the anchor's cells (events.py), in execution order: those its
        cells ran, and those code written in its cells did when another cell called it (a
        function defined here, called at the end of the notebook)."""
        scope = set(self.region.indices)
        return [e for e in self.all_events if e.get("cell") in scope or not scope.isdisjoint(e.get("written", ()))]

    @property
    def reveal(self) -> bool:
        """Public checks may show expected values; hidden ones never do."""
        return self.spec.visibility == "public"

    def t(self, zh: str, en: str) -> str:
        """Plain wording for plug-ins that do not ship message codes (the built-in kinds return
        ``Reason``s, worded by the catalogue)."""
        return say(self.lang, zh, en)

    def p(self, name: str) -> Any:
        return self.spec.params[name]


Fail = Callable[[str, str], None]  # fail(key, message) raises a RubricError


class CheckKind:
    kind: str = ""
    summary: Text = Text("", "")
    params: dict[str, Param] = {}
    needs_reference: bool = False
    review: bool = False  # an instructor reviews every answer: not found is `manual`, never `fail`
    reads_source: bool = False  # judges the cells' text (an edit no check of behaviour sees can matter)
    uses_events: bool = False  # judged on recorded events: a pass recorded before a lost cell stands
    messages: dict[str, dict[str, str]] = {}  # a plug-in's own codes: {lang: {"<kind>.code": template}}

    def validate(self, params: dict[str, Any], fail: Fail) -> None:
        """Kind-specific checks beyond types (expressions, regexes...)."""

    def requests(self, spec: CheckSpec, region: Region) -> dict[str, tuple[str, dict[str, Any]]]:
        """role -> (when, request): what the kernel must send back ("pre"/"post" the anchor)."""
        return {}

    def judge(self, ctx: Context) -> Verdict:
        raise NotImplementedError


def passed(reason: Reason | str | None = None) -> Verdict:
    return Verdict("pass", 1.0, reason)


def failed(reason: Reason | str, fraction: float = 0.0) -> Verdict:
    return Verdict("fail", fraction, reason)


def errored(reason: Reason | str) -> Verdict:
    return Verdict("error", 0.0, reason)
