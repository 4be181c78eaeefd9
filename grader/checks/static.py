"""Static: facts about the source of the matched cells, read from the AST (never run)."""
from __future__ import annotations

import ast

from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, failed, passed, register
from ._trace import parse_source


def _uses(tree: ast.AST, name: str) -> list[int]:
    """Lines where ``name`` is used in any form: called, referenced, imported, given as a
    keyword or spelt as a string (``getattr(torch, "cos")``)."""
    lines = []
    for n in ast.walk(tree):
        hit = (isinstance(n, ast.Name) and n.id == name
               or isinstance(n, ast.Attribute) and n.attr == name
               or isinstance(n, ast.keyword) and n.arg == name
               or isinstance(n, ast.alias) and (n.name.split(".")[-1] == name or n.asname == name)
               or isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.strip() == name)
        if hit:
            lines.append(getattr(n, "lineno", 0))
    return lines


def _constant(node: ast.AST) -> bool:
    """An expression made of literals only (``3``, ``(1, 2)``, ``range(2, 5)``)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_constant(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _constant(node.left) and _constant(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        return all(_constant(a) for a in node.args)
    return False


def _control_flow(tree: ast.AST) -> tuple[bool, bool]:
    """(has data-dependent control flow, has only fixed loops) in the functions (and lambdas)
    the code defines. A ``for`` over a constant range or a literal list runs the same way for
    every input: it is not control flow that depends on the data."""
    fixed = False
    for f in ast.walk(tree):
        if not isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        for n in ast.walk(f):
            if isinstance(n, (ast.If, ast.While, ast.IfExp, ast.Match)):
                return True, False
            if isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
                if isinstance(n, ast.comprehension) and n.ifs or not _constant(n.iter):
                    return True, False
                fixed = True
    return False, fixed


def _reaches_calls(tree: ast.AST, names: set[str], calls: set[str]) -> list[int]:
    """Lines of calls to ``calls`` (by function or method name) whose arguments use one of
    ``names``, directly or through variables assigned from them (followed to a fixed point)."""
    def mentions(node: ast.AST, tainted: set[str]) -> bool:
        return any(isinstance(n, ast.Name) and (n.id in names or n.id in tainted)
                   or isinstance(n, ast.Attribute) and n.attr in names for n in ast.walk(node))

    tainted: set[str] = set()
    while True:
        grown = set(tainted)
        for n in ast.walk(tree):
            value = n.value if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)) else None
            if value is not None and mentions(value, tainted):
                targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                grown |= {x.id for tg in targets for x in ast.walk(tg) if isinstance(x, ast.Name)}
        if grown == tainted:
            break
        tainted = grown
    lines, called = [], False
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            fn = n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id if isinstance(n.func, ast.Name) else ""
            called = called or fn in calls
            if fn in calls and any(mentions(a, tainted) for a in [*n.args, *(k.value for k in n.keywords)]):
                lines.append(n.lineno)
    return sorted(set(lines)) if called else None


def _placeholder(stmt: ast.stmt) -> bool:
    """``pass``, ``...`` or ``raise NotImplementedError``: what a template leaves for the answer."""
    if isinstance(stmt, ast.Pass) or isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return True
    if isinstance(stmt, ast.Raise) and stmt.exc is not None:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


@register
class Static(CheckKind):
    kind = "static"
    reads_source = True
    summary = Text("原始碼的靜態檢查", "static facts about the source")
    params = {
        "forbid": Param(list, default=[], doc="names that must not appear in any form (call, attribute, import, keyword, string)"),
        "require": Param(list, default=[], doc="names that must appear (e.g. the keyword retain_graph)"),
        "forbid_in": Param(dict, default={}, doc="{names: [...], calls: [...]}: the names must not reach the arguments "
                                                 "of these calls, directly or through a variable (e.g. cos plotted); "
                                                 "using them elsewhere, e.g. to check a result, is fine; "
                                                 "fails too when none of the calls is made"),
        "control_flow": Param(bool, default=False, doc="a function (or lambda) defined in the cells uses if/while/for "
                                                       "whose outcome can depend on the input (not only a loop over a constant range)"),
    }

    def validate(self, params, fail):
        for key in ("forbid", "require"):
            for n in params[key]:
                if not isinstance(n, str) or not n.isidentifier():
                    fail(key, f"{n!r} is not a valid name")
        fi = params["forbid_in"]
        if fi and (set(fi) != {"names", "calls"} or not all(isinstance(fi[k], list) and fi[k] and all(
                isinstance(n, str) and n.isidentifier() for n in fi[k]) for k in fi)):
            fail("forbid_in", "expected {names: [name, ...], calls: [name, ...]}")
        if not (params["forbid"] or params["require"] or params["control_flow"] or fi):
            fail("forbid", "a static check needs forbid, forbid_in, require or control_flow")

    def judge(self, ctx: Context) -> Verdict:
        trees = []
        for src in ctx.region.code:
            try:
                trees.append(parse_source(src))
            except SyntaxError as e:
                return failed(Reason("static.syntax", line=e.lineno, error=e.msg))
        module = ast.Module(body=[s for tr in trees for s in tr.body], type_ignores=[])
        if not [s for s in module.body if not _placeholder(s)]:
            return failed(Reason("static.unanswered"))
        problems = []
        for name in ctx.p("forbid"):
            lines = _uses(module, name)
            if lines:
                problems.append(Reason("static.forbidden", name=name, lines=sorted(set(lines))[:5]))
        fi = ctx.p("forbid_in")
        if fi:
            lines = _reaches_calls(module, set(fi["names"]), set(fi["calls"]))
            if lines is None:
                problems.append(Reason("static.no_calls", calls=fi["calls"][:3]))
            elif lines:
                problems.append(Reason("static.reaches", names=list(fi["names"]), calls=fi["calls"][:3], lines=lines[:5]))
        for name in ctx.p("require"):
            if not _uses(module, name):
                problems.append(Reason("static.require", name=name))
        if ctx.p("control_flow"):
            found, fixed = _control_flow(module)
            if fixed:
                problems.append(Reason("static.fixed_loop"))
            elif not found:
                problems.append(Reason("static.no_control_flow"))
        return failed(Reason("static.problems", problems=problems)) if problems else passed()
