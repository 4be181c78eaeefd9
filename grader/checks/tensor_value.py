"""Tensor value: a value captured after a cell, compared with the reference's.

Type, then shape, then dtype, then values (PrairieLearn's order), each with a plain message;
the value comparison and its mismatch report come from ``torch.testing.assert_close``.
"""
from __future__ import annotations

import re

from .. import capture
from ..model import Text
from .base import CheckKind, Context, Param, Verdict, errored, failed, passed, register
from ._expr import describe_error, kernel_expr_param, validate_kernel_expr


def _translate(report: str, lang: str, reveal: bool) -> str:
    """assert_close's report, kept in English or put in zh-TW line by line; expected values
    are dropped when they must not be shown."""
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
        if lang.startswith("zh"):
            line = re.sub(r"^Mismatched elements: (\d+) / (\d+) \(([\d.]+)%\)", r"不相符的元素：\1 / \2（\3%）", line)
            line = re.sub(r"^Greatest absolute difference: (\S+) at index (.+?)( \(up to (\S+) allowed\))?$",
                          lambda m: f"最大絕對誤差：{m[1]}，位於索引 {m[2]}" + (f"（容許 {m[4]}）" if m[3] else ""), line)
            line = re.sub(r"^Greatest relative difference: (\S+) at index (.+?)( \(up to (\S+) allowed\))?$",
                          lambda m: f"最大相對誤差：{m[1]}，位於索引 {m[2]}" + (f"（容許 {m[4]}）" if m[3] else ""), line)
            line = re.sub(r"^Absolute difference: (\S+)( \(up to (\S+) allowed\))?$",
                          lambda m: f"絕對誤差：{m[1]}" + (f"（容許 {m[3]}）" if m[2] else ""), line)
            line = re.sub(r"^Relative difference: (\S+)( \(up to (\S+) allowed\))?$",
                          lambda m: f"相對誤差：{m[1]}" + (f"（容許 {m[3]}）" if m[2] else ""), line)
            line = re.sub(r"^Expected (.+) but got (.+)\.$", r"預期 \1，但得到 \2。", line)
        out.append(line)
    return "; ".join(out)


def compare(ctx: Context, name: str, got_t, exp_t, rtol: float | None, atol: float | None,
            check_dtype: bool) -> Verdict:
    """Shared by every kind that compares two tensors (tensor_value, function)."""
    import torch

    t = ctx.t
    if tuple(got_t.shape) != tuple(exp_t.shape):
        exp = f"{tuple(exp_t.shape)}" if ctx.reveal else t("另一個形狀", "a different shape")
        return failed(t(f"{name} 的形狀不對：得到 {tuple(got_t.shape)}，預期 {exp}",
                        f"{name} has the wrong shape: got {tuple(got_t.shape)}, expected {exp}"))
    if check_dtype and got_t.dtype != exp_t.dtype:
        return failed(t(f"{name} 的資料型別（dtype）不對：得到 {got_t.dtype}，預期 {exp_t.dtype}",
                        f"{name} has the wrong dtype: got {got_t.dtype}, expected {exp_t.dtype}"))
    a = got_t.to(torch.float64) if got_t.dtype != exp_t.dtype else got_t
    b = exp_t.to(torch.float64) if got_t.dtype != exp_t.dtype else exp_t
    try:
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, check_dtype=False,
                                   equal_nan=False, check_device=False)
    except AssertionError as e:
        report = _translate(str(e), ctx.lang, ctx.reveal) or t("數值不同", "the values differ")
        shown = ""
        if ctx.reveal and exp_t.numel() <= 16:
            shown = t(f"（得到 {got_t.tolist()}，預期 {exp_t.tolist()}）",
                      f" (got {got_t.tolist()}, expected {exp_t.tolist()})")
        return failed(t(f"{name} 的值不對{shown}：{report}", f"{name} has wrong values{shown}: {report}"))
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
            return errored(ctx.t(f"參考解沒有 {expr} 的值（{e}）", f"the reference has no value for {expr} ({e})"))
        try:
            got = capture.value(ctx.got["value"]["v"])
        except capture.CaptureError as e:
            return failed(describe_error(ctx, expr, e))
        if not _is_tensor(got):
            kind = type(got).__name__ if not isinstance(got, capture.Opaque) else got.name
            return failed(ctx.t(f"{expr} 應該是張量（torch.Tensor），但它是 {kind}",
                                f"{expr} should be a tensor (torch.Tensor) but it is a {kind}"))
        return compare(ctx, expr, got, exp, ctx.p("rtol"), ctx.p("atol"), ctx.p("check_dtype"))


def _is_tensor(v) -> bool:
    import torch

    return isinstance(v, torch.Tensor)
