"""Tensor value: a value captured after a cell, compared with the reference's.

Type, then shape, then dtype, then values (PrairieLearn's order), each with a plain message;
the value comparison and its mismatch report come from ``torch.testing.assert_close``.
"""
from __future__ import annotations

import re

from .. import capture
from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, errored, failed, passed, register
from ._expr import describe_error, kernel_expr_param, validate_kernel_expr


_REPORT = (  # assert_close's report lines, as reasons (codes in messages/)
    (re.compile(r"Mismatched elements: (?P<n>\d+) / (?P<total>\d+) \((?P<pct>[\d.]+)%\)"), "value.mismatched", None),
    (re.compile(r"Greatest absolute difference: (?P<diff>\S+) at index (?P<index>.+?)"
                r"(?: \(up to (?P<allowed>\S+) allowed\))?"), "value.greatest_abs", "value.greatest_abs_allowed"),
    (re.compile(r"Greatest relative difference: (?P<diff>\S+) at index (?P<index>.+?)"
                r"(?: \(up to (?P<allowed>\S+) allowed\))?"), "value.greatest_rel", "value.greatest_rel_allowed"),
    (re.compile(r"Absolute difference: (?P<diff>\S+)(?: \(up to (?P<allowed>\S+) allowed\))?"), "value.abs_diff", "value.abs_diff_allowed"),
    (re.compile(r"Relative difference: (?P<diff>\S+)(?: \(up to (?P<allowed>\S+) allowed\))?"), "value.rel_diff", "value.rel_diff_allowed"),
    (re.compile(r"Expected (?P<expected>.+) but got (?P<got>.+)\."), "value.expected_but_got", None),
)


def _report(report: str, reveal: bool) -> list[Reason]:
    """assert_close's report, line by line, as reasons; expected values are dropped when they
    must not be shown."""
    out = []
    for line in report.splitlines():
        line = line.strip()
        if not line or line.endswith("are not close!"):
            continue
        if line.startswith("Expected ") and not reveal:
            continue
        if not reveal:  # differences plus the student's own value would give the expected one away
            if not line.startswith("Mismatched elements"):
                continue
        for pattern, code, with_allowed in _REPORT:
            m = pattern.fullmatch(line)
            if m:
                params = {k: v for k, v in m.groupdict().items() if v is not None}
                out.append(Reason(with_allowed if "allowed" in params else code, **params))
                break
        else:
            out.append(Reason("text", text=line))
    return out


def compare(ctx: Context, name: str, got_t, exp_t, rtol: float | None, atol: float | None,
            check_dtype: bool) -> Verdict:
    """Shared by every kind that compares two tensors (tensor_value, function)."""
    import torch

    if tuple(got_t.shape) != tuple(exp_t.shape):
        if ctx.reveal:
            return failed(Reason("value.shape", name=name, got=str(tuple(got_t.shape)), expected=str(tuple(exp_t.shape))))
        return failed(Reason("value.shape_hidden", name=name, got=str(tuple(got_t.shape))))
    if check_dtype and got_t.dtype != exp_t.dtype:  # a type, not a value: said for hidden checks too
        return failed(Reason("value.dtype", name=name, got=str(got_t.dtype), expected=str(exp_t.dtype)))
    a = got_t.to(torch.float64) if got_t.dtype != exp_t.dtype else got_t
    b = exp_t.to(torch.float64) if got_t.dtype != exp_t.dtype else exp_t
    try:
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, check_dtype=False,
                                   equal_nan=False, check_device=False)
    except AssertionError as e:
        report = _report(str(e), ctx.reveal) or [Reason("value.differ")]
        if ctx.reveal and exp_t.numel() <= 16:
            return failed(Reason("value.wrong_shown", name=name, got=str(got_t.tolist()), expected=str(exp_t.tolist()),
                                 report=report))
        return failed(Reason("value.wrong", name=name, report=report))
    return passed()


@register
class TensorValue(CheckKind):
    kind = "tensor_value"
    summary = Text("張量的值與參考解相同（有容許誤差）", "a tensor's value equals the reference's (with tolerance)")
    needs_reference = True
    params = {
        "expr": kernel_expr_param(),
        "rtol": Param((int, float), doc="relative tolerance (default: torch's for the dtype)"),
        "atol": Param((int, float), doc="absolute tolerance (default: torch's for the dtype)"),
        "check_dtype": Param(bool, default=True, doc="a different dtype fails the check"),
    }

    def validate(self, params, fail):
        validate_kernel_expr(params, fail)
        if (params["rtol"] is None) != (params["atol"] is None):
            fail("rtol", "give both rtol and atol, or neither")

    def requests(self, spec, region):
        return {"value": ("post", {"op": "values", "exprs": {"v": spec.params["expr"]}})}

    def judge(self, ctx: Context) -> Verdict:
        expr = ctx.p("expr")
        try:
            exp = capture.tensor(ctx.expected["value"]["v"])
        except (capture.CaptureError, KeyError, TypeError) as e:
            return errored(Reason("value.no_reference", expr=expr, error=str(e)))
        try:
            got = capture.value(ctx.got["value"]["v"])
        except capture.CaptureError as e:
            return failed(describe_error(expr, e))
        if not _is_tensor(got):
            kind = type(got).__name__ if not isinstance(got, capture.Opaque) else got.name
            return failed(Reason("value.not_tensor", expr=expr, type=kind))
        return compare(ctx, expr, got, exp, ctx.p("rtol"), ctx.p("atol"), ctx.p("check_dtype"))


def _is_tensor(v) -> bool:
    import torch

    return isinstance(v, torch.Tensor)
