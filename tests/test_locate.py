"""Cells are found by tag, then by content pattern, then by exercise heading."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.locate import cells_of, exercise_number, exercise_regions, locate


@pytest.mark.parametrize("text,n", [
    ("### 練習 2", 2), ("**練習 3**", 3), ("Exercise 2", 2), ("#### 4.", 4), ("练习 5", 5), ("## 練習\n\n### 練習 1\n題目", 1),
    ("## Exercises", None), ("1. **額外的計算依賴性**", None), ("練習2：", 2), ("Example 2", None),
])
def test_exercise_headings(text, n):
    assert exercise_number(text) == n


def nb(*cells):
    return cells_of(new_notebook(cells=list(cells)))


def test_tag_beats_pattern(rubric):
    tagged = new_code_cell("print('hi')")
    tagged.metadata["tags"] = ["cell1"]
    cells = nb(new_code_cell("x = torch.arange(4.0)"), tagged)
    found, missing = locate(rubric.anchors, cells)
    assert found["cell1"] == [1]


def test_patterns_follow_order_and_merged_cells(rubric):
    cells = nb(new_code_cell("import torch\nx = torch.arange(4.0, requires_grad=True)"),
               new_code_cell("y = 2 * torch.dot(x, x)\ny.backward()"),
               new_code_cell("x.grad.zero_()\ny = x.sum()\ny.backward()"))
    found, missing = locate(rubric.anchors, cells)
    assert found["cell1"] == [0] and found["cell2"] == [0]  # merged cells 1-2
    assert found["cell3"] == [1] and found["cell4"] == [1] and found["cell6"] == [2]


def test_exercise_regions_stop_at_next_heading():
    cells = nb(new_markdown_cell("### 練習 1"), new_markdown_cell("answer"), new_markdown_cell("Exercise 2"),
               new_code_cell("x = 1"), new_code_cell("y = 2"), new_markdown_cell("#### 3."), new_code_cell("z"))
    assert exercise_regions(cells) == {1: [0, 1], 2: [2, 3, 4], 3: [5, 6]}


def test_not_found_says_what_was_looked_for(rubric):
    found, missing = locate(rubric.anchors, nb(new_code_cell("print(1)")))
    assert "cell1" in missing and "torch\\.arange" in missing["cell1"].en
    assert "because cell1" in missing["cell2"].en
    assert "Exercise 5" in missing["ex5"].en and "練習 5" in missing["ex5"].zh
