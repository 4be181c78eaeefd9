"""The gradient kind on what a real kernel recorded: behaviour, not spelling."""
from __future__ import annotations

import json

import pytest

from .helpers import invalid
from .recorded import judge, record

BOOK_F = """
def f(a):
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c
"""

CELLS = [
    # 0: the book
    "import torch\nx = torch.arange(4.0)\nx.requires_grad_(True)\ny = 2 * torch.dot(x, x)\ny.backward()",
    # 1: other names, an alias, `from torch import tensor`, x @ x, float64
    "import torch as t\nfrom torch import tensor\nv = tensor([0., 1., 2., 3.], dtype=t.float64, requires_grad=True)\n"
    "out = 2 * (v @ v)\nout.backward()",
    # 2: the gradient set by hand, backward commented out
    "x2 = torch.arange(4.0, requires_grad=True)\ny2 = 2 * torch.dot(x2, x2)\n# y2.backward()\n"
    "x2.grad = torch.tensor([0., 4., 8., 12.])",
    # 3: half set by hand, half computed: the total is right, what autograd added is not
    "x3 = torch.arange(4.0, requires_grad=True)\nx3.grad = 2 * x3.detach()\ny3 = 2 * torch.dot(x3, x3) / 2\ny3.backward()",
    # 4: a merged cell: the sum's gradient, then a non-scalar reduced
    "x4 = torch.arange(4.0, requires_grad=True)\nx4.sum().backward()\nprint(x4.grad)\nx4.grad.zero_()\n"
    "(x4 * x4).sum().backward()",
    # 5: torch.autograd.grad instead of backward
    "x5 = torch.arange(4.0, requires_grad=True)\ng, = torch.autograd.grad(2 * torch.dot(x5, x5), x5)",
    # 6: the book's detach, other names
    "w = torch.arange(4.0, requires_grad=True)\nsq = w * w\nconst = sq.detach()\n(const * w).sum().backward()\n"
    "w.grad.zero_()\nsq.sum().backward()",
    # 7: no autograd at all
    "z = 1",
    # 8: the section's control flow, a scalar input
    BOOK_F + "a = torch.randn(size=(), requires_grad=True)\nd = f(a)\nd.backward()",
    # 9: a non-scalar with a gradient argument
    "x9 = torch.arange(4.0, requires_grad=True)\ny9 = x9 * x9\ny9.backward(torch.ones_like(y9))",
    # 10: retain_graph, then a second backward
    "x10 = torch.arange(4.0, requires_grad=True)\ny10 = (x10 * x10).sum()\ny10.backward(retain_graph=True)\ny10.backward()",
    # 11: without detach, z = y * x: the gradient is 3x², not u
    "x11 = torch.arange(4.0, requires_grad=True)\ny11 = x11 * x11\n(y11 * x11).sum().backward()",
    # 12: a vector input to the book's f, reduced
    "a12 = torch.randn(5, requires_grad=True)\nd12 = f(a12)\nd12.sum().backward()",
    # 13: the book's example in a function, and a second backward in another, called later (14)
    "def part():\n    xp = torch.arange(4.0, requires_grad=True)\n    yp = 2 * torch.dot(xp, xp)\n    yp.backward()\n"
    "    return yp\n\ndef again(yp):\n    try:\n        yp.backward()\n    except RuntimeError as e:\n        print(e)",
    # 14: everything called at the end of the notebook
    "again(part())",
]

BASICS = dict(where="allclose(leaf, arange(4)) and allclose(out, 2 * dot(leaf, leaf))",
              expect="allclose(contrib, 4 * leaf)")


@pytest.fixture(scope="module")
def ex():
    return record(CELLS)


@pytest.mark.parametrize("cell", [0, 1, [0, 1, 7], 5])
def test_any_spelling_of_the_book_passes(ex, cell):
    assert judge(ex, "gradient", cell, **BASICS).status == "pass"


def test_nothing_recorded(ex):
    v = judge(ex, "gradient", 7, **BASICS)
    assert v.status == "fail" and "no backward()" in v.message


def test_a_gradient_set_by_hand_earns_nothing(ex):
    v = judge(ex, "gradient", 2, **BASICS)
    assert v.status == "fail" and "set by hand" in v.message
    v = judge(ex, "gradient", 3, where="allclose(leaf, arange(4))", expect="allclose(contrib, 4 * leaf)")
    assert v.status == "fail" and "already" in v.message  # its .grad was not zero before the call
    assert judge(ex, "gradient", 3, where="allclose(leaf, arange(4))", expect="allclose(grad, 4 * leaf)").status == "pass"


def test_merged_cell_each_call_judged(ex):
    ones = judge(ex, "gradient", 4, where="allclose(leaf, arange(4)) and allclose(out, sum(leaf))",
                 expect="allclose(grad, ones_like(leaf)) and allclose(contrib, ones_like(leaf))")
    two = judge(ex, "gradient", 4, where="allclose(leaf, arange(4)) and allclose(sum(out), dot(leaf, leaf))",
                expect="allclose(grad, 2 * leaf) and allclose(contrib, 2 * leaf)")
    assert ones.status == "pass" and two.status == "pass"


def test_api_filter(ex):
    assert judge(ex, "gradient", 5, api="backward", **BASICS).status == "fail"
    assert judge(ex, "gradient", 5, api="grad", **BASICS).status == "pass"


def test_detach_and_order(ex):
    cubic = "allclose(leaf, arange(4)) and allclose(sum(out), sum(leaf * leaf * leaf))"
    assert judge(ex, "gradient", 6, where=cubic, expect="allclose(contrib, leaf * leaf)").status == "pass"
    v = judge(ex, "gradient", 11, where=cubic, expect="allclose(contrib, leaf * leaf)")
    assert v.status == "fail" and "gradient =" in v.message  # the closest call, with its values
    later = dict(after=cubic + " and allclose(contrib, leaf * leaf)",
                 where="allclose(leaf, arange(4)) and allclose(sum(out), dot(leaf, leaf))",
                 expect="allclose(contrib, 2 * leaf)")
    assert judge(ex, "gradient", 6, **later).status == "pass"
    assert judge(ex, "gradient", 4, **later).status == "fail"  # 2x, but no detach before it
    earlier = dict(later, before=later["after"])
    del earlier["after"]
    assert judge(ex, "gradient", 4, **earlier).status == "pass"
    assert judge(ex, "gradient", 6, **earlier).status == "fail"  # its 2x comes after the detach


def test_scalar_control_flow_and_vector(ex):
    v = judge(ex, "gradient", 8, where="numel(leaf) == 1 and numel(out) == 1",
              expect="allclose(contrib, out / leaf)", explain_eq=True)
    assert v.status == "pass"
    vec = dict(where="numel(leaf) > 1", expect="allclose(contrib * sum(leaf), sum(out) * ones_like(leaf)) and sqrt(sum((contrib * leaf) ** 2)) >= 999")
    assert judge(ex, "gradient", 12, **vec).status == "pass"
    assert judge(ex, "gradient", 11, **vec).status == "fail"


def test_gradient_argument_and_retain_graph(ex):
    v = judge(ex, "gradient", 9, where="allclose(sum(out), dot(leaf, leaf))",
              expect="allclose(contrib, 2 * leaf) and allclose(gradient_arg, ones_like(leaf))")
    assert v.status == "pass"
    assert judge(ex, "gradient", 10, api="backward", where="retain_graph", expect="True").status == "pass"
    assert judge(ex, "gradient", 0, api="backward", where="retain_graph", expect="True").status == "fail"


def test_what_a_function_did_counts_where_it_was_written_too(ex):
    """A function defined in one cell and called in a later one: what it did belongs to both
    cells (the one that ran it and the one its code is written in), not to any other."""
    assert judge(ex, "gradient", 13, **BASICS).status == "pass"
    assert judge(ex, "gradient", 14, **BASICS).status == "pass"
    raised = dict(raises="RuntimeError", match="backward through the graph a second time")
    assert judge(ex, "exception", 13, **raised).status == "pass"
    assert judge(ex, "exception", 12, **raised).status == "fail"
    assert judge(ex, "gradient", 12, **BASICS).status == "fail"


def test_hidden_checks_reveal_no_values(ex):
    v = judge(ex, "gradient", 11, visibility="hidden", where="allclose(leaf, arange(4))",
              expect="allclose(contrib, leaf * leaf)")
    assert v.status == "fail" and "27" not in v.message and "leaf" not in v.message
    assert "27" not in json.dumps(v.reason.to_dict()) and "leaf" not in json.dumps(v.reason.to_dict())
    v = judge(ex, "gradient", 11, lang="zh-TW", where="allclose(leaf, arange(4))", expect="allclose(contrib, leaf * leaf)")
    assert "梯度" in v.text("zh-TW")


def test_a_computation_never_reached_is_said_in_the_rubrics_words(ex):
    """Without where_text the feedback shows the expression; with it, the instructor's words."""
    where = "numel(leaf) == 1 and numel(out) == 1"
    v = judge(ex, "gradient", 0, where=where, expect="True")
    assert v.status == "fail" and where in v.message
    words = {"zh-TW": "純量 a 的 d = f(a)", "en": "d = f(a) for a scalar a"}
    v = judge(ex, "gradient", 0, where=where, expect="True", where_text=words)
    assert v.status == "fail" and where not in v.message and "asked for: d = f(a) for a scalar a" in v.message
    assert "純量 a 的 d = f(a)" in v.text("zh-TW") and "标量 a 的 d = f(a)" in v.text("zh-CN")
    # and what the gradient should have been (expect_text), with what was found
    v = judge(ex, "gradient", 11, where="allclose(leaf, arange(4))", expect="allclose(contrib, leaf * leaf)",
              expect_text={"zh-TW": "x.grad 等於 u", "en": "x.grad = u"})
    assert v.status == "fail" and v.message.startswith("expected x.grad = u; the backward call found: input = ")
    assert "leaf" not in v.message and v.text("zh-TW").startswith("預期 x.grad 等於 u；")


def test_params_validated():
    assert invalid("gradient", expect="True", where_text={"en": "no zh-TW"})
    assert invalid("gradient", expect="True", expect_text={"zh-TW": 1, "en": "x"})
    assert invalid("gradient", expect="True", where_text={"zh-TW": "x", "en": "x", "fr": "x"})
    assert invalid("gradient", expect="allclose(x.grad, 4)")  # names are leaf, grad, ...
    assert invalid("gradient", expect="True", where="grad")  # where cannot see the gradient
    assert invalid("gradient", expect="True", api="forward")
    assert not invalid("gradient", expect="allclose(contrib, 4 * leaf)", where="allclose(leaf, arange(4))")
