"""The warm launch path: kernels forked from a pre-warmed server share nothing, and a batch
graded with several workers gives exactly the results of one worker."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.execute import execute
from grader.plan import Plan
from grader.model import Limits
from grader.kernel.factory import make_launcher

from .conftest import SUBMISSIONS, run_cli

LIMITS = Limits(cell_timeout=5, probe_timeout=10, interrupt_grace=2)
SANDBOX = shutil.which("bwrap") is not None

POLLUTE = [
    "import torch, random, os, builtins\n"
    "torch.set_default_dtype(torch.float64)\n"
    "torch.manual_seed(1234); random.seed(1234)\n"
    "torch.allclose = lambda *a, **k: True\n"
    "builtins.injected = 42\n"
    "open('left_behind.txt', 'w').write('state')\n"
    "import matplotlib.pyplot as plt\nplt.plot([1, 2], [3, 4])\n"
    "os.environ['POLLUTED'] = '1'\n"
    "marker = 'from the first submission'",
]
OBSERVE = {
    "dtype": "torch.get_default_dtype() == torch.float32",
    "rand": "torch.rand(2)",
    "allclose_ok": "torch.allclose(torch.zeros(1), torch.ones(1))",
    "builtins_clean": "not hasattr(__import__('builtins'), 'injected')",
    "files": "len(os.listdir('.'))",
    "figures": "len(plt.get_fignums())",
    "env": "os.environ.get('POLLUTED')",
    "marker": "'marker' in globals()",
    "gc": "__import__('gc').isenabled()",  # the fork server imports with it off, its kernels run with it on
}


def _observe(launcher):
    cells = ["import torch, os, matplotlib.pyplot as plt"]
    plan = Plan()
    plan.add(0, "post", "p", {"op": "values", "exprs": OBSERVE})
    ex = asyncio.run(execute(new_notebook(cells=[new_code_cell(c) for c in cells]), plan, LIMITS, 0, launcher))
    return ex.captures["p"]


@pytest.mark.parametrize("sandbox", [False] + ([True] if SANDBOX else []))
def test_no_state_passes_between_forked_kernels(sandbox):
    launcher = make_launcher(sandbox, LIMITS, warm=True)
    try:
        clean = _observe(launcher)
        polluter = new_notebook(cells=[new_code_cell(c) for c in POLLUTE])
        ex = asyncio.run(execute(polluter, Plan(), LIMITS, 0, launcher))
        assert [c.status for c in ex.cells] == ["ok"]
        after = _observe(launcher)
    finally:
        launcher.close()
    assert after == clean
    values = {k: v.get("value") for k, v in after.items()}
    assert values["allclose_ok"] is False and values["builtins_clean"] is True and values["figures"] == 0
    assert values["marker"] is False and after["env"] == {"type": "none"} and values["gc"] is True


SYSV_LEAVE = (  # System V objects outlive their process: a shared segment with data, and a semaphore
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
    "seg = libc.shmget(0x6a7e, 4096, 0o1666)\nassert seg >= 0\n"
    "ctypes.memmove(libc.shmat(seg, None, 0), b'answers', 7)\nassert libc.semget(0x6a7f, 1, 0o1666) >= 0"
)
SYSV_FIND = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)"


@pytest.mark.skipif(not SANDBOX, reason="needs bubblewrap")
@pytest.mark.parametrize("made", ["clone", "unshare"])
def test_a_forked_kernel_is_pid_2_under_an_init_of_its_own(made, monkeypatch):
    """Sandboxed, a kernel's init is PID 1 of a new PID namespace, made at once by the clone
    system call, or (where its number is not known) by a forked process that unshares and forks
    it. Either way the kernel is PID 2, a signal to its parent is ignored as in a cold kernel,
    and neither a file in /tmp nor System V IPC (its own IPC namespace, as a cold sandboxed
    kernel has: shared memory and semaphores outlive their process) reaches the next kernel."""
    from grader.kernel import forkserver

    if made == "unshare":
        source = forkserver.ZYGOTE_SOURCE
        assert "\n_SYS_CLONE = {" in source
        monkeypatch.setattr(forkserver, "ZYGOTE_SOURCE", source.replace("\n_SYS_CLONE = {", "\n_SYS_CLONE = None and {"))
    launcher = make_launcher(True, LIMITS, warm=True)
    try:
        first = [SYSV_LEAVE + "\nimport os\nopen('/tmp/left', 'w').write('x')",
                 "os.kill(os.getppid(), 9)\nimport time\ntime.sleep(0.2)"]
        plan = Plan()
        plan.add(1, "post", "p", {"op": "values", "exprs": {"pid": "os.getpid()", "ppid": "os.getppid()"}})
        ex = asyncio.run(execute(new_notebook(cells=[new_code_cell(c) for c in first]), plan, LIMITS, 0, launcher))
        assert [c.status for c in ex.cells] == ["ok", "ok"]
        assert ex.captures["p"] == {"pid": {"type": "number", "value": 2}, "ppid": {"type": "number", "value": 1}}
        plan = Plan()
        plan.add(0, "post", "p", {"op": "values", "exprs": {"segment": "libc.shmget(0x6a7e, 0, 0)",
                                                             "semaphore": "libc.semget(0x6a7f, 0, 0)",
                                                             "left": "__import__('os').path.exists('/tmp/left')"}})
        ex = asyncio.run(execute(new_notebook(cells=[new_code_cell(SYSV_FIND)]), plan, LIMITS, 0, launcher))
    finally:
        launcher.close()
    assert ex.captures["p"] == {"segment": {"type": "number", "value": -1}, "semaphore": {"type": "number", "value": -1},
                                "left": {"type": "bool", "value": False}}


def test_seeded_values_equal_cold_and_warm():
    cold, warm = make_launcher(False, LIMITS), make_launcher(False, LIMITS, warm=True)
    try:
        plan = Plan()
        plan.add(0, "post", "p", {"op": "values", "exprs": {"r": "torch.randn(3)", "d": "torch.get_default_dtype() == torch.float32"}})
        nb = new_notebook(cells=[new_code_cell("import torch")])
        a = asyncio.run(execute(nb, plan, LIMITS, 0, cold)).captures["p"]
        b = asyncio.run(execute(nb, plan, LIMITS, 0, warm)).captures["p"]
    finally:
        warm.close()
    assert a == b and a["d"]["value"] is True


def test_parallel_results_identical_to_one_worker(tmp_path, expected):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("reference", "typical_mistakes", "seed_answers", "hardcoded_f", "kills_kernel", "not_a_notebook"):
        shutil.copy(SUBMISSIONS / f"{name}.ipynb", subs)
    outs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        proc = run_cli("grade", str(subs), "--out", str(out), "-j", jobs, "--lang", "en")
        assert proc.returncode == 0, proc.stderr
        table = proc.stdout.split("\n\n")[0]
        results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
        for r in results.values():
            r.pop("seconds")
        outs[jobs] = (table, results, (out / "grades.csv").read_text())
    assert outs["1"] == outs["2"]


def test_gradebook_rows_and_rerun(tmp_path, expected):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("reference", "typical_mistakes"):
        shutil.copy(SUBMISSIONS / f"{name}.ipynb", subs)
    out = tmp_path / "out"
    assert run_cli("grade", str(subs), "--out", str(out)).returncode == 0
    db = sqlite3.connect(out / "gradebook.sqlite")
    rows = db.execute("SELECT submission, score, notebook_sha256, rubric_sha256 FROM submissions ORDER BY 1").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("reference", 100.0), ("typical_mistakes", 52.0)]
    assert all(len(r[2]) == 64 and len(r[3]) == 64 for r in rows)
    n_checks = db.execute("SELECT COUNT(*) FROM checks WHERE submission = 'reference'").fetchone()[0]
    assert n_checks == 20
    failed = db.execute("SELECT check_name FROM checks WHERE submission = 'typical_mistakes' AND status = 'fail' "
                        "ORDER BY 1").fetchall()
    assert ("plots-autograd-derivative",) in failed
    db.close()
    # change one notebook: only it is graded again
    nb = json.loads((subs / "typical_mistakes.ipynb").read_text())
    nb["cells"].append({"cell_type": "markdown", "id": "extra", "metadata": {}, "source": "changed"})
    (subs / "typical_mistakes.ipynb").write_text(json.dumps(nb))
    again = run_cli("grade", str(subs), "--out", str(out))
    assert "(1 unchanged, kept)" in again.stdout
    assert (out / "grades.csv").read_text().splitlines()[1].startswith("reference,10,5,5,10,10,10,10,10,15,15,100,100,graded")


FONT_LOOK = ("import os, matplotlib.font_manager\n"
             "mpl = os.environ['MPLCONFIGDIR']\n"
             "entries = sorted(os.listdir(mpl))\n"
             "writable = [os.access(os.path.join(mpl, e), os.W_OK) for e in entries]")


@pytest.mark.skipif(not SANDBOX, reason="needs bubblewrap")
def test_sandboxed_kernel_reads_the_graders_font_list_and_cannot_change_it():
    """A cold sandboxed kernel that imports matplotlib finds the font list the grader made (it
    does not scan the fonts and write its own), and the list is read-only to it."""
    from grader.kernel.sandbox import font_list

    made = font_list()
    assert made is not None and os.path.isfile(made)
    plan = Plan()
    plan.add(0, "post", "p", {"op": "values", "exprs": {"n": "len(entries)", "same": f"entries == [{os.path.basename(made)!r}]",
                                                         "writable": "any(writable)"}})
    launcher = make_launcher(True, LIMITS, warm=False)
    try:
        ex = asyncio.run(execute(new_notebook(cells=[new_code_cell(FONT_LOOK)]), plan, LIMITS, 0, launcher))
    finally:
        launcher.close()
    assert [c.status for c in ex.cells] == ["ok"], ex.cells
    assert ex.captures["p"] == {"n": {"type": "number", "value": 1}, "same": {"type": "bool", "value": True},
                                "writable": {"type": "bool", "value": False}}


def test_font_list_is_made_once_in_the_cache_folder(tmp_path, monkeypatch):
    import subprocess

    from grader.kernel import sandbox

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    made = sandbox._make_font_list()
    assert made is not None and made.startswith(str(tmp_path)) and os.path.getsize(made) > 0

    def no_run(*a, **k):
        raise AssertionError("made again")

    monkeypatch.setattr(subprocess, "run", no_run)
    assert sandbox._make_font_list() == made


@pytest.mark.parametrize("sandbox", [False] + ([True] if SANDBOX else []))
@pytest.mark.parametrize("kind", ["cold", "early", "warm"])
def test_every_kind_of_kernel_starts_with_the_same_ipykernel_options(sandbox, kind):
    """One list of options (launch.KERNEL_ARGS), whether the kernel is a command, a command
    started early (check's) or forked: no history database, ipykernel's log quiet."""
    plan = Plan()
    plan.add(0, "post", "p", {"op": "values", "exprs": {
        "history": "get_ipython().history_manager.enabled",
        "log_level": "get_ipython().kernel.parent.log_level"}})
    launcher = make_launcher(sandbox, LIMITS, warm=kind == "warm")
    if kind == "early":
        launcher.prestart()
    try:
        ex = asyncio.run(execute(new_notebook(cells=[new_code_cell("x = 1")]), plan, LIMITS, 0, launcher))
    finally:
        launcher.close()
    values = {k: v.get("value") for k, v in ex.captures["p"].items()}
    assert values == {"history": False, "log_level": 50}, ex.captures["p"]


@pytest.mark.parametrize("sandbox", [False] + ([True] if SANDBOX else []))
@pytest.mark.parametrize("kind", ["cold", "early", "warm"])
def test_every_kind_of_kernel_starts_without_ipythons_terminal_jedi_and_debugpy_and_the_notebook_gets_them(sandbox, kind):
    """lean.py: what a driven kernel never uses is not imported while ipykernel starts; the
    notebook's own imports get the real modules (jedi and debugpy where they are installed)."""
    plan = Plan()
    loaded = "__import__('sys').modules"
    plan.add(0, "pre", "start", {"op": "values", "exprs": {
        "terminal": f"'prompt_toolkit' in {loaded} or 'IPython.terminal.interactiveshell' in {loaded}",
        "jedi": f"'jedi' in {loaded}", "debugpy": f"'debugpy' in {loaded} or '_pydevd_bundle' in {loaded}"}})
    plan.add(0, "post", "own", {"op": "values", "exprs": {"embed": "real", "jedi": "jedi_ok", "debugpy": "debugpy_ok"}})
    cell = ("import sys, importlib.util\nfrom IPython.terminal.embed import embed\n"
            "real = hasattr(sys.modules['IPython.terminal.embed'], '__file__') and 'prompt_toolkit' in sys.modules\n"
            "jedi_ok = importlib.util.find_spec('jedi') is None or __import__('jedi').__name__ == 'jedi'\n"
            "debugpy_ok = importlib.util.find_spec('debugpy') is None or __import__('debugpy').__name__ == 'debugpy'")
    launcher = make_launcher(sandbox, LIMITS, warm=kind == "warm")
    if kind == "early":
        launcher.prestart()
    try:
        ex = asyncio.run(execute(new_notebook(cells=[new_code_cell(cell)]), plan, LIMITS, 0, launcher))
    finally:
        launcher.close()
    assert {k: v.get("value") for k, v in ex.captures["start"].items()} == {"terminal": False, "jedi": False,
                                                                                "debugpy": False}, ex
    assert {k: v.get("value") for k, v in ex.captures["own"].items()} == {"embed": True, "jedi": True,
                                                                            "debugpy": True}, ex


@pytest.mark.parametrize("sandbox", [False] + ([True] if SANDBOX else []))
@pytest.mark.parametrize("kind", ["cold", "early", "warm"])
def test_every_kind_of_kernel_runs_the_cells_between_probes_in_one_request(sandbox, kind, monkeypatch):
    """The kernel's answer socket (beside its connection file) can be bound in every kind of
    kernel, sandboxed or not: without it a request would silently run one cell only."""
    from grader.execute import _Runner

    got = []
    real = _Runner.run_cells

    async def spy(self, sources, budget):
        ran = await real(self, sources, budget)
        got.append((len(sources), [status for status, _ in ran]))
        return ran

    monkeypatch.setattr(_Runner, "run_cells", spy)
    plan = Plan()
    plan.add(2, "post", "p", {"op": "values", "exprs": {"v": "a + b + c"}})
    launcher = make_launcher(sandbox, LIMITS, warm=kind == "warm")
    if kind == "early":
        launcher.prestart()
    try:
        ex = asyncio.run(execute(new_notebook(cells=[new_code_cell(c) for c in ("a = 1", "b = 2", "c = 3")]),
                                 plan, LIMITS, 0, launcher))
    finally:
        launcher.close()
    assert got == [(3, ["ok", "ok", "ok"])] and ex.captures["p"]["v"]["value"] == 6, (got, ex)


@pytest.mark.parametrize("sandbox", [False] + ([True] if SANDBOX else []))
def test_a_forked_kernel_adopts_the_shell_made_in_the_zygote_wired_as_its_own(sandbox):
    """The zygote makes the IPython shell once (zygote._prepare); each forked kernel adopts it.
    The adopted shell must be wired as the one ipykernel makes: its kernel, parent and
    publishing sockets, history off; and nothing one kernel does to it is in the next."""
    plan = Plan()
    plan.add(0, "post", "p", {"op": "values", "exprs": {
        "kernel": "get_ipython().kernel.shell is get_ipython()",
        "parent": "get_ipython().parent is get_ipython().kernel",
        "display": "get_ipython().display_pub.pub_socket is get_ipython().kernel.iopub_socket",
        "result": "get_ipython().displayhook.session is get_ipython().kernel.session",
        "history": "get_ipython().history_manager.enabled",
        "count": "get_ipython().execution_count",
        "leaked": "sum(k in get_ipython().user_ns or k in get_ipython().magics_manager.magics['line'] "
                  "for k in ('left_behind', 'magic_left'))"}})
    cells = [new_code_cell("x = 1\nx"),
             new_code_cell("left_behind = 1\nget_ipython().register_magic_function(lambda line: line, "
                           "'line', 'magic_left')\nget_ipython().execution_count = 100")]
    launcher = make_launcher(sandbox, LIMITS, warm=True)
    try:
        first = asyncio.run(execute(new_notebook(cells=cells), plan, LIMITS, 0, launcher))
        second = asyncio.run(execute(new_notebook(cells=cells), plan, LIMITS, 0, launcher))
    finally:
        launcher.close()
    values = [{k: v.get("value") for k, v in ex.captures["p"].items()} for ex in (first, second)]
    assert values[0] == values[1], values  # the second kernel starts as the first did
    assert values[0]["leaked"] == 0, values
    assert {k: values[0][k] for k in ("kernel", "parent", "display", "result", "history")} == {
        "kernel": True, "parent": True, "display": True, "result": True, "history": False}, values


def test_the_zygote_prepares_kernels_with_the_installed_ipykernel():
    """With the grader's own options and ipykernel's classes the zygote prepares the shell (the
    30 ms a kernel it saves); asked for a second set of options, it declines and keeps what it
    made for the first, and those kernels start the ordinary way."""
    import subprocess
    import sys

    from grader.kernel import launch

    zygote = os.path.join(os.path.dirname(launch.__file__), "zygote.py")
    code = ("import runpy, sys\nz = runpy.run_path(sys.argv[1])\nargs = tuple(sys.argv[2:])\n"
            "from ipykernel.zmqshell import ZMQInteractiveShell\n"
            "print(z['_prepare'](args), ZMQInteractiveShell.initialized(), "
            "z['_prepare'](args + ('--IPKernelApp.log_level=ERROR',)), ZMQInteractiveShell.initialized(), "
            "z['_prepare'](args))\n")
    out = subprocess.run([sys.executable, "-c", code, zygote, *launch.KERNEL_ARGS], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True", "False", "True", "True"], out.stdout


def test_kernels_asked_for_other_options_start_the_ordinary_way(monkeypatch):
    """The fork server prepares one set of options. A kernel asked for with others (here a
    louder log) must not adopt the shell and application made for the first set: it starts as
    ipykernel starts, with its own options in force."""
    from grader.kernel import forkserver

    plan = Plan()
    plan.add(0, "post", "p", {"op": "values", "exprs": {
        "history": "get_ipython().history_manager.enabled",
        "log_level": "get_ipython().kernel.parent.log_level",
        "wired": "get_ipython().kernel.shell is get_ipython() and get_ipython().parent is get_ipython().kernel"}})
    launcher = make_launcher(False, LIMITS, warm=True)
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    try:
        first = asyncio.run(execute(nb, plan, LIMITS, 0, launcher))
        monkeypatch.setattr(forkserver, "KERNEL_ARGS", tuple(
            "--IPKernelApp.log_level=ERROR" if a.startswith("--IPKernelApp.log_level=") else a
            for a in forkserver.KERNEL_ARGS))
        asyncio.run(execute(nb, plan, LIMITS, 0, launcher))  # forked ahead, before the change
        second = asyncio.run(execute(nb, plan, LIMITS, 0, launcher))
    finally:
        launcher.close()
    assert "p" in second.captures, (second.kernel_error, second.probe_errors, second.cells)
    got = [{k: v.get("value") for k, v in ex.captures["p"].items()} for ex in (first, second)]
    assert got == [{"history": False, "log_level": 50, "wired": True},
                   {"history": False, "log_level": 40, "wired": True}], got


@pytest.mark.parametrize("sandbox", [False] + ([True] if SANDBOX else []))
def test_a_kernel_started_early_is_the_notebooks_kernel_and_one_never_used_is_ended(sandbox, tmp_path):
    """``grader check`` starts its kernel's process before it reads the notebook (prestart), so
    its imports overlap the grader's. That process is the kernel that runs the notebook, in the
    notebook's folder (unsandboxed; a sandbox has its own /work); the next kernel starts the
    ordinary way; and an early kernel no notebook was given is ended by close(), with its folder."""
    launcher = make_launcher(sandbox, LIMITS)
    plan = Plan()
    plan.add(0, "post", "p", {"op": "values", "exprs": {
        "pid": "os.getpid()", "cwd": "os.getcwd()", "here": f"os.getcwd() == {str(tmp_path)!r}",
        "sympy": "'sympy' in __import__('sys').modules"}})  # told to import it (imports_for): a gradient call
    nb = new_notebook(cells=[new_code_cell("import os"), new_code_cell(
        "import torch\nx = torch.ones(2, requires_grad=True)\n(x * x).backward(torch.ones(2))")])
    try:
        launcher.prestart()
        early = launcher._early.process
        first = asyncio.run(execute(nb, plan, LIMITS, 0, launcher, workdir=str(tmp_path)))
        assert launcher._early is None and early.poll() is not None  # adopted, then ended with its kernel
        second = asyncio.run(execute(nb, plan, LIMITS, 0, launcher, workdir=str(tmp_path)))
        for ex in (first, second):
            assert [c.status for c in ex.cells] == ["ok", "ok"] and not ex.kernel_error, ex.cells
            assert ex.captures["p"]["here"]["value"] is not sandbox
            assert ex.captures["p"]["sympy"]["value"] is True
        if not sandbox:  # the process started early is the kernel itself
            assert first.captures["p"]["pid"]["value"] == early.pid != second.captures["p"]["pid"]["value"]
        launcher.prestart()
        unused = launcher._early
    finally:
        launcher.close()
    assert unused.process.poll() is not None
    assert unused.sockdir is None or not os.path.exists(unused.sockdir)


@pytest.mark.parametrize("sandbox", [False] + ([True] if SANDBOX else []))
def test_a_fork_server_started_ahead_is_the_one_kernels_are_forked_from_and_one_never_used_is_ended(sandbox):
    """``grade`` starts every worker's fork server as soon as the rubric is read (prestart),
    without waiting for its imports: the first kernel is forked from that process (not from a
    second one), and a fork server never used is ended by close()."""
    launcher = make_launcher(sandbox, LIMITS, warm=True)
    plan = Plan()
    plan.add(0, "post", "p", {"op": "values", "exprs": {"x": "x"}})
    try:
        launcher.prestart()
        started = launcher._starting
        assert started is not None and started.proc.poll() is None
        launcher.prestart()  # once only
        assert launcher._starting is started
        ex = asyncio.run(execute(new_notebook(cells=[new_code_cell("x = 6 * 7")]), plan, LIMITS, 0, launcher))
        assert ex.captures["p"]["x"]["value"] == 42 and not ex.kernel_error, ex
        assert launcher._zygote is started and launcher._starting is None
    finally:
        launcher.close()
    assert started.proc.poll() is not None
    unused = make_launcher(sandbox, LIMITS, warm=True)
    unused.prestart()
    zygote = unused._starting
    unused.close()
    assert zygote.proc.poll() is not None and not os.path.exists(zygote.control)
