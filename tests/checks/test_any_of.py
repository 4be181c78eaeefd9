from __future__ import annotations

import pytest

from .helpers import invalid
from .recorded import judge, record

FREED = {"kind": "exception", "raises": "RuntimeError", "match": "backward through the graph a second time"}
RETAINED = {"kind": "gradient", "api": "backward", "where": "retain_graph", "expect": "True"}
SETUP = "import torch\nx = torch.arange(4.0, requires_grad=True)\n"


@pytest.fixture(scope="module")
def ex():
    return record([
        SETUP + "y = 2 * torch.dot(x, x)\ny.backward()\ntry:\n    y.backward()\nexcept RuntimeError as e:\n    print(e)",
        SETUP + "y = 2 * torch.dot(x, x)\ny.backward(retain_graph=True)\ny.backward()",
        SETUP + "y = 2 * torch.dot(x, x)\ny.backward()\ny = 2 * torch.dot(x, x)\ny.backward()",
        "print('RuntimeError: Trying to backward through the graph a second time')",
    ])


@pytest.mark.parametrize("cell", [0, 1])
def test_either_way_of_running_backward_again(ex, cell):
    assert judge(ex, "any_of", cell, of=[dict(FREED), dict(RETAINED)]).status == "pass"


@pytest.mark.parametrize("cell", [2, 3])
def test_a_recomputed_graph_or_a_printed_literal_is_neither(ex, cell):
    v = judge(ex, "any_of", cell, of=[dict(FREED), dict(RETAINED)])
    assert v.status == "fail" and v.message.startswith("none of the ways holds")


def test_alternatives_validated():
    assert invalid("any_of", of=[])
    assert "not a kind judged on recorded events" in invalid("any_of", of=[{"kind": "static", "forbid": ["cos"]}])[0][1]
    assert "unknown key" in invalid("any_of", of=[{"kind": "exception", "raises": "E", "bogus": 1}])[0][1]
    assert "missing required key" in invalid("any_of", of=[{"kind": "exception"}])[0][1]


def test_a_report_pending_review_counts_when_no_way_holds_and_a_way_that_holds_wins(ex):
    explained = dict(FREED, reported=["(graph|buffers) (is|was|has been) freed"])
    md = ["The second call fails: the graph was freed by the first backward."]
    v = judge(ex, "any_of", 2, markdown=md, of=[explained, dict(RETAINED)])
    assert v.status == "manual" and v.fraction == 1.0, v.message
    assert judge(ex, "any_of", 1, markdown=md, of=[explained, dict(RETAINED)]).status == "pass"
