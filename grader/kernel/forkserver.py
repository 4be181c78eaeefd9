"""The warm launch path: kernels forked from a per-worker fork server (zygote) that has
already imported ipykernel, IPython, torch, numpy and matplotlib.

Same interface as the cold launchers (launch.py, sandbox.py): the executor gets a kernel
manager and nbclient drives it as usual. The zygote runs inside the worker's sandbox (the same
bubblewrap command as a cold kernel), and each kernel it forks gets namespaces of its own (see
zygote.py), so every submission still runs in a fresh process, in a private /work and /tmp,
with no network, under the limits, and nothing it started survives it.

jupyter_client's kernel provisioners are the extension point: ``ForkProvisioner`` (managers.py, registered
as the entry point ``grader-fork``) starts a kernel by asking the zygote instead of Popen.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import KERNEL_MODULES, KERNEL_NAME, extensions, scratch
from .launch import FORK_PROVISIONER, KERNEL_ARGS, LEAN_SOURCE, Launcher, StderrTail, cause, kernel_env, kernel_python, provisioner_factory
from ..model import Limits
from .sandbox import SandboxLauncher, _pids_of, python_paths, reap_uid

ZYGOTE_SOURCE = LEAN_SOURCE + (Path(__file__).parent / "zygote.py").read_text(encoding="utf-8")
MODULES_FILE = "kernel-modules.json"  # zygote.MODULES_FILE (the zygote is never imported)


class ZygoteError(RuntimeError):
    pass


def _run_base() -> str:
    """Where the zygote's folders live: outside /tmp and /work, which each kernel replaces by
    a fresh tmpfs of its own (the folders are shared with the sandbox at the same path)."""
    for base in (os.environ.get("GRADER_RUNDIR"), "/dev/shm", "/var/tmp"):
        if base and os.path.isdir(base) and os.access(base, os.W_OK) and not base.startswith(("/tmp", "/work")):
            return base
    raise ZygoteError("no folder for the fork server outside /tmp (tried /dev/shm and /var/tmp)")


class Zygote:
    """One fork server process (in its own sandbox when ``sandbox`` is given)."""

    def __init__(self, limits: Limits, sandbox: SandboxLauncher | None):
        self.sandbox = sandbox
        self.uid = sandbox.uid if sandbox else None
        base = _run_base()
        self.control = scratch.make("zc", base)
        self.spool = scratch.make("zs", base)
        self.stderr = StderrTail()  # the zygote's and its kernels' stderr: the last bytes, to quote
        for d in (self.control, self.spool):
            if self.uid is not None:
                os.chown(d, self.uid, self.uid)
            os.chmod(d, 0o700)
        modules = os.path.join(self.control, MODULES_FILE)
        entries = [[name, filename, source] for name, (filename, source) in KERNEL_MODULES.items()]
        entries += [[extensions.PROBE_MODULE, filename, source] for filename, source in extensions.registered()]
        self.preloaded_sources = frozenset(filename for _, filename, _ in entries)
        with open(modules, "w", encoding="utf-8") as f:
            json.dump(entries, f)
        if self.uid is not None:
            os.chown(modules, self.uid, self.uid)
        disk = str(int(limits.disk_mb * 1024 * 1024))
        python = kernel_python()
        if sandbox:
            keep = [p for p in python_paths() if p.startswith("/tmp/")]  # a virtualenv under /tmp stays visible
            inner = [python, "-c", ZYGOTE_SOURCE, self.control, "sandboxed", disk, *keep]
            argv, env = sandbox.sandbox_argv([self.control, self.spool], inner), {"PATH": os.environ.get("PATH", "")}
        else:
            argv, env = [python, "-c", ZYGOTE_SOURCE, self.control, "plain", disk], kernel_env()
        try:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr.fd,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        except OSError as e:
            self.stderr.close_writer()
            shutil.rmtree(self.control, ignore_errors=True)
            shutil.rmtree(self.spool, ignore_errors=True)
            raise ZygoteError(f"the fork server did not start: {e}") from None
        self.stderr.close_writer()
        self.host_pids: set[int] | None = None  # once it is ready (``wait_ready``)

    def wait_ready(self) -> "Zygote":
        """Wait until the fork server has made its imports (once); itself, ready to fork."""
        if self.host_pids is None:
            line = self.proc.stdout.readline()  # "ready" once the imports are done
            if line.strip() != b"ready":
                self.close()  # read what it said once it is gone, not before
                why = cause(self.stderr.text(settle=2.0)) or f"it exited with code {self.proc.returncode}"
                raise ZygoteError(f"the fork server did not start: {why}")
            self.host_pids = set(_pids_of(self.uid)) if self.uid is not None else set()
        return self

    def request(self, obj: dict) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            try:
                s.connect(os.path.join(self.control, "zygote.sock"))
                s.sendall((json.dumps(obj) + "\n").encode())
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError as e:
                raise ZygoteError(f"the fork server is gone ({e})") from None
        reply = json.loads(data or b"{}")
        if "error" in reply:
            raise ZygoteError(reply["error"])
        return reply

    def alive(self) -> bool:
        return self.proc.poll() is None

    def spawn(self, connection_file: str, cwd: str | None) -> int:
        """Fork a kernel for this connection file (and, unsandboxed, folder); its init's pid."""
        return int(self.request({"op": "spawn", "connection_file": connection_file, "cwd": cwd,
                                 "args": list(KERNEL_ARGS)})["pid"])

    def process(self, pid: int) -> "_ForkedProcess":
        """What jupyter_client's provisioner expects of a Popen, for the kernel ``pid``."""
        return _ForkedProcess(self, pid)

    def settle(self, wait: float = 5.0) -> None:
        """Wait until only the zygote itself runs as this worker's uid (a kernel's namespace is
        torn down asynchronously), killing stragglers: the next kernel starts from zero."""
        if self.uid is None:
            return
        deadline = time.monotonic() + wait
        extra = None
        while True:
            extra = [p for p in _pids_of(self.uid, extra) if p not in self.host_pids]
            if not extra:
                return
            if time.monotonic() > deadline:
                for pid in extra:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                return
            time.sleep(0.01)

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        if self.uid is not None:
            reap_uid(self.uid)
        shutil.rmtree(self.control, ignore_errors=True)
        shutil.rmtree(self.spool, ignore_errors=True)


class _ForkedProcess:
    """What LocalProvisioner expects of a Popen, for a kernel the zygote forked."""

    stdout = stderr = stdin = None

    def __init__(self, zygote: Zygote, pid: int):
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def poll(self):
        if self.returncode is None:
            try:
                self.returncode = self.zygote.request({"op": "poll", "pid": self.pid})["status"]
            except ZygoteError:
                self.returncode = -9  # no zygote, no kernel
        return self.returncode

    def wait(self, timeout=None):
        while self.poll() is None:
            time.sleep(0.005)
        return self.returncode

    def send_signal(self, sig):
        try:
            self.zygote.request({"op": "signal", "pid": self.pid, "sig": int(sig)})
        except ZygoteError:
            pass

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)


@dataclass
class WarmLauncher(Launcher):
    """Kernels forked from a pre-warmed zygote, sandboxed (``sandbox`` given) or not."""

    limits: Limits = field(default_factory=Limits)
    sandbox: SandboxLauncher | None = None
    name: str = "warm"
    preloads_kernel_modules = True  # the zygote defined them (zygote.preload)

    @property
    def preloaded_sources(self) -> frozenset:
        """The kinds' kernel code the zygote defined too (what was registered when it started)."""
        zygote = self._zygote or self._starting
        return zygote.preloaded_sources if zygote is not None else frozenset()

    def __post_init__(self):
        super().__post_init__()
        self._zygote: Zygote | None = None
        self._dirs: dict[int, str] = {}
        self._next = None  # a managers.ForkKernelManager whose kernel is forked ahead
        self._starting: Zygote | None = None  # started by prestart, not yet known to be ready

    @property
    def zygote(self) -> Zygote:
        if self._zygote is None or not self._zygote.alive():
            if self._zygote is not None:
                self._zygote.close()
            started, self._starting = self._starting, None
            self._zygote = None  # (a fork server that did not start is not kept)
            self._zygote = (started or Zygote(self.limits, self.sandbox)).wait_ready()
        return self._zygote

    def kernel_manager(self):
        km, self._next = self._next, None
        if km is not None and self._zygote is not None and km.zygote is self._zygote and self._zygote.alive():
            return km
        if km is not None:
            self.release(km, prepare=False)
        return self._new_manager()

    def prestart(self) -> None:
        """Start the fork server's process now, without waiting for its imports: ``grade`` calls
        this for every worker as soon as the rubric is read, so the imports run while the
        grader reads the class and makes its own (``warm_up`` and the first kernel wait for
        them). When it cannot be started, ``warm_up`` tries again and says why."""
        if self._zygote is None and self._starting is None:
            try:
                self._starting = Zygote(self.limits, self.sandbox)
            except ZygoteError:
                pass

    def warm_up(self) -> None:
        try:
            self.zygote  # noqa: B018 (starts it)
        except Exception:  # said again, with its cause, when the first kernel is asked for
            pass

    def _prepare(self) -> None:
        """Fork the next kernel now, so it boots while the grader judges this submission."""
        try:
            km = self._new_manager()
            km.write_connection_file()
            km.prespawned = km.spawn()
            self._next = km
        except (ZygoteError, OSError, ValueError, KeyError):
            self._next = None

    def _new_manager(self):
        from .managers import ForkKernelManager, SpecManager

        provisioner_factory()  # before the manager asks it for a provisioner
        zygote = self.zygote
        d = tempfile.mkdtemp(prefix="k-", dir=zygote.spool)
        if zygote.uid is not None:
            os.chown(d, zygote.uid, zygote.uid)
        ksm = SpecManager()
        ksm.argv = ["zygote"]  # not executed: the provisioner forks the kernel
        ksm.interrupt_mode = "message"
        ksm.metadata = {"kernel_provisioner": {"provisioner_name": FORK_PROVISIONER, "config": {}}}
        km = ForkKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, transport="ipc",
                                ip=os.path.join(d, "k"), connection_file=os.path.join(d, "kernel.json"))
        km.zygote, km.owner = zygote, zygote.uid
        km.kernel_cwd = None if self.sandbox else d
        self._dirs[id(km)] = d
        return km

    def start_kwargs(self, cwd: str) -> dict:
        return {}

    def stderr_of(self, km) -> str:
        """A forked kernel's last words are in its zygote's stderr."""
        zygote = getattr(km, "zygote", None)
        text = zygote.stderr.text(settle=0.2) if zygote is not None else ""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return cause("\n".join(lines[-20:])) if lines else ""

    def release(self, km, prepare: bool = True) -> None:
        d = self._dirs.pop(id(km), None)
        if d:
            shutil.rmtree(d, ignore_errors=True)
        if self._zygote is not None:
            self._zygote.settle()
            if prepare and self._next is None:
                self._prepare()

    def close(self) -> None:
        km, self._next = self._next, None
        if km is not None and km.prespawned and self._zygote is not None:
            _ForkedProcess(self._zygote, km.prespawned).kill()
            self.release(km, prepare=False)
        for zygote in (self._zygote, self._starting):
            if zygote is not None:
                zygote.close()
        self._zygote = self._starting = None
        super().close()

    def describe(self) -> str:
        inner = self.sandbox.describe() if self.sandbox else "no sandbox: the kernel runs as you, with your files and network"
        return f"{inner}, forked from a pre-warmed server"
