import torch

from .helpers import enc, invalid, judge


def ctx(got, exp, **kw):
    return judge("tensor_value", got={"value": {"v": enc(got)}}, expected={"value": {"v": enc(exp)}},
                 expr="x.grad", **kw)


def test_equal_within_tolerance_passes():
    assert ctx(torch.tensor([0.0, 4.0, 8.0]), torch.tensor([0.0, 4.0, 8.0 + 1e-7])).status == "pass"


def test_value_mismatch_says_which_elements_and_how_much():
    v = ctx(torch.tensor([0.0, 1.0, 2.0, 3.0]), torch.tensor([0.0, 4.0, 8.0, 12.0]))
    assert v.status == "fail"
    assert "Mismatched elements: 3 / 4" in v.message and "Greatest absolute difference: 9.0 at index (3,)" in v.message
    assert "expected [0.0, 4.0, 8.0, 12.0]" in v.message


def test_zh_tw_report():
    v = ctx(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 4.0]), lang="zh-TW")
    assert "不相符的元素：1 / 2" in v.text("zh-TW") and "最大絕對誤差：3.0" in v.text("zh-TW")


def test_shape_then_dtype_reported_separately():
    v = ctx(torch.zeros(3), torch.zeros(4))
    assert v.status == "fail" and "wrong shape: got (3,), expected (4,)" in v.message
    v = ctx(torch.zeros(4, dtype=torch.int64), torch.zeros(4))
    assert v.status == "fail" and "wrong dtype: got torch.int64, expected torch.float32" in v.message


def test_hidden_check_never_shows_reference_values():
    v = ctx(torch.tensor([1.0, 2.0]), torch.tensor([5.0, 7.0]), visibility="hidden")
    assert v.status == "fail"
    assert "5.0" not in v.message and "7.0" not in v.message and "difference" not in v.message
    v = ctx(torch.zeros(3), torch.zeros(4), visibility="hidden")
    assert "(4,)" not in v.message


def test_not_a_tensor_and_missing_name():
    v = judge("tensor_value", got={"value": {"v": enc(3.0)}}, expected={"value": {"v": enc(torch.tensor(3.0))}}, expr="y")
    assert v.status == "fail" and "should be a tensor" in v.message
    missing = {"type": "error", "ename": "NameError", "evalue": "name 'y' is not defined"}
    v = judge("tensor_value", got={"value": {"v": missing}}, expected={"value": {"v": enc(torch.tensor(3.0))}}, expr="y")
    assert v.status == "fail" and "not defined" in v.message


def test_params_validated():
    assert invalid("tensor_value", expr="x.(")
    assert invalid("tensor_value", expr="x", rtol=1e-3)


def test_the_comparison_decides_as_assert_close_does():
    """``mismatch`` is our own, on the values the kernel sent (held with numpy: the grader does not
    import torch): on many pairs of every dtype, scale and NaN/inf mix it passes exactly what
    assert_close passes on the tensors themselves."""
    from grader import capture
    from grader.checks.tensor_value import mismatch

    g = torch.Generator().manual_seed(0)
    special = torch.tensor([0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), 1e-30, 1e30])
    for trial in range(400):
        shape = [(), (3,), (2, 3), (1,)][trial % 4]
        dtype = [torch.float32, torch.float64, torch.float16, torch.int64, torch.bool][trial % 5]
        base = torch.randn(shape, generator=g, dtype=torch.float64) * 10 ** (trial % 7 - 3)
        if trial % 6 == 0:
            base = special[torch.randint(0, len(special), shape, generator=g)]
        noise = torch.randn(shape, generator=g, dtype=torch.float64) * 10.0 ** -(trial % 9)
        a = base.to(dtype) if dtype != torch.bool else base > 0
        b = (base + noise * (trial % 3 != 0)).to(dtype) if dtype != torch.bool else (base + noise) > 0
        tol = {} if trial % 4 else {"rtol": 1e-3, "atol": 1e-4}
        try:
            torch.testing.assert_close(a, b, check_dtype=False, equal_nan=False, **tol)
            theirs = True
        except AssertionError:
            theirs = False
        got, exp = capture.tensor(enc(a)), capture.tensor(enc(b))
        assert (mismatch(got, exp, tol.get("rtol"), tol.get("atol")) == []) == theirs, (a, b, tol)
