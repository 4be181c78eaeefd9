"""The kernel-side recorder through the executor, on real kernels: events carry their cell,
leave no trace in the outputs, survive a lost kernel for the cells that completed, and the
mode comes back if the notebook pops it."""
from __future__ import annotations

import asyncio

from nbformat.v4 import new_code_cell, new_notebook

from grader.execute import MIME, execute
from grader.plan import Plan
from grader.model import Limits

LIMITS = Limits(cell_timeout=60, probe_timeout=60, notebook_timeout=600, interrupt_grace=2, restarts=0)


def run(cells, plan=None):
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    return asyncio.run(execute(nb, plan or Plan(), LIMITS, seed=0))


def test_events_by_cell_and_lost_kernel():
    plan = Plan()
    plan.add(0, "post", "p", {"op": "values", "exprs": {"v": "1"}})  # a probe cell records nothing
    ex = run([
        "import torch\nx = torch.ones(2, requires_grad=True)\n(x * x).sum().backward()",
        "torch._C._pop_torch_function_stack()\nx.grad = torch.zeros(2)",  # the notebook pops the mode
        "(3 * x).sum().backward()\nfor _ in range(400):\n    (x * 1).sum().backward()",
        "import os\nos._exit(1)",
    ], plan)
    assert ex.kernel_died_at == 3
    kinds = [(e["cell"], e["kind"]) for e in ex.events]
    assert kinds[:2] == [(0, "backward"), (0, "produced")]
    assert (1, "set_grad") not in kinds  # popped for the rest of that cell: only costs the notebook
    back = [e for e in ex.events if e["cell"] == 2 and e["kind"] == "backward"]
    assert len(back) == 400 and back[0]["leaves"][0]["grad"]["flat"] == [3.0, 3.0]  # re-entered at the cell's start
    # capped per cell: its first 300 events and its last 100 (the loop's end), the one between counted
    assert [e["count"] for e in ex.events if e["kind"] == "dropped" and e["cell"] == 2] == [1]
    grads = [b["leaves"][0]["grad"]["flat"][0] for b in back]
    assert grads[299] == 3.0 + 299 and grads[300] == 3.0 + 301 and grads[-1] == 3.0 + 400
    assert ex.captures["p"]["v"]["value"] == 1
    assert all(e["cell"] != "probe" for e in ex.events) and {e["cell"] for e in ex.events} <= {0, 1, 2}


def test_outputs_keep_no_recorder_data_and_errors_are_events():
    ex = run(["import torch\nprint('hello')\ntry:\n    torch.ones(2, requires_grad=True).mul(2).backward()\n"
              "except RuntimeError as e:\n    print(e)", "1 / 0"])
    assert ex.cells[0].stream.startswith("hello") and MIME not in ex.cells[0].stream
    err = next(e for e in ex.events if e["kind"] == "backward")["error"]
    assert err["type"] == "RuntimeError" and "scalar outputs" in err["message"]
    cell_err = [e for e in ex.events if e["kind"] == "cell_error"]
    assert [(e["cell"], e["type"]) for e in cell_err] == [(1, "ZeroDivisionError")]


def test_payloads_not_received_are_asked_for_again():
    """A cell's events travel with its last output; if that output never reaches the grader
    (a loaded machine), they are asked for again at the end of the notebook."""
    import grader.execute as E

    original = E._take_recorded
    dropped = []

    def lossy(cell, nonce):
        found = original(cell, nonce)
        if not dropped and found and found[0]["events"]:
            dropped.append(found)
            return []
        return found

    E._take_recorded = lossy
    try:
        ex = run(["import torch\nx = torch.ones(2, requires_grad=True)\n(x * x).sum().backward()", "y = 1"])
    finally:
        E._take_recorded = original
    assert dropped, "the first payload was dropped"
    assert [(e["cell"], e["kind"]) for e in ex.events][:2] == [(0, "backward"), (0, "produced")]
