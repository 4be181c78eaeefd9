"""Segmentation end to end, in a real kernel: a d2l-en 1.0 notebook (eight exercises, the sin
plot is number 4, no 'own control flow'), with answers marked in code comments and no marker at
all for one of them."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .conftest import ROOT, run_cli

REFERENCE = ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb"


def section_cells():
    """The reference's section cells, untagged (found by content), and a d2l-en 1.0 heading."""
    ref = nbformat.read(str(REFERENCE), as_version=4)
    out = [new_markdown_cell("## A Simple Function")]
    for c in ref.cells:
        tags = c.metadata.get("tags") or []
        if c.cell_type == "code" and any(t.startswith("cell") for t in tags):
            out.append(new_code_cell(c.source))
    return out


def grade(tmp_path, name: str, cells) -> tuple[dict, dict]:
    """Grade a notebook of these cells with the CLI (English): its result and its questions by id."""
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(new_notebook(cells=cells), str(path))
    out = tmp_path / "out"
    proc = run_cli("grade", str(path), "--out", str(out), "--lang", "en")
    assert proc.returncode == 0, proc.stderr
    r = json.loads((out / f"{name}.json").read_text())
    return r, {x["id"]: x for x in r["questions"]}


EN10_LIST = """## Exercises

1. Why is the second derivative much more expensive to compute than the first derivative?
1. After running the function for backpropagation, immediately run it again and see what happens.
1. In the control flow example, what happens if we change the variable a to a random vector or matrix?
1. Let f(x) = sin(x). Plot the graph of f and of its derivative f'. Do not exploit that f'(x) = cos(x).
1. Let f(x) = ((log x^2) sin x) + x^{-1}. Write out a dependency graph tracing results from x to f(x).
1. Use the chain rule to compute the derivative df/dx of the aforementioned function.
1. Evaluate the result once from x to f and once from f back to x, given the intermediate results.
1. When might you want to use forward differentiation, and when backward differentiation?"""


@pytest.mark.slow
def test_d2l_en_1_0_notebook_grades_by_question_not_number(tmp_path, expected):
    cells = section_cells() + [
        new_markdown_cell(EN10_LIST),
        new_code_cell("# 1. A second derivative differentiates through the first derivative: autograd must keep its "
                      "graph\n# (create_graph=True), store the intermediate values (more memory) and run an extra "
                      "backward pass."),
        new_code_cell("# 2\nx = torch.arange(4.0, requires_grad=True)\ny = 2 * torch.dot(x, x)\ny.backward()\ntry:\n"
                      "    y.backward()\nexcept RuntimeError as e:\n    print(\"RuntimeError:\", e)\n"
                      "y = 2 * torch.dot(x, x)\ny.backward(retain_graph=True)\ny.backward()"),
        # no marker for exercise 3: found among the unclaimed cells after the section
        new_code_cell("a = torch.randn(size=(3, 4), requires_grad=True)\nd = f(a)\ntry:\n    d.backward()\n"
                      "except RuntimeError as e:\n    print(\"RuntimeError:\", e)\nd.sum().backward()"),
        new_code_cell("# 4. sin and its derivative\nimport matplotlib.pyplot as plt\n"
                      "x = torch.linspace(-5, 5, 100, requires_grad=True)\ny = torch.sin(x)\ny.sum().backward()\n"
                      "plt.plot(x.detach(), y.detach())\nplt.plot(x.detach(), x.grad)\nplt.show()"),
        new_code_cell("# 5\nf5 = lambda x: torch.log(x ** 2) * torch.sin(x) + 1 / x"),
    ]
    r, q = grade(tmp_path, "en10", cells)
    ex4 = q["ex4-own-control-flow"]
    assert ex4["max_score"] == 0 and ex4["score"] == 0, ex4
    assert all("not in the edition" in c["message"] and "1.0" in c["message"] for c in ex4["checks"])
    assert r["max_score"] == 85
    assert q["ex5-sin-derivative-plot"]["score"] == 15, q["ex5-sin-derivative-plot"]
    assert q["ex2-backward-twice"]["score"] == 10, q["ex2-backward-twice"]
    assert q["ex3-vector-input"]["score"] == 10, q["ex3-vector-input"]
    ex1 = q["ex1-second-derivative-cost"]
    assert ex1["status"] == "manual" and ex1["score"] == 10, ex1
    assert sum(x["score"] for x in r["questions"][:5]) == 40  # the section, found by content


@pytest.mark.slow
def test_written_answer_not_found_still_goes_to_review(tmp_path, expected):
    path = tmp_path / "nothing.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# my notes")]), str(path))
    out = tmp_path / "out"
    assert run_cli("grade", str(path), "--out", str(out), "--lang", "en").returncode == 0
    listing = run_cli("review", str(out))
    assert listing.returncode == 0 and "nothing  ex1-second-derivative-cost/key-ideas  0/10" in listing.stdout
    assert "1 awaiting review" in listing.stdout


GIANT = """# ============ 第一題 ============
# 為什麼二階導數比一階導數貴?
# 答: 二階導數是對一階導數再微分: 要 create_graph=True 保留一階導數的計算圖, 中間值都要存著, 記憶體更多, 還要多做一次反向傳播.
w = torch.tensor(1.0, requires_grad=True)
g1, = torch.autograd.grad(w ** 4, w, create_graph=True)

# ============ 第二題 ============
x = torch.arange(4.0, requires_grad=True)
y = 2 * torch.dot(x, x)
y.backward()
y.backward()

# ---- Exercise 3: a as a vector ----
def twice(v):
    # Exercise 3 is not cut here: this line is inside a function
    return f(v)
a = torch.randn(size=(3, 4), requires_grad=True)
d = twice(a)
try:
    d.backward()
except RuntimeError as e:
    print("RuntimeError:", e)
d.sum().backward()
import no_such_module_here
"""


@pytest.mark.slow
def test_exercises_in_one_cell_are_graded_each_by_its_part(tmp_path, expected):
    """One code cell holding exercises 1-3 under decorated comment markers is cut into one part
    per exercise: exercise 2's uncaught error does not stop exercise 3's code, and messages name
    the cell by its number as handed in."""
    cells = section_cells() + [new_markdown_cell("## 練習"), new_code_cell(GIANT)]
    r, q = grade(tmp_path, "giant", cells)
    assert q["ex1-second-derivative-cost"]["score"] == 10, q["ex1-second-derivative-cost"]
    assert q["ex2-backward-twice"]["score"] == 10, q["ex2-backward-twice"]
    assert q["ex3-vector-input"]["score"] == 10, q["ex3-vector-input"]
    assert q["ex4-own-control-flow"]["score"] == 0 and q["ex5-sin-derivative-plot"]["score"] == 0
    assert sum(x["score"] for x in r["questions"][:5]) == 40
    # the failed import ends the third part; the note names the cell as handed in
    notes = " ".join(r["notes"])
    assert f"cell {len(cells)}: " in notes and "no_such_module_here" in notes, notes
