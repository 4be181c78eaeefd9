"""Kernel code that lives beside the check kinds: a kind's kernel half (a plug-in's too) is a
source file sent into the kernel after the probe's core (probe.py) and run in its namespace,
where it adds its probe operations to ``OPS``. Such a file imports nothing of the grader, like
probe.py: only plain data leaves the kernel, and every comparison stays in the grader.

A kind's module names its file and the operations it defines::

    extensions.provide(Path(__file__).with_name("_trace_kernel.py"), "trace_start", "trace_stop")

and the plan (grader/plan.py) sends the files its requests' operations need (a fork server has
defined those registered when it started: see ``preloaded_sources`` of the launchers)."""
from __future__ import annotations

import hashlib
from pathlib import Path

PROBE_MODULE = "__grader_probe__"  # the module in the kernel they run in
_BY_OP: dict[str, Path] = {}  # probe operation -> the file that defines it
_TEXT: dict[Path, str] = {}


def _filename(path: Path) -> str:
    return f"<grader probe: {path.parent.name}/{path.name}>"


def provide(path: Path, *ops: str) -> None:
    """``path`` defines the probe operations ``ops`` (read once, now: an installed wheel has it)."""
    path = Path(path)
    _TEXT.setdefault(path, path.read_text(encoding="utf-8"))
    for op in ops:
        if _BY_OP.get(op, path) != path:
            raise ValueError(f"probe operation {op!r} is defined by both {_BY_OP[op]} and {path}")
        _BY_OP[op] = path


def for_op(op: str | None) -> tuple[str, str] | None:
    """(its file name in the kernel, its source) of the kernel code that defines ``op``; None
    for the core's operations."""
    path = _BY_OP.get(op or "")
    return (_filename(path), _TEXT[path]) if path is not None else None


def registered() -> list[tuple[str, str]]:
    """(file name in the kernel, source) of every registered file: what a fork server defines
    once, before it forks, so that a warm kernel's set-up need not."""
    return [(_filename(path), text) for path, text in _TEXT.items()]


def digest() -> bytes:
    """Every registered file's source: part of the expected values' cache key."""
    h = hashlib.sha256()
    for path in sorted(_TEXT, key=str):
        h.update(_TEXT[path].encode())
    return h.digest()
