"""Run check kinds on a real kernel: cells grouped into named cases, each case the anchor of
the checks asked for it, all in one notebook (one kernel), then judged as the grader does."""
from __future__ import annotations

import asyncio

from nbformat.v4 import new_code_cell, new_notebook

from grader.checks import REGISTRY, Context, Region
from grader.execute import execute
from grader.plan import Plan
from grader.model import CheckSpec, Limits

LIMITS = Limits(cell_timeout=10, probe_timeout=20, notebook_timeout=400, interrupt_grace=3)


def spec(kind: str, cell: str, visibility: str = "public", **params) -> CheckSpec:
    full = {k: p.default for k, p in REGISTRY[kind].params.items()}
    full.update(params)
    errors = []
    REGISTRY[kind].validate(full, lambda key, msg: errors.append((key, msg)))
    assert not errors, errors
    return CheckSpec(name=f"{cell}/{kind}", kind=kind, cell=cell, points=1, visibility=visibility,
                     feedback=None, params=full)


def run_cases(setup: list[str], cases: dict[str, list[str]], checks: dict[str, list[CheckSpec]],
              limits: Limits = LIMITS):
    """-> {case: {kind: Verdict}} and the Execution."""
    sources = list(setup)
    where: dict[str, list[int]] = {}
    for name, cells in cases.items():
        where[name] = list(range(len(sources), len(sources) + len(cells)))
        sources += cells
    plan = Plan()
    for name, specs in checks.items():
        idx = where[name]
        region = Region(code=[sources[i] for i in idx])
        for s in specs:
            for role, (when, req) in REGISTRY[s.kind].requests(s, region).items():
                plan.add(idx[0] if when == "pre" else idx[-1], when, f"{s.name}/{role}", req)
                plan.roles.setdefault(s.name, {})[role] = f"{s.name}/{role}"
    nb = new_notebook(cells=[new_code_cell(c) for c in sources])
    ex = asyncio.run(execute(nb, plan, limits, seed=0))
    out: dict[str, dict] = {}
    for name, specs in checks.items():
        idx = where[name]
        runs = {r.index: r for r in ex.cells}
        region = Region(code=[sources[i] for i in idx], runs=[runs[i] for i in idx if i in runs])
        for s in specs:
            roles = plan.roles.get(s.name, {})  # as planned, not asked of the kind again
            errors = {r: ex.probe_errors[pid] for r, pid in roles.items() if pid in ex.probe_errors}
            got = {r: ex.captures.get(pid) for r, pid in roles.items()}
            if errors:
                out.setdefault(name, {})[s.kind] = ("probe-error", errors)
                continue
            out.setdefault(name, {})[s.kind] = REGISTRY[s.kind].judge(
                Context(spec=s, lang="en", region=region, got=got, expected=None))
    return out, ex
