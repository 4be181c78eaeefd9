"""grader grade --cluster: the same batch on a Dask LocalCluster (real worker processes, real
sandboxed kernels) gives the results of a local run, and survives a worker killed mid-batch."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from .conftest import ROOT, SUBMISSIONS, run_cli

MIXED = ["reference", "typical_mistakes", "syntax_error", "not_a_notebook"]  # correct, wrong, broken, not one


def _results(out) -> dict:
    found = {}
    for p in out.glob("*.json"):
        r = json.loads(p.read_text())
        r.pop("seconds")
        found[p.stem] = r
    return found


def _rows(out) -> list[tuple]:
    db = sqlite3.connect(str(out / "gradebook.sqlite"))
    try:
        return db.execute("SELECT submission, status, score FROM submissions ORDER BY submission").fetchall()
    finally:
        db.close()


def test_cluster_flag_without_distributed_says_how_to_install(tmp_path, monkeypatch, capsys):
    from grader.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    code = main(["grade", str(SUBMISSIONS / "reference.ipynb"), "--out", str(tmp_path / "o"), "--cluster", "local:2"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "pip install 'grader[dask]'" in err


def test_bad_cluster_address_is_one_line_exit_2(tmp_path, capsys):
    pytest.importorskip("distributed")
    from grader.cli import main

    for address in ("local:0", "somewhere"):
        code = main(["grade", str(SUBMISSIONS / "reference.ipynb"), "--out", str(tmp_path / "o"), "--cluster", address])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and "--cluster" in err, err


@pytest.mark.slow
def test_local_cluster_results_equal_local_run(tmp_path, expected):
    pytest.importorskip("distributed")
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in MIXED:
        shutil.copy(SUBMISSIONS / f"{name}.ipynb", subs)
    local = run_cli("grade", str(subs), "--out", str(tmp_path / "local"), "-j", "2", "--lang", "en")
    assert local.returncode == 0, local.stderr
    # a cache of its own: the expected values are computed on a worker, from the reference's bytes
    dask = run_cli("grade", str(subs), "--out", str(tmp_path / "dask"), "--cluster", "local:2", "--lang", "en",
                   env={"GRADER_CACHE": str(tmp_path / "cache")})
    assert dask.returncode == 0, dask.stderr
    assert "local Dask cluster (2 worker processes)" in dask.stdout
    assert "not_a_notebook: could not be graded" in dask.stderr

    mine, theirs = _results(tmp_path / "dask"), _results(tmp_path / "local")
    assert sorted(mine) == sorted(MIXED)
    for name in MIXED:  # statuses and scores per check, messages, everything but the seconds
        assert mine[name] == theirs[name], name
    assert mine["reference"]["score"] == 100 and mine["not_a_notebook"]["status"] == "error"
    assert mine["typical_mistakes"]["score"] < 100 and mine["syntax_error"]["score"] < 100
    assert _rows(tmp_path / "dask") == _rows(tmp_path / "local")
    assert (tmp_path / "dask" / "grades.csv").read_text() == (tmp_path / "local" / "grades.csv").read_text()

    # resume: nothing changed, nothing graded is graded again (an error is tried again, as locally)
    again = run_cli("grade", str(subs), "--out", str(tmp_path / "dask"), "--cluster", "local:2", "--lang", "en",
                    env={"GRADER_CACHE": str(tmp_path / "cache")})
    assert again.returncode == 0, again.stderr
    assert f"{len(MIXED) - 1} graded ({len(MIXED) - 1} unchanged, kept)" in again.stdout
    assert _results(tmp_path / "dask") == mine and _rows(tmp_path / "dask") == _rows(tmp_path / "local")


def _workers_of(pid: int) -> list[int]:
    """The Dask worker processes a grader started (multiprocessing children running spawn_main)."""
    import psutil

    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            pass
    return found


@pytest.mark.slow
def test_worker_killed_mid_batch_loses_and_duplicates_nothing(tmp_path, expected):
    pytest.importorskip("distributed")
    subs = tmp_path / "subs"
    subs.mkdir()
    names = []
    for i in range(6):
        name = ["reference", "typical_mistakes"][i % 2]
        shutil.copy(SUBMISSIONS / f"{name}.ipynb", subs / f"s{i}_{name}.ipynb")
        names.append(f"s{i}_{name}")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out),
                             "--cluster", "local:2", "--lang", "en"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    killed = None
    try:
        deadline = time.monotonic() + 400
        while killed is None and proc.poll() is None and time.monotonic() < deadline:
            if list(out.glob("*.json")):  # the batch is under way: both workers are grading
                workers = _workers_of(proc.pid)
                if len(workers) == 2:
                    killed = workers[0]
                    os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert killed is not None, "no worker was killed (the batch finished first?)"
    assert proc.returncode == 0, stderr
    results = _results(out)
    assert sorted(results) == sorted(names)  # one result per submission, none lost
    for name, r in results.items():  # and each is the real grade, not an error from the lost worker
        assert r["status"] == "graded", (name, r["error"])
        same = results["s0_reference" if "reference" in name else "s1_typical_mistakes"]
        assert {**r, "submission": ""} == {**same, "submission": ""}, name
    assert results["s0_reference"]["score"] == 100 and results["s1_typical_mistakes"]["score"] < 100
    rows = _rows(out)
    assert [r[0] for r in rows] == sorted(names)  # exactly one gradebook row each
    db = sqlite3.connect(str(out / "gradebook.sqlite"))
    n_checks = db.execute("SELECT COUNT(*), COUNT(DISTINCT submission || '/' || question || '/' || check_name) "
                          "FROM checks").fetchone()
    db.close()
    assert n_checks[0] == n_checks[1] > 0
    assert len((out / "grades.csv").read_text().splitlines()) == 1 + len(names)


def _kernel_running(worker: int) -> bool:
    """Whether the worker's fork server has a kernel up: zygote -> init -> kernel, both forked,
    so all with the zygote's command line. A process merely showing that command line is not
    enough: the zygote itself vforks (``uname -p`` while it imports) and a vfork child has its
    parent's command line until it execs; killing a worker then (it is only starting, the
    scheduler rightly does not count it against the submission) once made a count wrong."""
    import psutil

    try:
        procs = psutil.Process(worker).children(recursive=True)
        forked = {}
        for p in procs:
            try:
                if p.name().startswith("python") and any("fork server" in part for part in p.cmdline()):
                    forked[p.pid] = p.ppid()
            except psutil.Error:
                pass
    except psutil.Error:
        return False

    def depth(pid: int) -> int:  # how many forked ancestors up to the zygote
        n = 0
        while forked.get(pid) in forked:
            pid, n = forked[pid], n + 1
        return n

    return any(depth(pid) >= 2 for pid in forked)  # a kernel under its init under the zygote


@pytest.mark.slow
def test_submission_that_keeps_killing_workers_becomes_an_error(tmp_path, expected):
    """The worker grading the notebook dies every time (killed from outside, as an OOM killer
    would): after the scheduler's bounded tries it is one recorded error, not an endless retry."""
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(SUBMISSIONS / "reference.ipynb"),
                             "--out", str(out), "--cluster", "local:1", "--lang", "en"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    kills = 0
    try:
        deadline = time.monotonic() + 500
        while proc.poll() is None and time.monotonic() < deadline:
            for worker in _workers_of(proc.pid):
                if _kernel_running(worker):
                    os.kill(worker, signal.SIGKILL)
                    kills += 1
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (out / "reference.json").is_file(), stderr
    r = json.loads((out / "reference.json").read_text())
    assert r["status"] == "error" and "took down a worker 3 times" in r["error"], r["error"]
    assert kills == 3
    assert [row[:2] for row in _rows(out)] == [("reference", "error")]
    assert "reference: could not be graded" in stderr
