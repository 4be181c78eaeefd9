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
from .base import CheckKind, Context, Param, Reason, Verdict, failed, passed, register
from ._expr import exact_variant as _exact_variant, short as _short, tolerant as _tolerant

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
        "where_text": Param(dict, doc="that computation in words, {zh-TW, en[, zh-CN]}: what the feedback says "
                                      "when no call reached it (instead of the expression)"),
        "expect_text": Param(dict, doc="what its gradient must be, in words, {zh-TW, en[, zh-CN]}: what the "
                                       "feedback says when it is not (instead of the expression)"),
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
        for key in ("where_text", "expect_text"):
            words = params.get(key)
            if words is not None and not (isinstance(words.get("zh-TW"), str) and isinstance(words.get("en"), str)
                                          and set(words) <= {"zh-TW", "zh-CN", "en"}):
                fail(key, "give the words as {zh-TW: ..., en: ...} (zh-CN optional)")

    def judge(self, ctx: Context) -> Verdict:
        where = _tolerant(ctx.p("where"), ctx.p("rtol"), ctx.p("atol"))
        expect = _tolerant(ctx.p("expect"), ctx.p("rtol"), ctx.p("atol"))
        api = ctx.p("api")
        evs = ctx.events
        calls = [e for e in evs if e["kind"] in ("backward", "grad")
                 and (api == "any" or (api == "grad") == (e["kind"] == "grad"))]
        if ctx.p("after") is not None:
            after = _tolerant(ctx.p("after"), ctx.p("rtol"), ctx.p("atol"))
            first = next((k for k, ev in enumerate(calls) if any(_holds(after, env) for env in _envs(ev))), None)
            if first is None:
                return failed(Reason("gradient.no_after", after=ctx.p("after"))
                              if ctx.reveal else Reason("gradient.no_after_hidden"))
            calls = calls[first + 1:]
        if ctx.p("before") is not None:
            until = _tolerant(ctx.p("before"), ctx.p("rtol"), ctx.p("atol"))
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
                return failed(Reason("gradient.by_hand"))
        if near is not None:
            env, ev = near
            if ctx.reveal:
                leaf, out, grad = _short(env["leaf"]), _short(env["out"]), _short(env["grad"])
                if env["before"] is not None and bool((env["before"] != 0).any()):
                    found = Reason("gradient.found_accumulated", input=leaf, output=out, gradient=grad,
                                   before=_short(env["before"]))
                else:
                    found = Reason("gradient.found", input=leaf, output=out, gradient=grad)
                words = _words(ctx, "expect_text")
                return failed(Reason("gradient.wrong_words", expect=words, found=found) if words
                              else Reason("gradient.wrong", expect=ctx.p("expect"), found=found))
            return failed(Reason("gradient.wrong_hidden"))
        raised = [e for e in calls if "error" in e]
        if calls and len(raised) == len(calls):
            err = raised[-1]["error"]
            return failed(Reason("gradient.raised", type=err["type"], error=err["message"][:160]))
        if not calls:
            if by_hand:
                return failed(Reason("gradient.hand_only"))
            return failed(Reason("gradient.no_call"))
        if ctx.reveal:
            words = _words(ctx, "where_text")
            if words:
                msg = Reason("gradient.not_reached_words", count=len(calls), where=words)
            else:
                msg = Reason("gradient.not_reached", count=len(calls), where=ctx.p("where"))
        else:
            msg = Reason("gradient.not_reached_hidden", count=len(calls))
        if raised:
            err = raised[-1]["error"]
            msg = Reason("gradient.one_raised", message=msg, type=err["type"], error=err["message"][:160])
        return failed(msg)

    def _note(self, ctx, expect, env) -> Reason | None:
        if not ctx.p("explain_eq"):
            return None
        exact = _exact_variant(expect)
        try:
            if exact is not None and not expr._truth(expr.evaluate(exact, env)):
                return Reason("eq.within_tolerance")
        except Exception:
            pass
        return None


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


def _words(ctx: Context, key: str) -> Text | None:
    """The rubric's words for an expression (where_text, expect_text), when it gives them."""
    words = ctx.p(key)
    return Text(words["zh-TW"], words["en"], words.get("zh-CN")) if words else None
