import torch

from .helpers import enc, invalid, judge


def values(**kw):
    return {"values": {k: enc(v) for k, v in kw.items()}}


def control_flow_state():
    torch.manual_seed(3)
    a = torch.randn((), requires_grad=True)
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    d = b if b.sum() > 0 else 100 * b
    d.backward()
    return a, d


def test_allclose_relation_in_the_grader():
    a, d = control_flow_state()
    v = judge("relation", got=values(a=a, d=d), capture=["a", "d"], expr="allclose(a.grad, d / a)")
    assert v.status == "pass"


def test_explains_why_eq_is_wrong_when_rounding_bites():
    a = torch.tensor([0.1, 0.2, 0.3])
    a.grad = a * 3 * (1 + 1e-7)
    d = a * 3
    v = judge("relation", got=values(a=a, d=d * a), capture=["a", "d"], expr="allclose(a.grad, d / a)", explain_eq=True)
    assert v.status == "pass" and "==" in v.message and "rounding" in v.message


def test_failure_shows_the_students_values():
    a = torch.tensor([1.0, 2.0])
    a.grad = torch.tensor([0.5, 0.5])
    v = judge("relation", got=values(a=a, d=torch.tensor([3.0, 6.0])), capture=["a", "d"],
              expr="a.ndim >= 1 and allclose(a.grad, d / a)")
    assert v.status == "fail" and "a.grad = tensor(shape=(2,), [0.5, 0.5])" in v.message and "d / a" in v.message
    v = judge("relation", got=values(a=torch.tensor(1.0), d=torch.tensor(2.0)), capture=["a", "d"],
              expr="a.ndim >= 1 and allclose(a, d)")
    assert v.status == "fail" and "a.ndim >= 1 is False" in v.message


def test_missing_grad_is_explained():
    v = judge("relation", got=values(x=torch.arange(3.0)), capture=["x"], expr="allclose(x.grad, 2 * x)")
    assert v.status == "fail" and "None" in v.message


def test_patched_student_values_cannot_change_the_verdict():
    """The kernel only sends numbers; a patched allclose/__eq__ over there is irrelevant here."""
    payload = values(x=torch.tensor([1.0, 2.0]))
    payload["values"]["x"]["grad"] = enc(torch.tensor([9.0, 9.0]))
    assert judge("relation", got=payload, capture=["x"], expr="allclose(x.grad, 2 * x)").status == "fail"


def test_params_validated():
    assert invalid("relation", capture=["a"], expr="allclose(a, b)")
    assert invalid("relation", capture=["a"], expr="a.__class__")
    assert invalid("relation", capture=["a b"], expr="a")


def test_hidden_capture_error_names_the_capture_not_its_expression():
    """A capture expression may hold the hidden inputs a function is called on: a hidden check
    that could not capture names the capture; a public one shows the expression."""
    got = {"values": {"l": {"type": "error", "ename": "NameError", "evalue": "name 'squared_loss' is not defined"}}}
    hidden_expr = "squared_loss(__import__('torch').tensor([[1.0], [2.0]]), __import__('torch').tensor([1.5, 0.0]))"
    v = judge("relation", got=got, capture={"l": hidden_expr}, expr="numel(l) == 2", visibility="hidden")
    assert v.status == "fail" and "squared_loss" in v.message and "tensor([[1.0]" not in v.message
    assert "could not find l" in v.message
    v = judge("relation", got=got, capture={"l": hidden_expr}, expr="numel(l) == 2")
    assert v.status == "fail" and hidden_expr in v.message


def test_hidden_failure_shows_no_values():
    """What a hidden relation compares with is computed from its hidden inputs: not shown."""
    got = values(l=torch.tensor([1.0, 2.0]), e=torch.tensor([0.125, 4.5]))
    v = judge("relation", got=got, capture=["l", "e"], expr="allclose(l, e)", visibility="hidden")
    assert v.status == "fail" and "allclose(l, e)" in v.message and "0.125" not in v.message
    v = judge("relation", got=got, capture=["l", "e"], expr="allclose(l, e)")
    assert v.status == "fail" and "0.125" in v.message
