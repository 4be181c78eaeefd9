"""Shared by kinds that watch the notebook's own functions run during some cells (exercise 4,
the control-flow section): the window the kernel opens before the cells and closes after them,
and the reading of what it reports."""
from __future__ import annotations

import ast
from pathlib import Path

from .. import pyast
from ..kernel import extensions

extensions.provide(Path(__file__).with_name("_trace_kernel.py"), "trace_start", "trace_stop")  # the kernel half


# seconds: one call the grader makes of the student's function, and all of them in one window
TIME_LIMIT = 2.0
BUDGET = 6.0


def _strip_magics(src: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())


def parse_source(src: str) -> ast.Module:
    """ast.parse of a cell (magics blanked), through the grader's thread-safe parse (pyast)."""
    return pyast.parse(_strip_magics(src))


def trace_requests(anchor: str, scope: str, **stop) -> dict:
    """Open a window before the anchor's first cell, close it after its last. ``scope``: "cells"
    records only functions defined in those cells, "notebook" any function the notebook defined."""
    key = f"{anchor}:{scope}"
    stop = {"time_limit": TIME_LIMIT, "budget": BUDGET, **stop}
    return {"trace_start": ("pre", {"op": "trace_start", "key": key, "scope": scope}),
            "trace": ("post", {"op": "trace_stop", "key": key, **stop})}


def calls_of(got: dict) -> list[dict]:
    payload = got.get("trace") or {}
    calls = payload.get("calls") if isinstance(payload, dict) else None
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
