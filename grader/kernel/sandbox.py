"""The sandboxed kernel launch: each student kernel in its own bubblewrap sandbox.

What the kernel gets: a private, size-limited, empty working folder (``/work``) and ``/tmp``;
the system and the Python environment read-only; its own PID, network, IPC and UTS
namespaces (so no network, and no way to see or signal the grader); an unprivileged user id
when the grader runs as root; resource limits (address space, CPU seconds, processes, file
size). It talks to the grader over Unix sockets in a folder that only it and the grader share.
Rubrics, references, caches, results and other submissions are simply not there; the one thing
from outside is matplotlib's list of the machine's fonts, read-only (``font_list``).

See SECURITY.md for the threat model.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .launch import KERNEL_NAME, Launcher, kernel_env, kernel_python, provisioner_factory
from . import scratch
from ..model import Limits

# Read-only system paths the kernel needs, when they exist (the rest of / is not visible).
SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/ld.so.cache", "/etc/ld.so.conf",
                "/etc/ld.so.conf.d", "/etc/localtime", "/etc/fonts", "/etc/alternatives", "/etc/passwd",
                "/etc/group", "/etc/nsswitch.conf", "/etc/mime.types"]
SANDBOX_UID = 64000  # first unprivileged uid used for kernels when the grader is root
_HELD: dict[int, object] = {}  # uid -> the open lock file that reserves it for this process


def reserve_uid(first: int = SANDBOX_UID, count: int = 1000) -> int:
    """A uid no other grader on this machine is using (an flock held for this process's life),
    so that two batches at once never count, wait for or kill each other's kernels."""
    import fcntl

    for uid in range(first, first + count):
        if uid in _HELD:
            continue
        f = open(os.path.join(tempfile.gettempdir(), f".grader-uid-{uid}.lock"), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _HELD[uid] = f
        return uid
    raise OSError("no free sandbox uid (1000 graders at once?)")


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def user_site() -> str | None:
    """This user's site-packages (``pip install --user``) when Python uses it and it exists."""
    import site

    if not site.ENABLE_USER_SITE:
        return None
    path = site.getusersitepackages()
    return path if os.path.isdir(path) else None


_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # the grader package (this is grader/kernel/)


def _grader_home() -> str:
    return os.path.dirname(_PACKAGE)


_FONTS: list[str | None] = []  # the font list once looked for (one per process)
_FONTS_LOCK = threading.Lock()


def font_list() -> str | None:
    """matplotlib's list of the machine's fonts, made once with the kernels' Python in the
    grader's cache folder, or None. A fresh sandbox has an empty ``MPLCONFIGDIR``: without it,
    every fork server and every cold kernel that imports matplotlib scans the fonts again
    (about 0.25 s of CPU). It is bound read-only: the grader made it from the machine's fonts
    before any submission ran, so it carries nothing from one submission to another. The folder
    is named by the Python and its matplotlib's version: an upgrade gets a list of its own."""
    with _FONTS_LOCK:
        if not _FONTS:
            _FONTS.append(_make_font_list())
        return _FONTS[0]


def _make_font_list() -> str | None:
    import hashlib
    from importlib import metadata

    try:  # the kernels run this Python: its matplotlib, by version (an upgrade makes a new list)
        which = f"{kernel_python()}\0{metadata.version('matplotlib')}"
    except metadata.PackageNotFoundError:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "grader", "matplotlib", hashlib.sha256(which.encode()).hexdigest()[:16])
    made = sorted(Path(folder).glob("fontlist-v*.json")) if os.path.isdir(folder) else []
    if made:
        return str(made[0])
    code = ("import os, matplotlib, matplotlib.font_manager as fm; "
            "print(os.path.join(matplotlib.get_cachedir(), 'fontlist-v%s.json' % fm.FontManager.__version__))")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as building:  # whole or absent: another grader may look
            done = subprocess.run([kernel_python(), "-c", code], env={**kernel_env(), "MPLCONFIGDIR": building},
                                  capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
            lines = done.stdout.split()
            path = lines[-1] if done.returncode == 0 and lines else ""
            if os.path.dirname(path) != building or not os.path.isfile(path):
                return None
            final = os.path.join(folder, os.path.basename(path))
            os.replace(path, final)
            return final
    except (OSError, subprocess.SubprocessError):
        return None


def python_binds() -> list[tuple[str, str]]:
    """(source, target) folders that hold this Python and its packages, bound read-only: the
    prefix (a venv's, symlinked or ``--copies``), the base interpreter's (pyvenv.cfg's
    ``home`` and the symlink's target), the stdlib and site folders, the user site, and folders
    that ``.pth`` files put on ``sys.path`` (editable installs of other packages). Not the
    working folder, ``PYTHONPATH`` or a checkout of the grader itself: a kernel has no use for
    them and they may hold rubrics and references. A symlinked folder is bound at both its
    path and its target."""
    import site

    wanted: list[str] = [sys.prefix, sys.base_prefix, sys.exec_prefix, getattr(sys, "base_exec_prefix", sys.prefix)]
    exe = kernel_python()
    hop = exe
    for _ in range(40):  # every link from the venv's python to the interpreter must resolve inside
        wanted.append(os.path.dirname(hop))
        if not os.path.islink(hop):
            break
        hop = os.path.normpath(os.path.join(os.path.dirname(hop), os.readlink(hop)))
    real = os.path.realpath(exe)
    wanted.append(os.path.dirname(os.path.dirname(real)))
    cfg = os.path.join(sys.prefix, "pyvenv.cfg")
    if os.path.isfile(cfg):
        try:
            for line in open(cfg, encoding="utf-8", errors="replace"):
                key, sep, value = line.partition("=")
                if sep and key.strip() == "home" and value.strip():
                    wanted.append(value.strip())  # the folder only: its parent may hold anything
        except OSError:
            pass
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            wanted.append(p)
    try:
        wanted += site.getsitepackages()
    except AttributeError:  # very old virtualenvs' site.py
        pass
    usr = user_site()
    if usr:
        wanted.append(usr)
    outside = {os.path.realpath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    outside.add(os.path.realpath(os.getcwd()))
    if sys.path and sys.path[0]:
        outside.add(os.path.realpath(sys.path[0]))
    checkout = _grader_home()
    for entry in sys.path[1:]:
        if not entry or not os.path.isdir(entry) or os.path.realpath(entry) in outside:
            continue
        real_entry = os.path.realpath(entry)
        if (checkout + os.sep).startswith(real_entry + os.sep) and "-packages" not in real_entry:
            continue  # the grader's own checkout (tests, samples, references): not for students
        wanted.append(entry)
    pairs: set[tuple[str, str]] = set()
    for p in wanted:
        if not p or not os.path.exists(p):
            continue
        target, source = os.path.abspath(p), os.path.realpath(p)
        pairs.add((source, source))
        if target != source and not os.path.islink(target):  # a component above it is a symlink
            pairs.add((source, target))
        elif target != source:
            pairs.add((source, target))
    # drop targets nested in another target bound from the matching source
    keep = sorted(pairs, key=lambda st: (len(st[1]), st))
    out: list[tuple[str, str]] = []
    for src, dst in keep:
        if any(dst.startswith(d + os.sep) and src == os.path.join(s, os.path.relpath(dst, d)) for s, d in out):
            continue
        if any(dst == d for _, d in out):
            continue
        out.append((src, dst))
    return out


def python_paths() -> list[str]:
    """Where this Python and its packages appear inside the sandbox."""
    return [dst for _, dst in python_binds()]


def _hidden_dirs() -> list[str]:
    """Folders bound with the Python that a kernel must not read: the grader's bundled
    assignments (rubrics with hidden checks, reference solutions) when the grader is installed
    in a bound site-packages."""
    here = os.path.join(_PACKAGE, "assignments")
    if not os.path.isdir(here):
        return []
    return [dst + here[len(src):] for src, dst in python_binds() if here.startswith(src + os.sep)]


@dataclass
class SandboxLauncher(Launcher):
    """Starts each kernel inside bubblewrap, as an unprivileged user, with resource limits."""

    limits: Limits = field(default_factory=Limits)
    slot: int = 0  # worker number: each worker's kernels get their own uid (process limits are per uid)
    name: str = "bwrap"

    def __post_init__(self):
        super().__post_init__()
        self._dirs: dict[int, str] = {}
        self._uid = reserve_uid() if os.geteuid() == 0 else None

    @property
    def uid(self) -> int | None:
        return self._uid

    def sandbox_argv(self, sockdir: str | list[str], inner: list[str]) -> list[str]:
        """The full command: bwrap, its mounts and namespaces, the drop to an unprivileged uid,
        the resource limits, then ``inner``. ``sockdir`` (one or more folders) is shared with the
        grader read-write at the same path."""
        lim = self.limits
        mib = 1024 * 1024
        # as root, stay in the initial user namespace so setpriv can switch to a real unprivileged uid
        ns = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"] \
            if self.uid is not None else ["--unshare-all"]
        argv = [bwrap_path() or "bwrap", *ns, "--die-with-parent", "--new-session",
                "--clearenv", "--hostname", "sandbox"]
        for p in SYSTEM_PATHS:
            if os.path.lexists(p):
                argv += ["--ro-bind", p, p] if not os.path.islink(p) else ["--symlink", os.readlink(p), p]
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(int(lim.disk_mb * mib)), "--tmpfs", "/tmp",
                 "--perms", "0777", "--size", str(int(lim.disk_mb * mib)), "--tmpfs", "/work"]
        made: set[str] = {"/tmp", "/work"}
        env = kernel_env(self.extra_env, sandboxed=True)
        fonts = font_list()
        if fonts:  # where this kernel's matplotlib looks (extra_env may move it)
            mpl = env["MPLCONFIGDIR"]
            argv += ["--perms", "1777", "--dir", mpl, "--ro-bind", fonts, os.path.join(mpl, os.path.basename(fonts))]
        for src, p in python_binds():  # after the tmpfs mounts: a virtualenv may live under /tmp
            if not any(p == s or p.startswith(s + os.sep) for s in SYSTEM_PATHS) or src != p:
                parts = Path(p).parents
                for parent in reversed([str(q) for q in parts if str(q) != "/"]):
                    if parent not in made and not any(parent == s or parent.startswith(s + os.sep)
                                                      for s in SYSTEM_PATHS):
                        argv += ["--perms", "0755", "--dir", parent]  # traversable even where the real one is not (/root)
                        made.add(parent)
                argv += ["--ro-bind", src, p]
        for hidden in _hidden_dirs():  # the bundled rubrics and references, where site-packages holds them
            argv += ["--perms", "0555", "--tmpfs", hidden, "--remount-ro", hidden]
        for shared in [sockdir] if isinstance(sockdir, str) else sockdir:
            argv += ["--bind", shared, shared]
        argv += ["--chdir", "/work"]
        for k, v in env.items():
            argv += ["--setenv", k, v]
        if self.uid is not None:
            # root: keep only what setpriv needs to drop to the unprivileged uid, then nothing
            argv += ["--cap-add", "CAP_SETUID,CAP_SETGID", "--"]
            argv += ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--"]
        else:
            argv += ["--"]
        argv += ["prlimit", f"--as={int(lim.memory_mb * mib)}", f"--cpu={int(lim.cpu_seconds)}",
                 f"--nproc={int(lim.processes)}", f"--fsize={int(lim.file_mb * mib)}", "--core=0", "--"]
        return argv + inner

    def _sockdir(self) -> str:
        """A kernel's folder shared with the grader: its connection file and sockets."""
        sockdir = scratch.make("k")
        if self.uid is not None:
            os.chown(sockdir, self.uid, self.uid)
        os.chmod(sockdir, 0o700)
        return sockdir

    def _early_command(self, inner: list[str]) -> tuple[list[str], dict[str, str], str | None]:
        sockdir = self._sockdir()
        return self.sandbox_argv(sockdir, inner), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, sockdir

    def _discard(self, early) -> None:
        super()._discard(early)
        if early.sockdir:
            shutil.rmtree(early.sockdir, ignore_errors=True)
        if self.uid is not None:
            reap_uid(self.uid)

    def kernel_manager(self):
        from .managers import OwnedKernelManager, SpecManager

        provisioner_factory()  # before the manager asks it for a provisioner
        ksm = SpecManager()
        early = self._take_early(ksm)
        sockdir = early.sockdir if early is not None else self._sockdir()
        ksm.argv = self.sandbox_argv(sockdir, self.argv())
        ksm.env = {}
        ksm.interrupt_mode = "message"  # a signal to bwrap would not reach the kernel
        km = OwnedKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm, transport="ipc",
                                   ip=os.path.join(sockdir, "k"), connection_file=os.path.join(sockdir, "kernel.json"))
        km.owner = self.uid
        self._dirs[id(km)] = sockdir
        self._track(km, early)
        return km

    def start_kwargs(self, cwd: str) -> dict:
        # the kernel's own stderr is not the student's output (that comes as messages): only its
        # last bytes are kept, to quote when the kernel cannot start
        return {"env": {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, "stderr": self._take_tail()}

    def release(self, km) -> None:
        super().release(km)
        sockdir = self._dirs.pop(id(km), None)
        if sockdir:
            shutil.rmtree(sockdir, ignore_errors=True)
        if self.uid is not None:
            reap_uid(self.uid)

    def describe(self) -> str:
        who = "an unprivileged uid per worker" if self.uid is not None else "your uid, in a user namespace"
        return f"bubblewrap sandbox ({who})"


def _pids_of(uid: int, among: list[int] | None = None) -> list[int]:
    """The live processes of ``uid``: all of them, or those still alive ``among`` the given pids
    (once a kernel is gone its uid gains no process, so a wait polls only what it first saw)."""
    pids = []
    for entry in (os.listdir("/proc") if among is None else map(str, among)):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("State:") and line.split()[1] in ("Z", "X"):
                        break  # a zombie holds nothing but its pid
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except (OSError, ValueError):
            continue
    return pids


def reap_uid(uid: int, wait: float = 5.0) -> None:
    """Once a kernel is gone, wait until every process of its uid is gone too (the PID namespace
    takes them down), killing stragglers: the next kernel of this worker starts from zero, and
    nothing outlives its submission."""
    import signal
    import time

    deadline = time.monotonic() + wait
    killed = False
    pids = None
    while True:
        pids = _pids_of(uid, pids)
        if not pids:
            return
        if time.monotonic() > deadline:
            if killed:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            killed, deadline = True, time.monotonic() + wait
        time.sleep(0.02)


# ---- what is protected on this machine ---------------------------------------------------

@dataclass
class Protection:
    name: str
    active: bool
    detail: str


_FACTS = r"""
import json, os, socket, sys
facts = {"uid": os.getuid()}
host, port, grader_pid, secret = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.socket(); s.settimeout(2)
try:
    s.connect((host, port)); facts["network"] = True
except OSError:
    facts["network"] = False
try:
    os.kill(grader_pid, 0); facts["sees_grader"] = True
except ProcessLookupError:
    facts["sees_grader"] = False
except PermissionError:
    facts["sees_grader"] = True
facts["sees_files"] = os.path.exists(secret)
print(json.dumps(facts))
"""


def sandbox_facts(limits: Limits | None = None) -> tuple[dict | None, str]:
    """Run a probe inside a real sandbox and report what it could see and do."""
    import json
    import socket
    import subprocess

    if not bwrap_path():
        return None, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    launcher = SandboxLauncher(limits=limits or Limits())
    sockdir = scratch.make("doctor")
    secret = Path(scratch.make("secret")) / "rubric.yaml"
    secret.write_text("secret")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        if launcher.uid is not None:
            os.chown(sockdir, launcher.uid, launcher.uid)
        argv = launcher.sandbox_argv(sockdir, [kernel_python(), "-c", _FACTS, "127.0.0.1",
                                               str(listener.getsockname()[1]), str(os.getpid()), str(secret)])
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            lines = (p.stderr or p.stdout).strip().splitlines()
            return None, f"bwrap failed: {lines[-1] if lines else p.returncode}"
        return json.loads(p.stdout.strip().splitlines()[-1]), ""
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return None, f"bwrap could not run: {e}"
    finally:
        listener.close()
        shutil.rmtree(sockdir, ignore_errors=True)
        shutil.rmtree(secret.parent, ignore_errors=True)


def probe_sandbox() -> tuple[bool, str]:
    """Quick: can the exact sandbox command start here? (``grader doctor`` checks far more.)"""
    import subprocess

    if not bwrap_path():
        return False, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    launcher = SandboxLauncher()
    sockdir = scratch.make("probe")
    try:
        if launcher.uid is not None:
            os.chown(sockdir, launcher.uid, launcher.uid)
        p = subprocess.run(launcher.sandbox_argv(sockdir, ["/bin/true"]), capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            lines = (p.stderr or p.stdout).strip().splitlines()
            return False, f"bwrap failed: {lines[-1] if lines else p.returncode}"
        return True, "starts"
    except (OSError, subprocess.SubprocessError) as e:
        return False, f"bwrap could not run: {e}"
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


def protections(limits: Limits) -> list[Protection]:
    """Each protection, checked by a probe run inside a real sandbox on this machine."""
    facts, why = sandbox_facts(limits)
    f = facts or {}
    ok = facts is not None
    root = os.geteuid() == 0
    return [
        Protection("sandbox (bubblewrap)", ok, why or "starts"),
        Protection("private filesystem", ok and not f.get("sees_files"),
                   "a file of the grader's was not visible inside" if ok else why),
        Protection("no network", ok and not f.get("network"),
                   "a listener on the grader's 127.0.0.1 could not be reached" if ok else why),
        Protection("separate PID space", ok and not f.get("sees_grader"),
                   "the grader's process was invisible; the kernel's processes die with it" if ok else why),
        Protection("unprivileged identity", ok and f.get("uid") != 0,
                   f"kernels ran as uid {f.get('uid')}" + (" (uid per worker)" if root else "") if ok else why),
        Protection("resource limits", ok and shutil.which("prlimit") is not None,
                   f"memory {limits.memory_mb:g} MiB, CPU {limits.cpu_seconds:g} s, {limits.processes:g} processes, "
                   f"files {limits.file_mb:g} MiB, disk {limits.disk_mb:g} MiB"),
        Protection("time limits", True, f"{limits.cell_timeout:g} s per cell, {limits.notebook_timeout:g} s per notebook, "
                                        f"kill after {limits.interrupt_grace:g} s if an interrupt is ignored"),
        Protection("output cap", True, f"{limits.output_kb:g} KiB of output kept per cell"),
        Protection("comparisons in the grader", True, "only JSON data leaves the kernel; nothing is unpickled"),
    ]


class SandboxUnavailable(Exception):
    """The sandbox cannot start on this machine (no bubblewrap, no user namespaces)."""
