"""The figure kind on what a real kernel recorded: any plotting API; the derivative must hold
values autograd produced (cos, a shifted sin, finite differences or literals do not)."""
from __future__ import annotations

import pytest

from .helpers import invalid
from .recorded import judge, record

SIN = dict(curves=[{"y": "sin(x)"}])
BOTH = dict(curves=[{"y": "sin(x)"}, {"y": "cos(x)", "autograd": True}])

CELLS = [
    # 0: the usual answer, closed by plt.show()
    "import math, torch\nimport matplotlib.pyplot as plt\nx = torch.linspace(-5, 5, 100, requires_grad=True)\n"
    "y = torch.sin(x)\ny.sum().backward()\nplt.plot(x.detach(), y.detach(), label='sin')\n"
    "plt.plot(x.detach(), x.grad, label='grad')\nplt.legend()\nplt.show()",
    # 1: an Axes, numpy arrays and a scatter of the gradient; never shown
    "fig, ax = plt.subplots()\nx1 = torch.linspace(-3, 3, 40, requires_grad=True)\ntorch.sin(x1).sum().backward()\n"
    "ax.plot(x1.detach().numpy(), torch.sin(x1).detach().numpy())\nax.scatter(x1.detach(), x1.grad)",
    # 2: float64, the gradient argument, a Python list of .item() values
    "x2 = torch.linspace(0, 6, 30, dtype=torch.float64, requires_grad=True)\ns2 = torch.sin(x2)\n"
    "s2.backward(torch.ones_like(x2))\nplt.plot(x2.tolist(), s2.tolist())\nplt.plot(x2.tolist(), [g.item() for g in x2.grad])",
    # 3: cos (at x where no backward ran: the same values as autograd's would be indistinguishable)
    "x3 = torch.linspace(-4, 4, 90)\nplt.plot(x3, torch.sin(x3))\nplt.plot(x3, torch.cos(x3))\nplt.show()",
    # 4: cos in disguise
    "plt.plot(x3, torch.sin(x3))\nplt.plot(x3, torch.sin(x3 + math.pi / 2))\nplt.show()",
    # 5: finite differences
    "h = 1e-3\nplt.plot(x3, torch.sin(x3))\nplt.plot(x3, (torch.sin(x3 + h) - torch.sin(x3 - h)) / (2 * h))\nplt.show()",
    # 6: typed-in numbers
    "xs = [i / 10 for i in range(-30, 31)]\nplt.plot(xs, [math.sin(v) for v in xs])\nplt.plot(xs, [math.cos(v) for v in xs])",
    # 7: sin only
    "plt.plot(x3, torch.sin(x3))",
    # 8: sin and the autograd derivative in two different figures
    "plt.figure()\nplt.plot(x.detach(), torch.sin(x).detach())\nplt.figure()\nplt.plot(x.detach(), x.grad)\nplt.show()",
    # 9: nothing drawn
    "pass",
    # 11: point by point in a loop, one scatter call per point and colour
    "plt.figure()\nfor v in torch.linspace(-3, 3, 30).tolist():\n    t = torch.tensor(v, requires_grad=True)\n"
    "    s = torch.sin(t)\n    s.backward()\n    plt.scatter(v, s.item(), color='tab:blue')\n"
    "    plt.scatter(v, t.grad.item(), color='tab:red')\nplt.show()",
    # 12: the same with plt.plot and format strings
    "plt.figure()\nfor v in torch.linspace(-3, 3, 30).tolist():\n    t = torch.tensor(v, requires_grad=True)\n"
    "    torch.sin(t).backward()\n    plt.plot(v, math.sin(v), 'b.')\n    plt.plot(v, t.grad.item(), 'r.')\nplt.show()",
    # 13: point by point, the derivative by cos
    "plt.figure()\nfor v in torch.linspace(-3, 3, 30).tolist():\n    plt.scatter(v, math.sin(v), color='k')\n"
    "    plt.scatter(v, math.cos(v), color='g')\nplt.show()",
    # 10: pandas (matplotlib underneath), where installed
    "try:\n    import pandas as pd\nexcept ImportError:\n    pd = None\nif pd is not None:\n"
    "    x10 = torch.linspace(-2, 2, 25, requires_grad=True)\n    torch.sin(x10).sum().backward()\n"
    "    pd.DataFrame({'x': x10.detach().numpy(), 'sin': torch.sin(x10).detach().numpy(), 'd': x10.grad.numpy()}).plot(x='x')",
]


@pytest.fixture(scope="module")
def ex():
    return record(CELLS)


@pytest.mark.parametrize("cell", [0, 1, 2, [9, 0]])
def test_autograd_derivative_any_api(ex, cell):
    assert judge(ex, "figure", cell, **BOTH).status == "pass"


@pytest.mark.parametrize("cell", [3, 4, 5, 6])
def test_derivative_not_from_autograd_fails(ex, cell):
    assert judge(ex, "figure", cell, **SIN).status == "pass"
    v = judge(ex, "figure", cell, **BOTH)
    assert v.status == "fail" and "autograd" in v.message, v.message


def test_missing_curve_other_figure_or_none(ex):
    v = judge(ex, "figure", 7, **BOTH)
    assert v.status == "fail" and "cos(x)" in v.message
    v = judge(ex, "figure", 8, **BOTH)
    assert v.status == "fail" and "one figure" in v.message
    v = judge(ex, "figure", 9, **BOTH)
    assert v.status == "fail" and "no figure" in v.message


def test_curves_drawn_are_named_by_their_labels_or_their_place(ex):
    """matplotlib names an unlabelled line '_child0': the feedback says 'curve 1, no label'."""
    v = judge(ex, "figure", 7, curves=[{"y": "cos(x)"}])
    assert v.status == "fail" and "(curve 1, no label)" in v.message and "_child" not in v.message, v.message
    assert "第 1 條，沒有標籤" in v.text("zh-TW")
    v = judge(ex, "figure", 0, curves=[{"y": "exp(x)"}])
    assert "'sin', 'grad'" in v.message, v.message


def test_points_drawn_one_by_one_are_one_curve_per_colour(ex):
    for cell in (10, 11):
        v = judge(ex, "figure", cell, **BOTH)
        assert v.status == "pass", (cell, v.message)
    v = judge(ex, "figure", 12, **BOTH)
    assert v.status == "fail" and "autograd" in v.message, v.message


def test_pandas_plot(ex):
    if not any(e["kind"] == "figure" and e["cell"] == 13 for e in ex.events):
        pytest.skip("pandas is not installed")
    assert judge(ex, "figure", 13, **BOTH).status == "pass"


def test_params_validated():
    assert invalid("figure", curves=[{"y": "sin(y)"}])
    assert invalid("figure", curves=[])
    assert invalid("figure", curves=["sin(x)"])
    assert invalid("figure", curves=[{"y": "cos(x)", "autograd": "yes"}])
