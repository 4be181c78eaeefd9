"""Determinism under load: the same mixed batch graded 20 times over by two workers (warm,
judging in parallel threads) gives, check by check, exactly the statuses and scores of one
worker, and of cold kernels. A difference here is a race to find, not to lock away."""
from __future__ import annotations

import json
import shutil

import pytest

from .conftest import SUBMISSIONS, run_cli

MIX = ("reference", "typical_mistakes", "seed_answers", "hardcoded_f", "book_layout", "kills_kernel",
       "not_a_notebook")
COPIES = 20


def _checks(result: dict) -> list:
    return [result["status"], result["score"]] + [
        (q["id"], c["name"], c["status"], c["score"]) for q in result.get("questions", []) for c in q["checks"]]


def _grade(folder, out, *flags) -> dict[str, dict]:
    proc = run_cli("grade", str(folder), "--out", str(out), "--force", *flags, timeout=1800)
    assert proc.returncode in (0, 1), proc.stderr
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


@pytest.mark.slow
def test_twenty_parallel_batches_equal_one_worker_and_cold(tmp_path):
    single, many = tmp_path / "single", tmp_path / "many"
    single.mkdir()
    many.mkdir()
    for name in MIX:
        shutil.copy(SUBMISSIONS / f"{name}.ipynb", single / f"{name}.ipynb")
        for k in range(COPIES):
            shutil.copy(SUBMISSIONS / f"{name}.ipynb", many / f"{name}__{k:02d}.ipynb")
    one = _grade(single, tmp_path / "out1", "-j", "1")
    cold = _grade(single, tmp_path / "outc", "-j", "2", "--cold")
    two = _grade(many, tmp_path / "out2", "-j", "2")
    assert set(one) == set(MIX) and len(two) == len(MIX) * COPIES
    for name in MIX:
        assert _checks(cold[name]) == _checks(one[name]), name
        differ = [k for k in range(COPIES) if _checks(two[f"{name}__{k:02d}"]) != _checks(one[name])]
        assert not differ, (name, differ, _checks(two[f"{name}__{differ[0]:02d}"]), _checks(one[name]))
