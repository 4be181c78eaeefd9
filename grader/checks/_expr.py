"""Helpers shared by kinds that capture a Python expression from the kernel."""
from __future__ import annotations

import ast

from .. import capture
from .base import Context, Param


def kernel_expr_param() -> Param:
    return Param(str, required=True, doc="Python expression evaluated in the student's namespace, e.g. `x.grad`")


def validate_kernel_expr(params, fail, key: str = "expr") -> None:
    try:
        ast.parse(params[key], mode="eval")
    except SyntaxError as e:
        fail(key, f"not a valid Python expression: {params[key]!r} ({e.msg})")


def describe_error(ctx: Context, expr: str, e: capture.CaptureError) -> str:
    if e.ename == "NameError":
        return ctx.t(f"找不到 {expr}：這個變數沒有定義（{e.evalue}）",
                     f"could not find {expr}: it is not defined ({e.evalue})")
    return ctx.t(f"無法取得 {expr}：{e}", f"could not get {expr}: {e}")
