import torch

from grader.checks.function import draw_inputs

from .helpers import enc, invalid, judge

SPECS = [{"shape": []}, {"shape": [4], "sign": "negative"}, {"shape": [2, 3]}]


def book_f(a):
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    return b if b.sum() > 0 else 100 * b


def calls(fn):
    out = []
    for inp in draw_inputs(SPECS, 7):
        x = torch.tensor(inp["values"], requires_grad=True)
        y = fn(x)
        y.sum().backward()
        out.append({"value": enc(y), "grad": enc(x.grad)})
    return {"calls": {"type": "calls", "results": out}}


def test_inputs_are_deterministic_and_respect_sign():
    a, b = draw_inputs(SPECS, 7), draw_inputs(SPECS, 7)
    assert a == b and a != draw_inputs(SPECS, 8)
    assert sum(a[1]["values"]) < 0 and a[2]["shape"] == [2, 3]


def test_same_function_passes_hardcoded_fails():
    ref = calls(book_f)
    assert judge("function", got=ref, expected=ref, function="f", inputs=SPECS, seed=7).status == "pass"
    v = judge("function", got=calls(lambda a: 1024 * a), expected=ref, function="f", inputs=SPECS, seed=7)
    assert v.status == "fail" and v.fraction < 1 and "hidden inputs" in v.message


def test_student_function_raising_or_missing():
    ref = calls(book_f)
    broken = {"calls": {"type": "calls", "results": [{"error": {"ename": "TypeError", "evalue": "bad"}}] * 3}}
    v = judge("function", got=broken, expected=ref, function="f", inputs=SPECS, seed=7)
    assert v.status == "fail" and "raised TypeError" in v.message and v.fraction == 0
    missing = {"calls": {"type": "error", "ename": "NameError", "evalue": "f is not defined"}}
    assert "not found" in judge("function", got=missing, expected=ref, function="f", inputs=SPECS, seed=7).message


def test_params_validated():
    assert invalid("function", function="f", inputs=[])
    assert invalid("function", function="f", inputs=[{"shape": [0]}])
    assert invalid("function", function="f", inputs=[{"shape": [2], "sign": "up"}])
