"""The control-flow section's hidden check on a real kernel: the concept (gradients through
control flow, a.grad == f(a) / a on hidden inputs whose paths differ), not the book's exact f."""
import pytest

from grader.checks.function import draw_inputs

from .helpers import invalid, judge
from .kernel import run_cases, spec

INPUTS = [{"shape": [], "min_abs": 0.01}, {"shape": [], "sign": "negative", "min_abs": 0.01},
          {"shape": [], "scale": 0.001, "min_abs": 1e-5}, {"shape": [5]}, {"shape": [5], "sign": "negative"},
          {"shape": [3, 4]}, {"shape": [2, 3], "sign": "negative", "scale": 50}]

BOOK = "def f(a):\n    b = a * 2\n    while b.norm() < 1000:\n        b = b * 2\n    if b.sum() > 0:\n        c = b\n" \
       "    else:\n        c = 100 * b\n    return c"
CALL = "a = torch.randn(size=(), requires_grad=True)\nd = f(a)\nd.backward()"

CASES = {
    "book": [BOOK, CALL],
    # another threshold, another loop bound, another factor: still gradients through control flow
    "changed": ["def f(a):\n    b = a * 3\n    while b.abs().sum() < 50:\n        b = b * 3\n"
                "    return b if b.mean() > 0.5 else -7 * b", CALL],
    "hardcoded": ["def f(a):\n    return 1024 * a", CALL],
    # named otherwise and called through another name: found as the function autograd differentiated
    "renamed": ["def shrink_grow(v):\n    w = v * 2\n    while w.norm() < 100:\n        w = w * 2\n    return w",
                "a = torch.tensor(0.7, requires_grad=True)\nout = shrink_grow(a)\nout.backward()"],
    # loops forever when the sum is negative: the hidden negative inputs time out, nothing hangs
    "endless": ["def f(a):\n    b = a * 2\n    while b.sum() < 1000:\n        b = b * 2 if b.sum() > 0 else b\n    return b",
                "a = torch.tensor(1.5, requires_grad=True)\nd = f(a)\nd.backward()"],
    # side effects: the grader's calls run after the values other checks read, and leave other leaves' .grad
    "side_effects": ["seen = []\nW = torch.tensor(2.0, requires_grad=True)\n"
                     "def f(a):\n    seen.append(1)\n    b = a * W\n    while b.norm() < 100:\n        b = b * 2\n"
                     "    return b if b.sum() > 0 else -b", CALL],
}


@pytest.fixture(scope="module")
def all_verdicts():
    checks = {name: [spec("function", name, visibility="hidden", function="f", inputs=INPUTS, seed=2024)]
              for name in CASES}
    checks["side_effects"].append(spec("relation", "side_effects", capture={"n": "len(seen)", "W": "W", "d": "d"},
                                       expr="n == 1 and allclose(W.grad, d / W)"))
    out, ex = run_cases(["import torch"], CASES, checks)
    assert not [c for c in ex.cells if c.status != "ok"], ex.kernel_error
    return out


@pytest.fixture(scope="module")
def verdicts(all_verdicts):
    return {name: v["function"] for name, v in all_verdicts.items()}


def test_grader_calls_leave_the_students_values_alone(all_verdicts):
    assert all_verdicts["side_effects"]["function"].status == "pass"
    assert all_verdicts["side_effects"]["relation"].status == "pass", all_verdicts["side_effects"]["relation"]


@pytest.mark.parametrize("case", ["book", "changed", "renamed"])
def test_the_concept_passes_whatever_the_details(verdicts, case):
    v = verdicts[case]
    assert v.status == "pass", v
    if case == "renamed":
        assert "shrink_grow" in v.message and "autograd differentiated" in v.message


def test_hardcoded_f_fails(verdicts):
    v = verdicts["hardcoded"]
    assert v.status == "fail" and v.fraction == 0 and "same path on every hidden input" in v.message


def test_endless_loop_on_hidden_inputs_is_a_timeout_not_a_hang(verdicts):
    v = verdicts["endless"]
    assert not isinstance(v, tuple), v  # the probe itself finished in time
    assert v.status == "fail" and 0 < v.fraction < 1 and "did not finish" in v.message


def test_hidden_messages_reveal_no_values(verdicts):
    for v in verdicts.values():
        if isinstance(v, tuple):
            continue
        assert "expected" not in v.message.lower() and "[" not in v.message


def test_inputs_are_deterministic_respect_sign_and_min_abs():
    a, b = draw_inputs(INPUTS, 7), draw_inputs(INPUTS, 7)
    assert a == b and a != draw_inputs(INPUTS, 8)
    assert sum(a[4]["values"]) < 0 and a[5]["shape"] == [3, 4]
    tiny = draw_inputs([{"shape": [50], "scale": 1e-6, "min_abs": 1e-3}], 0)[0]["values"]
    assert all(abs(v) == pytest.approx(1e-3) for v in tiny)


def test_student_function_raising_or_missing():
    broken = {"trace": {"type": "trace", "calls": [], "hidden": {
        "type": "calls", "function": "f", "found_by": "name",
        "results": [{"error": {"ename": "TypeError", "evalue": "bad"}}] * 2}}}
    v = judge("function", got=broken, function="f", inputs=INPUTS[:2])
    assert v.status == "fail" and "raised TypeError" in v.message and v.fraction == 0
    missing = {"trace": {"type": "trace", "calls": [], "hidden": {"type": "error", "ename": "NotFound", "evalue": "x"}}}
    assert "not found" in judge("function", got=missing, function="f", inputs=INPUTS[:2]).message


def test_params_validated():
    assert invalid("function", function="f", inputs=[])
    assert invalid("function", function="f", inputs=[{"shape": [0]}])
    assert invalid("function", function="f", inputs=[{"shape": [2], "sign": "up"}])
    assert invalid("function", inputs=[{"shape": [2]}], expect="import os")
    assert invalid("function", inputs=[{"shape": [2], "min_abs": -1}])
