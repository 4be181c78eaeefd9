"""Control-flow paths: the student's own example must take more than one path through its
control flow, so the control flow depends on the data. A path is which lines ran how often and
which bytecode ran (so a one-line ``a if c else b`` counts too), over the function and the
notebook functions it calls; paths are counted over the student's own calls of one function,
and over the iterations of one loop inside a single call (an element-wise ``for`` with an
``if`` shows it in one call). A loop over a constant range runs the same way every time."""
from __future__ import annotations

from ..model import Text
from .base import CheckKind, Context, Param, Verdict, failed, passed, register
from ._trace import calls_of, trace_requests


@register
class ControlFlowPaths(CheckKind):
    kind = "paths"
    summary = Text("範例走過控制流的不同路徑", "the example exercises different control-flow paths")
    params = {"min_paths": Param(int, default=2, doc="distinct paths one function must take across its calls")}

    def requests(self, spec, region):
        return trace_requests(spec.cell, "cells", gradcheck=True)

    def judge(self, ctx: Context) -> Verdict:
        t, need = ctx.t, ctx.p("min_paths")
        calls = [c for c in calls_of(ctx.got) if c.get("outer", True)]
        if not calls:
            return failed(t("這些儲存格沒有呼叫你在這裡定義的函式（定義一個含有控制流的函式，並用張量呼叫它）",
                            "your cells never called a function defined here (define a function with control flow and call it on tensors)"))
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
            return passed(t(f"{name} 在你的 {counts[name]} 次呼叫中走過 {across} 條不同的路徑",
                            f"{name} took {across} different paths over your {counts[name]} call(s)"))
        if within >= need:
            return passed(t(f"{name} 的迴圈在同一次呼叫中，不同的迭代走了 {within} 條不同的路徑（分支隨資料而變）",
                            f"the loop in {name} took {within} different paths in different iterations of one call "
                            f"(the branch taken depends on the data)"))
        if counts[name] == 1:
            return failed(t(f"你的範例只呼叫 {name} 一次，只走了一條路徑：用幾個會走不同分支（或不同迴圈次數）的輸入呼叫它，"
                            "才能看出控制流隨資料而變、以及它對梯度的影響",
                            f"your example calls {name} only once, so it shows one path: call it on several inputs that take "
                            "different branches (or loop a different number of times) to show that the control flow depends "
                            "on the data and how that changes the gradient"))
        return failed(t(f"你的範例呼叫 {name} {counts[name]} 次，但每次都走同一條路徑（同樣的分支、同樣的迴圈次數）："
                        "控制流要隨輸入而變（固定次數的迴圈，例如 range(3)，對每個輸入都一樣）；選幾個會走不同分支的輸入，"
                        "才能看出控制流對梯度的影響",
                        f"your example calls {name} {counts[name]} time(s) but it always takes the same path (the same "
                        "branches, the same number of loop iterations): the control flow should depend on the input (a loop "
                        "over a fixed range such as range(3) runs the same way for every input); call it on inputs that "
                        "take different branches to show how control flow changes the gradient"))
