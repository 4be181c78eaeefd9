"""Tensors in the grader, held by numpy: the grader process never imports torch.

The kernels run the students' code with torch; the grader judges the plain data they send back
(capture.py, events.py), and importing torch only to hold that data cost it 1-2 cpu-s, on the
cores the kernels start on. A tensor the kernel sent becomes a ``Tensor``: a numpy array that
keeps what torch said of it,

- its torch dtype (``dtype_name``, e.g. "float32"; ``torch_dtype`` prints as torch does,
  ``torch.float32``): what messages show and what picks torch's default tolerances. Values are
  held in numpy's dtype of that name, so arithmetic in a rubric expression rounds as torch's
  does; float16 and bfloat16 (which numpy lacks) in float64, values unchanged;
- its ``.grad`` (a Tensor, or None).

What numpy computes from a Tensor is a Tensor (one element or a reduction: a 0-d Tensor, as
torch gives a 0-d tensor), with no ``.grad``, of numpy's dtype (a float16 tensor's slice or
product by a number, held in float64 still, stays float16).

Values are compared by ``isclose``: torch.isclose's rule, in float64.
"""
from __future__ import annotations

from typing import Any

import numpy as np

# torch's dtype (by name) -> the numpy dtype its values are held in
HELD_AS = {"float16": np.dtype(np.float64), "bfloat16": np.dtype(np.float64), "float32": np.dtype(np.float32),
           "float64": np.dtype(np.float64), "int8": np.dtype(np.int8), "int16": np.dtype(np.int16),
           "int32": np.dtype(np.int32), "int64": np.dtype(np.int64), "uint8": np.dtype(np.uint8),
           "bool": np.dtype(np.bool_)}
FLOATING = {"float16", "bfloat16", "float32", "float64"}


class DType:
    """A torch dtype, by name: what ``x.dtype`` is in a rubric expression (``torch.float32``)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class Tensor(np.ndarray):
    """A tensor's values (a numpy array), with its torch dtype's name and its ``.grad``."""

    grad: "Tensor | None"
    _name: str | None  # the torch dtype it was captured as (None: numpy's dtype says it)

    def __array_finalize__(self, obj: Any) -> None:
        self.grad = None
        name = getattr(obj, "_name", None)
        self._name = name if name is not None and HELD_AS[name] == self.dtype else None

    def __getitem__(self, key: Any) -> "Tensor":
        item = super().__getitem__(key)
        if isinstance(item, np.ndarray):
            return item
        out = np.asarray(item).view(Tensor)  # one element: a 0-d tensor, not a number
        out._name = self._name
        return out

    # torch multiplies matrices of one dtype only (numpy would promote): float32 data @ float64 weights raises
    def __matmul__(self, other: Any) -> Any:
        _same_dtype(self, other)
        return super().__matmul__(other)

    def __rmatmul__(self, other: Any) -> Any:
        _same_dtype(other, self)
        return super().__rmatmul__(other)

    @property
    def dtype_name(self) -> str:
        return self._name or self.dtype.name

    @property
    def torch_dtype(self) -> DType:
        return DType(self.dtype_name)

    @property
    def is_floating_point(self) -> bool:
        return self.dtype_name in FLOATING


_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
            "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char"}


def _same_dtype(a: Any, b: Any) -> None:
    if is_tensor(a) and is_tensor(b):
        x, y = attribute(a, "dtype").name, attribute(b, "dtype").name
        if x != y:
            raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: "
                               f"{_C_NAMES.get(x, x)} != {_C_NAMES.get(y, y)}")


def tensor(values: Any, dtype_name: str = "float64") -> Tensor:
    """A Tensor of ``values`` (nested lists of numbers, or an array) as torch's ``dtype_name``
    holds them: float32 values rounded to float32 (beyond its range: inf, silently, as torch),
    and so on. Raises TypeError, ValueError or OverflowError for what is not such values."""
    with np.errstate(over="ignore"):
        out = np.array(values, dtype=HELD_AS[dtype_name]).view(Tensor)
    out._name = dtype_name
    return out


def wrap(value: Any) -> Tensor:
    """A numpy result (a scalar too) as a Tensor: what torch's function would have returned."""
    return value if isinstance(value, Tensor) else np.asarray(value).view(Tensor)


def is_tensor(value: Any) -> bool:
    """A tensor, as torch.is_tensor: a Tensor, or any numpy array or numpy scalar."""
    return isinstance(value, (np.ndarray, np.generic))


def as_values(value: Any) -> np.ndarray:
    """What torch.as_tensor accepts — numbers, booleans, (nested lists of) them, tensors — as an
    array; anything else (None, a string, an object) raises as it does."""
    out = np.asarray(value)
    if out.dtype.kind not in "biufc":
        raise TypeError(f"Could not infer dtype of {type(value).__name__}")
    return out


def attribute(value: Any, name: str) -> Any:
    """``value.name`` in a rubric expression: for a tensor, torch's answer (``.dtype`` is torch's
    dtype, ``.grad`` None unless the kernel sent one)."""
    if is_tensor(value):
        if name == "dtype":
            return value.torch_dtype if isinstance(value, Tensor) else DType(value.dtype.name)
        if name == "grad":
            return getattr(value, "grad", None)
    return getattr(value, name)


def isclose(a: Any, b: Any, rtol: float, atol: float) -> np.ndarray:
    """torch.isclose's rule, element by element, with NaN never close: equal values (infinities
    too) are close, others when ``|a - b| <= atol + rtol * |b|``. In float64 (complex128 when
    either side is complex), whatever the dtypes."""
    wide = np.complex128 if np.iscomplexobj(a) or np.iscomplexobj(b) else np.float64
    a, b = np.asarray(a, dtype=wide), np.asarray(b, dtype=wide)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - b)
        return (a == b) | (np.isfinite(diff) & (diff <= atol + rtol * np.abs(b)))
