from .helpers import invalid, judge, run

SECOND = "Trying to backward through the graph a second time (or directly access saved tensors after they have already been freed)."


def test_cell_raised_the_error():
    v = judge("exception", runs=[run(0), run(1, "error", "RuntimeError", SECOND)], raises="RuntimeError",
              match="second time")
    assert v.status == "pass"


def test_caught_and_printed_counts():
    v = judge("exception", runs=[run(0, stream="RuntimeError: " + SECOND)], raises="RuntimeError", match="second time")
    assert v.status == "pass"
    v = judge("exception", runs=[run(0, stream="RuntimeError: " + SECOND)], raises="RuntimeError",
              match="second time", accept_printed=False)
    assert v.status == "fail"


def test_no_error_shown_or_wrong_one():
    v = judge("exception", runs=[run(0, stream="no error!")], raises="RuntimeError", match="second time")
    assert v.status == "fail" and "neither raised nor printed" in v.message
    v = judge("exception", runs=[run(0, "error", "NameError", "name 'y' is not defined")], raises="RuntimeError")
    assert v.status == "fail" and "raised NameError" in v.message
    v = judge("exception", runs=[run(0, "error", "RuntimeError", "other")], raises="RuntimeError", match="second time")
    assert v.status == "fail" and "not the expected message" in v.message


def test_snippet_results():
    ok = {"snippet": {"type": "raised", "ename": "RuntimeError", "mro": ["RuntimeError", "Exception"], "evalue": SECOND}}
    assert judge("exception", got=ok, snippet="y.backward()", raises="Exception", match="second").status == "pass"
    none = {"snippet": {"type": "no_exception"}}
    assert judge("exception", got=none, snippet="y.backward()", raises="RuntimeError").status == "fail"


def test_params_validated():
    assert invalid("exception", raises="RuntimeError", match="(")
    assert invalid("exception", raises="RuntimeError", snippet="def (")
