"""Decode what the kernel sent back (plain JSON) into values the grader can compare.

The kernel is untrusted: every field is checked, nothing is unpickled or evaluated, and a
malformed payload is an error for the check that asked for it, never a crash of the grader.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DTYPES = {"float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "bool"}


class CaptureError(Exception):
    """The value could not be obtained: the student's expression raised, or the data is bad."""

    def __init__(self, ename: str, evalue: str):
        super().__init__(f"{ename}: {evalue}" if evalue else ename)
        self.ename, self.evalue = ename, evalue


@dataclass(frozen=True)
class Opaque:
    """A value that is not a tensor or a number; only its type name crossed back."""

    name: str


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's autograd properties, as the kernel reported them."""

    dtype: str
    shape: tuple[int, ...]
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None
    has_grad: bool


def _number(v: Any) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return v
    if v in ("nan", "inf", "-inf"):
        return float(v)
    raise CaptureError("BadCapture", f"not a number: {str(v)[:40]}")


def _numbers(values: Any, depth: int) -> Any:
    if isinstance(values, list):
        if depth > 16:
            raise CaptureError("BadCapture", "nesting too deep")
        return [_numbers(v, depth + 1) for v in values]
    return _number(values)


def tensor(payload: dict[str, Any], with_grad: bool = True):
    """Rebuild a tensor (with ``.grad`` set, when the kernel sent one): a ``tensors.Tensor``."""
    from . import tensors

    if not isinstance(payload, dict) or payload.get("type") != "tensor":
        raise CaptureError("BadCapture", "expected a tensor")
    dtype = payload.get("dtype")
    shape = payload.get("shape")
    if dtype not in DTYPES:
        raise CaptureError("UnsupportedDtype", f"dtype {str(dtype)[:20]} is not supported by the grader")
    if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise CaptureError("BadCapture", "bad shape")
    if payload.get("values") is None:
        why = "too large to capture" if payload.get("truncated") else "not capturable"
        raise CaptureError("TooLarge", f"tensor of shape {tuple(shape)} is {why}")
    values = _numbers(payload["values"], 0)
    try:
        t = tensors.tensor(values, dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise CaptureError("BadCapture", str(e)[:100]) from None
    if list(t.shape) != shape:
        raise CaptureError("BadCapture", "values do not match the shape")
    if with_grad and isinstance(payload.get("grad"), dict):
        g = tensor(payload["grad"], with_grad=False)
        if g.shape == t.shape:
            t.grad = tensors.tensor(g, dtype) if t.is_floating_point else None
    return t


def info(payload: dict[str, Any]) -> TensorInfo:
    if not isinstance(payload, dict) or payload.get("type") != "tensor":
        raise CaptureError("BadCapture", "expected a tensor")
    return TensorInfo(dtype=str(payload.get("dtype")), shape=tuple(payload.get("shape") or ()),
                      requires_grad=payload.get("requires_grad") is True,
                      is_leaf=payload.get("is_leaf") is True,
                      grad_fn=payload.get("grad_fn") if isinstance(payload.get("grad_fn"), str) else None,
                      has_grad=isinstance(payload.get("grad"), dict))


def value(payload: Any):
    """Any captured value: a tensor, a number, None or an Opaque. Raises CaptureError."""
    if not isinstance(payload, dict):
        raise CaptureError("BadCapture", "malformed capture")
    kind = payload.get("type")
    if kind == "tensor":
        return tensor(payload)
    if kind == "error":
        raise CaptureError(str(payload.get("ename", "Error"))[:80], str(payload.get("evalue", ""))[:400])
    if kind == "number":
        return _number(payload.get("value"))
    if kind == "bool":
        return bool(payload.get("value"))
    if kind == "none":
        return None
    if kind == "object":
        return Opaque(str(payload.get("name", "?"))[:80])
    raise CaptureError("BadCapture", "unknown capture type")


def floats(values: Any) -> list[float]:
    """A flat list of floats (figure data), or CaptureError."""
    if not isinstance(values, list):
        raise CaptureError("BadCapture", "expected a list of numbers")
    return [float(_number(v)) for v in values]
