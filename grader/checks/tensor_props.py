"""Tensor properties: requires_grad, is_leaf, grad present or None, grad_fn's type name."""
from __future__ import annotations

from .. import capture
from ..model import Text
from .base import CheckKind, Context, Param, Verdict, failed, passed, register
from ._expr import describe_error, kernel_expr_param, validate_kernel_expr

PROPS = ("requires_grad", "is_leaf", "grad", "grad_fn")


@register
class TensorProps(CheckKind):
    kind = "tensor_props"
    summary = Text("張量的自動微分屬性", "a tensor's autograd properties")
    params = {
        "expr": kernel_expr_param(),
        "expect": Param(dict, required=True,
                        doc="any of requires_grad: bool, is_leaf: bool, grad: present|none, "
                            "grad_fn: type name such as MulBackward0, or none"),
    }

    def validate(self, params, fail):
        validate_kernel_expr(params, fail)
        exp = params["expect"]
        if not exp:
            fail("expect", "name at least one property")
        for k, v in exp.items():
            if k not in PROPS:
                fail("expect", f"unknown property {k!r} (known: {', '.join(PROPS)})")
            if k in ("requires_grad", "is_leaf") and not isinstance(v, bool):
                fail("expect", f"{k} must be true or false")
            if k == "grad" and v not in ("present", "none"):
                fail("expect", "grad must be 'present' or 'none'")
            if k == "grad_fn" and not isinstance(v, str):
                fail("expect", "grad_fn must be a type name or 'none'")

    def requests(self, spec, region):
        return {"value": ("post", {"op": "values", "exprs": {"v": spec.params["expr"]}})}

    def judge(self, ctx: Context) -> Verdict:
        expr, t = ctx.p("expr"), ctx.t
        payload = ctx.got["value"]["v"]
        try:
            capture.value(payload)
            got = capture.info(payload)
        except capture.CaptureError as e:
            if e.ename == "BadCapture":
                return failed(t(f"{expr} 應該是張量（torch.Tensor）", f"{expr} should be a tensor (torch.Tensor)"))
            return failed(describe_error(ctx, expr, e))
        problems = []
        for k, want in ctx.p("expect").items():
            if k in ("requires_grad", "is_leaf"):
                have = getattr(got, k)
                if have != want:
                    problems.append(f"{expr}.{k} = {have}" + t(f"，應為 {want}", f", expected {want}"))
            elif k == "grad":
                if (want == "present") != got.has_grad:
                    problems.append(t(f"{expr}.grad 應該{'有值' if want == 'present' else '是 None'}，但它{'是 None' if not got.has_grad else '有值'}",
                                      f"{expr}.grad should be {'set' if want == 'present' else 'None'} but it is {'None' if not got.has_grad else 'set'}"))
            elif k == "grad_fn":
                have = got.grad_fn or "none"
                if have.lower() != want.lower() and not (want != "none" and have == want):
                    problems.append(t(f"{expr}.grad_fn 是 {have}，應為 {want}", f"{expr}.grad_fn is {have}, expected {want}"))
        return failed("; ".join(problems)) if problems else passed()
