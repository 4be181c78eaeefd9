"""numgrad and paths read the same trace of the student's own calls."""
import torch

from grader import kernel_probe

from .helpers import judge


def trace(fn, inputs, eps=1e-6):
    calls = []
    for x in inputs:
        y, lines = kernel_probe._lines_of(fn, x)
        calls.append({"function": fn.__name__, "lines": sorted(lines), "input": kernel_probe._tensor(x, False),
                      "gradcheck": kernel_probe._gradcheck(fn, x, eps)})
    return {"trace": {"type": "trace", "calls": calls}, "trace_start": {"type": "ok"}}


def g(x):
    if x.sum() > 0:
        y = x ** 2
    else:
        y = x.abs()
    return y.sum()


CODE = ["def g(x):\n    if x.sum() > 0:\n        return x\n    return -x\n"]


def test_gradient_matches_finite_differences():
    got = trace(g, [torch.tensor([1.0, 2.0, 3.0]), torch.tensor([-1.0, -2.0])])
    v = judge("numgrad", got=got, code=CODE)
    assert v.status == "pass"


def test_branch_boundary_is_explained():
    got = trace(g, [torch.tensor([1.0, 2.0, -3.0])])
    v = judge("numgrad", got=got, code=CODE)
    assert v.status == "fail" and "switches branches" in v.message


def test_wrong_custom_gradient_is_caught():
    class Bad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 2

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x  # wrong: should be 2x

    def h(x):
        return Bad.apply(x).sum() if x.sum() > 0 else x.sum()

    v = judge("numgrad", got=trace(h, [torch.tensor([1.0, 2.0])]), code=CODE)
    assert v.status == "fail" and "autograd [3, 6]" in v.message


def test_no_calls():
    assert judge("numgrad", got={"trace": {"type": "trace", "calls": []}}, code=CODE).status == "fail"


def test_paths_counts_distinct_paths():
    two = trace(g, [torch.tensor([1.0, 2.0]), torch.tensor([-1.0, -2.0])])
    assert judge("paths", got=two, code=CODE).status == "pass"
    one = trace(g, [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])])
    v = judge("paths", got=one, code=CODE)
    assert v.status == "fail" and "same path" in v.message
    assert judge("paths", got=one, code=["x = 1"]).status == "fail"
