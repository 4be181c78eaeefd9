"""Control-flow paths: the student's own example must actually exercise more than one path
through its control flow (otherwise it does not show what the exercise asks about)."""
from __future__ import annotations

from ..model import Text
from .base import CheckKind, Context, Param, Verdict, failed, passed, register
from ._trace import defined_functions, trace_requests


@register
class ControlFlowPaths(CheckKind):
    kind = "paths"
    summary = Text("範例走過控制流的不同路徑", "the example exercises different control-flow paths")
    params = {"min_paths": Param(int, default=2, doc="distinct paths one function must take across its calls")}

    def requests(self, spec, region):
        return trace_requests(region)

    def judge(self, ctx: Context) -> Verdict:
        t, need = ctx.t, ctx.p("min_paths")
        calls = (ctx.got.get("trace") or {}).get("calls") or []
        if not defined_functions(ctx.region):
            return failed(t("這些儲存格沒有定義函式", "these cells define no function"))
        paths: dict[str, set] = {}
        for c in calls:
            paths.setdefault(str(c.get("function")), set()).add(tuple(c.get("lines") or ()))
        best = max(paths.items(), key=lambda kv: len(kv[1]), default=("", set()))
        if len(best[1]) >= need:
            return passed(t(f"{best[0]} 走過 {len(best[1])} 條不同的路徑", f"{best[0]} took {len(best[1])} different paths"))
        if not calls:
            return failed(t("你定義的函式在這些儲存格裡沒有被呼叫", "the function you defined is never called in these cells"))
        return failed(t(f"你的範例呼叫 {best[0]} {sum(1 for c in calls if c.get('function') == best[0])} 次，但每次都走同一條路徑（同一個分支）："
                        f"選幾個會走不同分支的輸入，才能看出控制流對梯度的影響",
                        f"your example calls {best[0]} {sum(1 for c in calls if c.get('function') == best[0])} time(s) but always takes the same path (the same branch): "
                        f"pick inputs that take different branches to show how control flow affects the gradient"))
