"""The hostile suite: every attack of tests/hostile/ in one sandboxed batch, next to two honest
submissions. The batch must finish, each notebook must get what it earned, the honest ones must
score exactly as when graded alone, nothing planted in the rubric, the reference or the grader's
environment may show up in any output, and no process may outlive its kernel."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from .conftest import ROOT, SUBMISSIONS, run_cli
from .hostile.build import CASES, HOSTILE_ROOT, PORT

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap)")

MARK = uuid.uuid4().hex[:12]
MARKERS = {f"MARKER-RUBRIC-{MARK}", f"MARKER-REFERENCE-{MARK}", f"MARKER-ENV-{MARK}", "MARKER-NETWORK"}
HONEST = ("reference", "typical_mistakes")
FLAGS = ("--cell-timeout", "4", "--limit", "interrupt_grace=2", "--lang", "en")


class _Listener(threading.Thread):
    """A TCP listener on the grader's loopback: a sandboxed kernel must never reach it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", PORT))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                pass


def _plant(root: Path) -> Path:
    """A copy of the rubric and reference with marker strings planted in both."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "rubric").mkdir(parents=True)
    (root / "reference").mkdir()
    (root / "subs").mkdir()
    rubric = (ROOT / "grader" / "assignments" / "d2l-autograd" / "rubric.yaml").read_text(encoding="utf-8")
    rubric = rubric.replace("reference: reference.ipynb", "reference: ../reference/autograd.ipynb")
    (root / "rubric" / "autograd.yaml").write_text(f"# MARKER-RUBRIC-{MARK}\n" + rubric, encoding="utf-8")
    ref = json.loads((ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb").read_text(encoding="utf-8"))
    ref["cells"].append({"cell_type": "markdown", "id": "marker", "metadata": {}, "source": f"MARKER-REFERENCE-{MARK}"})
    (root / "reference" / "autograd.ipynb").write_text(json.dumps(ref), encoding="utf-8")
    for name in CASES:
        shutil.copy(ROOT / "tests" / "hostile" / f"{name}.ipynb", root / "subs")
    for name in HONEST:
        shutil.copy(SUBMISSIONS / f"{name}.ipynb", root / "subs")
    return root / "rubric" / "autograd.yaml"


def _sandbox_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    left = []
    for line in out.splitlines():
        uid, pid, args = line.split(None, 2) if len(line.split(None, 2)) == 3 else (*line.split(None, 1), "")
        if "987654" in args or (os.geteuid() == 0 and 64000 <= int(uid) < 64100):
            left.append(line.strip())
    return left


@pytest.fixture(scope="module")
def hostile_batch():
    root = Path(HOSTILE_ROOT)
    rubric = _plant(root)
    env = {"GRADER_CACHE": str(root / "cache"), "SECRET_TOKEN": f"MARKER-ENV-{MARK}"}
    listener = _Listener()
    listener.start()
    started = time.monotonic()
    try:
        proc = run_cli("grade", str(root / "subs"), "--out", str(root / "out"), "--rubric", str(rubric), *FLAGS,
                       env=env, timeout=1200)
        seconds = time.monotonic() - started
        time.sleep(1)
        leftovers = _sandbox_processes()
        alone = {}
        for name in HONEST:
            one = root / f"alone-{name}"
            p = run_cli("grade", str(root / "subs" / f"{name}.ipynb"), "--out", str(one), "--rubric", str(rubric),
                        *FLAGS, env=env)
            assert p.returncode == 0, p.stderr
            alone[name] = json.loads((one / f"{name}.json").read_text())
    finally:
        listener.stop = True
        listener.sock.close()
    results = {p.stem: json.loads(p.read_text()) for p in (root / "out").glob("*.json")}
    yield {"proc": proc, "results": results, "alone": alone, "leftovers": leftovers, "root": root,
           "listener": listener, "seconds": seconds}
    for line in _sandbox_processes():  # never leave anything behind, even when a test failed
        try:
            os.kill(int(line.split()[1]), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_batch_finishes_and_grades_everything(hostile_batch):
    proc = hostile_batch["proc"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert set(hostile_batch["results"]) == set(CASES) | set(HONEST)
    assert all(r["status"] == "graded" for r in hostile_batch["results"].values())
    assert all("bubblewrap" in r["sandbox"] for r in hostile_batch["results"].values())


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_attack_gets_what_it_earned(hostile_batch, name):
    r = hostile_batch["results"][name]
    assert r["score"] == pytest.approx(CASES[name][3]), json.dumps(r, ensure_ascii=False)[:3000]


def test_honest_submissions_score_as_when_graded_alone(hostile_batch):
    for name in HONEST:
        batch, alone = hostile_batch["results"][name], hostile_batch["alone"][name]
        strip = lambda r: [(q["id"], [(c["name"], c["status"], c["score"], c["message"]) for c in q["checks"]])
                           for q in r["questions"]]
        assert strip(batch) == strip(alone)
        assert batch["score"] == alone["score"]
    assert hostile_batch["results"]["reference"]["score"] == 100
    csv = (hostile_batch["root"] / "out" / "grades.csv").read_text()
    assert "reference," in csv and '"score": 0' not in csv


def test_nothing_leaks_into_any_output(hostile_batch):
    root = hostile_batch["root"]
    texts = [hostile_batch["proc"].stdout, hostile_batch["proc"].stderr]
    texts += [p.read_text(errors="replace") for p in (root / "out").iterdir() if p.is_file()]
    for text in texts:
        for marker in MARKERS:
            assert marker not in text
    assert hostile_batch["listener"].accepted == 0
    # the attacks' own words do reach the feedback, so the channel exists and is empty
    msgs = [c["message"] for q in hostile_batch["results"]["find_rubric"]["questions"] for c in q["checks"]]
    assert any("FOUND:" in m for m in msgs)


def test_grader_files_untouched(hostile_batch):
    import torch

    init = Path(torch.__file__).read_text()
    assert "owned" not in init
    rubric = (hostile_batch["root"] / "rubric" / "autograd.yaml").read_text()
    assert rubric.startswith("# MARKER-RUBRIC-")


def test_no_process_left_behind(hostile_batch):
    assert hostile_batch["leftovers"] == []


def test_flood_is_capped(hostile_batch):
    out = hostile_batch["root"] / "out"
    assert max(p.stat().st_size for p in out.glob("*.json")) < 100_000
    assert (out / "gradebook.sqlite").stat().st_size < 2_000_000


def test_patched_comparisons_change_nothing(hostile_batch):
    r = hostile_batch["results"]["patched_allclose"]
    checks = {c["name"]: c for q in r["questions"] for c in q["checks"]}
    assert checks["y-is-2-x-dot-x"]["status"] == "fail" and checks["grad-is-4x"]["status"] == "fail"
    forged = hostile_batch["results"]["forged_capture"]
    checks = {c["name"]: c for q in forged["questions"] for c in q["checks"]}
    assert checks["grad-is-ones"]["status"] == "fail"


@pytest.mark.slow
def test_kill_9_mid_batch_loses_nothing_and_resumes(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("reference", "book_layout", "typical_mistakes", "syntax_error"):
        shutil.copy(SUBMISSIONS / f"{name}.ipynb", subs)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "grader", "grade", str(subs), "--out", str(out), "--lang", "en"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(out.glob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {p.name: p.read_text() for p in out.glob("*.json")}
    assert len(first) >= 2
    for text in first.values():
        json.loads(text)  # whole files only
    time.sleep(1)
    assert _sandbox_processes() == []  # the kernel died with the grader
    again = run_cli("grade", str(subs), "--out", str(out), "--lang", "en")
    assert again.returncode == 0, again.stderr
    assert f"({len(first)} unchanged, kept)" in again.stdout
    assert len(list(out.glob("*.json"))) == 4
    assert not list(out.glob(".*.tmp"))
    forced = run_cli("grade", str(subs), "--out", str(out), "--lang", "en", "--force")
    assert "(0 unchanged, kept)" in forced.stdout
