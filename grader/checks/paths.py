"""Control-flow paths: the student's own example must take more than one path through its
control flow, so the control flow depends on the data. A path is which lines ran how often and
which bytecode ran (so a one-line ``a if c else b`` counts too), over the function and the
notebook functions it calls; paths are counted over the student's own calls of one function,
and over the iterations of one loop inside a single call (an element-wise ``for`` with an
``if`` shows it in one call). A loop over a constant range runs the same way every time."""
from __future__ import annotations

from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, failed, passed, register
from ._trace import calls_of, trace_requests


@register
class ControlFlowPaths(CheckKind):
    kind = "paths"
    summary = Text("範例走過控制流的不同路徑", "the example exercises different control-flow paths")
    params = {"min_paths": Param(int, default=2, doc="distinct paths one function must take across its calls")}

    def requests(self, spec, region):
        return trace_requests(spec.cell, "cells", gradcheck=True)

    def judge(self, ctx: Context) -> Verdict:
        need = ctx.p("min_paths")
        calls = [c for c in calls_of(ctx.got) if c.get("outer", True)]
        if not calls:
            return failed(Reason("paths.no_call"))
        paths: dict[str, set] = {}
        counts: dict[str, int] = {}
        loops: dict[str, int] = {}
        for c in calls:
            name = str(c.get("function"))[:60]
            paths.setdefault(name, set()).add(str(c.get("path")))
            counts[name] = counts.get(name, 0) + 1
            lp = c.get("loop_paths")
            loops[name] = max(loops.get(name, 1), lp if isinstance(lp, int) else 1)
        name = max(paths, key=lambda n: (max(len(paths[n]), loops[n]), counts[n]))
        across, within = len(paths[name]), loops[name]
        if across >= need:
            return passed(Reason("paths.across", name=name, paths=across, count=counts[name]))
        if within >= need:
            return passed(Reason("paths.within", name=name, paths=within))
        if counts[name] == 1:
            return failed(Reason("paths.once", name=name))
        return failed(Reason("paths.same", name=name, count=counts[name]))
