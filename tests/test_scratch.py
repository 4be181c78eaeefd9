"""Scratch folders: what a killed grader leaves in /tmp and /dev/shm is removed by the next
grader on the machine, and nothing a live process (or another PID namespace) uses is touched."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.kernel import scratch

from .conftest import ROOT, SUBMISSIONS, run_cli


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()  # reaped: the PID names nobody (until reused, which only ever keeps a folder)
    return p.pid


def test_a_sweep_removes_only_what_dead_makers_left(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch, "_swept", set())
    ns, dead = scratch._pid_namespace(), _dead_pid()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        left = {
            f"grader-run-{ns}.{dead}-a1": False,  # its maker is dead: removed
            f"grader-zc-{ns}.{dead}-a2": False,
            f"grader-run-{ns}.{os.getpid()}-b1": True,  # this process: in use
            f"grader-k-{ns}.{sleeper.pid}-b2": True,  # another live process
            f"grader-run-{ns + 1}.{dead}-c1": True,  # another PID namespace: its PIDs mean nothing here
            "grader-run-oldstyle1": True,  # an older version's name: unknown maker
            f"mine-{ns}.{dead}-d1": True,  # not ours
        }
        for name in left:
            (tmp_path / name).mkdir()
            (tmp_path / name / "file").write_text("x")
        (tmp_path / f"grader-run-{ns}.{dead}-e1").write_text("a file, not a folder")
        made = scratch.make("run", str(tmp_path))
        assert Path(made).name.startswith(f"grader-run-{ns}.{os.getpid()}-")
        for name, kept in left.items():
            assert (tmp_path / name).exists() == kept, name
        assert (tmp_path / f"grader-run-{ns}.{dead}-e1").exists()
        # once per process and folder: a folder left after the sweep stays until the next process
        (tmp_path / f"grader-run-{ns}.{dead}-f1").mkdir()
        scratch.make("run", str(tmp_path))
        assert (tmp_path / f"grader-run-{ns}.{dead}-f1").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def _folders_of(pid: int) -> list[str]:
    tag = f"-{scratch._pid_namespace()}.{pid}-"
    found = []
    for base in {tempfile.gettempdir(), "/dev/shm", "/var/tmp"}:
        if os.path.isdir(base):
            found += [os.path.join(base, n) for n in os.listdir(base) if n.startswith("grader-") and tag in n]
    return found


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap)")
def test_a_grader_killed_mid_batch_leaves_nothing_once_the_next_one_runs(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(4):
        shutil.copy(SUBMISSIONS / "reference.ipynb", subs / f"s{i}.ipynb")
    env = {**os.environ, "GRADER_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(subs), "--out", str(tmp_path / "out")],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:  # a fork server and a kernel at work
            names = [os.path.basename(p) for p in _folders_of(proc.pid)]
            if any(n.startswith("grader-zc-") for n in names) and any(n.startswith("grader-run-") for n in names):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(1)  # its sandboxes die with it (--die-with-parent)
        assert _folders_of(proc.pid), "a killed grader leaves its folders (nothing to sweep otherwise)"
        done = run_cli("grade", str(SUBMISSIONS / "reference.ipynb"), "--out", str(tmp_path / "again"),
                       env={"GRADER_CACHE": str(tmp_path / "cache")})
        assert done.returncode == 0, done.stderr
        assert _folders_of(proc.pid) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
