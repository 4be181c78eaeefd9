"""The second bundled assignment, linear regression from scratch (grader/assignments/d2l-linreg),
graded by the same engine as the autograd section: its rubric loads and finds the exercises in
every edition's wording, the reference scores full marks, each sample submission scores what a
fair teacher gives it, and the rubric fails wrong variants of the reference (mutation testing)."""
from __future__ import annotations

import json
import re

import pytest

from .conftest import ROOT, run_cli

RUBRIC = ROOT / "grader" / "assignments" / "d2l-linreg" / "rubric.yaml"
SAMPLES = ROOT / "examples" / "d2l-linreg" / "submissions"

FULL = {"generate-data": 8, "read-data": 10, "init-params": 5, "model-and-loss": 12, "sgd": 10, "training": 15,
        "ex1-zero-init": 5, "ex2-ohm": 5, "ex3-planck": 5, "ex4-second-derivative": 5, "ex5-why-reshape": 6,
        "ex6-learning-rates": 8, "ex7-short-last-batch": 6}
WRITTEN = {"ex1-zero-init", "ex2-ohm", "ex3-planck", "ex4-second-derivative", "ex5-why-reshape",
           "ex6-learning-rates", "ex7-short-last-batch"}  # a written answer: `manual` until reviewed

# sample -> (total, {question: (score, status)} where it differs from full marks), and why
EXPECTED = {
    # d2l-en 0.17 in English, spelled its own way: torch.randn, torch.randperm, .view, p.data -= ...,
    # p.grad = None instead of zero_(), cells merged, "**1.**" exercise markers: nothing is wrong
    "correct_en": (100, {}),
    # typed in like the zh-TW course text, no tags, the book's list of questions in one cell and
    # "練習1：" answers after it, "# 練習6" in a code comment: nothing is wrong
    "book_layout": (100, {}),
    # synthetic_data hard-codes two features (wrong for any other len(w): 5 points), data_iter
    # never shuffles (2), squared_loss without reshape gives an n x n matrix for a label vector
    # (values 5 and shape 3), exercise 5 answered wrongly (6) and exercise 6 not run (5; its
    # written observation stands). The training itself still works on the section's (n, 1)
    # labels, so every behaviour check of the training passes.
    "typical_mistakes": (74, {"generate-data": (3, "partial"), "read-data": (8, "partial"),
                              "model-and-loss": (4, "partial"), "ex5-why-reshape": (0, "manual"),
                              "ex6-learning-rates": (3, "manual")}),
    # sgd never zeroes the gradients: they pile up from step to step, so each update is the sum
    # of all past gradients and the parameters never settle near the true ones (training 15,
    # zeroing 4). Its update rule itself is right (the hidden one-step check passes).
    "no_zero_grad": (81, {"sgd": (6, "partial"), "training": (0, "fail")}),
    # the notebook `grader release` makes, handed in as it is: every answer a placeholder, so
    # nothing earns points, and every check says why (no error: the notebook was graded)
    "template": (0, {**{q: (0, "fail") for q in ("generate-data", "read-data", "init-params", "model-and-loss",
                                                 "sgd", "training")},
                     **{q: (0, "manual") for q in WRITTEN}}),
}


def test_rubric_loads_with_100_points():
    from grader.rubric import load

    r = load(RUBRIC)
    assert r.assignment == "d2l-linreg" and r.lang == "zh-CN"
    assert {q.id: q.points for q in r.questions} == FULL
    assert sum(FULL.values()) == 100
    assert [e.id for e in r.editions] == ["d2l-zh-2.0", "course-zh-TW", "d2l-en-0.17", "d2l-en-1.0"]


def test_bundled_and_found_by_name():
    from grader.rubric import bundled, bundled_assignments

    assert "d2l-linreg" in bundled_assignments()
    assert bundled("d2l-linreg").resolve() == RUBRIC.resolve()


def _located(nb_cells):
    import nbformat
    from nbformat.v4 import new_notebook

    from grader.locate import cells_of, segment
    from grader.rubric import load

    r = load(RUBRIC)
    nb = nbformat.from_dict(new_notebook(cells=nb_cells))
    return segment(r.anchors, cells_of(nb), r.editions)


def _section():
    from nbformat.v4 import new_code_cell, new_markdown_cell

    return [new_markdown_cell("# linear regression"),
            new_code_cell("import torch\nw = torch.zeros(2, requires_grad=True)\n(w * 2).sum().backward()")]


# Each exercise restated in a student's own words (no numbers), in the three languages, in an
# order unlike the book's: the rubric's key phrases, not the numbering, must find each answer.
RESTATED = {
    "zh-CN": {"ex7": "data_iter 在样本数不能被批量大小整除的时候会怎样？",
              "ex3": "用普朗克定律，能从光谱能量密度求出物体的温度吗？",
              "ex1": "把权重初始化为零会怎样，算法仍然有效吗？",
              "ex5": "squared_loss 里为什么需要 reshape？",
              "ex2": "用自动微分学习欧姆的电压、电流模型的参数，可以吗？",
              "ex6": "换不同的学习率，看损失下降的快慢会怎样？",
              "ex4": "计算二阶导数会遇到什么问题，怎么解决？"},
    "zh-TW": {"ex6": "用不同的學習率試試，損失下降的快慢有什麼不同？",
              "ex2": "能用自動微分學歐姆那個電壓與電流模型的參數嗎？",
              "ex4": "計算二階導數有什麼問題？要怎麼解決？",
              "ex1": "權重初始化成零會發生什麼？演算法還能有效嗎？",
              "ex7": "樣本數不能被批次大小整除時，data_iter 會怎樣？",
              "ex5": "為什麼 squared_loss 需要 reshape？",
              "ex3": "普朗克定律加上光譜能量密度，可以求出物體的溫度嗎？"},
    "en": {"ex5": "Why is reshape needed inside squared_loss?",
           "ex1": "Does training still work when the weights are initialised to zero?",
           "ex6": "What happens to how fast the loss drops with different learning rates?",
           "ex3": "Could Planck's law and the spectral energy density give an object's temperature?",
           "ex7": "What does data_iter do when the number of examples is not divisible by the batch size?",
           "ex4": "What problems come up when we compute second derivatives, and how do we fix them?",
           "ex2": "Can autograd learn the parameters of Ohm's model of voltage and current?"},
}


@pytest.mark.parametrize("lang", sorted(RESTATED))
def test_key_phrases_find_restated_questions(lang):
    from nbformat.v4 import new_markdown_cell

    cells = _section()
    answer_of = {}
    for ex, question in RESTATED[lang].items():
        cells.append(new_markdown_cell(question))
        cells.append(new_markdown_cell("my answer: I think so, see the code above"))
        answer_of[ex] = len(cells) - 1
    s = _located(cells)
    for ex, i in answer_of.items():
        assert i in s.found.get(ex, []), (lang, ex, s.found)
        assert ex not in s.fallback


def test_d2l_en_1_0_numbering_and_its_other_exercises():
    """d2l-en 1.0 has nine exercises: its 8 (absolute loss) and 9 (reshuffling) end exercise 7's cells."""
    from nbformat.v4 import new_code_cell, new_markdown_cell

    cells = _section() + [new_markdown_cell("## Exercises")]
    for n in range(1, 10):
        cells.append(new_markdown_cell(f"### Exercise {n}"))
        cells.append(new_code_cell(f"answer_{n} = {n}"))
    cells[-4].source = "### Exercise 8\nTry the absolute value loss and perturb y_5 = 10000: what happens to the large gradient?"
    cells[-2].source = "### Exercise 9\nWhy reshuffle the dataset? Could a malicious dataset break the optimization?"
    s = _located(cells)
    assert s.edition == "d2l-en-1.0"
    seven = s.found["ex7"]
    assert all("answer_8" not in cells[i].source and "answer_9" not in cells[i].source for i in seven), seven


@pytest.mark.parametrize("name,anchors", [
    ("book_layout", {"ex1", "ex2", "ex3", "ex4", "ex5", "ex6", "ex7"}),
    ("correct_en", {"ex1", "ex2", "ex3", "ex4", "ex5", "ex6", "ex7"}),
])
def test_samples_are_segmented(name, anchors):
    import nbformat

    from grader.locate import cells_of, segment
    from grader.rubric import load

    r = load(RUBRIC)
    nb = nbformat.read(SAMPLES / f"{name}.ipynb", 4)
    s = segment(r.anchors, cells_of(nb), r.editions)
    assert anchors <= set(s.found) and not s.fallback and not s.missing, (s.found, s.fallback, s.missing)
    # exercise 6's experiment is a code cell of its own region
    assert any(nb.cells[i].cell_type == "code" for i in s.found["ex6"])


@pytest.mark.slow
def test_reference_validates():
    proc = run_cli("validate", str(RUBRIC), "--lang", "en", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reference scores 100/100" in proc.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("linreg")
    proc = run_cli("grade", str(SAMPLES), "--rubric", str(RUBRIC), "--out", str(out), "--lang", "en", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_scores(graded, name):
    r = graded[name]
    total, diffs = EXPECTED[name]
    assert r["status"] == "graded", r["error"]
    got = {q["id"]: (q["score"], q["status"]) for q in r["questions"]}
    for qid, full in FULL.items():
        score, status = diffs.get(qid, (full, "manual" if qid in WRITTEN else "pass"))
        assert got[qid][0] == pytest.approx(score, abs=1e-3), (qid, got[qid], r)
        assert got[qid][1] == status, (qid, got[qid])
    assert r["score"] == pytest.approx(total, abs=1e-3)
    assert r["max_score"] == 100


@pytest.mark.slow
def test_hidden_checks_do_not_show_the_hidden_inputs(graded):
    """A failing hidden check says what does not hold, in the student's own values; the inputs
    the grader chose (the capture expressions) never appear in a message."""
    msgs = [c["message"] for q in graded["typical_mistakes"]["questions"] for c in q["checks"]
            if c["visibility"] == "hidden" and c["status"] != "pass"]
    assert msgs
    for m in msgs:
        assert "__import__" not in m and "arange(46" not in m and "[1.5, -2.0, 0.5]" not in m, m


MIN_KILL_RATE = 0.9


@pytest.mark.slow
def test_mutation_kill_rate():
    proc = run_cli("validate", str(RUBRIC), "--mutants", "--threshold", str(MIN_KILL_RATE), "--lang", "en",
                   timeout=1800)
    m = re.search(r"kill rate ([\d.]+)%: (\d+) of (\d+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert float(m.group(1)) / 100 >= MIN_KILL_RATE
