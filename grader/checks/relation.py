"""Relation: an expression over captured values, evaluated in the grader (never the kernel),
e.g. ``allclose(a.grad, d / a)``."""
from __future__ import annotations

import ast

from .. import capture, expr, pyast
from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, errored, failed, passed, register
from ._expr import describe_error, exact_variant, short as _short, tolerant


@register
class Relation(CheckKind):
    kind = "relation"
    summary = Text("擷取的值之間的關係成立", "a relation between captured values holds")
    params = {
        "capture": Param((list, dict), required=True,
                         doc="names to capture from the student's namespace: a list of variable names, "
                             "or a mapping name -> Python expression"),
        "expr": Param(str, required=True, doc="expression in the grader's expression language, e.g. allclose(a.grad, d / a)"),
        "rtol": Param((int, float), default=1e-5, doc="default rtol for allclose"),
        "atol": Param((int, float), default=1e-6, doc="default atol for allclose"),
        "explain_eq": Param(bool, default=False,
                            doc="when allclose holds but exact == would not, explain float rounding"),
    }

    def validate(self, params, fail):
        cap = params["capture"]
        names = cap if isinstance(cap, list) else list(cap)
        for n in names:
            if not isinstance(n, str) or not n.isidentifier():
                fail("capture", f"{n!r} is not a valid name")
        if isinstance(cap, dict):
            for n, e in cap.items():
                try:
                    pyast.parse(str(e), mode="eval")
                except SyntaxError:
                    fail("capture", f"{n}: not a valid Python expression: {e!r}")
        try:
            expr.parse(params["expr"], set(names))
        except expr.ExprError as e:
            fail("expr", str(e))

    @staticmethod
    def _exprs(spec) -> dict[str, str]:
        cap = spec.params["capture"]
        return {n: n for n in cap} if isinstance(cap, list) else {n: str(e) for n, e in cap.items()}

    def requests(self, spec, region):
        return {"values": ("post", {"op": "values", "exprs": self._exprs(spec)})}

    def judge(self, ctx: Context) -> Verdict:
        env = {}
        for name, e in self._exprs(ctx.spec).items():
            try:
                env[name] = capture.value(ctx.got["values"].get(name))
            except capture.CaptureError as err:  # a hidden check's capture expression holds its hidden inputs
                return failed(describe_error(e if ctx.reveal else name, err))
        tree = tolerant(ctx.p("expr"), ctx.p("rtol"), ctx.p("atol"))
        shown = ctx.p("expr")
        try:
            ok = expr._truth(expr.evaluate(tree, env))
        except Exception as err:  # shape mismatch, missing grad... are the student's, not ours
            msg = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            why = Reason("relation.none_value") if "NoneType" in msg else msg
            return failed(Reason("relation.eval_error", expr=shown, error=why))
        if not ok:
            # the values that break it; a hidden check's right-hand sides come from its hidden inputs
            return failed(Reason("relation.not_hold", expr=shown, why=_why(tree, env) if ctx.reveal else ""))
        note = None
        if ctx.p("explain_eq"):
            exact = exact_variant(tree)
            try:
                if exact is not None and not expr._truth(expr.evaluate(exact, env)):
                    note = Reason("eq.within_tolerance")
            except Exception:
                pass
        return passed(note)


def _why(tree: ast.Expression, env: dict) -> Reason | str:
    """Which part of the relation failed, with the student's own values (never the reference's)."""
    terms = tree.body.values if isinstance(tree.body, ast.BoolOp) and isinstance(tree.body.op, ast.And) else [tree.body]
    for term in terms:
        try:
            if expr._truth(expr.evaluate(ast.Expression(term), env)):
                continue
        except Exception:
            return ""
        if isinstance(term, ast.Call) and getattr(term.func, "id", "") == "allclose" and len(term.args) == 2:
            try:
                left, right = (expr.evaluate(ast.Expression(a), env) for a in term.args)
                a_txt, b_txt = (ast.unparse(a) for a in term.args)
                return Reason("relation.allclose_values", a=a_txt, a_value=_short(left), b=b_txt, b_value=_short(right))
            except Exception:
                return ""
        return Reason("relation.term_false", term=ast.unparse(term))
    return ""
