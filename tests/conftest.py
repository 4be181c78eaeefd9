"""Shared fixtures: the bundled rubric, the reference's expected values, and real kernels."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "submissions"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Each test session computes expected values afresh, in its own cache folder."""
    os.environ["GRADER_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield


@pytest.fixture(scope="session")
def rubric():
    from grader.rubric import load

    return load()


@pytest.fixture(scope="session")
def expected(rubric):
    from grader.grade import expected_values

    return expected_values(rubric)


def run_cli(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory, expected):
    """`grader grade submissions/ --out DIR`, run once for the session, as a user would."""
    out = tmp_path_factory.mktemp("graded")
    proc = run_cli("grade", "submissions", "--out", str(out), "--lang", "en")
    assert proc.returncode == 0, proc.stderr
    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    return out, results, proc
