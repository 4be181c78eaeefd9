"""Helpers shared by kinds that capture a Python expression from the kernel."""
from __future__ import annotations

import ast
import functools

from .. import expr, pyast

from .. import capture
from .base import Param, Reason


def kernel_expr_param() -> Param:
    return Param(str, required=True, doc="Python expression evaluated in the student's namespace, e.g. `x.grad`")


def validate_kernel_expr(params, fail, key: str = "expr") -> None:
    try:
        pyast.parse(params[key], mode="eval")
    except SyntaxError as e:
        fail(key, f"not a valid Python expression: {params[key]!r} ({e.msg})")


def describe_error(expr: str, e: capture.CaptureError) -> Reason:
    if e.ename == "NameError":
        return Reason("capture.not_defined", expr=expr, error=e.evalue)
    return Reason("capture.failed", expr=expr, error=str(e))


def with_default_tolerance(tree: ast.Expression, rtol: float, atol: float) -> ast.Expression:
    class T(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id == "allclose":
                have = {k.arg for k in node.keywords}
                for k, v in (("rtol", rtol), ("atol", atol)):
                    if k not in have:
                        node.keywords.append(ast.keyword(arg=k, value=ast.Constant(v)))
            return node

    return ast.fix_missing_locations(T().visit(pyast.parse(ast.unparse(tree), mode="eval")))


@functools.lru_cache(maxsize=512)
def tolerant(text: str, rtol: float, atol: float) -> ast.Expression:
    """A rubric expression, parsed, with the check's tolerances in its ``allclose`` calls: made
    once per (expression, tolerances), not once per notebook. The tree is shared: evaluate it,
    never change it."""
    return with_default_tolerance(expr.parse(text), rtol, atol)


@functools.lru_cache(maxsize=512)
def exact_variant(tree: ast.Expression) -> ast.Expression | None:
    """allclose(a, b) -> all(a == b), to tell whether exact equality would also have held (kept
    per tree: the trees come from ``tolerant``, which makes each once)."""
    found = []

    class T(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id == "allclose" and len(node.args) == 2:
                found.append(node)
                return ast.Call(func=ast.Name("all", ast.Load()), keywords=[],
                                args=[ast.Compare(left=node.args[0], ops=[ast.Eq()], comparators=[node.args[1]])])
            return node

    new = ast.fix_missing_locations(T().visit(pyast.parse(ast.unparse(tree), mode="eval")))
    return new if found else None


def short(v) -> str:
    """A value in a message: a tensor as its shape and first elements."""
    try:
        from ..tensors import is_tensor

        if is_tensor(v):
            flat = v.reshape(-1).tolist()
            body = ", ".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in flat[:6])
            return f"tensor(shape={tuple(v.shape)}, [{body}{', …' if len(flat) > 6 else ''}])"
    except Exception:
        pass
    return repr(v)[:80]
