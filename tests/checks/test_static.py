import pytest

from .helpers import invalid, judge


def test_cos_in_any_form_is_caught():
    for src in ["y = torch.cos(x)", "import numpy as np\nnp.cos(x)", "from math import cos\n", "x.cos()",
                "getattr(torch, 'cos')(x)", "from torch import cos as c\nc(x)"]:
        v = judge("static", code=[src], forbid=["cos"])
        assert v.status == "fail", src
    assert judge("static", code=["y = torch.sin(x)\ny.backward(torch.ones_like(x))  # not cos"],
                 forbid=["cos"]).status == "pass"


def test_require_keyword():
    assert judge("static", code=["y.backward(retain_graph=True)"], require=["retain_graph"]).status == "pass"
    v = judge("static", code=["y.backward()"], require=["retain_graph"])
    assert v.status == "fail" and "should use retain_graph" in v.message


def test_control_flow_and_magics_and_syntax_errors():
    assert judge("static", code=["%matplotlib inline\ndef g(x):\n    while x < 1:\n        x = x * 2\n    return x"],
                 control_flow=True).status == "pass"
    assert judge("static", code=["def g(x):\n    return x * 2"], control_flow=True).status == "fail"
    v = judge("static", code=["def g(x)\n    return x"], control_flow=True)
    assert v.status == "fail" and "syntax error" in v.message


def test_params_validated():
    assert invalid("static")
    assert invalid("static", forbid=["not a name"])


def test_control_flow_that_depends_on_the_data():
    for src in ["g = lambda x: x * 2 if x.sum() > 0 else -x",
                "class M:\n    def forward(self, x):\n        while x.norm() < 10:\n            x = x * 2\n        return x",
                "def g(x, n):\n    for _ in range(n):\n        x = x * 2\n    return x",
                "def g(x):\n    return sum(v for v in x if v > 0)",
                "def g(x):\n    for v in x:\n        x = x * v\n    return x"]:
        assert judge("static", code=[src], control_flow=True).status == "pass", src
    for src in ["def g(x):\n    for _ in range(3):\n        x = x * 2\n    return x",
                "def g(x):\n    for k in (1, 2, 3):\n        x = x * k\n    return x"]:
        v = judge("static", code=[src], control_flow=True)
        assert v.status == "fail" and "fixed range" in v.message, src
    v = judge("static", code=["x = 1\nif x > 0:\n    y = 2"], control_flow=True)
    assert v.status == "fail" and "no control flow" in v.message  # not inside a function


FORBID_IN = {"names": ["cos"], "calls": ["plot", "scatter", "DataFrame"]}


@pytest.mark.parametrize("code,ok", [
    ("plt.plot(x, torch.cos(x))", False),
    ("d = np.cos(x.numpy())\ne = d * 1\nax.plot(x, e)", False),
    ("pd.DataFrame({'d': torch.cos(x)}).plot()", False),
    ("print(torch.allclose(x.grad, torch.cos(x)))\nplt.plot(x, x.grad)", True),
    ("err = (x.grad - torch.cos(x)).abs().max()\nplt.plot(x, x.grad)", True),
    ("y = torch.sin(x)\ny.sum().backward()", False),  # nothing plotted: nothing to credit
])
def test_forbid_in_calls_only_what_reaches_them(code, ok):
    v = judge("static", code=[code], forbid_in=FORBID_IN)
    assert (v.status == "pass") == ok, v.message


def test_forbid_in_validated():
    assert invalid("static", forbid_in={"names": ["cos"]})
    assert invalid("static", forbid_in={"names": ["cos"], "calls": ["not a name"]})
