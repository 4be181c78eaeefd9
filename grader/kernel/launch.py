"""Where a kernel is started: the one place that decides *how* a student's kernel process is
launched (command, environment, working directory).

The executor asks a ``Launcher`` for a jupyter_client kernel manager and never builds one
itself, so a sandboxed launch (a command wrapped in a sandbox tool) or a pre-warmed one (a
fork server) is a different ``Launcher`` with the same interface, not a change to execution.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from dataclasses import dataclass, field

from . import KERNEL_NAME, WARM_IMPORTS

# ipykernel's options for every kernel, however started (a command, or a fork server's spawn)
KERNEL_ARGS = ("--HistoryManager.enabled=False", "--IPKernelApp.log_level=CRITICAL")

# Variables a student's kernel gets on top of a minimal environment: deterministic, quiet,
# single-threaded (workers run side by side), figures kept off-screen.
KERNEL_ENV = {
    "MPLBACKEND": "agg",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "JUPYTER_PLATFORM_DIRS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "GRADER_INSIDE": "1",  # grader.check() in a notebook being graded does nothing
}
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
              "LD_LIBRARY_PATH", "VIRTUAL_ENV", "SYSTEMROOT")


def kernel_python() -> str:
    """The interpreter every kernel runs: this Python as it was started, never its symlink's
    target. A venv's ``bin/python`` is a symlink to the base interpreter; started by its own
    path it finds the venv's ``pyvenv.cfg`` and so the venv's site-packages (ipykernel, torch);
    started as the target it sees only the base install's."""
    exe = sys.executable
    if not exe or not os.path.exists(exe):  # embedded or odd launchers: the real file at least
        exe = os.path.realpath(sys.executable or "python3")
    return os.path.abspath(exe)


def kernel_env(extra: dict[str, str] | None = None, sandboxed: bool = False) -> dict[str, str]:
    """The kernel's whole environment: no grader secrets or tokens leak through os.environ."""
    if sandboxed:
        env = {"PATH": os.pathsep.join([os.path.dirname(kernel_python()), "/usr/bin", "/bin"]),
               "HOME": "/work", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp/.mpl", "LANG": "C.UTF-8"}
        env.update({k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ})
        import site

        if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
            env["PYTHONUSERBASE"] = site.getuserbase()  # `pip install --user` packages (bound read-only)
    else:
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(KERNEL_ENV)
    env.update(extra or {})
    return env


class StderrTail:
    """The last ``limit`` bytes a process writes to its stderr: a pipe drained by a thread, so
    a kernel that floods fd 2 costs nothing but the copying, and a kernel that cannot start
    leaves its own error message to quote. ``fd`` is what Popen gets as ``stderr``."""

    def __init__(self, limit: int = 16384):
        self.limit = limit
        self._buf = bytearray()
        self._lock = threading.Lock()
        r, self.fd = os.pipe()
        self._reader = threading.Thread(target=self._drain, args=(r,), daemon=True)
        self._reader.start()

    def _drain(self, r: int) -> None:
        try:
            while True:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                with self._lock:
                    self._buf += chunk
                    if len(self._buf) > self.limit:
                        del self._buf[: len(self._buf) - self.limit]
        except OSError:
            pass
        finally:
            os.close(r)

    def close_writer(self) -> None:
        """Our copy of the write end: once the process has it, the reader ends with the process."""
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1

    def text(self, settle: float = 0.5) -> str:
        self._reader.join(settle)  # the process has just died: let the last bytes arrive
        with self._lock:
            return self._buf.decode("utf-8", errors="replace")


def cause(text: str, limit: int = 300) -> str:
    """The one line of a process's error output that says why it failed: the exception line
    of a traceback, else the last line that is not blank."""
    lines = [ln.strip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()]
    if not lines:
        return ""
    line = lines[-1]
    for ln in reversed(lines):  # a traceback ends with "SomeError: message", maybe followed by noise
        if not ln.startswith(("File ", "^", "~")) and (ln.split(":")[0].endswith(("Error", "Exception"))
                                                        or ln.startswith(("bwrap:", "setpriv:", "prlimit:"))):
            line = ln
            break
    return line if len(line) <= limit else line[: limit - 1] + "…"


def start_failure(launcher: "Launcher", km, error: BaseException) -> str:
    """Why a kernel did not start, in one line: the error the grader saw and the kernel's own
    last words (``No module named 'ipykernel'``, a bwrap error)."""
    seen = str(error).splitlines()[0] if str(error) else type(error).__name__
    own = ""
    try:
        own = launcher.stderr_of(km) if km is not None else ""
    except Exception:
        pass
    return f"{seen}: {own}" if own and own not in seen else seen


# a cold kernel's start: ipykernel's launcher (``python -m ipykernel_launcher``), its imports and
# its set-up made without cyclic garbage collection (each full collection walks every object
# made so far), which is on again before the kernel runs any code
# (lean.py's source first: IPython's terminal and jedi are left out while ipykernel imports)
LEAN_SOURCE = (Path(__file__).parent / "lean.py").read_text(encoding="utf-8")
KERNEL_BOOT = LEAN_SOURCE + """
import gc, sys
if sys.path[0] == "":
    del sys.path[0]
gc.disable()
lean_ipython(True)
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
app.initialize()
lean_ipython(False)
gc.enable()
del gc, sys, lean_ipython
app.start()
"""

# a kernel started ahead of its notebook (Launcher.prestart): the same start, but first the
# imports its set-up would make (the names in its first argument); then it waits for the grader
# to tell it its connection file, folder and the notebook's own imports (one JSON line on stdin;
# imports_for), and ends if the grader is gone before that
KERNEL_EARLY = LEAN_SOURCE + """
import gc, os, sys, warnings
if sys.path[0] == "":
    del sys.path[0]
gc.disable()
lean_ipython(True)
from ipykernel.kernelapp import IPKernelApp


def warm(names):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            try:
                __import__(name)
            except Exception:
                pass


warm(sys.argv.pop(1).split(","))
line = sys.stdin.readline()
if not line.endswith("\\n"):
    os._exit(0)
import json
go = json.loads(line)
warm(go["imports"])
if go["cwd"]:
    os.chdir(go["cwd"])
sys.argv[1:1] = ["-f", go["connection_file"]]
app = IPKernelApp.instance()
app.initialize()
lean_ipython(False)
gc.enable()
del gc, go, json, lean_ipython, line, os, sys, warm, warnings
app.start()
"""
EARLY_PROVISIONER = "grader-early"
FORK_PROVISIONER = "grader-fork"
# the grader's own provisioners (managers.py), registered in the running code, so its kernels
# never depend on the installed metadata being current (pyproject.toml declares grader-fork too):
# an editable install made before a module moved still names the old place, and a checkout on
# PYTHONPATH has none of its own
_OWN_PROVISIONERS = {EARLY_PROVISIONER: "grader.kernel.managers:EarlyProvisioner",
                     FORK_PROVISIONER: "grader.kernel.managers:ForkProvisioner"}

_FACTORY_LOCK = threading.Lock()


def provisioner_factory():
    """jupyter_client's provisioner factory (one per process), made knowing the provisioner the
    grader's cold kernels use (jupyter_client's own ``local-provisioner``) and the grader's own
    (a kernel started early, a forked one) instead of reading every installed distribution's
    entry points when it is made: 0.2 s of CPU, on the way to ``check``'s only kernel. A
    provisioner it does not know is still looked up by name when asked for
    (``JUPYTER_DEFAULT_PROVISIONER_NAME``)."""
    from importlib.metadata import EntryPoint

    from jupyter_client.provisioning import KernelProvisionerFactory as Factory

    with _FACTORY_LOCK:
        if not Factory.initialized():
            scan = Factory.__dict__["_get_all_provisioners"]
            local = EntryPoint("local-provisioner", "jupyter_client.provisioning:LocalProvisioner", Factory.GROUP_NAME)
            Factory._get_all_provisioners = staticmethod(lambda: [local])
            try:
                Factory.instance()
            finally:
                Factory._get_all_provisioners = scan
            for name, value in _OWN_PROVISIONERS.items():
                Factory.instance().provisioners[name] = EntryPoint(name, value, Factory.GROUP_NAME)
    return Factory.instance()


@dataclass
class _Early:
    """A kernel process started ahead (``Launcher.prestart``), not yet given a notebook."""

    process: subprocess.Popen
    tail: "StderrTail"
    sockdir: str | None = None


@dataclass
class Launcher:
    """Starts a plain local ipykernel in its own process (no sandbox)."""

    python: str = field(default_factory=kernel_python)
    extra_env: dict[str, str] = field(default_factory=dict)
    name: str = "local"
    preloaded_sources = frozenset()  # class constant: file names of the kinds' kernel code its kernels start with
    preloads_kernel_modules = False  # class constant: kernels start with the probe and recorder defined

    def argv(self) -> list[str]:
        """A kernel started as a command (a sandbox wraps it): what ipykernel's launcher does."""
        return [self.python, "-c", KERNEL_BOOT, "-f", "{connection_file}", *KERNEL_ARGS]

    def __post_init__(self):
        self._tails: dict[int, StderrTail] = {}
        self._pending: StderrTail | None = None
        self._zmq = None
        self._early: _Early | None = None

    def prestart(self) -> None:
        """Start the next kernel's process now, before the notebook is read and planned, so that
        its imports (ipykernel's, then WARM_IMPORTS, which its set-up would make) overlap the
        grader's own work: ``grader check`` starts one kernel, and it is on the way to every
        result. The next ``kernel_manager()`` adopts it; ``close()`` ends it if none did. When
        it cannot be started, the next kernel starts the ordinary way (and says why it cannot)."""
        if self._early is not None:
            return
        tail = StderrTail()
        inner = [self.python, "-c", KERNEL_EARLY, ",".join(WARM_IMPORTS), *KERNEL_ARGS]
        argv, env, sockdir = self._early_command(inner)
        try:  # as jupyter_client starts a kernel (launcher.launch_kernel), with stdin to tell it where
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=tail.fd, env=env, start_new_session=True)
        except OSError:
            tail.close_writer()
            self._discard(_Early(None, tail, sockdir))
            return
        self._early = _Early(process, tail, sockdir)

    def _early_command(self, inner: list[str]) -> tuple[list[str], dict[str, str], str | None]:
        """How an early kernel is started here: (argv, environment, the folder it shares)."""
        return inner, {**kernel_env(self.extra_env), "JPY_PARENT_PID": str(os.getpid())}, None

    def _take_early(self, ksm) -> _Early | None:
        """The early kernel, if one was started: the kernel of the manager made next with ``ksm``."""
        early, self._early = self._early, None
        if early is not None:
            ksm.metadata = {"kernel_provisioner": {"provisioner_name": EARLY_PROVISIONER, "config": {}}}
        return early

    def _track(self, km, early: _Early | None) -> None:
        """What a new kernel manager's start needs: the early process it adopts, the stderr to quote."""
        if early is None:
            self._new_tail(km)
        else:
            km.early = early.process
            self._tails[id(km)] = early.tail

    def _discard(self, early: _Early) -> None:
        """End an early kernel no notebook was given (the command stopped before its kernel)."""
        if early.process is not None:
            early.process.kill()
            early.process.wait()
        early.tail.close_writer()

    def zmq_context(self):
        """One ZeroMQ context for every kernel this launcher starts, its manager and its client.
        jupyter_client otherwise makes one for each of them, each with its own I/O thread, and
        tears each down with a 100 ms linger: 20 ms of every submission. Sockets close at once."""
        if self._zmq is None:
            import zmq
            import zmq.asyncio

            self._zmq = zmq.asyncio.Context()
            self._zmq.setsockopt(zmq.LINGER, 0)
        return self._zmq

    def _new_tail(self, km) -> None:
        tail = StderrTail()
        self._tails[id(km)] = self._pending = tail

    def _take_tail(self) -> int:
        """The stderr for the kernel about to start (the one kernel_manager() just made)."""
        tail, self._pending = self._pending, None
        return tail.fd if tail is not None else -3  # subprocess.DEVNULL

    def stderr_of(self, km) -> str:
        """The kernel's own error output, reduced to its cause (empty when none)."""
        tail = self._tails.get(id(km))
        if tail is None:
            return ""
        tail.close_writer()
        return cause(tail.text())

    def kernel_manager(self):
        """A jupyter_client kernel manager (AsyncKernelManager) for the next kernel."""
        from jupyter_client.manager import AsyncKernelManager

        from .managers import SpecManager

        provisioner_factory()  # before the manager asks it for a provisioner
        ksm = SpecManager()
        ksm.argv = self.argv()
        ksm.env = kernel_env(self.extra_env)
        early = self._take_early(ksm)
        km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
        self._track(km, early)
        return km

    def start_kwargs(self, cwd: str) -> dict:
        """Options for ``start_kernel`` (the working directory, the environment, stderr)."""
        return {"cwd": cwd, "env": kernel_env(self.extra_env), "stderr": self._take_tail()}

    def release(self, km) -> None:
        """Called once the kernel is gone: remove anything made for it."""
        tail = self._tails.pop(id(km), None)
        if tail is not None:
            tail.close_writer()

    def warm_up(self) -> None:
        """Called once before the first kernel, to start whatever kernels are made from."""

    def close(self) -> None:
        """Called once no more kernels will be started."""
        early, self._early = self._early, None
        if early is not None:
            self._discard(early)
        ctx, self._zmq = self._zmq, None
        if ctx is not None:
            ctx.destroy(linger=0)

    def describe(self) -> str:
        return "no sandbox: the kernel runs as you, with your files and network"
