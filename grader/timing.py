"""Where a notebook's time goes: cheap timers (``time.perf_counter``) around the phases of
grading one submission, summed into ``SubmissionResult.phases`` (kept out of the result JSON).

``GRADER_TIMINGS=FILE`` makes ``grader grade`` append one JSON line per graded submission to
FILE (``bench/bench.py`` reads them); nothing else depends on the timers.

Phases: ``read`` (parse the notebook), ``locate`` (find cells, plan probes), ``kernel`` (a
kernel forked or started, until it answers), ``setup`` (the probe module installed in it),
``cells`` (student cells), ``probes`` (probe cells: captures, the recorder), ``teardown``
(kernel stopped, its processes reaped, the next one forked ahead), ``judge_wait`` (waiting for
the judge's imports, once per process), ``judge``, and on the side that writes, ``write`` (JSON, gradebook, feedback).
"""
from __future__ import annotations

import contextvars
import json
import os
import time
from contextlib import contextmanager

_PHASES: contextvars.ContextVar[dict | None] = contextvars.ContextVar("grader_phases", default=None)


def start() -> dict:
    """Start timing a submission in this context (its thread and the event loop it runs)."""
    phases: dict[str, float] = {}
    _PHASES.set(phases)
    return phases


@contextmanager
def phase(name: str):
    phases = _PHASES.get()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        if phases is not None:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0


def emit(result) -> None:
    """One line for the benchmark, when GRADER_TIMINGS names a file."""
    path = os.environ.get("GRADER_TIMINGS")
    if not path:
        return
    line = {"submission": result.submission, "status": result.status, "seconds": round(result.seconds, 4),
            "t": time.time(), "pid": os.getpid(), **{k: round(v, 4) for k, v in result.phases.items()}}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
