"""Figure: the line data of every matplotlib figure the matched cells drew (even after
plt.show() closed it) must contain lines y ≈ g(x) for each expression g the rubric gives."""
from __future__ import annotations

from itertools import permutations

from .. import capture, expr
from ..model import Text
from .base import CheckKind, Context, Param, Verdict, failed, passed, register


@register
class Figure(CheckKind):
    kind = "figure"
    summary = Text("圖中畫出預期的曲線", "the figure shows the expected curves")
    params = {
        "lines": Param(list, required=True, doc="expressions of x, one per curve that must be drawn, e.g. sin(x)"),
        "same_x": Param(bool, default=True, doc="the curves must be drawn on the same x values"),
        "min_points": Param(int, default=10, doc="fewest points a curve may have"),
        "rtol": Param((int, float), default=1e-3),
        "atol": Param((int, float), default=1e-4),
    }

    def validate(self, params, fail):
        if not params["lines"]:
            fail("lines", "give at least one expression")
        for e in params["lines"]:
            try:
                expr.parse(str(e), {"x"})
            except expr.ExprError as err:
                fail("lines", str(err))

    def requests(self, spec, region):
        return {"figures_start": ("pre", {"op": "figures_start"}), "figures": ("post", {"op": "figures_stop"})}

    def judge(self, ctx: Context) -> Verdict:
        import torch

        t = ctx.t
        figs = (ctx.got.get("figures") or {}).get("figures") or []
        drawn = []
        for fig in figs:
            for line in fig.get("lines") or []:
                try:
                    x = torch.tensor(capture.floats(line.get("x")), dtype=torch.float64)
                    y = torch.tensor(capture.floats(line.get("y")), dtype=torch.float64)
                except capture.CaptureError:
                    continue
                if x.numel() == y.numel() and x.numel() >= ctx.p("min_points"):
                    drawn.append((str(line.get("label", "")), x, y))
        if not figs:
            return failed(t("這些儲存格沒有畫出任何圖", "these cells drew no figure"))
        if not drawn:
            return failed(t(f"圖中沒有至少 {ctx.p('min_points')} 個點的曲線", f"the figure has no curve with at least {ctx.p('min_points')} points"))
        wanted = [str(e) for e in ctx.p("lines")]
        fits = [[_fits(e, x, y, ctx.p('rtol'), ctx.p('atol')) for (_, x, y) in drawn] for e in wanted]
        for choice in permutations(range(len(drawn)), len(wanted)):
            if all(fits[i][j] for i, j in enumerate(choice)):
                xs = [drawn[j][1] for j in choice]
                if not ctx.p("same_x") or all(x.shape == xs[0].shape and torch.allclose(x, xs[0]) for x in xs):
                    return passed()
        missing = [e for i, e in enumerate(wanted) if not any(fits[i])]
        if missing:
            labels = ", ".join(repr(lbl) for lbl, _, _ in drawn[:6])
            return failed(t(f"圖中 {len(drawn)} 條曲線（{labels}）沒有一條是 y ≈ {', '.join(missing)}",
                            f"none of the {len(drawn)} curves drawn ({labels}) is y ≈ {', '.join(missing)}"))
        return failed(t(f"曲線 {', '.join(wanted)} 都畫了，但不是畫在同一組 x 上", f"the curves {', '.join(wanted)} are drawn, but not on the same x values"))



def _fits(e: str, x, y, rtol: float, atol: float) -> bool:
    import torch

    try:
        want = torch.as_tensor(expr.evaluate(expr.parse(e), {"x": x}), dtype=torch.float64)
        return bool(torch.allclose(y, want.expand_as(y), rtol=rtol, atol=atol))
    except Exception:
        return False
