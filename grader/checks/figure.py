"""Figure: in the anchor's cells, one figure (any of its axes) shows a curve y ≈ g(x) for each
curve the rubric gives, on the same x values; a curve marked ``autograd`` must also hold values
autograd produced.

Judged on the recorder's figure events: every figure a cell created (even after ``plt.show()``
closed it) with the data of its lines, scatter points and bars — so ``plt.plot``, ``ax.plot``,
``plt.scatter``, pandas and d2l.plot (all matplotlib underneath) look the same. Provenance is
decided by value: every y value of an ``autograd`` curve must be (bitwise, in float64, or as
float32) among the gradient values that backward / autograd.grad calls produced up to that
cell. ``cos(x)``, ``sin(x + π/2)``, finite differences or typed-in numbers are not."""
from __future__ import annotations

import struct
from itertools import permutations

from .. import events as E, expr
from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, failed, passed, register


@register
class Figure(CheckKind):
    kind = "figure"
    uses_events = True
    summary = Text("圖中畫出預期的曲線", "the figure shows the expected curves")
    params = {
        "curves": Param(list, required=True,
                        doc="one mapping per curve that must be drawn: {y: expression of x, autograd: true|false}"),
        "same_x": Param(bool, default=True, doc="the curves must be drawn on the same x values"),
        "min_points": Param(int, default=10, doc="fewest points a curve may have"),
        "rtol": Param((int, float), default=1e-3),
        "atol": Param((int, float), default=1e-4),
    }

    def validate(self, params, fail):
        if not params["curves"]:
            fail("curves", "give at least one curve")
        for c in params["curves"]:
            if not isinstance(c, dict) or not isinstance(c.get("y"), str) or set(c) - {"y", "autograd"}:
                fail("curves", f"each curve is a mapping {{y: expression of x, autograd: true|false}}, not {c!r}")
                continue
            if not isinstance(c.get("autograd", False), bool):
                fail("curves", "autograd is true or false")
            try:
                expr.parse(c["y"], {"x"})
            except expr.ExprError as err:
                fail("curves", str(err))

    def judge(self, ctx: Context) -> Verdict:
        from ..tensors import tensor

        figs = [e for e in ctx.events if e["kind"] == "figure"]
        if not figs:
            return failed(Reason("figure.none"))
        curves = ctx.p("curves")
        wanted = [str(c["y"]) for c in curves]
        rtol, atol, min_points = ctx.p("rtol"), ctx.p("atol"), ctx.p("min_points")
        best = None  # (how many curves matched by value, reason) of the closest figure
        produced_cache: dict[int, set[float]] = {}
        any_drawn = False
        matched_somewhere: set[str] = set()
        for fig in figs:
            drawn = []
            for a in fig["artists"]:
                if len(a["x"]) == len(a["y"]) >= min_points:
                    drawn.append((a, tensor(a["x"]), tensor(a["y"])))
            if not drawn:
                continue
            any_drawn = True
            fits = [[_fits(e, x, y, rtol, atol) for (_, x, y) in drawn] for e in wanted]
            for choice in permutations(range(len(drawn)), len(wanted)):
                if not all(fits[i][j] for i, j in enumerate(choice)):
                    continue
                xs = [drawn[j][1] for j in choice]
                if ctx.p("same_x") and not all(_same_x(x, xs[0]) for x in xs):
                    continue
                cell = fig["cell"]
                if cell not in produced_cache:
                    produced_cache[cell] = _with_float32(E.produced_values(ctx.all_events, cell))
                bad = [wanted[i] for i, j in enumerate(choice)
                       if curves[i].get("autograd") and not _from(drawn[j][0]["y"], produced_cache[cell])]
                if not bad:
                    return passed()
                best = (len(wanted), Reason("figure.not_autograd", curves=bad))
            if best is None or best[0] < len(wanted):
                matched = [e for i, e in enumerate(wanted) if any(fits[i])]
                matched_somewhere.update(matched)
                missing = [e for e in wanted if e not in matched]
                if missing:
                    labels = [repr(a["label"]) if a["label"] and not str(a["label"]).startswith("_")
                              else Reason("figure.unlabelled", i=k + 1) for k, (a, _, _) in enumerate(drawn[:6])]
                    msg = Reason("figure.missing_curves", count=len(drawn), labels=labels, curves=missing)
                else:
                    msg = Reason("figure.not_together", curves=wanted)
                if best is None or len(matched) > best[0]:
                    best = (len(matched), msg)
        if best is not None and best[0] < len(wanted) and matched_somewhere == set(wanted):
            return failed(Reason("figure.not_together", curves=wanted))
        if not any_drawn:
            return failed(Reason("figure.too_few_points", min_points=min_points))
        return failed(best[1] if best else Reason("figure.not_expected"))


def _same_x(a, b) -> bool:
    """The same x values, in this order or another (torch.allclose's default tolerances)."""
    import numpy as np

    from ..tensors import isclose

    if a.shape != b.shape:
        return False
    return bool(isclose(a, b, 1e-5, 1e-8).all()) or bool(isclose(np.sort(a), np.sort(b), 1e-5, 1e-8).all())


def _fits(e: str, x, y, rtol: float, atol: float) -> bool:
    """y ≈ e(x) (e's value broadcast to y's shape)."""
    import numpy as np

    from ..tensors import as_values, isclose

    try:
        want = as_values(expr.evaluate(expr.parse(e), {"x": x}))
        return bool(isclose(y, np.broadcast_to(want, y.shape), rtol, atol).all())
    except Exception:
        return False


def _with_float32(values: set[float]) -> set[float]:
    """The produced values, and each rounded to float32 (a float64 gradient plotted as float32)."""
    out = set(values)
    for v in values:
        try:
            out.add(struct.unpack("f", struct.pack("f", v))[0])
        except (OverflowError, struct.error):
            pass
    return out


def _from(ys: list[float], produced: set[float]) -> bool:
    return bool(ys) and all(v in produced for v in ys)
