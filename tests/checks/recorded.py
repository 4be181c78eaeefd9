"""Run code cells in a real kernel with the recorder installed, and judge event-based kinds on
what it recorded (a cell's scope is its index in the list)."""
from __future__ import annotations

import asyncio

from nbformat.v4 import new_code_cell, new_notebook

from grader.checks import REGISTRY, Context, Region
from grader.execute import execute
from grader.plan import Plan
from grader.model import Limits

from .helpers import spec

LIMITS = Limits(cell_timeout=60, probe_timeout=60, notebook_timeout=900)


def record(cells: list[str]):
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    ex = asyncio.run(execute(nb, Plan(), LIMITS, seed=0))
    assert not ex.kernel_error, ex.kernel_error
    return ex


def judge(ex, kind: str, cells, lang="en", visibility="public", markdown=(), **params):
    """Judge ``kind`` with the given params on the events of ``cells`` (indices, or one index),
    with ``markdown`` as the anchor's markdown."""
    indices = [cells] if isinstance(cells, int) else list(cells)
    s = spec(kind, visibility, **params)
    runs = [r for r in ex.cells if r.index in indices]
    region = Region(code=[ex.sources[i] for i in indices], markdown=list(markdown), runs=runs, indices=indices)
    return REGISTRY[kind].judge(Context(spec=s, lang=lang, region=region, got={}, expected=None,
                                        all_events=ex.events))
