"""``grader doctor``: start a real kernel exactly as grading does (the same launcher, sandboxed,
warm and cold), import what a notebook of the course imports, run a cell with autograd in it
and read a value back. Whatever fails is reported with the kernel's own words."""
from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field

import nbformat

from .model import Limits

# The cell a doctor's kernel runs: autograd for real, a figure, each course package imported.
_CELL = r"""
import importlib, json, sys
import torch
import matplotlib
matplotlib.use("agg")
import matplotlib.pyplot as plt
x = torch.arange(1.0, 4.0, requires_grad=True)
(x * x).sum().backward()
fig = plt.figure(); fig.add_subplot().plot([0, 1], [0, 1]); plt.close(fig)
missing = {}
for name in %(packages)r:
    try:
        importlib.import_module(name)
    except BaseException as e:
        missing[name] = "%%s: %%s" %% (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
print(%(marker)r + json.dumps({"grad": x.grad.tolist(), "torch": torch.__version__,
                                "python": sys.executable, "missing": missing}))
"""


@dataclass
class KernelReport:
    ok: bool
    detail: str
    missing: dict[str, str] = field(default_factory=dict)


def kernel_report(launcher, limits: Limits, packages: tuple[str, ...] = ()) -> KernelReport:
    """Start one kernel with ``launcher``, run the doctor's cell, and say what happened."""
    from .execute import execute
    from .plan import Plan

    marker = f"grader-doctor-{secrets.token_hex(8)}:"
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(_CELL % {"packages": list(packages), "marker": marker}))
    try:
        ex = asyncio.run(execute(nb, Plan(), limits, 0, launcher))
    except Exception as e:
        return KernelReport(False, f"could not run a kernel: {type(e).__name__}: {e}")
    if ex.kernel_died_at == -1:
        return KernelReport(False, f"the kernel could not start: {ex.kernel_error}")
    if not ex.cells:
        return KernelReport(False, "the kernel ran nothing")
    cell = ex.cells[0]
    if cell.status != "ok":
        why = f"{cell.ename}: {cell.evalue}".strip(": ") or ex.kernel_error or cell.status
        return KernelReport(False, f"a cell with torch and matplotlib failed ({cell.status}): {why}")
    lines = [ln for ln in cell.stream.splitlines() if ln.startswith(marker)]
    try:
        facts = json.loads(lines[-1][len(marker):])
    except (IndexError, ValueError):
        return KernelReport(False, "the kernel ran the cell but no value came back")
    if facts.get("grad") != [2.0, 4.0, 6.0]:
        return KernelReport(False, f"autograd gave {facts.get('grad')} for d/dx sum(x*x) at x=[1,2,3], not [2,4,6]")
    return KernelReport(True, f"torch {facts.get('torch')} in {facts.get('python')}: a cell ran, autograd's "
                              f"value came back", facts.get("missing") or {})
