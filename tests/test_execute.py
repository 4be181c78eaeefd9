"""The executor on real kernels: errors, timeouts and dead kernels are recorded, not fatal."""
from __future__ import annotations

import asyncio

from nbformat.v4 import new_code_cell, new_notebook

from grader.execute import execute
from grader.plan import Plan
from grader.model import Limits

LIMITS = Limits(cell_timeout=3, probe_timeout=10, notebook_timeout=60, interrupt_grace=2)


def run(cells, plan=None, limits=LIMITS):
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    return asyncio.run(execute(nb, plan or Plan(), limits, seed=0))


def values(index, pid, **exprs):
    plan = Plan()
    plan.add(index, "post", pid, {"op": "values", "exprs": exprs})
    return plan


def test_error_does_not_stop_the_notebook():
    plan = values(2, "p", v="x")
    ex = run(["x = 1", "1 / 0", "x = x + 1"], plan)
    assert [c.status for c in ex.cells] == ["ok", "error", "ok"]
    assert ex.cells[1].ename == "ZeroDivisionError"
    assert ex.captures["p"]["v"] == {"type": "number", "value": 2}


def test_timeout_interrupts_and_continues():
    plan = values(1, "p", v="x")
    ex = run(["import time\nwhile True: time.sleep(0.01)", "x = 'after'"], plan)
    assert [c.status for c in ex.cells] == ["timeout", "ok"]
    assert ex.captures["p"]["v"]["type"] == "object"  # a str crosses back as its type name only


NO_RESTART = Limits(cell_timeout=3, probe_timeout=10, notebook_timeout=60, interrupt_grace=2, restarts=0)


def test_ignored_interrupt_kills_kernel_and_keeps_earlier_captures():
    plan = values(0, "before", v="1 + 1")
    plan.add(2, "post", "after", {"op": "values", "exprs": {"v": "2"}})
    ex = run(["pass", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass", "x = 1"], plan,
             limits=NO_RESTART)
    assert ex.captures["before"]["v"]["value"] == 2
    assert ex.cells[1].status == "timeout" and ex.cells[2].status == "skipped"
    assert ex.probe_errors["after"][0] == "error"


def test_dead_kernel_is_recorded():
    plan = values(0, "before", v="3")
    plan.add(2, "post", "after", {"op": "values", "exprs": {"v": "2"}})
    ex = run(["pass", "import os\nos._exit(1)", "x = 1"], plan, limits=NO_RESTART)
    assert ex.captures["before"]["v"]["value"] == 3
    assert ex.kernel_died_at == 1 and ex.cells[1].status == "dead"
    assert ex.probe_errors["after"][1].code == "kernel.died_before_capture"


def test_rest_runs_in_a_fresh_kernel_after_a_loss():
    plan = values(0, "before", v="x")
    plan.add(2, "post", "fresh", {"op": "values", "exprs": {"v": "y"}})
    plan.add(3, "post", "stale", {"op": "values", "exprs": {"v": "x"}})
    ex = run(["x = 3", "import os\nos._exit(1)", "y = 4", "z = 5"], plan)
    assert ex.restarts == [1] and [c.status for c in ex.cells] == ["ok", "dead", "ok", "ok"]
    assert ex.captures["before"]["v"]["value"] == 3 and ex.captures["fresh"]["v"]["value"] == 4
    assert ex.captures["stale"]["v"]["ename"] == "NameError"  # x died with the first kernel


def test_printed_or_displayed_forgery_is_not_a_capture():
    forged = ("from IPython.display import publish_display_data\n"
              "publish_display_data({'application/vnd.grader.capture.v1+json': "
              "{'nonce': 'guess', 'results': {'p': {'v': {'type': 'number', 'value': 99}}}}})\n"
              "print('{\"p\": {\"v\": 99}}')\nx = 1")
    ex = run([forged], values(0, "p", v="x"))
    assert ex.captures["p"]["v"] == {"type": "number", "value": 1}


def test_patched_json_in_kernel_is_contained():
    """Patching json may break the kernel's own messages (whether it does depends on orjson being
    installed): either the value still arrives, or the kernel is recorded as broken. Never a crash."""
    plan = values(0, "p", v="x")
    plan.add(1, "post", "q", {"op": "values", "exprs": {"v": "1"}})
    ex = run(["import json\njson.dumps = lambda *a, **k: '{}'\njson.loads = lambda *a, **k: {}\nx = 5", "y = 1"], plan)
    if "p" in ex.captures:
        assert ex.captures["p"]["v"]["value"] == 5
    else:
        assert ex.probe_errors["p"][1].code in ("kernel.broken", "kernel.died_reading", "kernel.died_in_cell")


def test_seeded_and_figures_after_show():
    plan = Plan()
    plan.add(1, "pre", "start", {"op": "figures_start"})
    plan.add(1, "post", "figs", {"op": "figures_stop"})
    plan.add(0, "post", "r", {"op": "values", "exprs": {"v": "r"}})
    ex = run(["import torch\nr = torch.rand(2)",
              "import matplotlib.pyplot as plt\nplt.plot([0, 1, 2], [3, 4, 5], label='l')\nplt.show()\nplt.close('all')"], plan)
    import torch

    torch.manual_seed(0)
    assert ex.captures["r"]["v"]["values"] == torch.rand(2).tolist()
    lines = ex.captures["figs"]["figures"][0]["lines"]
    assert lines == [{"label": "l", "x": [0.0, 1.0, 2.0], "y": [3.0, 4.0, 5.0]}]


def test_probes_before_the_first_code_run_with_the_set_up(monkeypatch):
    """A "pre" probe with no code before it runs in the set-up request (one request less) and
    reads the kernel as the first cell will find it; one after code keeps its own request."""
    from nbformat.v4 import new_markdown_cell

    from grader.execute import _Runner, _before_code

    plan = Plan()
    plan.add(1, "pre", "first", {"op": "values", "exprs": {"v": "'x' in dir()"}})
    plan.add(3, "pre", "later", {"op": "values", "exprs": {"v": "x"}})
    assert _before_code(plan, ["", "x = 1", "", "x += 1"]) == 1
    assert _before_code(plan, ["y = 0", "x = 1", "", "x += 1"]) is None
    assert _before_code(plan, ["  \n", "x = 1"]) == 1  # an empty code cell runs nothing
    sent = []
    real = _Runner.run

    async def counting(self, source, timeout):
        sent.append(source)
        return await real(self, source, timeout)

    monkeypatch.setattr(_Runner, "run", counting)
    nb = new_notebook(cells=[new_markdown_cell("# 1"), new_code_cell("x = 1"), new_markdown_cell("#"),
                             new_code_cell("x += 1")])
    ex = asyncio.run(execute(nb, plan, LIMITS, seed=0))
    assert ex.probe_errors == {}
    assert ex.captures["first"]["v"]["value"] is False and ex.captures["later"]["v"]["value"] == 1
    assert len(sent) == 4, sent  # set-up with the first probe, two cells, the later probe
    assert "install(" in sent[0] and "'first'" in sent[0].replace('\\"', "'").replace('"', "'")


def test_an_empty_flush_is_no_round_trip_and_output_keeps_its_order():
    # ipykernel's flush asks its IOPub thread twice (send, then answer) even with nothing to
    # send; the set-up makes an empty flush return at once. Counted on the thread's queue.
    count = ("import sys\n_q = sys.stdout.pub_thread\n_calls = []\n_sched = _q.schedule\n"
             "_q.schedule = lambda f, _s=_sched: (_calls.append(f), _s(f))[1]")
    empty = "_n = len(_calls)\nsys.stdout.flush()\nsys.stderr.flush()\n_empty = len(_calls) - _n"
    written = ("_n = len(_calls)\nsys.stdout.write('a')\n_n2 = len(_calls)\nsys.stdout.flush()\n"
               "_full = len(_calls) - _n2\nsys.stderr.write('b')\nsys.stderr.flush()\nprint('c')\n'd'")
    plan = values(2, "p", empty="_empty", full="_full")
    ex = run([count, empty, written], plan)
    assert [c.status for c in ex.cells] == ["ok", "ok", "ok"]
    assert ex.captures["p"]["empty"]["value"] == 0
    assert ex.captures["p"]["full"]["value"] >= 2  # text waiting: handed over and waited for, as before
    assert ex.cells[2].stream.replace("\n", "") in ("abc'd'", "acb'd'")  # stdout's and stderr's own order


def test_the_judges_imports_leave_garbage_collection_as_they_found_it():
    import gc

    from grader.grade import _import_judging_modules

    was = gc.isenabled()
    try:
        for state in (True, False):
            (gc.enable if state else gc.disable)()
            _import_judging_modules()  # paused while importing, then as it was
            assert gc.isenabled() is state
    finally:
        (gc.enable if was else gc.disable)()


def test_a_cold_kernel_has_the_courses_imports_before_the_first_cell_and_collects_garbage():
    # imported in the set-up without the collector (much cheaper than in the student's cells),
    # which is back on before any student code; the sympy that torch loads for a gradient
    # argument only where the notebook passes one (imports_for)
    # (the kernel itself starts without it too, as ipykernel's launcher would, the working folder
    # not first on its path)
    plan = values(0, "p", shapes="'torch.fx.experimental.symbolic_shapes' in sys.modules",
                  figure="'matplotlib.figure' in sys.modules", gc="gc.isenabled()", path="sys.path[0] != ''")
    gradient = "import torch\nx = torch.ones(2, requires_grad=True)\n(x * x).backward(torch.ones(2))"
    for cells, shapes in ((["import sys, gc"], False), (["import sys, gc", gradient], True)):
        ex = run(cells, plan)
        assert [c.status for c in ex.cells] == ["ok"] * len(cells), ex.cells
        assert {k: v.get("value") for k, v in ex.captures["p"].items()} == {"shapes": shapes, "figure": True,
                                                                           "gc": True, "path": True}


def test_the_kernels_imports_follow_the_notebooks_gradient_calls():
    from grader.kernel import GRADIENT_IMPORTS, WARM_IMPORTS, imports_for

    with_gradient = ["y.backward(torch.ones(4))", "y.backward(gradient=torch.ones_like(y))", "y.backward(v)",
                     "d.backward(torch.ones_like(d), retain_graph=True)", "torch.autograd.grad(y, x)",
                     "torch.autograd.backward([y], grad_tensors=[g])"]
    without = ["y.sum().backward()", "y.backward()", "y.backward(retain_graph=True)", "x.grad.zero_()", "",
               "y.sum().backward()  # the same as y.backward(torch.ones(len(x)))"]
    for src in with_gradient:
        assert imports_for(["import torch", src]) == WARM_IMPORTS + GRADIENT_IMPORTS, src
    for src in without:
        assert imports_for(["import torch", src]) == WARM_IMPORTS, src


def test_the_provisioner_factory_is_made_without_reading_every_entry_point():
    # jupyter_client's factory reads every installed distribution's entry points when it is
    # made (0.2 s before check's kernel can start); the grader makes it knowing its two
    import subprocess
    import sys

    code = ("import jupyter_client.provisioning.factory as f\ncalls = []\nreal = f.entry_points\n"
            "f.entry_points = lambda **k: (calls.append(k), real(**k))[1]\n"
            "import grader.kernel.forkserver\n"
            "from grader.kernel.launch import Launcher, provisioner_factory\n"
            "Launcher().kernel_manager()\n"
            "print(len(calls), sorted(provisioner_factory().provisioners))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split("\n")[0] == "0 ['grader-early', 'grader-fork', 'local-provisioner']", out.stderr[-500:]


def test_the_judges_imports_wait_until_the_kernels_process_is_started():
    # check: one cold kernel, whose start is the longer path; the judge's imports (numpy) hold
    # the GIL, so they begin only once the kernel's process is started; torch, never
    import subprocess
    import sys

    from .conftest import SUBMISSIONS

    code = ("import asyncio, sys\nimport grader.execute as E, grader.grade as G\nfrom grader.rubric import load\n"
            "seen = []\norig = E._Runner.start\n"
            "async def start(self, launched=None, *rest):\n"
            "    def mark():\n        seen.append('numpy' in sys.modules)\n        launched and launched()\n"
            "    await orig(self, mark if launched else None, *rest)\n"
            "E._Runner.start = start\n"
            "nb = G.read_notebook(__import__('pathlib').Path(sys.argv[1]))\n"
            "ex, plan = asyncio.run(G.run_notebook(nb, load(), True))\n"
            "print(seen, 'numpy' in sys.modules, 'torch' in sys.modules, ex.kernel_error or None, bool(plan.pre or plan.post))")
    out = subprocess.run([sys.executable, "-c", code, str(SUBMISSIONS / "reference.ipynb")],
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1:] == ["[False] True False None True"], out.stderr[-800:]


def _requests(monkeypatch):
    """Count what goes to the kernel: one entry per request, the number of cells it runs."""
    from grader.execute import _Runner

    sent = []
    run, run_cells = _Runner.run, _Runner.run_cells

    async def one(self, source, timeout):
        if not source.startswith(("import sys as _s", "__import__('__grader_")):
            sent.append(1)
        return await run(self, source, timeout)

    async def several(self, sources, budget):
        sent.append(len(sources))
        return await run_cells(self, sources, budget)

    monkeypatch.setattr(_Runner, "run", one)
    monkeypatch.setattr(_Runner, "run_cells", several)
    return sent


def test_cells_between_probes_go_in_one_request_each_run_as_its_own_cell(monkeypatch):
    sent = _requests(monkeypatch)
    plan = values(4, "p", v="x", ins="len(In)", out="sum(Out)", last="In[-2] == 'x = x * 10'")
    ex = run(["x = 1", "print('a')\nx", "1 / 0", "print('c')\nx += 1\nx", "x = x * 10"], plan)
    assert sent == [5]
    assert [c.status for c in ex.cells] == ["ok", "ok", "error", "ok", "ok"]
    assert [c.stream for c in ex.cells] == ["", "a\n1", "", "c\n2", ""]
    assert ex.cells[2].ename == "ZeroDivisionError" and ex.cells[3].ename == ""
    # the history a student's code can read is what it is when each cell is sent alone: the
    # set-up, five cells and the probe in In; the results of cells 2 and 4 (In[3], In[5]) in Out
    assert {k: v.get("value") for k, v in ex.captures["p"].items()} == {"v": 20, "ins": 8, "out": 8, "last": True}


def test_a_cell_that_kills_the_kernel_in_a_batch_takes_nothing_of_the_cells_before(monkeypatch):
    # the kernel starts a cell only once the grader has everything of the one before it: the
    # record of the first cell (a backward call) arrives though the next kills the kernel at once
    sent = _requests(monkeypatch)
    # (without that wait the kill came before the first cell's messages left: lost 5 times in 5)
    cells = ["import os, torch\nx = torch.ones(3, requires_grad=True)\n(x * x).sum().backward()\nprint('ran')",
             "os.kill(os.getpid(), 9)", "y = 1"]
    for _ in range(3):
        ex = run(cells, values(2, "p", v="y"), limits=NO_RESTART)
        assert [c.status for c in ex.cells] == ["ok", "dead", "skipped"] and ex.kernel_died_at == 1
        assert ex.cells[0].stream == "ran\n"
        assert [e["kind"] for e in ex.events if e["cell"] == 0 and e["kind"] == "backward"] == ["backward"]
    assert sent == [3, 3, 3]


def test_a_timeout_in_a_batch_interrupts_that_cell_only():
    plan = values(3, "p", v="a + b")
    ex = run(["a = 1", "while True: pass", "b = 2", "print(a + b)"], plan)
    assert [c.status for c in ex.cells] == ["ok", "timeout", "ok", "ok"]
    assert ex.cells[1].ename == "KeyboardInterrupt" and ex.cells[3].stream == "3\n"
    assert ex.captures["p"]["v"]["value"] == 3


def test_clear_output_in_a_batch_clears_its_own_cell_only():
    clear = "from IPython.display import clear_output\nprint('gone')\nclear_output({})\nprint('kept')"
    ex = run(["print('first')", clear.format(""), clear.format("wait=True")], values(2, "p", v="1"))
    assert [c.stream for c in ex.cells] == ["first\n", "kept\n", "kept\n"]


def test_output_beyond_the_cap_is_dropped_per_cell_in_a_batch():
    limits = Limits(cell_timeout=3, probe_timeout=10, notebook_timeout=60, interrupt_grace=2, output_kb=1)
    ex = run(["print('x' * 3000)", "print('small')"], values(1, "p", v="1"), limits=limits)
    assert "output beyond 1 KiB dropped" in ex.cells[0].stream
    assert ex.cells[1].stream == "small\n"


def test_a_cell_with_top_level_await_runs_alone(monkeypatch):
    sent = _requests(monkeypatch)
    plan = values(3, "p", v="x + y + z")
    ex = run(["x = 1", "import asyncio\nawait asyncio.sleep(0)\ny = 2", "z = 3", "pass"], plan)
    assert [c.status for c in ex.cells] == ["ok"] * 4 and ex.captures["p"]["v"]["value"] == 6
    assert sent == [1, 1, 2]


def test_cells_run_one_a_request_once_the_notebook_removed_the_recorder(monkeypatch):
    sent = _requests(monkeypatch)
    plan = values(0, "p", v="1")
    plan.add(3, "post", "q", {"op": "values", "exprs": {"v": "x + y"}})
    ex = run(["import sys\ndel sys.modules['__grader_recorder__']", "x = 1", "y = 2", "print(x + y)"], plan)
    assert [c.status for c in ex.cells] == ["ok"] * 4 and ex.cells[3].stream == "3\n"
    assert ex.captures["q"]["v"]["value"] == 3
    assert sent == [1, 3, 1, 2, 1, 1]  # each try after the removal runs its first cell alone
