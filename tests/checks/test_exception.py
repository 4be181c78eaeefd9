"""The exception kind on what a real kernel recorded: raised (caught or not) counts, printed text does not."""
from __future__ import annotations

import pytest

from .helpers import invalid
from .recorded import judge, record

SECOND = dict(raises="RuntimeError", match="backward through the graph a second time")
SCALAR = dict(raises="RuntimeError", match="grad can be implicitly created only for scalar outputs")

CELLS = [
    # 0: caught and printed with a prefix of the student's own
    "import torch\nx = torch.ones(2, requires_grad=True)\ny = (x * x).sum()\ny.backward()\n"
    "try:\n    y.backward()\nexcept RuntimeError as e:\n    print('出錯了：', e)",
    # 1: not caught
    "y1 = (x * x).sum()\ny1.backward()\ny1.backward()",
    # 2: the message printed as a literal: nothing raised it
    "print('RuntimeError: Trying to backward through the graph a second time')",
    # 3: a non-scalar backward, caught silently
    "try:\n    (x * x).backward()\nexcept Exception:\n    pass",
    # 4: another error
    "undefined_name",
    # 5: nothing
    "z = 2",
    # 6: the failing line commented out, its error kept beside it
    "# y.backward()\n# RuntimeError: Trying to backward through the graph a second time (or directly access ...)",
]
REPORTED = dict(reported=["backward through the graph a second time", "(计算图|計算圖).{0,10}(释放|釋放)"])
PASTED = "Running it again gives:\n\n```\nRuntimeError: Trying to backward through the graph\na second time\n```"


@pytest.fixture(scope="module")
def ex():
    return record(CELLS)


@pytest.mark.parametrize("cell", [0, 1, [4, 5, 1]])
def test_raised_caught_or_not(ex, cell):
    assert judge(ex, "exception", cell, **SECOND).status == "pass"


def test_printed_literal_does_not_count(ex):
    v = judge(ex, "exception", 2, **SECOND)
    assert v.status == "fail" and "printing the text" in v.message


def test_caught_silently_counts(ex):
    assert judge(ex, "exception", 3, **SCALAR).status == "pass"
    assert judge(ex, "exception", 3, **SECOND).status == "fail"


def test_wrong_error_or_none(ex):
    v = judge(ex, "exception", 4, **SECOND)
    assert v.status == "fail" and "raised NameError" in v.message
    v = judge(ex, "exception", 5, **SECOND)
    assert v.status == "fail" and "no code in these cells raised" in v.message
    v = judge(ex, "exception", 0, raises="ValueError")
    assert v.status == "fail" and "expected ValueError" in v.message
    assert judge(ex, "exception", 0, raises="Exception", match="second time").status == "pass"  # a base class


def test_params_validated():
    assert invalid("exception", raises="RuntimeError", match="(")
    assert not invalid("exception", raises="RuntimeError", match="x")


def test_an_error_reported_in_the_answers_markdown_counts_pending_review(ex):
    """The exercise asks what happens: a written report (the message pasted from a run, wrapped
    and fenced, or what it means) earns the points, marked for the instructor's review."""
    for markdown in (PASTED, "第二次會出錯，因為計算圖已經被釋放了。"):
        v = judge(ex, "exception", 5, markdown=[markdown], **SECOND, **REPORTED)
        assert v.status == "manual" and v.fraction == 1.0 and "your answer reports it" in v.message, v.message
    assert judge(ex, "exception", 0, markdown=[PASTED], **SECOND, **REPORTED).status == "pass"  # raised: no review
    assert judge(ex, "exception", 5, markdown=[PASTED], **SECOND).status == "fail"  # a rubric that does not ask
    v = judge(ex, "exception", 5, markdown=["Run it again and see what happens."], **SECOND, **REPORTED)
    assert v.status == "fail", v.message  # the question restated reports nothing


@pytest.mark.parametrize("cell", [2, 6])
def test_an_error_only_in_a_comment_or_printed_by_hand_earns_the_share_for_code(ex, cell):
    v = judge(ex, "exception", cell, **SECOND, **REPORTED, reported_in_code=0.5)
    assert v.status == "manual" and v.fraction == 0.5 and "only in a comment, a string or printed text" in v.message
    v = judge(ex, "exception", cell, **SECOND, **REPORTED)  # no share for code: as before
    assert v.status == "fail"


def test_reported_params_validated():
    assert invalid("exception", raises="RuntimeError", reported=["("])
    assert invalid("exception", raises="RuntimeError", reported_in_code=1.5)
    assert not invalid("exception", raises="RuntimeError", reported=["freed"], reported_in_code=0.5)
