import math

from .helpers import invalid, judge


def line(xs, fn, label=""):
    return {"label": label, "x": list(xs), "y": [fn(x) for x in xs]}


def figs(*lines):
    return {"figures": {"type": "figures", "figures": [{"lines": list(lines)}]}, "figures_start": {"type": "ok"}}


XS = [i * 0.1 for i in range(-30, 31)]


def test_sin_and_derivative_on_same_x():
    got = figs(line(XS, math.sin), line(XS, math.cos))
    assert judge("figure", got=got, lines=["sin(x)", "cos(x)"]).status == "pass"


def test_missing_derivative_or_different_x():
    v = judge("figure", got=figs(line(XS, math.sin), line(XS, lambda x: -math.sin(x))), lines=["sin(x)", "cos(x)"])
    assert v.status == "fail" and "cos(x)" in v.message
    other = [x + 0.05 for x in XS]
    v = judge("figure", got=figs(line(XS, math.sin), line(other, math.cos)), lines=["sin(x)", "cos(x)"])
    assert v.status == "fail" and "same x" in v.message


def test_float32_noise_accepted_and_no_figure():
    noisy = {"label": "", "x": XS, "y": [math.cos(x) + 3e-7 for x in XS]}
    assert judge("figure", got=figs(line(XS, math.sin), noisy), lines=["sin(x)", "cos(x)"]).status == "pass"
    v = judge("figure", got={"figures": {"type": "figures", "figures": []}}, lines=["sin(x)"])
    assert v.status == "fail" and "no figure" in v.message


def test_params_validated():
    assert invalid("figure", lines=["sin(y)"])
    assert invalid("figure", lines=[])
