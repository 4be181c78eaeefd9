"""Stage 2: run one notebook in its own kernel through nbclient, with the grader's probes
placed around the anchored cells, and bring back plain data (``Execution``).

The kernel is started by a ``Launcher`` (see kernel/launch.py). Student cells run one at a time: an
error does not stop the notebook; a cell past its timeout is interrupted (and the kernel killed
if it ignores the interrupt); a dead kernel ends the run with everything captured so far kept.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
from queue import Empty
from pathlib import Path
from typing import Any, Awaitable, Callable

import nbformat
from nbformat import NotebookNode, from_dict
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from . import events as _events
from .kernel import KERNEL_MODULES, imports_for, scratch
from .kernel.extensions import PROBE_MODULE
from .kernel.launch import Launcher, start_failure
from .locate import cells_of
from .messages import Reason
from .model import CellRun, Execution, Limits
from .plan import Plan
from .timing import phase

MIME = "application/vnd.grader.capture.v1+json"
MAX_STREAM = 64_000  # characters of a cell's printed output kept for the checks
MAX_CAPTURE = 8_000_000  # bytes of probe data accepted from one probe cell
_POST_FIRST = ("trace_stop",)  # stop watching before anything else runs
# how a kernel can be lost while running a cell -> (check status, reason)
LOST = {
    "dead": ("error", Reason("kernel.died_in_cell")),
    "killed": ("timeout", Reason("kernel.killed")),
    "broken": ("error", Reason("kernel.broken")),
}


def _setup_code(nonce: str, seed: int, output_cap: int, preloaded: bool, kernel: dict[str, str] | None = None,
                imports: tuple[str, ...] = ()) -> str:
    """The set-up cell: defines the kernel-side modules unless the kernel's zygote already did
    (``preloaded``), runs the kinds' own kernel code (``kernel``: file name -> source, from the
    plan, less what the zygote defined) in the probe's namespace, then gives them this kernel's
    nonce, seed and output cap, and the modules to import before the notebook's code (``imports``)."""
    modules = "".join(
        f"_m = _t.ModuleType({name!r})\n"
        f"exec(compile({source!r}, {filename!r}, 'exec'), _m.__dict__)\n"
        f"_s.modules[{name!r}] = _m\n"
        for name, (filename, source) in ({} if preloaded else KERNEL_MODULES).items())
    return (
        "import sys as _s, types as _t\n"
        + modules + _in_probe(kernel or {}) +
        f"_s.modules['__grader_probe__'].setup({nonce!r}, {seed!r}, {output_cap!r}, {imports!r})\n"
        f"_s.modules['__grader_recorder__'].install({nonce!r})\n"
        "del _s, _t\n" + ("del _m\n" if modules else "")  # (_m exists only where modules were made)
    )


def _in_probe(kernel: dict[str, str]) -> str:
    """Lines that run the kinds' kernel code (file name -> source) in the probe's namespace
    (``_s`` is ``sys``)."""
    return "".join(f"exec(compile({source!r}, {filename!r}, 'exec'), _s.modules[{PROBE_MODULE!r}].__dict__)\n"
                   for filename, source in sorted(kernel.items()))


def _kernel_files_code(kernel: dict[str, str]) -> str:
    """The kinds' kernel code a plan needs that the set-up cell did not define (the plan was not
    made yet when it ran)."""
    return "import sys as _s\n" + _in_probe(kernel) + "del _s\n"


def _probe_code(batch: dict[str, dict]) -> str:
    ordered = dict(sorted(batch.items(), key=lambda kv: kv[1].get("op") not in _POST_FIRST))
    return f"__import__('__grader_probe__').run({json.dumps(ordered)!r})"


async def _wait_for_ready(km, kc, timeout: float) -> None:
    """The kernel answers kernel_info on shell and its status reaches us on IOPub.

    Like jupyter_client's wait_for_ready, without its final 0.2 s of listening for stray IOPub
    messages (nbclient ignores messages that are not replies to its own requests anyway)."""
    deadline = time.monotonic() + timeout
    wait = 0.05
    while time.monotonic() < deadline:
        msg_id = kc.kernel_info()
        reply, end = None, time.monotonic() + 1
        while time.monotonic() < end:  # skip replies to earlier requests (a busy machine answers late)
            try:
                msg = await kc.shell_channel.get_msg(timeout=max(0.01, end - time.monotonic()))
            except Empty:
                break
            if msg["parent_header"].get("msg_id") == msg_id:
                reply = msg
                break
        if reply is not None:
            end = time.monotonic() + wait  # not yet subscribed? ask again (ZeroMQ's slow joiner)
            wait = min(1.0, wait * 2)  # a loaded machine publishes late: wait longer each time
            while time.monotonic() < end:  # proof that IOPub is subscribed: this request's status
                try:
                    msg = await kc.iopub_channel.get_msg(timeout=max(0.01, end - time.monotonic()))
                except Empty:
                    break
                if msg["parent_header"].get("msg_id") == msg_id:
                    return
        if not await km.is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


def _output_node(msg: dict) -> NotebookNode | None:
    """An output message as a notebook output, like nbformat's ``output_from_msg`` but checked
    by hand instead of by its JSON schema (which cost more than the rest of the message's way
    through nbclient). A malformed message raises, and the cell is "broken", as before."""
    kind, content = msg["header"]["msg_type"], msg["content"]
    if kind == "stream":
        if content["name"] not in ("stdout", "stderr") or not isinstance(content["text"], str):
            raise ValueError("malformed stream message")
        return NotebookNode(output_type="stream", name=content["name"], text=content["text"])
    if kind == "error":
        tb = content["traceback"]
        if not (isinstance(content["ename"], str) and isinstance(content["evalue"], str)
                and isinstance(tb, list) and all(isinstance(line, str) for line in tb)):
            raise ValueError("malformed error message")
        return NotebookNode(output_type="error", ename=content["ename"], evalue=content["evalue"], traceback=tb)
    if kind in ("display_data", "execute_result"):
        data, meta = content["data"], content.get("metadata", {})
        if not (isinstance(data, dict) and isinstance(meta, dict) and all(
                isinstance(k, str) and (k.endswith("json") or isinstance(v, str)
                                        or isinstance(v, list) and all(isinstance(x, str) for x in v))
                for k, v in data.items())):
            raise ValueError(f"malformed {kind} message")
        out = NotebookNode(output_type=kind, data=from_dict(data), metadata=from_dict(meta))
        if kind == "execute_result":
            count = content.get("execution_count")
            if count is not None and not isinstance(count, int):
                raise ValueError("malformed execute_result message")
            out.execution_count = count
        return out
    return None  # not an output (nbclient logs and drops these too)


class _CappedClient(NotebookClient):
    """nbclient, keeping at most ``output_cap`` bytes of output per cell (the grader's own
    probe data aside): a notebook that prints without end cannot fill the grader's memory."""

    output_cap = 1 << 20

    async def _async_poll_kernel_alive(self) -> None:
        """nbclient's own check runs once a second; a dead kernel is noticed within 50 ms here."""
        while True:
            await asyncio.sleep(0.05)
            try:
                await self._async_check_alive()
            except DeadKernelError:
                assert self.task_poll_for_reply is not None
                self.task_poll_for_reply.cancel()
                return

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        if MIME not in content.get("data", {}):
            used = self._used.get(cell_index, 0)
            size = len(str(content.get("text", ""))) + len(str(content.get("data", "")))
            self._used[cell_index] = used + size
            if used + size > self.output_cap:
                if used <= self.output_cap:
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stderr", text=f"\n[grader: output beyond {self.output_cap // 1024} KiB dropped]\n"))
                return None
        if self.output_hook_stack[msg["parent_header"].get("msg_id")] or display_id or self.clear_before_next_output:
            return super().output(outs, msg, display_id, cell_index)  # the rare cases: nbclient's own way
        out = _output_node(msg)
        if out is not None:
            outs.append(out)
        return out

    @property
    def _used(self) -> dict[int, int]:
        if not hasattr(self, "_used_bytes"):
            self._used_bytes = {}
        return self._used_bytes


class _Runner:
    def __init__(self, launcher: Launcher, limits: Limits, cwd: str):
        self.launcher, self.limits, self.cwd = launcher, limits, cwd
        self.nb = nbformat.v4.new_notebook()
        self.client: NotebookClient | None = None

    async def start(self, launched: Callable[[], None] | None = None, imports: tuple[str, ...] = ()) -> None:
        """Start a kernel and wait until it answers; ``launched()`` once its process is started
        (or its start failed). ``imports``: what the notebook will have it import (imports_for),
        which a kernel started early imports before it answers."""
        try:
            km = self.launcher.kernel_manager()
            km.imports = imports
            km.context = self.launcher.zmq_context()  # shared: nothing to tear down per kernel
            self.client = _CappedClient(
                self.nb, km=km, timeout=int(self.limits.cell_timeout), allow_errors=True,
                interrupt_on_timeout=True, record_timing=False, iopub_timeout=15,
                raise_on_iopub_timeout=False, shutdown_kernel="immediate",
                timeout_func=lambda cell: cell.metadata.get("grader_timeout"),
                startup_timeout=60)
            self.client.km = km
            self.client.output_cap = int(self.limits.output_kb * 1024)
            await km.start_kernel(**self.launcher.start_kwargs(self.cwd))
        finally:
            if launched is not None:
                launched()
        kc = km.client(context=km.context)
        kc.allow_stdin = False
        self.client.kc = kc
        kc.start_channels(stdin=False, hb=False)  # no input(); liveness is asked of the process, not a heartbeat thread
        await _wait_for_ready(km, kc, 60)

    async def run(self, source: str, timeout: float) -> tuple[str, Any]:
        """Run one cell. Returns (status, cell) with status ok | error | timeout | dead."""
        assert self.client is not None
        cell = NotebookNode(cell_type="code", execution_count=None, metadata=NotebookNode(), outputs=[],
                            source=source, id=f"c{len(self.nb.cells)}")  # not validated: we made it
        cell.metadata["grader_timeout"] = max(1, int(round(timeout)))
        self.nb.cells.append(cell)
        index = len(self.nb.cells) - 1
        grace = self.limits.interrupt_grace
        t0 = time.monotonic()
        task = asyncio.ensure_future(self.client.async_execute_cell(cell, index))
        done, _ = await asyncio.wait({task}, timeout=timeout + grace)
        if not done:  # the interrupt was ignored: the kernel is killed, its state is lost
            await self.kill()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return "killed", cell
        try:
            task.result()
        except DeadKernelError:
            return "dead", cell
        except Exception:  # the kernel broke the protocol (e.g. patched json): it cannot be trusted on
            await self.kill()
            return "broken", cell
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if errors and errors[-1].get("ename") == "KeyboardInterrupt" and time.monotonic() - t0 >= timeout * 0.95:
            return "timeout", cell
        return ("error" if errors else "ok"), cell

    async def kill(self) -> None:
        if self.client is None:
            return
        km = self.client.km
        try:  # kill and reap at once (the provisioner's own wait polls every 100 ms)
            process = getattr(getattr(km, "provisioner", None), "process", None)
            if process is not None:
                process.kill()
                await asyncio.get_running_loop().run_in_executor(None, process.wait)
        except Exception:
            pass
        try:
            if km is not None and km.has_kernel:
                await km.shutdown_kernel(now=True)
        except Exception:
            pass
        try:
            if self.client.kc is not None:
                self.client.kc.stop_channels()
        except Exception:
            pass
        try:
            if km is not None:
                await km.cleanup_resources()
        except Exception:
            pass
        if km is not None:
            self.launcher.release(km)


def _stream_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif o.get("output_type") in ("execute_result", "display_data"):
            parts.append(str(o.get("data", {}).get("text/plain", "")))
    return "".join(parts)[:MAX_STREAM]


def _error_of(cell) -> tuple[str, str]:
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            return str(o.get("ename", "")), str(o.get("evalue", ""))[:2000]
    return "", ""


def _take_recorded(cell, nonce: str) -> list[dict]:
    """The recorder's payloads in a cell's outputs (removed from them): what the cell did."""
    found, kept = [], []
    for o in cell.get("outputs", []):
        data = o.get("data", {}).get(MIME) if o.get("output_type") == "display_data" else None
        if data is None:
            kept.append(o)
            continue
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                continue
        if isinstance(data, dict) and data.get("nonce") == nonce and isinstance(data.get("recorder"), dict):
            if len(json.dumps(data)) <= MAX_CAPTURE:
                found.append(data["recorder"])
            continue
        kept.append(o)
    cell["outputs"] = kept
    return found


def _record(ex: Execution, cell, index: int, nonce: str, missing: dict[int, int]) -> None:
    """The cell's recorded events into ``ex.events``; a cell whose payload did not arrive is
    remembered (execution count -> cell index) so that it can be asked for again."""
    payloads = _take_recorded(cell, nonce)
    for payload in payloads:
        ex.events.extend(_events.decode(payload, index))
    count = cell.get("execution_count")
    if not payloads and isinstance(count, int):
        missing[count] = index


async def _recover(runner: "_Runner", ex: Execution, nonce: str, missing: dict[int, int], limits: Limits) -> None:
    """Ask the kernel again for the payloads that did not arrive; events stay in cell order."""
    if not missing:
        return
    status, cell = await runner.run(f"__import__('__grader_recorder__').resend({sorted(missing)!r})",
                                    limits.probe_timeout)
    for payload in _take_recorded(cell, nonce):
        count = payload.get("count")
        if isinstance(count, int) and count in missing:
            ex.events.extend(_events.decode(payload, missing.pop(count)))
    ex.events.sort(key=lambda e: e["cell"])  # stable: a cell's own events keep their order


def _read_probe(cell, nonce: str) -> dict[str, Any] | None:
    for o in cell.get("outputs", []):
        if o.get("output_type") != "display_data":
            continue
        data = o.get("data", {}).get(MIME)
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                continue
        if not isinstance(data, dict) or data.get("nonce") != nonce or "results" not in data:
            continue
        if len(json.dumps(data)) > MAX_CAPTURE:
            return None
        results = data.get("results")
        return results if isinstance(results, dict) else None
    return None


async def execute(nb, plan: "Plan | Awaitable[Plan]", limits: Limits, seed: int, launcher: Launcher | None = None,
                  workdir: str | None = None, launched: Callable[[], None] | None = None) -> Execution:
    """Run the notebook's code cells in order, with the plan's probes around them. ``plan`` may
    still be in the making (an awaitable): the first kernel starts meanwhile, and is set up
    once the plan is there. ``launched()`` is called as soon as the first kernel's process is
    started (or its start failed: nothing is left waiting)."""
    launcher = launcher or Launcher()
    ex = Execution()
    started = time.monotonic()
    nonce = secrets.token_hex(16)
    own_dir = workdir is None
    cwd = workdir or scratch.make("run")
    runner = _Runner(launcher, limits, cwd)
    cells = nb.get("cells", [])
    for c in cells_of(nb):
        ex.sources.append(c.source if c.kind == "code" else "")
        ex.markdown.append(c.source if c.kind == "markdown" else "")
    lost: str | None = None  # why the rest cannot run: "dead" | "timeout"
    ahead: int | None = None  # the cell whose "pre" probes ran with the first set-up
    missing: dict[int, int] = {}  # execution count -> cell index: recorded events not received yet

    def mark_lost(pids, status: str, reason: Reason) -> None:
        for pid in pids:
            ex.probe_errors[pid] = (status, reason)

    async def fresh_kernel(first: bool = False) -> bool:
        """A new kernel, set up: its kernel-side modules defined (in a cold kernel that imports
        what they import) while the plan may still be in the making, then the plan's own files.
        ``first``: the notebook's first kernel, whose set-up request also carries the probes
        planned before the first code cell when the plan is made by then (one request less)."""
        nonlocal runner, plan, ahead
        missing.clear()  # what the lost kernel held is gone with it
        await runner.kill()
        runner = _Runner(launcher, limits, cwd)
        early: dict[str, str] = {}  # the plan's kernel files, when the plan is already made
        merged = None  # the cell whose "pre" probes this set-up request carries
        imports = imports_for(ex.sources)
        try:
            with phase("kernel"):
                await runner.start(launched if first else None, imports)
            with phase("setup"):
                if not isinstance(plan, Plan) and isinstance(plan, asyncio.Future) and plan.done() \
                        and plan.exception() is None:
                    plan = plan.result()
                if isinstance(plan, Plan):
                    early = {f: s for f, s in plan.kernel.items() if f not in launcher.preloaded_sources}
                    merged = _before_code(plan, ex.sources) if first else None
                code = _setup_code(nonce, seed, int(limits.output_kb * 1024), launcher.preloads_kernel_modules, early,
                                   imports)
                if merged is not None:  # the set-up has defined what the probes need: they run after it
                    code += _probe_code(plan.pre[merged]) + "\n"
                status, cell = await runner.run(code, limits.probe_timeout * (3 if merged is not None else 2))
        except Exception as e:
            ex.kernel_error = start_failure(launcher, runner.client.km if runner.client else None, e)
            return False
        finally:
            if not isinstance(plan, Plan):
                plan = await plan  # (its own error, if any, is the grader's: raised)
        if merged is not None and status == "ok":  # read from the set-up's own cell, before any other
            _store_probe(plan.pre[merged], cell, status, nonce, ex)
            ahead = merged
        rest = {f: s for f, s in plan.kernel.items() if f not in launcher.preloaded_sources and f not in early}
        if status == "ok" and rest:
            try:
                with phase("setup"):
                    status, cell = await runner.run(_kernel_files_code(rest), limits.probe_timeout * 2)
            except Exception as e:
                ex.kernel_error = start_failure(launcher, runner.client.km if runner.client else None, e)
                return False
        if status != "ok":
            ename, evalue = _error_of(cell)
            ex.kernel_error = f"set-up failed: {ename} {evalue}".strip()
            return False
        return True

    async def after_loss(i: int) -> str | None:
        """The kernel was lost at cell i: go on in a fresh one if the limits allow."""
        if len(ex.restarts) < limits.restarts and time.monotonic() - started < limits.notebook_timeout:
            ex.restarts.append(i)
            if await fresh_kernel():
                return None
        return "dead"

    try:
        if not await fresh_kernel(first=True) and not await fresh_kernel(first=True):  # one retry: a start can fail once
            lost = "dead"
            mark_lost(plan.probe_ids(), "error", Reason("kernel.start_failed", error=ex.kernel_error))
            ex.kernel_died_at = -1

        for i, c in enumerate(cells):
            if lost is None and time.monotonic() - started > limits.notebook_timeout:
                lost = "timeout"
            if lost is not None:
                if c.get("cell_type") == "code":
                    ex.cells.append(CellRun(i, ex.sources[i], "skipped" if lost == "dead" else "timeout"))
                why = ("error", Reason("kernel.died_before_capture")) if lost == "dead" else \
                      ("timeout", Reason("kernel.notebook_timeout"))
                mark_lost([p for p in (*plan.pre.get(i, {}), *plan.post.get(i, {})) if p not in ex.probe_errors], *why)
                continue
            if i in plan.pre and i != ahead:
                if await _probe(runner, plan.pre[i], limits, nonce, ex):
                    mark_lost(plan.post.get(i, {}), "error", Reason("kernel.died_before_capture"))
                    if c.get("cell_type") == "code":
                        ex.cells.append(CellRun(i, ex.sources[i], "skipped"))
                    lost = await after_loss(i)
                    continue
            if c.get("cell_type") == "code" and ex.sources[i].strip():
                with phase("cells"):
                    status, cell = await runner.run(ex.sources[i], limits.cell_timeout)
                _record(ex, cell, i, nonce, missing)
                ename, evalue = _error_of(cell)
                if status in LOST:
                    ex.kernel_died_at = i
                    st = "timeout" if status == "killed" else "dead"
                    ex.cells.append(CellRun(i, ex.sources[i], st, ename, evalue, _stream_text(cell)))
                    mark_lost(plan.post.get(i, {}), *LOST[status])
                    lost = await after_loss(i)
                    continue
                ex.cells.append(CellRun(i, ex.sources[i], status, ename, evalue, _stream_text(cell)))
            if i in plan.post:
                batch = plan.post[i]
                if ex.cells and ex.cells[-1].index == i and ex.cells[-1].status == "timeout":
                    # its checks are timeouts anyway: only stop watching, call no student code
                    batch = {p: dict(r, abort=True) if r.get("op") == "trace_stop" else r for p, r in batch.items()}
                if await _probe(runner, batch, limits, nonce, ex):
                    lost = await after_loss(i)
        if lost is None:
            try:
                await _recover(runner, ex, nonce, missing, limits)
            except Exception:
                pass
    finally:
        with phase("teardown"):
            await runner.kill()
        if own_dir:
            shutil.rmtree(cwd, ignore_errors=True)
    for pid, target in plan.aliases.items():
        if target in ex.captures:
            ex.captures[pid] = ex.captures[target]
        if target in ex.probe_errors:
            ex.probe_errors[pid] = ex.probe_errors[target]
    ex.seconds = time.monotonic() - started
    return ex


async def _probe(runner: _Runner, batch: dict[str, dict], limits: Limits, nonce: str, ex: Execution) -> str | None:
    """Run one probe cell; store its results. Returns "dead" if the kernel was lost."""
    with phase("probes"):
        status, cell = await runner.run(_probe_code(batch), limits.probe_timeout)
    if status in LOST:
        for pid in batch:
            ex.probe_errors[pid] = ("error", Reason("kernel.died_reading") if status != "broken" else LOST["broken"][1])
        return "dead"
    _store_probe(batch, cell, status, nonce, ex)
    return None


def _before_code(plan: Plan, sources: list[str]) -> int | None:
    """The cell whose "pre" probes can run with the set-up: the first one planned, when no code
    runs before it (``sources``: each cell's code, "" for other cells), so that nothing would run
    between the set-up and those probes."""
    if not plan.pre:
        return None
    first = min(plan.pre)
    return None if any(src.strip() for src in sources[:first]) else first


def _store_probe(batch: dict[str, dict], cell, status: str, nonce: str, ex: Execution) -> None:
    """A probe batch's results (or why there are none) from the cell that ran it."""
    results = _read_probe(cell, nonce)
    if results is None:
        ename, evalue = _error_of(cell)
        st = "timeout" if status == "timeout" else "error"
        why = Reason("kernel.probe_timeout") if st == "timeout" else \
            Reason("kernel.unreadable", ename=ename) if ename else Reason("kernel.no_data")
        for pid in batch:
            ex.probe_errors[pid] = (st, why)
        return
    for pid in batch:
        if pid in results:
            ex.captures[pid] = results[pid]
        else:
            ex.probe_errors[pid] = ("error", Reason("kernel.no_value"))
