"""Cells are found by tag, then by content pattern; exercises by segmenting the notebook:
markers in every form, the question's own words (in zh-CN, zh-TW, English), the edition's
numbering, and a fallback to the unclaimed cells after the section."""
from __future__ import annotations

import textwrap

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.locate import cells_of, locate, prose, segment
from grader.messages import render
from grader.model import Anchor


def en(reason) -> str:
    return render(reason, "en")


def zh(reason) -> str:
    return render(reason, "zh-TW")

# pattern anchors of every form (the bundled rubric now finds the section by scope)
PATTERNS = {a.id: a for a in (
    Anchor("cell1", tag="cell1", patterns=(r"torch\.arange\(\s*4",)),
    Anchor("cell2", tag="cell2", patterns=("requires_grad",), after="cell1"),
    Anchor("cell3", tag="cell3", patterns=(r"torch\.dot\(",), after="cell2"),
    Anchor("cell4", tag="cell4", patterns=(r"\.backward\(",), after="cell3"),
    Anchor("cell6", tag="cell6", patterns=(r"x\.sum\(\)",), after="cell4"),
    Anchor("everything", scope="notebook"),
)}

md, code = new_markdown_cell, new_code_cell


def nb(*cells):
    return cells_of(new_notebook(cells=list(cells)))


def seg(rubric, *cells):
    return segment(rubric.anchors, nb(*cells), rubric.editions)


# a section like the book's, that the section anchors find (cells 0-5)
SECTION = [
    md("## 一個簡單的例子"),
    code("import torch\nx = torch.arange(4.0)\nx.requires_grad_(True)"),
    code("y = 2 * torch.dot(x, x)\ny.backward()\nx.grad"),
    code("x.grad.zero_()\ny = x.sum()\ny.backward()"),
    code("def f(a):\n    b = a * 2\n    while b.norm() < 1000:\n        b = b * 2\n    return b"),
    code("a = torch.randn(size=(), requires_grad=True)\nd = f(a)\nd.backward()"),
]
S = len(SECTION)
ANSWERS = {  # a code answer per exercise (what it says does not matter to segmentation)
    1: "# second derivative needs the graph of the first",
    2: "y.backward()\ny.backward()",
    3: "a = torch.randn(3)\nd = f(a)",
    4: "def g(x):\n    if x.sum() > 0:\n        return x * 2\n    return -x\ng(torch.ones(2))",
    5: "import matplotlib.pyplot as plt\nx = torch.linspace(0, 6, 50, requires_grad=True)\ny = torch.sin(x)\n"
       "y.sum().backward()\nplt.plot(x.detach(), y.detach(), x.detach(), x.grad)",
}


def regions(s):
    return {a: s.found.get(a) for a in ("ex1", "ex2", "ex3", "ex4", "ex5")}


def test_tag_beats_pattern(rubric):
    tagged = new_code_cell("print('hi')")
    tagged.metadata["tags"] = ["cell1"]
    found, missing = locate({**PATTERNS, **rubric.anchors}, nb(code("x = torch.arange(4.0)"), tagged), rubric.editions)
    assert found["cell1"] == [1]


def test_patterns_follow_order_and_merged_cells(rubric):
    cells = nb(code("import torch\nx = torch.arange(4.0, requires_grad=True)"),
               code("y = 2 * torch.dot(x, x)\ny.backward()"),
               code("x.grad.zero_()\ny = x.sum()\ny.backward()"))
    found, missing = locate({**PATTERNS, **rubric.anchors}, cells, rubric.editions)
    assert found["cell1"] == [0] and found["cell2"] == [0]  # merged cells 1-2
    assert found["cell3"] == [1] and found["cell4"] == [1] and found["cell6"] == [2]


@pytest.mark.parametrize("marks", [
    ["### 練習 1", "**練習 2**", "Exercise 3", "#### 4.", "练习 5"],          # markdown headings and words
    ["Q1:", "Q2.", "Ex. 3", "EXERCISE 4", "Problem 5"],                  # Q / Ex / Exercise
    ["习题一", "习题二", "習題三", "练习四", "第5题"],                         # Chinese numerals
    ["1. 答：", "2. It threw an error", "3.", "4) mine", "5、"],            # numbered stubs, no heading
])
def test_markdown_marker_forms(rubric, marks):
    cells = list(SECTION) + [md("## 練習")]
    for n, m in enumerate(marks, 1):
        cells += [md(m), code(ANSWERS[n])]
    s = seg(rubric, *cells)
    base = S + 1
    assert regions(s) == {f"ex{n}": [base + 2 * (n - 1), base + 2 * (n - 1) + 1] for n in range(1, 6)}, marks
    assert not s.fallback and not s.not_applicable


@pytest.mark.parametrize("marks", [
    ["###1.", "## 2. Running back prop again", "# 3", "# 4", "# 5"],
    ["# 练习1", "# EXP2 run twice", "# 練習 3", "# Q4", "# Exercise 5"],
    ["# 1.", "# 2:", "# 3)", "# 习题四", "# 五、"],
])
def test_code_comment_markers(rubric, marks):
    cells = list(SECTION)  # no Exercises heading: the first marker starts the exercises
    for n, m in enumerate(marks, 1):
        cells.append(code(m + "\n" + ANSWERS[n]))
    s = seg(rubric, *cells)
    assert regions(s) == {f"ex{n}": [S + n - 1] for n in range(1, 6)}, marks
    assert s.exercises_start == S


QUESTIONS = {  # the questions restated in each language, in our own words (as students paraphrase)
    "zh-CN": ["为什么算二阶导数的开销比一阶导数大？", "在运行反向传播之后立即再次运行它，会发生什么？",
              "控制流例子里把变量 a 改成随机向量或矩阵，会发生什么？", "重新设计一个控制流求梯度的例子，运行并分析。",
              "令 f(x)=sin(x)，绘制 f(x) 和它的导数的图像，不使用 cos(x)。"],
    "zh-TW": ["為什麼二階導數比一階導數的開銷大？", "在運行反向傳播之後立即再次運行，會發生什麼？",
              "控制流例子裡把變量 a 換成隨機向量或矩陣，會發生什麼？", "重新設計一個控制流求梯度的例子，運行並分析。",
              "使 f(x)=sin(x)，繪製 f(x) 與導數的圖像，不使用 cos(x)。"],
    "en": ["Why is a second derivative more expensive than a first derivative?",
           "After running backprop, immediately run it again: what happens?",
           "In the control flow example, what if the variable a is a random vector or matrix?",
           "Redesign an example of the gradient of control flow; run it and analyze the result.",
           "Let f(x) = sin(x). Plot f and its derivative without using cos(x)."],
}


@pytest.mark.parametrize("lang", sorted(QUESTIONS))
def test_restated_questions_without_numbers(rubric, lang):
    order = [3, 1, 5, 2, 4]  # out of order: the question's words decide, not the position
    cells = list(SECTION)
    for n in order:
        cells += [md(QUESTIONS[lang][n - 1] + "\n\n答案 / answer:"), code(ANSWERS[n])]
    s = seg(rubric, *cells)
    for k, n in enumerate(order):
        assert s.found[f"ex{n}"] == [S + 2 * k, S + 2 * k + 1], (lang, n)
    assert not s.fallback


def test_question_text_beats_the_number_d2l_en_1_0(rubric):
    """d2l-en 1.0 has 8 exercises; its sin plot is number 4 and there is no 'own control flow'."""
    cells = list(SECTION) + [
        md("## Exercises"),
        md("1. Why is the second derivative much more costly than the first derivative?"), code(ANSWERS[1]),
        md("2. After running backprop, run it again immediately. What happens?"), code(ANSWERS[2]),
        md("3. In the control flow example, change the variable a to a random vector or matrix."), code(ANSWERS[3]),
        md("4. Let f(x) = sin(x). Plot f and its derivative, do not exploit that f'(x) = cos(x)."), code(ANSWERS[5]),
        md("5. For f(x) = log(x^2) sin(x) + x^{-1}, write out a dependency graph tracing results."),
        code("f = lambda x: torch.log(x ** 2) * torch.sin(x) + 1 / x"),
    ]
    s = seg(rubric, *cells)
    assert s.edition == "d2l-en-1.0"
    assert s.found["ex5"] == [S + 7, S + 8]  # the sin exercise, though numbered 4, and not the 5th
    assert "ex4" in s.not_applicable and "ex4" not in s.found
    assert "1.0" in en(s.not_applicable["ex4"])


def test_numbers_follow_the_edition_from_the_answers_code(rubric):
    """Bare numbers 1-5 in English: '4.' holding a control-flow function and '5.' a sin plot is
    d2l-en 0.17 (in 1.0, 4 is the plot and 5 is no graded exercise)."""
    cells = [md("# My autograd notes")] + SECTION[1:] + [md("## Exercises")]
    for n in range(1, 6):
        cells += [md(f"#### {n}."), code(ANSWERS[n])]
    s = seg(rubric, *cells)
    assert s.edition == "d2l-en-0.17"
    assert s.found["ex4"] == [S + 7, S + 8] and s.found["ex5"] == [S + 9, S + 10]
    assert not s.not_applicable


def test_book_question_list_then_numbered_answers(rubric):
    """d2l writes every list item '1.': the list is the questions, the answers follow."""
    book_list = "## 練習\n\n" + "\n".join("1. " + q for q in QUESTIONS["zh-TW"])
    cells = list(SECTION) + [md(book_list)]
    for n in range(1, 6):
        cells.append(code(f"# {n}\n" + ANSWERS[n]))
    s = seg(rubric, *cells)
    for n in range(1, 6):
        assert s.found[f"ex{n}"] == [S, S + n], n  # its line of the list, then its answer
        assert s.parts[f"ex{n}"][S].startswith("1. " + QUESTIONS["zh-TW"][n - 1][:4])


def test_several_exercises_in_one_cell_get_their_own_slice(rubric):
    cells = list(SECTION) + [
        md("## 练习"),
        md("###### 1.为什么二阶导数开销更大？\n\n要保留一阶导数的计算图，再反向传播一次。\n\n"
           "###### 2.反向传播后立即再次运行会发生什么？\n\nRuntimeError：图已经被释放。"),
        code(ANSWERS[2]),
    ]
    s = seg(rubric, *cells)
    assert s.found["ex1"] == [S + 1] and s.found["ex2"] == [S + 1, S + 2]
    assert "计算图" in s.parts["ex1"][S + 1] and "RuntimeError" not in s.parts["ex1"][S + 1]
    assert "RuntimeError" in s.parts["ex2"][S + 1]


def test_a_list_inside_an_answer_is_not_a_marker(rubric):
    cells = list(SECTION) + [
        md("### 練習 1"), md("原因如下：\n\n1. 要保留計算圖\n2. 要多一次反向傳播\n3. 記憶體更多"),
        md("### 練習 4"), code(ANSWERS[4]), md("1. **分支**：x.sum() > 0 時梯度是 2\n2. 否則是 -1"),
        md("### 練習 5"), code(ANSWERS[5]),
    ]
    s = seg(rubric, *cells)
    assert s.found["ex1"] == [S, S + 1]
    assert s.found["ex4"] == [S + 2, S + 3, S + 4] and s.found["ex5"] == [S + 5, S + 6]
    assert "ex2" in s.fallback and "ex3" in s.fallback  # no marker: the unclaimed cells


def test_all_answers_after_one_heading_fall_back_with_a_flag(rubric):
    cells = list(SECTION) + [md("## 练习")] + [code(ANSWERS[n]) for n in range(1, 6)]
    s = seg(rubric, *cells)
    for n in range(1, 6):
        assert s.found[f"ex{n}"] == list(range(S + 1, S + 6))
        assert "no marker found" in en(s.fallback[f"ex{n}"]) and "沒有找到" in zh(s.fallback[f"ex{n}"])


def test_no_markers_at_all_fall_back_to_the_cells_after_the_section(rubric):
    cells = list(SECTION) + [code(ANSWERS[n]) for n in range(1, 6)]
    s = seg(rubric, *cells)
    assert s.exercises_start is None
    for n in range(1, 6):
        assert s.found[f"ex{n}"] == list(range(S, S + 5)) and f"ex{n}" in s.fallback
        assert "after the section" in en(s.fallback[f"ex{n}"])


@pytest.mark.parametrize("name", ["ctrl", "func"])
def test_the_sections_f_under_another_name_ends_the_section_so_no_exercise_falls_back_onto_it(rubric, name):
    """Without markers, the exercises fall back to the cells after the section; the section's
    f renamed (a loop on the norm, a branch on the sum) and its call d = f(a) still end the
    section, so exercise 4 is not answered by the book's own function. A plot label 'f(x)'
    further on is not the call."""
    f = (f"def {name}(a):\n    b = a * 2\n    while b.norm() < 10:\n        b = 2 * b\n"
         "    return b if b.sum() > 0 else 100 * b")
    cells = SECTION[:4] + [code(f), code(f"inp = torch.randn((), requires_grad=True)\nout = {name}(inp)\nout.backward()"),
                           code(ANSWERS[4]), code(ANSWERS[5] + ", label='f(x)')")]
    s = seg(rubric, *cells)
    assert s.found["cell10"] == [4] and s.found["cell11"] == [5]
    assert s.found["ex4"] == [6, 7] and "ex4" in s.fallback


def test_marker_cells_are_not_in_the_fallback(rubric):
    """An exercise without a marker gets the unmarked cells, never another exercise's own."""
    cells = list(SECTION) + [md("## Exercises"), md("#### 1."), md("It keeps the graph of the first derivative."),
                             code("# 2\n" + ANSWERS[2]), code(ANSWERS[5])]
    s = seg(rubric, *cells)
    assert s.found["ex2"] == [S + 3, S + 4] and "ex2" not in s.fallback
    assert s.found["ex5"] == [S + 2, S + 4] and "ex5" in s.fallback  # unmarked cells only


def test_book_text_in_the_section_is_no_marker(rubric):
    """Paragraphs of the section that share words with a question are not restated questions."""
    cells = [md("## Gradients and Python Control Flow\n\nDynamic control flow is common; the gradient "
                "is computed anyway.")] + list(SECTION) + [md("## Exercises"), md("1. x"), code(ANSWERS[1])]
    s = seg(rubric, *cells)
    assert s.exercises_start == S + 1


def test_exercises_end_at_the_next_section_heading(rubric):
    cells = list(SECTION) + [md("## 练习"), md("### 练习 5"), code(ANSWERS[5]), md("## 2.6 概率"),
                             code("torch.distributions")]
    s = seg(rubric, *cells)
    assert s.found["ex5"] == [S + 1, S + 2]


def test_not_found_says_what_was_looked_for(rubric):
    found, missing = locate({**PATTERNS, **rubric.anchors}, nb(), rubric.editions)
    assert "cell1" in missing and "torch\\.arange" in en(missing["cell1"])
    assert "because cell1" in en(missing["cell2"])
    assert "Exercise 5" in en(missing["ex5"]) and "練習 5" in zh(missing["ex5"])


def test_prose_of_code_is_comments_and_strings():
    src = textwrap.dedent('''\
        # 因為要保留計算圖
        print("second derivatives need more memory")
        x = 1  # 多一次反向傳播
        ''')
    text = prose(src, "code")
    assert "保留計算圖" in text and "more memory" in text and "反向傳播" in text and "x = 1" not in text
    assert prose("print('unclosed", "code")  # a broken cell still gives its text


def test_scopes_section_and_notebook(rubric):
    cells = nb(code("x = 1"), md("## 練習\n### 練習 1\n為什麼計算二階導數比一階導數的開銷要更大？"), md("answer"),
               md("### 練習 5"), code("plot"))
    found, _ = locate({**PATTERNS, **rubric.anchors}, cells, rubric.editions)
    assert found["section"] == [0] and found["everything"] == [0, 1, 2, 3, 4]
    found, _ = locate({**PATTERNS, **rubric.anchors}, nb(code("x = 1"), code("y = 2")), rubric.editions)
    assert found["section"] == [0, 1]  # no exercise found: the whole notebook


def test_probes_go_around_an_anchors_code_not_a_question_list_far_before_it(rubric):
    """The book's question list is part of every exercise's anchor (its slice of the list); a
    probe "before" exercise 4 still goes before exercise 4's code, not before the list: a trace
    window opened there would also watch exercises 1-3's code (and their functions' calls)."""
    from grader.plan import build_plan

    cells = nb(*SECTION, md("## Exercises\n\n1. Why is the second derivative more expensive?\n"
                            "2. Run backward again immediately. What happens?\n"
                            "3. What happens if a is a vector?\n"
                            "4. Redesign an example of finding the gradient of the control flow. Run and analyze the result.\n"
                            "5. Let f(x) = sin(x). Plot f(x) and df(x)/dx without using f'(x) = cos(x)."),
               *[c for n in range(1, 6) for c in (md(f"Q{n}:"), code(ANSWERS[n]))])
    s = segment(rubric.anchors, cells, rubric.editions)
    assert s.found["ex4"] == [S, S + 7, S + 8], s.found["ex4"]
    plan = build_plan(rubric, cells, s, public_only=False)
    starts = [i for i, batch in plan.pre.items() for r in batch.values()
              if r.get("op") == "trace_start" and r.get("key", "").startswith("ex4")]
    assert starts == [S + 8]


def test_an_answer_after_its_number_is_not_renumbered_by_its_words(rubric):
    """"Q1: <the answer>": the answer's words may match another exercise's key phrases (here
    d2l-en 1.0's forward/backward evaluation, an exercise no question grades); they confirm a
    number, but only a restated question may override it."""
    answer = ("Q1: 算一阶导数只需要一次前向和一次反向。算二阶导数时，得先在保留计算图的情况下算出一阶导数"
              "（梯度本身成了图上的节点），再对这个梯度做第二次反向传播，中间变量都得保存，所以时间和内存都更多。")
    cells = list(SECTION) + [md(answer), md("Q2: 执行完一次反向传播之后，马上再执行一次，观察会出现什么情况。"),
                             code(ANSWERS[2])]
    s = seg(rubric, *cells)
    assert s.found["ex1"] == [S] and "ex1" not in s.fallback, (s.found, s.fallback)
    assert s.found["ex2"] == [S + 1, S + 2]


def test_a_cell_with_several_exercises_is_cut_at_their_markers():
    from nbformat.v4 import new_code_cell, new_notebook

    from grader.locate import PART_OF, cells_of, split_at_markers

    giant = ("import torch\n# ==== 第一題 ====\n# 答: ...\nx = 1\n\n# ---- Q2: backward twice ----\ny = 2\n"
             "def g(v):\n    # Exercise 3 inside a function is no cut\n    return v\n%matplotlib inline\n"
             "# 【练习3】\nz = g(3)\n")
    nb = new_notebook(cells=[new_code_cell("# 练习1\nx = 1"), new_code_cell(giant)])
    out = split_at_markers(nb)
    parts = [c.source for c in out.cells]
    assert parts[0] == "# 练习1\nx = 1"  # a marker on a cell's first line: the cell is one part
    assert parts[1:] == ["import torch", "# ==== 第一題 ====\n# 答: ...\nx = 1",
                         "# ---- Q2: backward twice ----\ny = 2\ndef g(v):\n    # Exercise 3 inside a function is no cut\n"
                         "    return v\n%matplotlib inline", "# 【练习3】\nz = g(3)"]
    assert [c.number for c in cells_of(out)] == [1, 2, 2, 2, 2]
    assert all(c.metadata[PART_OF] == 1 for c in out.cells[1:]) and len(nb.cells) == 2  # nb unchanged
    # left whole: the instructor's tagged cells, cell magics, code that does not parse
    for cell in (new_code_cell(giant, metadata={"tags": ["ex1"]}), new_code_cell("%%time\n" + giant),
                 new_code_cell(giant + "def broken(:\n")):
        assert split_at_markers(new_notebook(cells=[cell])).cells == [cell]
