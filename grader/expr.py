"""A small, safe expression language for gradient checks and figure checks.

Expressions are parsed once (when the rubric loads) and evaluated *in the grader*, on values
decoded from the kernel. Only the node types and functions listed here are allowed, so a
rubric cannot run arbitrary code and the student's kernel is never consulted.
"""
from __future__ import annotations

import ast
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


def _functions() -> dict[str, Callable[..., Any]]:
    import torch

    def allclose(a, b, rtol=None, atol=None):
        a, b = torch.as_tensor(a), torch.as_tensor(b)
        if a.shape != b.shape:
            return False
        dt = torch.promote_types(a.dtype, b.dtype)
        if not dt.is_floating_point:
            dt = torch.float64
        return bool(torch.allclose(a.to(dt), b.to(dt), rtol=1e-5 if rtol is None else rtol,
                                   atol=1e-6 if atol is None else atol, equal_nan=False))

    return {
        "allclose": allclose,
        "sin": torch.sin, "cos": torch.cos, "exp": torch.exp, "log": torch.log,
        "abs": torch.abs, "sum": torch.sum, "numel": torch.numel, "len": len,
        "all": lambda t: bool(torch.as_tensor(t).all()), "any": lambda t: bool(torch.as_tensor(t).any()),
        "float": float, "max": torch.max, "min": torch.min,
        "arange": lambda *a: torch.arange(*a, dtype=torch.float64),
        "ones_like": lambda t: torch.ones_like(torch.as_tensor(t, dtype=torch.float64)),
        "zeros_like": lambda t: torch.zeros_like(torch.as_tensor(t, dtype=torch.float64)),
        "dot": lambda a, b: torch.dot(torch.as_tensor(a, dtype=torch.float64).reshape(-1),
                                      torch.as_tensor(b, dtype=torch.float64).reshape(-1)),
        "tanh": torch.tanh, "sqrt": torch.sqrt,
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
    import math

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
            return getattr(ev(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return ev(node.value)[ev(node.slice)]
        if isinstance(node, ast.Slice):
            return slice(*(ev(p) if p is not None else None for p in (node.lower, node.upper, node.step)))
        if isinstance(node, ast.Call):
            args = [ev(a) for a in node.args]
            kwargs = {k.arg: ev(k.value) for k in node.keywords}
            return funcs[node.func.id](*args, **kwargs)
        raise ExprError(f"{type(node).__name__} is not allowed")

    return ev(tree)


def _truth(value: Any) -> bool:
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return bool(value.all())
    except ImportError:  # pragma: no cover
        pass
    return bool(value)
