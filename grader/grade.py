"""Grade one notebook, or many: read -> locate -> execute -> judge, into a SubmissionResult.

Nothing a submission does can stop the others: a file that is not a notebook, a kernel that
will not start, or a bug in a check becomes that submission's recorded result.
"""
from __future__ import annotations

import asyncio
import contextvars
import gc
import hashlib
import importlib.metadata
import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import nbformat

from . import __version__, pyast
from .errors import InputError
from .execute import execute
from .kernel import KERNEL_MODULES, extensions
from .judge import judge
from .kernel.launch import Launcher
from .locate import cells_of, segment, split_at_markers
from .messages import render
from .model import Execution, Rubric, SubmissionResult
from .plan import Plan, build_plan
from .timing import emit, phase, start as start_timing


def _import_judging_modules() -> None:
    """numpy, which holds the captured tensors (the grader never imports torch: tensors.py), and
    what the comparison loads on first use. Without cyclic garbage collection while it imports
    (each full collection walks every object made so far); what the imports made is then left
    out of every later collection (``gc.freeze``): it lives as long as the process."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        from . import tensors
        from .checks.tensor_value import mismatch

        mismatch(tensors.tensor([0.0, 0.0]), tensors.tensor([1.0, 1.0]))
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


_warmup = threading.Thread(target=_import_judging_modules, name="grader-imports", daemon=True)
_warmup_start = threading.Lock()  # plan threads of concurrent notebooks may be first at once


def prepare_judging(wait: bool = True) -> None:
    """Import numpy (and what the checks use lazily) in ONE thread, before any judging thread
    runs. Two threads importing into one package graph at once can be handed a half-initialised
    module by CPython's import deadlock avoidance: a wrong grade, not an error. Called first by
    the thread that starts the workers (``grade_many``) or by ``run_notebook``'s plan thread
    once the kernel's process is started (``check``: started any earlier, the import's hold on
    the GIL slows the main thread on its way to starting the kernel, which is the longer path);
    every later call only waits for that one import to finish."""
    with _warmup_start:
        if _warmup.ident is None:
            _warmup.start()
    if wait:
        _warmup.join()


class NotANotebook(Exception):
    pass


START_ERROR = "the kernel could not start"


class KernelUnavailable(InputError):
    """No kernel can start here, or the reference cannot run: nothing can be graded (exit 2).
    Never turned into scores: a broken install is an error, not zeros."""


def never_started(ex: Execution) -> bool:
    return ex.kernel_died_at == -1


def read_notebook(path: Path):
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotANotebook("not a notebook: the file is not UTF-8 text") from None
    except OSError as e:
        raise NotANotebook(f"cannot read the file ({e.strerror})") from None
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise NotANotebook(f"not a notebook: not valid JSON (line {getattr(e, 'lineno', '?')})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotANotebook("not a notebook: no list of cells")
    try:
        nb = nbformat.reads(raw, as_version=4)
    except Exception as e:
        raise NotANotebook(f"not a valid notebook: {str(e).splitlines()[0][:200]}") from None
    return nb


def plan_notebook(nb, rubric: Rubric, public_only: bool) -> Plan:
    """Locate the rubric's cells in the notebook and plan what each check needs from the kernel."""
    with phase("locate"):
        cells = cells_of(nb)
        located = segment(rubric.anchors, cells, rubric.editions)
    return build_plan(rubric, cells, located, public_only)


async def run_notebook(nb, rubric: Rubric, public_only: bool, launcher: Launcher | None = None
                       ) -> tuple[Execution, Plan]:
    """Locate, plan, execute: what the notebook did under the plan's probes, and the plan.
    The plan is made in a thread once the checks' imports are done (hidden inputs are drawn
    with numpy) while the kernel starts: a cold kernel boots during the grader's own imports."""
    launched = threading.Event()

    def make_plan() -> Plan:
        if _warmup.ident is None:  # not started yet (check): not before the kernel's process is. The
            launched.wait(30)  # import holds the GIL (0.1 s), and the start is the longer path
        with phase("judge_wait"):
            prepare_judging()
        return plan_notebook(nb, rubric, public_only)

    nb = split_at_markers(nb)  # a cell holding several exercises: one part each (locate.py)
    plan = asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, make_plan)
    try:
        ex = await execute(nb, plan, rubric.limits, rubric.seed, launcher, launched=launched.set)
    finally:
        launched.set()  # (execute failed before any kernel: the plan thread must not wait)
    return ex, await plan


# ---- expected values: the reference run under the same probes, cached ---------------------

def cache_dir() -> Path:
    base = os.environ.get("GRADER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "grader")
    return Path(base)


def expected_key(rubric: Rubric) -> str:
    h = hashlib.sha256()
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "none"
    for part in (rubric.digest, Path(rubric.reference).read_bytes(), *(source.encode() for _, source in KERNEL_MODULES.values()),
                 extensions.digest(), __version__.encode(),
                 torch_version.encode(), repr(rubric.limits).encode()):
        h.update(hashlib.sha256(part if isinstance(part, bytes) else part.encode()).digest())
    return h.hexdigest()[:32]


def expected_values(rubric: Rubric, launcher: Launcher | None = None, refresh: bool = False,
                    compute: Callable[[], Execution] | None = None) -> dict:
    """Captures of the reference notebook for every check, from the cache when current.
    ``compute()`` runs the reference elsewhere (a Dask worker) instead of with ``launcher``."""
    path = cache_dir() / f"expected-{expected_key(rubric)}.json"
    if not refresh:
        try:
            return json.loads(path.read_text())["captures"]
        except (OSError, ValueError, KeyError):
            pass
    if compute is not None:
        ex = compute()
    else:
        try:
            nb = read_notebook(Path(rubric.reference))
        except NotANotebook as e:
            raise InputError(str(e), rubric.reference) from None
        ex, _ = asyncio.run(run_notebook(nb, rubric, public_only=False, launcher=launcher))
    if never_started(ex):
        raise KernelUnavailable(f"{START_ERROR}, so nothing was graded: {ex.kernel_error} (run `grader doctor`)")
    lost = [c for c in ex.cells if c.status in ("dead", "timeout", "skipped")]
    if ex.kernel_error or ex.probe_errors or lost:  # never cache, never grade against, a partial run
        why = ex.kernel_error or (f"cell {ex.number(lost[0].index)}: {lost[0].status}" if lost else
                                  render(next(iter(ex.probe_errors.values()))[1], "en"))
        raise InputError(f"the reference solution could not be run, so nothing can be graded: {why}",
                         rubric.reference)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"rubric": rubric.path, "reference": rubric.reference,
                                   "captures": ex.captures}))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs speed
    return ex.captures


# ---- one submission ------------------------------------------------------------------------

def grade_path(path: Path, rubric: Rubric, expected: dict | None, lang: str, public_only: bool,
               launcher: Launcher | None = None, name: str | None = None) -> SubmissionResult:
    started = time.monotonic()
    phases = start_timing()
    name = name or path.stem
    total = sum(c.points for _, c in rubric.checks() if not public_only or c.visibility == "public")
    try:
        with phase("read"):
            nb = read_notebook(path)
    except NotANotebook as e:
        return SubmissionResult(name, "error", str(e), 0.0, total, [], time.monotonic() - started,
                                sandbox=(launcher or Launcher()).describe(), phases=phases)
    try:
        ex, plan = asyncio.run(run_notebook(nb, rubric, public_only, launcher))
    except Exception as e:  # the grader's own failure for this file: recorded, batch goes on
        return SubmissionResult(name, "error", f"could not run the notebook: {type(e).__name__}: {e}",
                                0.0, total, [], time.monotonic() - started, phases=phases)
    if never_started(ex):  # not the student's doing: an error with the cause, never zeros
        return SubmissionResult(name, "error", f"{START_ERROR}: {ex.kernel_error}", 0.0, total, [],
                                time.monotonic() - started, sandbox=(launcher or Launcher()).describe(),
                                phases=phases)
    with phase("judge"):
        questions = judge(rubric, plan, ex, expected, lang)
    score = round(sum(q.score for q in questions), 4)
    total = sum(q.max_score for q in questions)  # an exercise the student's edition lacks is left out
    result = SubmissionResult(name, "graded", None, score, total, questions, time.monotonic() - started,
                              sandbox=(launcher or Launcher()).describe(), phases=phases)
    result.notes = import_notes(rubric, ex, lang)
    return result


def import_notes(rubric: Rubric, ex: Execution, lang: str) -> list[str]:
    """A line for each package the notebook imports that is not in the course's environment
    (the rubric's ``packages``), and for each import that failed when it ran: whose problem it
    is (the student's choice of package, or a grading machine without a declared package)."""
    import ast
    import re
    import sys

    from .i18n import say

    if not rubric.packages:
        return []
    declared = set(rubric.packages)
    tops = {p.split(".")[0] for p in declared}
    notes: list[str] = []
    failed: set[str] = set()
    for c in ex.cells:
        if c.ename in ("ModuleNotFoundError", "ImportError"):
            m = re.search(r"No module named '([^']+)'", c.evalue or "")
            mod = m.group(1) if m else ""
            failed.add(mod.split(".")[0])
            if mod and (mod in declared or mod.split(".")[0] in tops):
                notes.append(say(lang, f"第 {ex.number(c.index)} 格：匯入 {mod} 失敗（{c.ename}: {c.evalue}）。{mod} 屬於課程環境，"
                                       f"是評分機器少裝了它，不是你的錯：請告訴老師。",
                                 f"cell {ex.number(c.index)}: importing {mod} failed ({c.ename}: {c.evalue}). {mod} is part of "
                                 f"the course's environment, so the grading machine lacks it, not your work: tell your "
                                 f"instructor."))
            else:
                notes.append(say(lang, f"第 {ex.number(c.index)} 格：匯入失敗（{c.ename}: {c.evalue}）：{mod or '這個套件'} "
                                       f"不在課程環境中（可用：{', '.join(rubric.packages)}），評分時無法使用。",
                                 f"cell {ex.number(c.index)}: an import failed ({c.ename}: {c.evalue}): {mod or 'that package'} "
                                 f"is not in the course's environment (available: {', '.join(rubric.packages)}), so it "
                                 f"cannot be used where notebooks are graded."))
    stdlib = set(getattr(sys, "stdlib_module_names", ())) | {"__future__"}
    for i, src in enumerate(ex.sources):
        if "import" not in src:  # (no import statement without the word: no parse)
            continue
        try:
            tree = pyast.parse("\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if top in tops or top in stdlib or top in failed or top == "grader":
                    continue
                failed.add(top)  # one line per package
                notes.append(say(lang, f"第 {ex.number(i)} 格匯入了 {top}，它不在這份作業的課程環境中（可用：{', '.join(rubric.packages)}）："
                                       f"評分時可能沒有它。",
                                 f"cell {ex.number(i)} imports {top}, which is not in this assignment's course environment "
                                 f"(available: {', '.join(rubric.packages)}): it may be missing where notebooks are graded."))
    return notes


def file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def grading_key(rubric: Rubric, lang: str) -> str:
    """What a result depends on besides the notebook: rubric, reference, grader, language."""
    return hashlib.sha256(f"{expected_key(rubric)}:{rubric.limits}:{lang}".encode()).hexdigest()


def grade_many(paths: list[Path], rubric: Rubric, expected: dict, lang: str,
               on_result: Callable[[SubmissionResult, bool], None] | None = None,
               launchers: list[Launcher] | None = None,
               previous: Callable[[str], SubmissionResult | None] | None = None,
               runner: Callable[[list[tuple[int, Path, str]]], Iterable[tuple[int, SubmissionResult]]] | None = None,
               ) -> list[SubmissionResult]:
    """Grade the paths with one worker thread per launcher (each its own kernels), and return
    the results in the order of ``paths``, whatever order they finish in.

    ``runner(items)``, given, grades instead of the launchers (a Dask cluster, cluster.py): it
    takes the (index, path, name) to grade and yields (index, result) as each is done.

    ``previous(name)`` may return an earlier result: it is kept when the notebook and the
    grading key are unchanged. ``on_result(result, kept)`` is called in this thread, as results
    arrive, so it may write files and databases without locks."""
    launchers = launchers or [Launcher()]
    names = _unique_names(paths)
    key = grading_key(rubric, lang)
    results: list[SubmissionResult | None] = [None] * len(paths)
    todo: queue.Queue[int] = queue.Queue()
    done: queue.Queue[tuple[int, SubmissionResult, bool]] = queue.Queue()
    for i, path in enumerate(paths):
        digest = file_sha256(path)
        old = previous(names[path]) if previous else None
        if old is not None and digest and old.notebook_sha256 == digest and old.rubric_sha256 == key \
                and old.status != "error":  # an error (a kernel that could not start) is tried again
            done.put((i, old, True))
        else:
            todo.put(i)

    def worker(launcher: Launcher) -> None:
        launcher.warm_up()  # its fork server (started by the command: prestart) has made its imports
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            path = paths[i]
            try:
                r = grade_path(path, rubric, expected, lang, public_only=False, launcher=launcher, name=names[path])
            except Exception as e:  # never lose a submission to a grader bug
                r = SubmissionResult(names[path], "error", f"internal grader error: {type(e).__name__}: {e}",
                                     0.0, sum(c.points for _, c in rubric.checks()), [])
            r.notebook_sha256, r.rubric_sha256 = file_sha256(path), key
            done.put((i, r, False))

    def feed() -> None:  # the runner's results, into the same queue as the threads'
        try:
            for i, r in runner([(i, paths[i], names[paths[i]]) for i in list(todo.queue)]):
                r.rubric_sha256 = key
                done.put((i, r, False))
        except BaseException as e:  # e.g. a worker that cannot grade: the batch stops, as here
            done.put((-1, e, False))

    if not todo.empty() and runner is None:
        # started here, before any worker runs; it imports while the workers' fork servers start
        # (running a notebook needs none of the judge's imports), and each worker waits for it before
        # it judges (grade_path)
        prepare_judging(wait=False)
    threads = [threading.Thread(target=worker, args=(lnch,), daemon=True)
               for lnch in launchers[: max(1, min(len(launchers), todo.qsize()))]] if runner is None else \
        [threading.Thread(target=feed, daemon=True)] if not todo.empty() else []
    for th in threads:
        th.start()
    for _ in range(len(paths)):
        i, r, kept = done.get()
        if i < 0:
            raise r
        results[i] = r
        if on_result:
            t0 = time.perf_counter()
            on_result(r, kept)  # writing the results: timed for the benchmark (timing.py)
            r.phases["write"] = time.perf_counter() - t0
        if not kept:
            emit(r)
    for th in threads:
        th.join()
    return [r for r in results if r is not None]


def _unique_names(paths: list[Path]) -> dict[Path, str]:
    """Result names, one per student: the notebook's stem; where stems repeat (every student
    hands in autograd.ipynb), the folder's name, without the prefix all those folders share
    (GitHub Classroom's "<assignment>-<username>" repositories give the username)."""
    stems: dict[str, int] = {}
    for p in paths:
        stems[p.stem] = stems.get(p.stem, 0) + 1
    repeated = [p for p in paths if stems[p.stem] > 1]
    prefix = os.path.commonprefix([p.parent.name for p in repeated]) if len(repeated) > 1 else ""
    prefix = prefix[: prefix.rfind("-") + 1] if "-" in prefix else ""
    out: dict[Path, str] = {}
    taken: set[str] = set()
    for p in paths:
        name = p.stem if stems[p.stem] == 1 else (p.parent.name[len(prefix):] or p.parent.name)
        if name in taken or name in stems and stems[p.stem] > 1:
            name = f"{p.parent.name}__{p.stem}"
        taken.add(name)
        out[p] = name
    return out
