"""The package's layout shows the pipeline: no import cycles, and the kernel side (grader/kernel/)
stands on its own. Computed from the source with ``ast``: every ``import`` counts, also one
inside a function (a lazy import is still a dependency, and a cycle through it is still a cycle)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

# What grader/kernel/ may import from the rest of the grader: plain data and the one-line error.
# ``Limits`` (grader.model) is what the launchers need of a rubric; InputError (grader.errors) is
# how the launcher policy says the sandbox cannot start. Nothing of the pipeline (rubric, locate,
# execute, judge, checks, results, formats, commands): those use the kernel side, not the reverse.
KERNEL_MAY_IMPORT = {"grader.model", "grader.errors"}
# Sent to the kernel (or the fork server) as source text and run there: they import nothing of the grader.
# (A kind's kernel half, e.g. grader/checks/_trace_kernel.py, too: see test_kinds_kernel_code_is_plain_source.)
KERNEL_SOURCES = {"grader.kernel.probe", "grader.kernel.recorder", "grader.kernel.zygote", "grader.kernel.lean"}


def modules(root: Path, package: str = "grader") -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def import_graph(root: Path, package: str = "grader") -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from .x import name``: the module x, or
    x.name when that is a module). A package's own __init__ is not counted as imported by its
    submodules (Python runs it first, but that is the package's edge, not theirs)."""
    mods = modules(root, package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        base = name.split(".") if is_pkg else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    if node.level - 1 > len(base):
                        raise AssertionError(f"{path}:{node.lineno}: relative import beyond the package")
                    stem = base[: len(base) - (node.level - 1)] + ([node.module] if node.module else [])
                    target = ".".join(stem)
                else:
                    target = node.module or ""
                for a in node.names:
                    targets.add(f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target)
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each as a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_analysis_finds_cycles_and_lazy_imports(tmp_path):
    """The checks below can fail: a cycle through a lazy, relative import is found."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import x\n")
    (pkg / "c.py").write_text("import pkg.a\nfrom . import sub\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.a", "pkg.sub"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]


@pytest.fixture(scope="module")
def graph():
    return import_graph(ROOT)


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_kernel_side_imports_only_plain_data(graph):
    kernel = {m for m in graph if m == "grader.kernel" or m.startswith("grader.kernel.")}
    assert {"grader.kernel.launch", "grader.kernel.sandbox", "grader.kernel.forkserver",
            "grader.kernel.factory"} | KERNEL_SOURCES <= kernel
    outside = {m: sorted(graph[m] - kernel - KERNEL_MAY_IMPORT) for m in sorted(kernel)}
    assert {m: o for m, o in outside.items() if o} == {}
    for m in sorted(KERNEL_SOURCES):  # run as source text in another process: nothing of ours to import
        assert graph[m] == set(), m
        tree = ast.parse(modules(ROOT)[m][0].read_text(encoding="utf-8"))
        relative = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
        assert relative == [], f"{m}: relative imports at lines {relative}"


def test_nothing_names_a_moved_module():
    """The kernel side's old places (grader/launch.py, grader/kernel_probe.py, ...) are gone and
    nothing in the package, the tests, the tools, the packaging or the docs names them."""
    old = ["grader.launch", "grader.sandbox", "grader.forkserver", "grader.zygote", "grader.kernel_probe",
           "grader.kernel_recorder", "grader/launch.py", "grader/sandbox.py", "grader/forkserver.py",
           "grader/zygote.py", "kernel_probe", "kernel_recorder", "from .sandbox", "from .launch",
           "from .forkserver"]
    found = []
    for folder in ("grader", "tests", "tools", "bench", "scripts", "docs", "examples"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".md", ".toml", ".yml", ".yaml", ".sh", ".txt") or "kernel" in path.parts \
                    or path == Path(__file__):
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{path.relative_to(ROOT)}: {o}" for o in old if o in text]
    for name in ("pyproject.toml", "action.yml", "README.md", "SECURITY.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        found += [f"{name}: {o}" for o in old if o in text]
    assert found == []
    assert not any((ROOT / "grader" / f).exists() for f in ("launch.py", "sandbox.py", "forkserver.py", "zygote.py",
                                                             "kernel_probe.py", "kernel_recorder.py"))


def test_sql_only_behind_the_gradebook():
    """Only grader/gradebook.py talks to SQLite; the commands ask it (stored_results, awaiting_review)."""
    users = []
    for name, (path, _) in sorted(modules(ROOT).items()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            imported = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(m.split(".")[0] == "sqlite3" for m in imported):
                users.append(name)
    assert users == ["grader.gradebook"]


def test_cli_only_parses_and_dispatches(graph):
    """cli.py reaches the pipeline only through grader/commands/ (one module per command)."""
    assert graph["grader.cli"] - {"grader.errors", "grader.model", "grader.formats.output"} \
        == {m for m in graph if m.startswith("grader.commands.") and m != "grader.commands.options"}


def test_kinds_kernel_code_is_plain_source(graph):
    """The kernel halves the kinds register (grader/kernel/extensions.py) are files of the package
    that import nothing of the grader, and every operation the kinds' requests name is defined by
    the probe's core or by one of them."""
    import grader.checks  # noqa: F401  (registers the built-in kinds' kernel code)
    from grader.kernel import extensions

    files = set(extensions._BY_OP.values())
    assert files, "no kind registers kernel code"
    for path in files:
        name = ".".join(path.resolve().relative_to(ROOT.resolve()).with_suffix("").parts)
        assert graph[name] == set(), name
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                    and (getattr(n, "level", 0) or any((a.name or "").startswith("grader") for a in n.names)
                         or (getattr(n, "module", "") or "").startswith("grader"))], name
    core = modules(ROOT)["grader.kernel.probe"][0].read_text(encoding="utf-8")
    ops = {n.value for n in ast.walk(ast.parse(core)) if isinstance(n, ast.Dict)
           for n in n.keys if isinstance(n, ast.Constant)}
    requested = set()
    for path in sorted((ROOT / "grader" / "checks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if isinstance(k, ast.Constant) and k.value == "op" and isinstance(v, ast.Constant):
                        requested.add(v.value)
    assert requested and requested <= ops | set(extensions._BY_OP), requested - ops - set(extensions._BY_OP)
