"""The grader's scratch folders (a run's working folder, a fork server's control and spool
folders, a kernel's socket folder, a cluster task's copy of a submission): each named after
the process that made it, so that what a killed process left behind can be found and removed.

A grader removes its own folders when it is done. A process killed outright (``kill -9``, the
OOM killer, a lost Dask worker) cannot: its folders stay in /tmp and /dev/shm. The first folder
a grader process makes sweeps away the folders of makers that are no longer alive: in the
same PID namespace (a PID from another container's namespace means nothing here) and with a
name this module gave. Anything else (a live maker, a reused PID, a folder of an older
version) is left alone: a sweep may leave a folder behind, never remove one in use.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading

_NAME = re.compile(r"^grader-[a-z]+-(\d+)\.(\d+)-")
_swept: set[str] = set()
_lock = threading.Lock()


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def prefix(kind: str) -> str:
    """``grader-<kind>-<PID namespace>.<PID>-``: what ``tempfile`` puts before its random part."""
    return f"grader-{kind}-{_pid_namespace()}.{os.getpid()}-"


def make(kind: str, dir: str | None = None) -> str:
    """A new private folder (``tempfile.mkdtemp``) named for this process; the first one in a
    parent folder sweeps that folder first."""
    sweep(dir)
    return tempfile.mkdtemp(prefix=prefix(kind), dir=dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def sweep(dir: str | None = None) -> list[str]:
    """Remove this PID namespace's scratch folders whose maker is dead, once per process and
    parent folder. Returns what was removed."""
    base = os.path.abspath(dir or tempfile.gettempdir())
    with _lock:
        if base in _swept:
            return []
        _swept.add(base)
    ns, removed = _pid_namespace(), []
    if not ns:
        return removed
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        m = _NAME.match(name)
        if not m or int(m.group(1)) != ns or _alive(int(m.group(2))):
            continue
        path = os.path.join(base, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                removed.append(path)
    return removed
