"""Every sample submission scores exactly what it earned, question by question."""
from __future__ import annotations

import csv

import pytest

FULL = {"autograd-basics": 10, "sum-gradient": 5, "nonscalar-backward": 5, "detach": 10,
        "control-flow": 10, "ex1-second-derivative-cost": 10, "ex2-backward-twice": 10,
        "ex3-vector-input": 10, "ex4-own-control-flow": 15, "ex5-sin-derivative-plot": 15}

# submission -> (total, {question: (score, status)} for the questions that differ from full marks)
EXPECTED = {
    "reference": (100, {}),
    # no tags, cells 3-5 merged, extra cells, headings "Exercise 2", "**練習 3**", "#### 4.", "练习 5"
    "book_layout": (100, {}),
    # the seed's "not necessarily correct" answers: ex2's code never raises the error (retain_graph
    # hides it), but its markdown pastes the error and explains it (the graph is freed): the points,
    # pending review; ex3 swaps in another function so the non-scalar backward never happens; ex4 also
    # tests an input on the branch boundary (sum == 0): reported as such, not as a wrong gradient, and
    # its other two calls (two paths) check out
    "seed_answers": (90, {"ex2-backward-twice": (10, "manual"), "ex3-vector-input": (0, "fail")}),
    # backward() on a non-scalar in cell 7, a too-short ex1, y recomputed in ex2, uncaught error and
    # no a.grad in ex3, no control flow in ex4, torch.cos in ex5 (sin drawn: 5; the derivative is
    # not autograd's: 0)
    "typical_mistakes": (52, {"nonscalar-backward": (0, "fail"), "ex1-second-derivative-cost": (0, "manual"),
                              "ex2-backward-twice": (0, "fail"), "ex3-vector-input": (4, "partial"),
                              "ex4-own-control-flow": (8, "partial"), "ex5-sin-derivative-plot": (5, "partial")}),
    # f returns 1024 * a: right for the section's own a (a.grad == d / a holds), but it takes the
    # same path on every hidden input: no control flow, so none of the hidden check's points
    "hardcoded_f": (94, {"control-flow": (4, "partial")}),
    "syntax_error": (85, {"ex4-own-control-flow": (0, "fail")}),
    "infinite_loop": (85, {"ex4-own-control-flow": (0, "timeout")}),
    # the kernel dies in ex3: what was recorded before keeps its score; the rest runs in a fresh
    # kernel, where the source-only checks still pass and those needing lost variables are errors
    # (ex5's plot needs torch, imported before the loss; its source-only no-cos check passes)
    "kills_kernel": (66, {"ex3-vector-input": (0, "error"), "ex4-own-control-flow": (3, "error"),
                          "ex5-sin-derivative-plot": (3, "error")}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_scores(graded_samples, name):
    _, results, _ = graded_samples
    r = results[name]
    total, diffs = EXPECTED[name]
    assert r["status"] == "graded", r["error"]
    got = {q["id"]: (q["score"], q["status"]) for q in r["questions"]}
    for qid, full in FULL.items():
        score, status = diffs.get(qid, (full, "manual" if qid.startswith("ex1") else "pass"))
        assert got[qid][0] == pytest.approx(score, abs=1e-3), (qid, got[qid], r)
        assert got[qid][1] == status, (qid, got[qid])
    assert r["score"] == pytest.approx(total, abs=1e-3)
    assert r["max_score"] == 100


def test_not_a_notebook_is_a_recorded_error(graded_samples):
    _, results, _ = graded_samples
    r = results["not_a_notebook"]
    assert r["status"] == "error" and "not a notebook" in r["error"]
    assert r["score"] == 0 and r["questions"] == []


def test_grades_csv_and_table(graded_samples):
    out, results, proc = graded_samples
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    assert [r["submission"] for r in rows] == sorted(results)
    by = {r["submission"]: r for r in rows}
    assert by["typical_mistakes"]["total"] == "52" and by["typical_mistakes"]["ex5-sin-derivative-plot"] == "5"
    assert by["not_a_notebook"]["status"] == "error"
    assert "submission" in proc.stdout and "typical_mistakes" in proc.stdout


def test_result_json_schema(graded_samples):
    _, results, _ = graded_samples
    r = results["seed_answers"]
    assert set(r) >= {"submission", "status", "error", "score", "max_score", "questions"}
    for q in r["questions"]:
        assert set(q) >= {"id", "title", "score", "max_score", "status", "checks"}
        assert q["status"] in {"pass", "partial", "fail", "error", "timeout", "manual"}
        for c in q["checks"]:
            assert set(c) >= {"name", "status", "score", "max_score", "message", "visibility"}
    hidden = [c for q in r["questions"] for c in q["checks"] if c["visibility"] == "hidden"]
    assert hidden, "grade reports hidden checks too"


def test_feedback_explains(graded_samples):
    _, results, _ = graded_samples
    msgs = {f"{q['id']}/{c['name']}": c["message"] for q in results["typical_mistakes"]["questions"] for c in q["checks"]}
    assert "grad can be implicitly created only for scalar outputs" in msgs["nonscalar-backward/grad-is-2x"]
    assert "not hold gradients autograd produced" in msgs["ex5-sin-derivative-plot/plots-autograd-derivative"]
    seed = {f"{q['id']}/{c['name']}": c["message"] for q in results["seed_answers"]["questions"] for c in q["checks"]}
    assert "branches" in seed["ex4-own-control-flow/gradient-matches-finite-differences"]
    loop = {f"{q['id']}/{c['name']}": c["message"] for q in results["infinite_loop"]["questions"] for c in q["checks"]}
    assert "time limit" in loop["ex4-own-control-flow/gradient-matches-finite-differences"]


def test_hidden_feedback_reveals_no_reference_values(graded_samples):
    _, results, _ = graded_samples
    hidden = [c for q in results["hardcoded_f"]["questions"] for c in q["checks"] if c["visibility"] == "hidden"]
    msg = hidden[0]["message"]
    assert "same path on every hidden input" in msg
    assert "expected" not in msg.lower() and "difference" not in msg.lower()
