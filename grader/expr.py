"""A small, safe expression language for gradient checks and figure checks.

Expressions are parsed once (when the rubric loads) and evaluated *in the grader*, on values
decoded from the kernel. Only the node types and functions listed here are allowed, so a
rubric cannot run arbitrary code and the student's kernel is never consulted.

The grader holds tensors with numpy (tensors.py: no torch in the grader process); the functions
and attributes answer as torch's do (``x.dtype`` is ``torch.float32``, ``sum(x)`` a 0-d tensor),
and ``allclose`` compares in float64 with torch.isclose's rule.
"""
from __future__ import annotations

import ast
import functools
import operator
from typing import Any, Callable

from . import pyast

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow, ast.MatMult: operator.matmul,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_CMPOPS = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
           ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Is: operator.is_, ast.IsNot: operator.is_not}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
ATTRIBUTES = {"grad", "shape", "dtype", "ndim", "T"}


@functools.cache
def _functions() -> dict[str, Callable[..., Any]]:
    """The functions, each as torch's function of that name answers (with numpy: tensors.py)."""
    import numpy as np

    from . import tensors as T

    def tensor_input(name: str, t: Any) -> Any:
        if not T.is_tensor(t):
            raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not {type(t).__name__}")
        return t

    def elementwise(name: str, f: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda t: T.wrap(f(tensor_input(name, t)))

    def allclose(a, b, rtol=None, atol=None):
        a, b = T.as_values(a), T.as_values(b)
        if a.shape != b.shape:
            return False
        return bool(T.isclose(a, b, 1e-5 if rtol is None else rtol, 1e-6 if atol is None else atol).all())

    def extreme(name: str, reduce: Callable, pairwise: Callable, arg: Callable) -> Callable[..., Any]:
        def f(t, other=None):  # torch.max(t); torch.max(t, dim): (values, indices); torch.max(t, other)
            t = tensor_input(name, t)
            if other is None:
                return T.wrap(reduce(t))
            if isinstance(other, int) and not isinstance(other, bool):
                return T.wrap(reduce(t, axis=other)), T.wrap(arg(t, axis=other))
            return T.wrap(pairwise(t, tensor_input(name, other)))
        return f

    def to_float(v):  # float(t): a one-element tensor of any shape, as torch allows
        if not T.is_tensor(v):
            return float(v)
        if np.size(v) != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return float(v.item())

    def length(v):
        if T.is_tensor(v) and np.ndim(v) == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(v)

    def as_float64(v):
        return np.asarray(T.as_values(v), dtype=np.float64)

    return {
        "allclose": allclose,
        "sin": elementwise("sin", np.sin), "cos": elementwise("cos", np.cos), "exp": elementwise("exp", np.exp),
        "log": elementwise("log", np.log), "abs": elementwise("abs", np.abs), "tanh": elementwise("tanh", np.tanh),
        "sqrt": elementwise("sqrt", np.sqrt),
        "sum": lambda t, dim=None: T.wrap(np.sum(tensor_input("sum", t), axis=dim)),
        "numel": lambda t: int(np.size(tensor_input("numel", t))), "len": length,
        "all": lambda t: bool(T.as_values(t).all()), "any": lambda t: bool(T.as_values(t).any()),
        "float": to_float,
        "max": extreme("max", np.max, np.maximum, np.argmax), "min": extreme("min", np.min, np.minimum, np.argmin),
        "arange": lambda *a: T.tensor(np.arange(*a, dtype=np.float64)),
        "ones_like": lambda t: T.tensor(np.ones_like(as_float64(t))),
        "zeros_like": lambda t: T.tensor(np.zeros_like(as_float64(t))),
        "dot": lambda a, b: T.wrap(np.dot(as_float64(a).reshape(-1), as_float64(b).reshape(-1))),
    }


FUNCTION_NAMES = {"allclose", "sin", "cos", "exp", "log", "abs", "sum", "numel", "len", "all", "any",
                  "float", "max", "min", "arange", "ones_like", "zeros_like", "dot", "tanh", "sqrt"}


class ExprError(ValueError):
    pass


def parse(text: str, names: set[str] | None = None) -> ast.Expression:
    """Parse and vet an expression; ``names`` (if given) are the only free variables allowed."""
    try:
        tree = pyast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ExprError(f"not a valid expression: {text!r} ({e.msg})") from None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.Load, ast.BoolOp, ast.And, ast.Or, ast.keyword,
                             ast.Constant, ast.Tuple, ast.List)) or type(node) in _BINOPS \
                or type(node) in _CMPOPS or type(node) in _UNARY:
            continue
        if isinstance(node, (ast.BinOp, ast.Compare, ast.UnaryOp)):
            continue
        if isinstance(node, ast.Name):
            if node.id in FUNCTION_NAMES or node.id in ("pi",):
                continue
            if names is not None and node.id not in names:
                raise ExprError(f"unknown name {node.id!r} in {text!r} (declared: {', '.join(sorted(names)) or 'none'})")
            continue
        if isinstance(node, ast.Attribute):
            if node.attr not in ATTRIBUTES:
                raise ExprError(f"attribute .{node.attr} is not allowed in {text!r} (allowed: {', '.join(sorted(ATTRIBUTES))})")
            continue
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in FUNCTION_NAMES):
                raise ExprError(f"only these functions may be called in {text!r}: {', '.join(sorted(FUNCTION_NAMES))}")
            continue
        if isinstance(node, ast.Subscript):
            continue
        if isinstance(node, ast.Slice):
            continue
        raise ExprError(f"{type(node).__name__} is not allowed in {text!r}")
    return tree


def names_in(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
            and n.id not in FUNCTION_NAMES and n.id != "pi"}


def evaluate(tree: ast.Expression, env: dict[str, Any]) -> Any:
    """The expression's value. Tensors are ``tensors.Tensor`` (numpy arrays): as in torch, a
    division by zero or the log of a negative number gives inf or nan, silently."""
    import math

    import numpy as np

    from . import tensors

    funcs = _functions()

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in funcs:
                return funcs[node.id]
            if node.id == "pi":
                return math.pi
            if node.id not in env:
                raise ExprError(f"no value captured for {node.id!r}")
            return env[node.id]
        if isinstance(node, (ast.Tuple, ast.List)):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                result = True
                for v in node.values:
                    result = ev(v)
                    if not _truth(result):
                        return result
                return result
            for v in node.values:
                result = ev(v)
                if _truth(result):
                    return result
            return result
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = ev(right_node)
                if not _truth(_CMPOPS[type(op)](left, right)):
                    return False
                left = right
            return True
        if isinstance(node, ast.Attribute):
            return tensors.attribute(ev(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return ev(node.value)[ev(node.slice)]
        if isinstance(node, ast.Slice):
            return slice(*(ev(p) if p is not None else None for p in (node.lower, node.upper, node.step)))
        if isinstance(node, ast.Call):
            args = [ev(a) for a in node.args]
            kwargs = {k.arg: ev(k.value) for k in node.keywords}
            return funcs[node.func.id](*args, **kwargs)
        raise ExprError(f"{type(node).__name__} is not allowed")

    with np.errstate(all="ignore"):
        return ev(tree)


def _truth(value: Any) -> bool:
    """Python's truth, but a tensor holds when all its elements do."""
    from .tensors import is_tensor

    return bool(value.all()) if is_tensor(value) else bool(value)
