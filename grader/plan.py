"""The plan, between locating the cells and executing them. From the rubric and the located cells, once per notebook: which
values each check needs from the kernel (its kind's ``requests``), placed before or after which
cells, and under which probe ids. The executor runs the plan; the judge reads each check's
probe ids, and the located cells, from the same plan.

rubric -> segment/locate -> **plan** -> execute -> judge -> results -> formats
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from .checks import REGISTRY, Region
from .kernel import extensions
from .locate import Cell, Segmentation, prose
from .model import CheckSpec, Question, Rubric


def probe_id(q: Question, c: CheckSpec, role: str) -> str:
    return f"{q.id}/{c.name}/{role}"


def check_key(q: Question, c: CheckSpec) -> str:
    return f"{q.id}/{c.name}"


@dataclass
class Plan:
    """What to run around which cell: ``pre[i]``/``post[i]`` are {probe id: request}; and, per
    check (``check_key``), the probe id of each role its kind asked for."""

    pre: dict[int, dict[str, dict]] = field(default_factory=dict)
    post: dict[int, dict[str, dict]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # probe id -> probe id that runs it
    roles: dict[str, dict[str, str]] = field(default_factory=dict)  # check key -> role -> probe id
    cells: list[Cell] = field(default_factory=list)  # the notebook's cells
    located: Segmentation = field(default_factory=Segmentation)  # where each anchor is (or why not)
    public_only: bool = False  # only the public checks are planned (and judged)
    kernel: dict[str, str] = field(default_factory=dict)  # the kinds' kernel code the requests need: name -> source

    def add(self, index: int, when: str, pid: str, request: dict) -> None:
        code = extensions.for_op(request.get("op"))
        if code is not None:
            self.kernel.setdefault(*code)
        batch = (self.pre if when == "pre" else self.post).setdefault(index, {})
        key = json.dumps(request, sort_keys=True)
        for other, req in batch.items():
            if json.dumps(req, sort_keys=True) == key:
                self.aliases[pid] = other
                return
        batch[pid] = request

    def probe_ids(self) -> set[str]:
        ids = {p for b in (*self.pre.values(), *self.post.values()) for p in b}
        return ids | set(self.aliases)

    def region(self, anchor: str) -> Region:
        """The anchor's located cells as the kinds read them (without how they ran)."""
        return region_of(self.cells, self.located.found.get(anchor, []), self.located.parts.get(anchor, {}))


def region_of(cells: list[Cell], indices: list[int], parts: dict[int, str] | None = None) -> Region:
    """The cells at ``indices``: their code and markdown (a shared cell: this anchor's slice) and
    their prose (markdown, and the comments and strings of code)."""
    parts = parts or {}
    code = [cells[i].source for i in indices if cells[i].kind == "code" and cells[i].source]
    markdown = [parts.get(i, cells[i].source) for i in indices if cells[i].kind == "markdown" and cells[i].source]
    texts = []
    for i in indices:
        c = cells[i]
        if c.kind == "code" and c.source:
            texts.append(prose(parts.get(i, c.source), "code"))
        elif c.kind == "markdown" and c.source:
            texts.append(parts.get(i, c.source))
    return Region(code=code, markdown=markdown, prose=[p for p in texts if p.strip()], indices=list(indices))


def selected(rubric: Rubric, public_only: bool):
    for q, c in rubric.checks():
        if public_only and c.visibility != "public":
            continue
        yield q, c


def build_plan(rubric: Rubric, cells: list[Cell], located: Segmentation, public_only: bool) -> Plan:
    """Each selected check whose cells were found asks its kind what the kernel must send back;
    each request becomes a probe before the anchor's first cell or after its last."""
    plan = Plan(cells=cells, located=located, public_only=public_only)
    for q, c in selected(rubric, public_only):
        indices = located.found.get(c.cell)
        if not indices:
            continue
        roles = plan.roles.setdefault(check_key(q, c), {})
        # around the anchor's code: a markdown cell of it far before (the book's question list,
        # shared by every exercise) must not stretch "before" over other answers' code
        code = [i for i in indices if cells[i].kind == "code"] or indices
        for role, (when, request) in REGISTRY[c.kind].requests(c, plan.region(c.cell)).items():
            pid = probe_id(q, c, role)
            plan.add(code[0] if when == "pre" else code[-1], when, pid, request)
            roles[role] = pid
    return plan
