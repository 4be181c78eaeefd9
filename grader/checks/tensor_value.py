"""Tensor value: a value captured after a cell, compared with the reference's.

Type, then shape, then dtype, then values (PrairieLearn's order), each with a plain message;
the values are compared by ``mismatch`` (torch.isclose's rule and torch's default tolerances,
assert_close's report), on the values the kernel sent, held with numpy (grader/tensors.py).
"""
from __future__ import annotations

from .. import capture
from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, errored, failed, passed, register
from ._expr import describe_error, kernel_expr_param, validate_kernel_expr


# torch's default (rtol, atol) by dtype (torch.testing.assert_close's table); other dtypes: exact
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7), "complex32": (1e-3, 1e-5), "complex64": (1.3e-6, 1e-5),
               "complex128": (1e-7, 1e-7)}


def _tolerances(a: str, b: str, rtol: float | None, atol: float | None) -> tuple[float, float]:
    """The tolerances for comparing dtypes ``a`` and ``b`` (torch's names): the given ones, or
    torch's defaults for the looser dtype."""
    if rtol is not None and atol is not None:
        return float(rtol), float(atol)
    ra, aa = _TOLERANCES.get(a, (0.0, 0.0))
    rb, ab = _TOLERANCES.get(b, (0.0, 0.0))
    return max(ra, rb), max(aa, ab)


def mismatch(got, exp, rtol: float | None = None, atol: float | None = None) -> list[Reason]:
    """Why two tensors (``tensors.Tensor``) of one shape are not close, as reasons (empty when
    they are): how many elements differ and the greatest absolute and relative difference,
    where; for a 0-d tensor the two values. The rule is torch.isclose's (|got - exp| <= atol +
    rtol * |exp|, NaN never close; ``tensors.isclose``) with torch's default tolerances for the
    dtypes, in float64; the report is torch.testing.assert_close's."""
    import numpy as np

    from ..tensors import isclose

    rtol, atol = _tolerances(got.dtype_name, exp.dtype_name, rtol, atol)
    wide = np.complex128 if np.iscomplexobj(got) or np.iscomplexobj(exp) else np.float64
    a, b = np.asarray(got, dtype=wide), np.asarray(exp, dtype=wide)
    close = isclose(a, b, rtol, atol)
    if bool(close.all()):
        return []
    exact = rtol == 0 and atol == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.abs(a - b)
        rel = np.where(diff == 0, 0.0, diff / np.abs(b))  # equal zeros: no difference

    def allowed(code: str, with_allowed: str, tol: float, **params) -> Reason:
        return Reason(code, **params) if exact else Reason(with_allowed, allowed=repr(tol), **params)

    if a.ndim == 0:
        return [Reason("value.expected_but_got", expected=repr(b.item()), got=repr(a.item())),
                allowed("value.abs_diff", "value.abs_diff_allowed", atol, diff=repr(float(diff))),
                allowed("value.rel_diff", "value.rel_diff_allowed", rtol, diff=repr(float(rel)))]
    n, total = int((~close).sum()), close.size

    def where(values) -> tuple[str, str]:
        flat = values.reshape(-1)
        at = int(np.argmax(np.nan_to_num(flat, nan=np.inf)))  # a NaN is the greatest
        index = tuple(int(k) for k in np.unravel_index(at, values.shape))
        return repr(float(flat[at])), str(index)

    (d_abs, i_abs), (d_rel, i_rel) = where(diff), where(rel)
    return [Reason("value.mismatched", n=str(n), total=str(total), pct=f"{100 * n / total:.1f}"),
            allowed("value.greatest_abs", "value.greatest_abs_allowed", atol, diff=d_abs, index=i_abs),
            allowed("value.greatest_rel", "value.greatest_rel_allowed", rtol, diff=d_rel, index=i_rel)]


def compare(ctx: Context, name: str, got_t, exp_t, rtol: float | None, atol: float | None,
            check_dtype: bool) -> Verdict:
    """Shared by every kind that compares two tensors (tensor_value, function)."""
    if tuple(got_t.shape) != tuple(exp_t.shape):
        if ctx.reveal:
            return failed(Reason("value.shape", name=name, got=str(tuple(got_t.shape)), expected=str(tuple(exp_t.shape))))
        return failed(Reason("value.shape_hidden", name=name, got=str(tuple(got_t.shape))))
    if got_t.dtype_name != exp_t.dtype_name:
        if check_dtype:  # a type, not a value: said for hidden checks too
            return failed(Reason("value.dtype", name=name, got=repr(got_t.torch_dtype), expected=repr(exp_t.torch_dtype)))
        rtol, atol = _tolerances("float64", "float64", rtol, atol)  # as torch: both made float64 first
    report = mismatch(got_t, exp_t, rtol, atol)
    if report:
        if not ctx.reveal:  # differences plus the student's own value would give the expected one away
            report = [r for r in report if r.code == "value.mismatched"]
        report = report or [Reason("value.differ")]
        if ctx.reveal and exp_t.size <= 16:
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
    from ..tensors import Tensor

    return isinstance(v, Tensor)
