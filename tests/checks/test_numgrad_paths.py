"""Exercise 4 on a real kernel: any callable the student wrote (several arguments, keyword
arguments, tuple returns, nn.Module, lambdas, float32 or float64, 1000-element inputs) is
checked at the student's own calls: autograd's gradient against finite differences, paths
counted over those calls, no gradient points without autograd."""
import pytest

from grader.checks.numgrad import _compare

from .helpers import judge
from .kernel import run_cases, spec

SETUP = ["import torch\nfrom torch import nn\ntorch.manual_seed(0)",
         # the book's f, defined before the exercise: calling it is not the student's own example
         "def f(a):\n    b = a * 2\n    while b.norm() < 1000:\n        b = b * 2\n    return b if b.sum() > 0 else 100 * b"]

CASES = {
    "several_args": ["""
def shrink(x, depth, *, scale=2.0):
    for _ in range(depth):
        if x.norm() > 1:
            x = x / scale
        else:
            x = x * 3
    return x, (x ** 2).sum()
""", """
a = torch.tensor([3.0, 4.0], requires_grad=True)
y, s = shrink(a, 3)
s.backward()
b = torch.tensor([0.1, 0.2], requires_grad=True)
shrink(b, 2, scale=3.0)[1].backward()
print(a.grad, b.grad)
"""],
    "module_f32": ["""
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
    def forward(self, x):
        h = self.lin(x)
        if h.sum() > 0:
            return {"out": torch.relu(h) * 2, "n": 1}
        return {"out": h ** 2, "n": 2}
net = Net()
with torch.no_grad():
    net.lin.bias.fill_(0.0)
for sign in (1.0, -1.0):
    x = (sign * torch.ones(4, 3) + 0.1 * torch.randn(4, 3)).requires_grad_()
    net.lin.weight.data = torch.full((2, 3), 0.5)
    net(x)["out"].sum().backward()
    print(x.grad.shape)
"""],
    "module_f64_weights": ["""
class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.5, -0.5], dtype=torch.float64))
    def forward(self, x):
        z = (self.w * x).sum()
        while z.abs() < 10:
            z = z * 2
        return z
g = Gate()
for v in ([1.0, 1.0], [0.1, 0.1]):
    x = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    g(x).backward()
"""],
    "big_lambda": ["""
big = torch.randn(1000, requires_grad=True)
h = lambda v: (v * 2).sum() if v.mean() > 0 else (v ** 2).sum()
h(big).backward()
h(big.detach().abs().requires_grad_()).backward()
"""],
    "closure_f32_matmul": ["""
W = torch.randn(3, 3)
def layer(x):
    y = W @ x
    if y.sum() > 0:
        return torch.tanh(y).sum()
    return (y * y).sum()
for s in (1.0, -1.0):
    x = torch.full((3,), s, requires_grad=True)
    W.copy_(torch.eye(3))
    torch.autograd.grad(layer(x), x)
"""],
    "by_hand": ["""
def g(x):
    if x > 0:
        return x ** 2
    return -x
def dg(x):
    if x > 0:
        return 2 * x
    return -1.0
for v in (2.0, -1.0):
    x = torch.tensor(v)
    print(g(x), dg(x))
"""],
    "constant_range": ["""
def rep(x):
    for _ in range(3):
        x = x * 2
    return x.sum()
for v in ([1.0, 2.0], [-1.0, 5.0]):
    x = torch.tensor(v, requires_grad=True)
    rep(x).backward()
"""],
    "wrong_backward": ["""
class Sq(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 2
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x  # wrong: 2x
def k(x):
    return Sq.apply(x).sum() if x.sum() > 0 else x.sum()
for v in ([1.0, 2.0], [-1.0, -2.0]):
    x = torch.tensor(v, requires_grad=True)
    k(x).backward()
"""],
    "boundary": ["""
def c(x):
    if x.sum() > 0:
        y = x ** 2
    else:
        y = x.abs()
    return y.sum()
for v in ([1.0, 2.0, -3.0], [1.0, 2.0, 3.0]):
    x = torch.tensor(v, requires_grad=True)
    c(x).backward()
"""],
    "elementwise_once": ["""
def piecewise(x):
    out = []
    for xi in x:
        if xi > 0:
            out.append(xi ** 2)
        else:
            out.append(-3 * xi)
    return torch.stack(out)
x = torch.linspace(-2, 2, 9, requires_grad=True)  # 0 is on the boundary: that coordinate is left out
piecewise(x).sum().backward()
"""],
    "book_f_only": ["""
a = torch.randn(size=(), requires_grad=True)
d = f(a)
d.backward()
"""],
}

KINDS = ("numgrad", "paths", "static")


@pytest.fixture(scope="module")
def verdicts():
    checks = {name: [spec("numgrad", name), spec("paths", name), spec("static", name, control_flow=True)]
              for name in CASES}
    out, ex = run_cases(SETUP, CASES, checks)
    failed_cells = [(c.index, c.ename, c.evalue) for c in ex.cells if c.status != "ok"]
    assert not failed_cells, (ex.kernel_error, failed_cells)
    return out


def _v(verdicts, case):
    got = verdicts[case]
    for kind in KINDS:
        assert not isinstance(got[kind], tuple), (case, kind, got[kind])
    return got["numgrad"], got["paths"], got["static"]


@pytest.mark.parametrize("case", ["several_args", "module_f32", "module_f64_weights", "big_lambda",
                                  "closure_f32_matmul"])
def test_any_callable_passes(verdicts, case):
    num, paths, static = _v(verdicts, case)
    assert (num.status, paths.status, static.status) == ("pass", "pass", "pass"), (num, paths, static)


def test_big_input_uses_directional_derivatives(verdicts):
    num, _, _ = _v(verdicts, "big_lambda")
    assert "2 of your own call" in num.message and "3 random directions" in num.message


def test_gradient_written_by_hand_earns_no_gradient_points(verdicts):
    num, paths, static = _v(verdicts, "by_hand")
    assert num.status == "fail" and num.fraction == 0 and "by hand" in num.message
    assert paths.status == "pass" and static.status == "pass"  # the control flow itself is there


def test_loop_over_a_constant_range_is_not_data_dependent(verdicts):
    num, paths, static = _v(verdicts, "constant_range")
    assert static.status == "fail" and "fixed range" in static.message
    assert paths.status == "fail" and "same path" in paths.message
    assert num.status == "pass"


def test_wrong_custom_backward_is_caught(verdicts):
    num, paths, _ = _v(verdicts, "wrong_backward")
    assert num.status == "fail" and 0 < num.fraction < 1 and "central differences" in num.message
    assert "autograd [3, 6], central differences [2, 4]" in num.message  # a scalar output: its plain gradient
    assert paths.status == "pass"


def test_call_on_a_branch_boundary_is_reported_not_wrong(verdicts):
    num, _, _ = _v(verdicts, "boundary")
    assert num.status == "pass" and "switches branches" in num.message


def test_one_call_whose_loop_takes_both_branches(verdicts):
    num, paths, _ = _v(verdicts, "elementwise_once")
    assert paths.status == "pass" and "iterations" in paths.message
    assert num.status == "pass" and "some coordinates" in num.message


def test_calling_the_books_f_is_not_an_own_example(verdicts):
    num, paths, _ = _v(verdicts, "book_f_only")
    assert num.status == "fail" and "never called a function you defined" in num.message
    assert paths.status == "fail"


# ---- the judges on reports as the kernel sends them -------------------------------------

def test_compare_float32_tolerance_and_boundary():
    g = {"mode": "directions", "dtype": "float32", "eps": 1e-3, "auto": [2.0, 4.0], "plus": [1.002, 1.004],
         "minus": [0.998, 0.996], "boundary": []}
    assert _compare(g, 1e-4, 1e-5)[0]
    assert _compare(dict(g, auto=[2.0, 6.0]), 1e-4, 1e-5)[0] is False
    assert _compare(dict(g, boundary=[1], auto=[2.0, 6.0]), 1e-4, 1e-5)[::3] == (True, 1)
    assert _compare(dict(g, boundary=[0, 1]), 1e-4, 1e-5) == "boundary"
    assert _compare({"auto": "x"}, 1e-4, 1e-5) is None


def test_no_calls_and_malformed():
    assert judge("numgrad", got={"trace": {"type": "trace", "calls": []}}).status == "fail"
    assert judge("paths", got={"trace": "garbage"}).status == "fail"



def test_the_trace_is_on_while_cells_run_and_off_between_them():
    """The window's trace function runs only from a cell's start to its end: the kernel's own
    message handling between cells runs untraced (a Python trace slows every frame), the calls
    in the cells are still all seen, and a trace the notebook installs itself is left alone."""
    setup = ["import sys, torch\n_between = []\n"
             "get_ipython().events.register('post_run_cell', lambda result: _between.append(sys.gettrace()))"]
    cases = {"own": ["def g(x):\n    return x * 2 if x.sum() > 0 else x * 3",
                     "_inside = sys.gettrace()\ng(torch.ones(2)); g(-torch.ones(2))"]}
    after = ["print(_inside is not None, [t is None for t in _between])",
             "def mine(frame, event, arg):\n    return None\nsys.settrace(mine)",
             "print(sys.gettrace() is mine)"]
    verdicts, ex = run_cases(setup, {**cases, "after": after},
                             {"own": [spec("paths", "own", min_paths=2)]})
    assert verdicts["own"]["paths"].status == "pass", verdicts["own"]["paths"]
    printed = [r.stream.strip() for r in ex.cells if r.index >= 3 and r.stream.strip()]
    # inside the window's cells: on; at each post_run_cell so far (set-up, window, after it): off
    assert printed[0].startswith("True [") and "False" not in printed[0], printed
    assert printed[1] == "True", printed  # the notebook's own trace outlives its cell
