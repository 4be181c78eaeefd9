"""Rubric mutation testing (``grader validate --mutants``): does the rubric fail wrong work?

Wrong variants of the reference are made by small edits of the AST of its graded code cells
(one edit per mutant), each is graded with every check, and a mutant that no check fails
"survived". A mutant whose captured values, cell outcomes and source facts equal the
reference's is equivalent to it (no check could tell) and is left out of the kill rate."""
from __future__ import annotations

import ast
import asyncio
import copy
import difflib
import json
from dataclasses import dataclass
from typing import Callable, Iterator

from . import pyast
from .judge import judge
from .grade import run_notebook
from .locate import cells_of, locate

MAX_CONSTANTS_PER_CELL = 3


@dataclass
class Mutant:
    operator: str
    cell: int
    tag: str
    before: str
    after: str

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.before.splitlines(True), self.after.splitlines(True),
                                            f"cell {self.cell + 1} ({self.tag})", "mutant", n=1))


class _One(ast.NodeTransformer):
    """Applies ``edit`` to the n-th node it accepts (and only that one)."""

    def __init__(self, accept: Callable[[ast.AST], bool], edit: Callable[[ast.AST], ast.AST | None], n: int):
        self.accept, self.edit, self.n, self.seen, self.done = accept, edit, n, 0, False

    def visit(self, node):
        if not self.done and self.accept(node):
            if self.seen == self.n:
                self.done = True
                return self.edit(node)
            self.seen += 1
        return self.generic_visit(node)


def _is_call(node, attr: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attr


FLIP = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}


def _drop_keyword(name):
    def edit(node):
        node.keywords = [k for k in node.keywords if k.arg != name]
        return node
    return (lambda n: isinstance(n, ast.Call) and any(k.arg == name for k in n.keywords)), edit


def _operators():
    """name -> (accept, edit)"""
    def cos_of_grad(node):
        node.args = [ast.Call(ast.Attribute(ast.Name("torch", ast.Load()), "cos", ast.Load()),
                              [ast.Call(ast.Attribute(a.value, "detach", ast.Load()), [], [])], [])
                     if isinstance(a, ast.Attribute) and a.attr == "grad" else a for a in node.args]
        return node

    def bump(node):
        return ast.Constant(node.value * 2 + 1 if isinstance(node.value, int) else node.value * 1.5 + 0.5)

    def flip(node):
        node.ops = [FLIP.get(type(op), type(op))() for op in node.ops]
        return node

    def backward_of_sum(node):  # y.sum().backward() -> y.backward()
        node.func.value = node.func.value.func.value
        return node

    return {
        "drop retain_graph": _drop_keyword("retain_graph"),
        "drop detach()": (lambda n: _is_call(n, "detach"), lambda n: n.func.value),
        ".sum().backward() -> .backward()": (lambda n: _is_call(n, "backward") and _is_call(n.func.value, "sum"),
                                             backward_of_sum),
        "flip a comparison": (lambda n: isinstance(n, ast.Compare) and all(type(o) in FLIP for o in n.ops), flip),
        "change a constant": (lambda n: isinstance(n, ast.Constant) and type(n.value) in (int, float)
                              and not isinstance(n.value, bool), bump),
        "derivative by torch.cos": (lambda n: _is_call(n, "plot") and any(
            isinstance(a, ast.Attribute) and a.attr == "grad" for a in n.args), cos_of_grad),
        "skip zero_()": (lambda n: isinstance(n, ast.Expr) and _is_call(n.value, "zero_"), lambda n: None),
    }


# In exercises, constants and comparisons are the student's own choices (another x range in
# exercise 5, another branch in exercise 4 is another correct answer, not a wrong one): there
# only the operators that break what the exercise is about apply.
FREE_CHOICE = ("change a constant", "flip a comparison")


def mutants(nb: dict, targets: dict[int, str], exercise: set[str] = frozenset()) -> Iterator[tuple[Mutant, dict]]:
    """Every single-edit mutant of the graded code cells (``targets``: cell index -> the anchor
    it was located by), with its notebook."""
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code" or i not in targets:
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        try:
            tree = pyast.parse(src)
        except SyntaxError:
            continue
        tag = targets[i]
        variants = [("delete the cell", "pass")]
        for name, (accept, edit) in _operators().items():
            if name in FREE_CHOICE and tag in exercise:
                continue
            for n in range(MAX_CONSTANTS_PER_CELL if name == "change a constant" else 8):
                t = _One(accept, edit, n)
                new = ast.fix_missing_locations(t.visit(copy.deepcopy(tree)))
                if not t.done:
                    break
                variants.append((name, ast.unparse(new)))
        for name, after in variants:
            if after.strip() == ast.unparse(tree).strip():
                continue
            m_nb = copy.deepcopy(nb)
            m_nb["cells"][i]["source"] = after
            yield Mutant(name, i, tag, src, after), m_nb


def _fingerprint(ex) -> str:
    """What checks can see of a run: captured values and how each cell ended (displayed output
    alone, like the book's `x.grad == u` line, is not captured)."""
    runs = [(c.index, c.status, c.ename, c.evalue) for c in ex.cells]
    return json.dumps([ex.captures, runs, ex.events], sort_keys=True, default=str)


@dataclass
class Outcome:
    mutant: Mutant
    killed_by: list[str]
    equivalent: bool


def run(nb_node, rubric, expected, lang, launcher, on_outcome=None) -> tuple[float, list[Outcome]]:
    """Grade the reference and every mutant; return the reference's score and the outcomes."""
    import nbformat

    located, _ = locate(rubric.anchors, cells_of(nb_node))
    used = {c.cell for _, c in rubric.checks()}
    targets: dict[int, str] = {}
    free = [a.id for a in rubric.anchors.values() if a.free_choice]  # name their cells first: free choices
    for aid in free + sorted(used, key=lambda a: rubric.anchors[a].scope is not None):  # then the narrowest
        for i in located.get(aid, []):
            targets.setdefault(i, aid)
    exercise = {a.id for a in rubric.anchors.values() if a.exercise is not None or a.free_choice}
    ref_ex, ref_plan = asyncio.run(run_notebook(nb_node, rubric, False, launcher))
    ref_q = judge(rubric, ref_plan, ref_ex, expected, lang)
    ref_score = sum(q.score for q in ref_q)
    ref_print = _fingerprint(ref_ex)
    outcomes = []
    for m, m_nb in mutants(json.loads(nbformat.writes(nb_node)), targets, exercise):
        node = nbformat.from_dict(m_nb)
        ex, plan = asyncio.run(run_notebook(node, rubric, False, launcher))
        qs = judge(rubric, plan, ex, expected, lang)
        killed = [f"{q.id}/{c.name}" for q in qs for c in q.checks if c.score < c.max_score]
        equivalent = not killed and _fingerprint(ex) == ref_print and _static_neutral(m, rubric)
        o = Outcome(m, killed, equivalent)
        outcomes.append(o)
        if on_outcome:
            on_outcome(o)
    return ref_score, outcomes


def _static_neutral(m: Mutant, rubric=None) -> bool:
    """Only edits no source-reading check looks at can be equivalent: cells whose anchor's checks
    all judge recorded behaviour (events), or AST rewrites no static check looks at."""
    if rubric is not None:
        from .checks import REGISTRY

        kinds = {c.kind for _, c in rubric.checks() if c.cell == m.tag}
        if kinds and not any(REGISTRY[k].reads_source for k in kinds):
            return True
    return m.operator not in ("delete the cell", "drop retain_graph", "derivative by torch.cos")
