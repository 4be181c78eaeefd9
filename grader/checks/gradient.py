"""Gradient: some autograd computation recorded in the anchor's cells (a ``backward`` or a
``torch.autograd.grad`` call, whatever the variables are called and however the code is
spelled) reached an input satisfying ``where`` and produced a gradient satisfying ``expect``.

Both are expressions of the grader's expression language, evaluated in the grader on the
recorded values (float64), once per (call, input reached) pair:

- ``leaf``: the input's values; ``out``: the tensor ``backward`` was called on (or the first
  output given to ``autograd.grad``); ``gradient_arg``: the ``gradient`` / ``grad_outputs``
  argument (None when not given);
- ``grad``: the input's ``.grad`` after the call (the result, for ``autograd.grad``);
  ``before``: its ``.grad`` before the call (zeros when it had none);
  ``contrib``: what this call added, ``grad - before``.

A gradient assigned by hand (``x.grad = ...``) is not a computation autograd did: it never
satisfies the check, and the message says so.
"""
from __future__ import annotations

import ast

from .. import events as E, expr
from ..model import Text
from .base import CheckKind, Context, Param, Verdict, failed, passed, register
from ._expr import exact_variant as _exact_variant, short as _short, with_default_tolerance as _with_default_tolerance

WHERE_NAMES = {"leaf", "out", "gradient_arg", "retain_graph", "create_graph"}
EXPECT_NAMES = WHERE_NAMES | {"grad", "before", "contrib"}


@register
class Gradient(CheckKind):
    kind = "gradient"
    uses_events = True
    summary = Text("自動微分算出了預期的梯度", "autograd computed the expected gradient")
    params = {
        "where": Param(str, default="True",
                       doc="which computation: an expression of leaf, out, gradient_arg, e.g. allclose(leaf, arange(4))"),
        "expect": Param(str, required=True,
                        doc="what its gradient must satisfy: an expression of leaf, out, gradient_arg, grad, before, contrib"),
        "after": Param(str, doc="only calls after one (in execution order) whose input and gradient satisfy "
                                "this expression (same names as expect)"),
        "before": Param(str, doc="only calls before the first one whose input and gradient satisfy this expression"),
        "api": Param(str, default="any", choices=("any", "backward", "grad"),
                     doc="backward: only backward() calls; grad: only torch.autograd.grad; any: either"),
        "rtol": Param((int, float), default=1e-5, doc="default rtol of allclose"),
        "atol": Param((int, float), default=1e-6, doc="default atol of allclose"),
        "explain_eq": Param(bool, default=False,
                            doc="when allclose holds but exact == would not, explain float rounding"),
    }

    def validate(self, params, fail):
        if params.get("api") not in ("any", "backward", "grad"):
            fail("api", f"api is any, backward or grad, not {params.get('api')!r}")
        for key, names in (("where", WHERE_NAMES), ("expect", EXPECT_NAMES), ("after", EXPECT_NAMES),
                            ("before", EXPECT_NAMES)):
            if params.get(key) is None:
                continue
            try:
                expr.parse(params[key], names)
            except expr.ExprError as e:
                fail(key, str(e))

    def judge(self, ctx: Context) -> Verdict:
        t = ctx.t
        where = _with_default_tolerance(expr.parse(ctx.p("where")), ctx.p("rtol"), ctx.p("atol"))
        expect = _with_default_tolerance(expr.parse(ctx.p("expect")), ctx.p("rtol"), ctx.p("atol"))
        api = ctx.p("api")
        evs = ctx.events
        calls = [e for e in evs if e["kind"] in ("backward", "grad")
                 and (api == "any" or (api == "grad") == (e["kind"] == "grad"))]
        if ctx.p("after") is not None:
            after = _with_default_tolerance(expr.parse(ctx.p("after")), ctx.p("rtol"), ctx.p("atol"))
            first = next((k for k, ev in enumerate(calls) if any(_holds(after, env) for env in _envs(ev))), None)
            if first is None:
                return failed(t(f"找不到先前符合 {ctx.p('after')} 的反向傳播", f"no earlier backward call with {ctx.p('after')}")
                              if ctx.reveal else t("找不到題目要的前一步計算", "the computation this one follows was not found"))
            calls = calls[first + 1:]
        if ctx.p("before") is not None:
            until = _with_default_tolerance(expr.parse(ctx.p("before")), ctx.p("rtol"), ctx.p("atol"))
            stop = next((k for k, ev in enumerate(calls) if any(_holds(until, env) for env in _envs(ev))), None)
            calls = calls[:stop]
        near = None  # (env, event) of a call on the right input whose gradient was wrong
        for ev in calls:
            for env in _envs(ev):
                if not _holds(where, env):
                    continue
                if _holds(expect, env):
                    return passed(self._note(ctx, expect, env))
                near = (env, ev)
        by_hand = [e for e in evs if e["kind"] == "set_grad"]
        for ev in by_hand:
            env = _hand_env(ev)
            if env is not None and _holds(where, env) and _holds(expect, env):
                return failed(t("這個梯度是手動指定的（x.grad = …），不是自動微分算出來的：必須呼叫 backward()（或 torch.autograd.grad）讓 PyTorch 計算它",
                                "this gradient was set by hand (x.grad = ...), not computed by autograd: call backward() "
                                "(or torch.autograd.grad) and let PyTorch compute it"))
        if near is not None:
            env, ev = near
            if ctx.reveal:
                found = t(f"找到的反向傳播：輸入 = {_short(env['leaf'])}，輸出 = {_short(env['out'])}，得到的梯度 = {_short(env['grad'])}",
                          f"the backward call found: input = {_short(env['leaf'])}, output = {_short(env['out'])}, "
                          f"gradient = {_short(env['grad'])}")
                if env["before"] is not None and bool((env["before"] != 0).any()):
                    found += t(f"（呼叫前 .grad 已是 {_short(env['before'])}：梯度會累加，忘了先清零？）",
                               f" (its .grad was already {_short(env['before'])} before the call: gradients "
                               f"accumulate; forgot to zero it?)")
                return failed(t(f"不符合 {ctx.p('expect')}。{found}", f"{ctx.p('expect')} does not hold. {found}"))
            return failed(t("在預期的輸入上有反向傳播，但得到的梯度不對", "a backward call reached the expected input, "
                            "but the gradient it produced is not the expected one"))
        raised = [e for e in calls if "error" in e]
        if calls and len(raised) == len(calls):
            err = raised[-1]["error"]
            return failed(t(f"反向傳播引發了 {err['type']}：{err['message'][:160]}",
                            f"the backward call raised {err['type']}: {err['message'][:160]}"))
        if not calls:
            if by_hand:
                return failed(t("沒有任何反向傳播（backward）執行，梯度是手動指定的（x.grad = …）",
                                "no backward() ran here; the gradient was set by hand (x.grad = ...)"))
            return failed(t("這些儲存格裡沒有執行任何 backward()（或 torch.autograd.grad）",
                            "no backward() (or torch.autograd.grad) ran in these cells"))
        if ctx.reveal:
            msg = t(f"執行了 {len(calls)} 次反向傳播，但沒有一次是在符合 {ctx.p('where')} 的輸入上",
                    f"{len(calls)} backward call(s) ran, but none reached an input with {ctx.p('where')}")
        else:
            msg = t(f"執行了 {len(calls)} 次反向傳播，但沒有一次是題目要的計算",
                    f"{len(calls)} backward call(s) ran, but none was the computation asked for")
        if raised:
            err = raised[-1]["error"]
            msg += t(f"；其中一次引發了 {err['type']}：{err['message'][:160]}",
                     f"; one of them raised {err['type']}: {err['message'][:160]}")
        return failed(msg)

    def _note(self, ctx, expect, env) -> str:
        if not ctx.p("explain_eq"):
            return ""
        exact = _exact_variant(expect)
        try:
            if exact is not None and not expr._truth(expr.evaluate(exact, env)):
                return ctx.t("成立（在容許誤差內）。注意：用 == 比較會得到 False，因為浮點數的捨入誤差；比較浮點張量請用 torch.allclose。",
                             "holds within tolerance. Note: comparing with == gives False here because of "
                             "floating-point rounding; compare float tensors with torch.allclose.")
        except Exception:
            pass
        return ""


def _holds(tree: ast.Expression, env: dict) -> bool:
    try:
        return expr._truth(expr.evaluate(tree, env))
    except Exception:  # a shape mismatch, a missing value: this candidate does not satisfy it
        return False


def _envs(ev: dict):
    if "error" in ev:
        return
    out = E.tensor(ev.get("out"))
    garg = E.tensor(ev.get("gradient"))
    for leaf in ev.get("leaves", []):
        x = E.tensor(leaf)
        g = E.tensor(leaf.get("grad"))
        if x is None or g is None or g.shape != x.shape:
            continue
        before = E.tensor(leaf.get("grad_before"))
        if before is None or before.shape != g.shape:
            before = g * 0 if leaf.get("grad_before") is None else None
        if before is None:  # a previous .grad too large to record: what this call added is unknown
            continue
        yield {"leaf": x, "out": out, "gradient_arg": garg, "grad": g, "before": before, "contrib": g - before,
               "retain_graph": ev.get("retain_graph") is True, "create_graph": ev.get("create_graph") is True}


def _hand_env(ev: dict) -> dict | None:
    x, v = E.tensor(ev.get("leaf")), E.tensor(ev.get("value"))
    if x is None or v is None:
        return None
    return {"leaf": x, "out": None, "gradient_arg": None, "grad": v, "before": v * 0, "contrib": v,
            "retain_graph": False, "create_graph": False}
