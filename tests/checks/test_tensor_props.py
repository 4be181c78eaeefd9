import torch

from .helpers import enc, invalid, judge


def test_properties_pass_and_fail():
    x = torch.arange(4.0, requires_grad=True)
    y = 2 * torch.dot(x, x)
    ok = judge("tensor_props", got={"value": {"v": enc(y)}}, expr="y",
               expect={"requires_grad": True, "is_leaf": False, "grad_fn": "MulBackward0"})
    assert ok.status == "pass"
    bad = judge("tensor_props", got={"value": {"v": enc(torch.arange(4.0))}}, expr="x",
                expect={"requires_grad": True, "grad": "present"})
    assert bad.status == "fail"
    assert "x.requires_grad = False, expected True" in bad.message and "x.grad should be set but it is None" in bad.message


def test_detached_has_no_grad_fn():
    x = torch.arange(3.0, requires_grad=True)
    u = (x * x).detach()
    assert judge("tensor_props", got={"value": {"v": enc(u)}}, expr="u",
                 expect={"requires_grad": False, "grad_fn": "none"}).status == "pass"
    v = judge("tensor_props", got={"value": {"v": enc(x * x)}}, expr="u", expect={"grad_fn": "none"})
    assert v.status == "fail" and "MulBackward0" in v.message


def test_params_validated():
    assert invalid("tensor_props", expr="x", expect={"colour": "red"})
    assert invalid("tensor_props", expr="x", expect={"grad": "maybe"})
    assert invalid("tensor_props", expr="x", expect={})
