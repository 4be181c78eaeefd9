"""The grader grades right wherever it is installed, and a broken install is an error (exit 2
with the cause), never a grade.

Each test installs for real, the cheap way: a venv made with ``--system-site-packages`` on top
of the Python running the tests (which already has torch), or, for a Python that has nothing
(Debian's /usr/bin/python3), the CPU build of torch from pip's usual sources.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb"
BASE_PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
slow = pytest.mark.slow


def run(cmd, env=None, cwd=None, timeout=900, user=None) -> subprocess.CompletedProcess:
    """``cmd`` in a clean environment (no PYTHONPATH or venv of the test run's own) plus ``env``."""
    env = {**{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")},
           **(env or {})}
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--", *cmd]
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def make_venv(path: Path, *args: str, python: str = BASE_PYTHON) -> Path:
    p = run([python, "-m", "venv", *args, path])
    assert p.returncode == 0, p.stderr
    return path / "bin" / "python"


def shadow_site(venv: Path, leave_out: tuple[str, ...]) -> None:
    """Make the venv see every package of the base Python but ``leave_out`` (a real missing
    package: the folder the venv reads is made of links to the base's packages, less those)."""
    base = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
    shadow = venv / "shadow"
    shadow.mkdir()
    for entry in base.iterdir():
        if not entry.name.lower().startswith(leave_out):
            (shadow / entry.name).symlink_to(entry)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "shadow.pth").write_text(f"import site; site.addsitedir({str(shadow)!r})\n")


@pytest.fixture
def sources(tmp_path) -> Path:
    """The grader's source tree, as a fresh clone has it (committed or not)."""
    files = run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT).stdout.split()
    dest = tmp_path / "src"
    for f in files:
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    return dest


def _gradebook_rows(out: Path) -> list:
    db = out / "gradebook.sqlite"
    if not db.exists():
        return []
    con = sqlite3.connect(str(db))
    try:
        return con.execute("SELECT submission, status FROM submissions").fetchall()
    finally:
        con.close()


# ---- a kernel that cannot start: exit 2 with its own error, nothing graded ----------------

@slow
@pytest.mark.parametrize("mode", ["warm", "cold"])
def test_missing_ipykernel_is_exit_2_with_the_cause_and_no_grades(tmp_path, mode):
    venv = tmp_path / "venv"
    python = make_venv(venv, "--without-pip")
    shadow_site(venv, ("ipykernel",))
    env = {"PYTHONPATH": str(ROOT), "GRADER_CACHE": str(tmp_path / "cache")}
    # the grader itself runs in this environment (it does not need ipykernel), the kernel cannot
    probe = run([python, "-c", "import grader, torch, nbclient; import ipykernel"], env=env)
    assert "No module named 'ipykernel'" in probe.stderr
    out = tmp_path / "out"
    extra = ["--cold"] if mode == "cold" else []
    for cmd in (["grade", REFERENCE, "--out", out, *extra], ["check", REFERENCE], ["validate"]):
        p = run([python, "-m", "grader", *cmd], env=env, cwd=tmp_path)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2, (cmd, p.stdout[-2000:], p.stderr)
        assert len(lines) == 1 and lines[0].startswith("grader: error: the kernel could not start"), p.stderr
        assert "ipykernel" in lines[0], lines[0]  # the kernel's own words, not a lost log file
        assert "Traceback" not in p.stdout + p.stderr
    assert not list(out.glob("*.json"))
    assert _gradebook_rows(out) == []
    assert not list((tmp_path / "cache").glob("expected-*.json"))  # no expected values from a failed run


@slow
def test_cached_expected_values_and_a_dead_install_errors_every_submission(tmp_path, expected):
    """Expected values already cached (an earlier, working run: the session's): each submission
    is an error with the cause, never zeros, and a batch where every one errored exits non-zero."""
    env = {"PYTHONPATH": str(ROOT), "GRADER_CACHE": os.environ["GRADER_CACHE"]}
    assert list(Path(os.environ["GRADER_CACHE"]).glob("expected-*.json"))
    venv = tmp_path / "venv"
    python = make_venv(venv, "--without-pip")
    shadow_site(venv, ("ipykernel",))
    out = tmp_path / "out"
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("reference", "typical_mistakes"):
        shutil.copy(ROOT / "submissions" / f"{name}.ipynb", subs)
    p = run([python, "-m", "grader", "grade", subs, "--out", out, "--cold", "-j", "1"], env=env, cwd=tmp_path)
    assert p.returncode == 2, p.stdout[-2000:] + p.stderr
    assert "every submission errored (2 of 2)" in p.stderr and "ipykernel" in p.stderr
    summary = [ln for ln in p.stdout.splitlines() if "could not be graded" in ln]
    assert summary and summary[0].startswith("2 could not be graded, 0 graded"), p.stdout
    for name in ("reference", "typical_mistakes"):
        r = json.loads((out / f"{name}.json").read_text())
        assert r["status"] == "error" and r["error"].startswith("the kernel could not start") and r["questions"] == []
    assert sorted(_gradebook_rows(out)) == [("reference", "error"), ("typical_mistakes", "error")]
    c = run([python, "-m", "grader", "check", REFERENCE], env=env, cwd=tmp_path)
    assert c.returncode == 2 and "ipykernel" in c.stderr, c.stderr
