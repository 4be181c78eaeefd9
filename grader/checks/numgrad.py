"""Numerical gradient: for a function the student designed, autograd's gradient at the
student's own calls must agree with finite differences.

The kernel records every call of a function defined in the cells (any arguments, any return,
lambdas, methods, ``nn.Module.forward``), which of those calls autograd differentiated
(``backward()`` or ``torch.autograd.grad`` reached their output), and re-runs up to six of them
on copies of their arguments: in float64 where the copy takes the same path, else in the
student's own dtype. It differentiates L(x) = Σ w·f(x) (fixed weights w) with autograd and
reports, along each input coordinate (up to 16 elements) or along three random unit
directions v (more), grad·v and L(x ± εv). The differences are formed and compared here.
A call where ±εv changes the path is on a branch boundary: reported, not judged."""
from __future__ import annotations

import math

from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, errored, failed, passed, register
from ._trace import calls_of, trace_requests

MACHINE_EPS = {"float64": 2.2e-16, "float32": 1.2e-7, "float16": 9.8e-4, "bfloat16": 7.8e-3}
DTYPE_RTOL = {"float32": 1e-2, "float16": 5e-2, "bfloat16": 5e-2}


@register
class NumericalGradient(CheckKind):
    kind = "numgrad"
    summary = Text("自動微分的梯度與數值微分一致", "autograd's gradient agrees with finite differences")
    params = {
        "rtol": Param((int, float), default=1e-4, doc="relative tolerance in float64 (looser in the student's float32)"),
        "atol": Param((int, float), default=1e-5),
    }

    def requests(self, spec, region):
        return trace_requests(spec.cell, "cells", gradcheck=True)

    def judge(self, ctx: Context) -> Verdict:
        calls = calls_of(ctx.got)
        if not calls:
            return failed(Reason("numgrad.no_call"))
        payload = ctx.got.get("trace") or {}
        if not any(c.get("reached") for c in calls):
            if payload.get("autograd_inside"):
                return failed(Reason("numgrad.backward_inside"))
            return failed(Reason("numgrad.not_differentiated"))
        good, bad, boundary, unjudged, partly, directional = [], [], [], [], [], 0
        for c in calls:
            g = c.get("gradcheck")
            if not isinstance(g, dict):
                continue
            where = _where(c)
            if g.get("timeout"):
                unjudged.append(Reason("numgrad.rerun_timeout", call=where))
                continue
            if "error" in g or "skipped" in g:
                unjudged.append(Reason("numgrad.not_rerun", call=where, why=str(g.get("error") or g.get("skipped"))[:160]))
                continue
            verdict = _compare(g, ctx.p("rtol"), ctx.p("atol"))
            if verdict is None:
                unjudged.append(Reason("numgrad.unreadable", call=where))
            elif verdict == "boundary":
                boundary.append(where)
            else:
                if verdict[3]:
                    partly.append(where)
                if g.get("mode") == "directions":
                    directional += 1
                if verdict[0]:
                    good.append(where)
                else:
                    bad.append((where, verdict[1], verdict[2], g))
        notes = []
        if boundary:
            notes.append(Reason("numgrad.boundary_note", calls=boundary[:3]))
        if partly:
            notes.append(Reason("numgrad.partly_note", calls=partly[:3]))
        if directional:
            notes.append(Reason("numgrad.directional_note", count=directional))
        if unjudged:
            notes.append(Reason("numgrad.unjudged_note", items=unjudged[:2]))
        judged = len(good) + len(bad)
        if not judged:
            if boundary:
                return failed(Reason("numgrad.all_boundary", notes=notes))
            return errored(Reason("numgrad.no_rerun", notes=notes))
        if bad:
            lines = []
            for where, auto, numeric, g in bad[:3]:
                along = Reason("numgrad.along_coordinates") if g.get("mode") == "coordinates" else \
                    Reason("numgrad.along_directions")
                of = Reason("numgrad.weighted") if g.get("weighted") else ""
                lines.append(Reason("numgrad.line", call=where, along=along, of=of, auto=_fmt(auto), numeric=_fmt(numeric)))
            return failed(Reason("numgrad.disagree", lines=lines, notes=notes), len(good) / judged)
        return passed(Reason("numgrad.agree", count=judged, notes=notes))


def _compare(g: dict, rtol: float, atol: float):
    """(ok, autograd values, numerical values, directions skipped) | "boundary" (every direction
    changes the path) | None for a malformed report. A direction (or coordinate) along which
    ±ε changes the path crosses a branch boundary: it is left out, the others are compared."""
    try:
        auto = [float(v) for v in g["auto"]]
        plus = [float(v) for v in g["plus"]]
        minus = [float(v) for v in g["minus"]]
        eps = float(g["eps"])
        skip = {int(i) for i in g.get("boundary") or []}
    except (KeyError, TypeError, ValueError):
        return None
    if not auto or len(auto) != len(plus) or len(plus) != len(minus) or not eps > 0:
        return None
    if len(skip & set(range(len(auto)))) >= len(auto):
        return "boundary"
    dtype = str(g.get("dtype", "float64"))
    rtol = max(rtol, DTYPE_RTOL.get(dtype, 0.0))
    macheps = MACHINE_EPS.get(dtype, 1.2e-7)
    numeric = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
    ok = True
    for k, (a, n, p, m) in enumerate(zip(auto, numeric, plus, minus)):
        if k in skip:
            continue
        if not (math.isfinite(a) and math.isfinite(n)):
            ok = ok and a == n
            continue
        noise = 100 * macheps * max(1.0, abs(p), abs(m)) / eps
        if abs(a - n) > atol + noise + rtol * max(abs(a), abs(n)):
            ok = False
    return ok, auto, numeric, len(skip)


def _fmt(v: list[float]) -> str:
    return "[" + ", ".join(f"{x:.4g}" for x in v[:8]) + (", …]" if len(v) > 8 else "]")


def _where(call: dict) -> str:
    name = str(call.get("function", "?"))[:60]
    inp = call.get("input")
    if isinstance(inp, dict) and isinstance(inp.get("values"), list):
        shape = inp.get("shape") or []
        vals = [v for v in inp["values"] if isinstance(v, (int, float))]
        shown = _fmt(vals) if len(vals) == int(math.prod(shape)) else f"{_fmt(vals)[:-1]}, … shape {tuple(shape)}]"
        return f"{name}({shown})"
    return f"{name}(…)"
