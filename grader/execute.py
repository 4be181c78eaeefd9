"""Stage 2: run one notebook in its own kernel through nbclient, with the grader's probes
placed around the anchored cells, and bring back plain data (``Execution``).

The kernel is started by a ``Launcher`` (see kernel/launch.py). Student cells run in order, each
as its own cell: an error does not stop the notebook; a cell past its timeout is interrupted (and
the kernel killed if it ignores the interrupt); a dead kernel ends the run with everything
captured so far kept. The cells between two probes go to the kernel in one request (the
recorder's ``run_cells``), which saves a round trip a cell; the kernel starts each of them only
once the grader has everything of the one before it (``_Runner.run_cells``).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
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
from jupyter_core.utils import ensure_async

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
    probe data aside): a notebook that prints without end cannot fill the grader's memory.

    Student cells run several to a request (the recorder's ``run_cells``), which publishes a
    marker under the run's nonce after each, with the cell's record: ``output`` keeps the record
    as the cell's last output, notes where each cell's outputs end (``cuts``) and when its marker
    came, and answers the kernel (``answer``); a cell's ``clear_output`` clears only its own
    outputs, and the output cap counts each cell apart."""

    output_cap = 1 << 20
    nonce: str | None = None

    def begin(self, token: int | None = None, answer: Callable[[str], None] | None = None) -> None:
        """A new request (``token``: its number, in the answers sent with ``answer``): no cell
        of it has ended yet."""
        self.cuts: list[int] = []  # where each cell's outputs end in the request's outputs
        self.counts: list[Any] = []  # each cell's execution count, as its marker says
        self.ended: list[float] = []  # when each cell's marker came (monotonic)
        self.marked = asyncio.Event()  # set when a marker comes
        self.token, self.answer = token, answer
        self.hold = False  # set once the grader interrupts the kernel: no cell may start after that

    def _marker(self, content: dict) -> bool:
        data = content.get("data", {}).get(MIME) if isinstance(content.get("data"), dict) else None
        if not (isinstance(data, dict) and self.nonce is not None and data.get("nonce") == self.nonce
                and "ran" in data and hasattr(self, "cuts")):
            return False
        return data["ran"] == len(self.cuts) and (data.get("count") is None or isinstance(data.get("count"), int))

    def _clear_own(self, outs, cell_index: int) -> None:
        """Clear the outputs of the cell that runs now, not those of the cells before it."""
        del outs[self.cuts[-1] if getattr(self, "cuts", None) else 0:]
        self.clear_display_id_mapping(cell_index)

    def clear_output(self, outs, msg, cell_index):
        if self.output_hook_stack[msg["parent_header"].get("msg_id")]:
            return super().clear_output(outs, msg, cell_index)
        if msg["content"].get("wait"):
            self.clear_before_next_output = True
        else:
            self._clear_own(outs, cell_index)

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
        if self._marker(content):  # a cell of the request has ended: its outputs end here
            mark = content["data"][MIME]
            if isinstance(mark.get("recorder"), dict):  # the cell's record, read from its outputs (_record)
                outs.append(_output_node(msg))
            self.cuts.append(len(outs))
            self.counts.append(mark.get("count"))
            self.ended.append(time.monotonic())
            self.marked.set()
            if mark.get("wait") and self.answer is not None:  # all it sent is here: the next may start
                self.answer(f"{self.token} {mark['ran']} {'stop' if self.hold else 'go'}")
            return None
        if MIME not in content.get("data", {}):
            key = (cell_index, len(getattr(self, "cuts", ())))  # per student cell
            used = self._used.get(key, 0)
            size = len(str(content.get("text", ""))) + len(str(content.get("data", "")))
            self._used[key] = used + size
            if used + size > self.output_cap:
                if used <= self.output_cap:
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stderr", text=f"\n[grader: output beyond {self.output_cap // 1024} KiB dropped]\n"))
                return None
        if self.clear_before_next_output:  # (clear_output(wait=True)) the running cell's outputs only
            self._clear_own(outs, cell_index)
            self.clear_before_next_output = False
        if self.output_hook_stack[msg["parent_header"].get("msg_id")] or display_id:
            return super().output(outs, msg, display_id, cell_index)  # the rare cases: nbclient's own way
        out = _output_node(msg)
        if out is not None:
            outs.append(out)
        return out

    @property
    def _used(self) -> dict[tuple[int, int], int]:
        if not hasattr(self, "_used_bytes"):
            self._used_bytes = {}
        return self._used_bytes


class _Runner:
    def __init__(self, launcher: Launcher, limits: Limits, cwd: str, nonce: str):
        self.launcher, self.limits, self.cwd, self.nonce = launcher, limits, cwd, nonce
        self.nb = nbformat.v4.new_notebook()
        self.client: NotebookClient | None = None
        self.ack = None  # where the kernel's run_cells hears that a cell's outputs arrived (a ZeroMQ PUSH)
        self.endpoint: str | None = None  # ... and its address (run_cells)

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
            self.client.nonce = self.nonce
            await km.start_kernel(**self.launcher.start_kwargs(self.cwd))
        finally:
            if launched is not None:
                launched()
        kc = km.client(context=km.context)
        kc.allow_stdin = False
        self.client.kc = kc
        kc.start_channels(stdin=False, hb=False)  # no input(); liveness is asked of the process, not a heartbeat thread
        await _wait_for_ready(km, kc, 60)

    def _cell(self, source: str, timeout: float) -> tuple[NotebookNode, int]:
        cell = NotebookNode(cell_type="code", execution_count=None, metadata=NotebookNode(), outputs=[],
                            source=source, id=f"c{len(self.nb.cells)}")  # not validated: we made it
        cell.metadata["grader_timeout"] = max(1, int(round(timeout)))
        self.nb.cells.append(cell)
        return cell, len(self.nb.cells) - 1

    async def run(self, source: str, timeout: float) -> tuple[str, Any]:
        """Run one cell (the grader's own: set-up, probes). Returns (status, cell) with status
        ok | error | timeout | dead | killed | broken."""
        assert self.client is not None
        cell, index = self._cell(source, timeout)
        grace = self.limits.interrupt_grace
        t0 = time.monotonic()
        self.client.begin()
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

    async def run_cells(self, sources: list[str], budget: float) -> list[tuple[str, Any]]:
        """Run student cells in one request (the recorder's ``run_cells``), each under its own
        timeout: a cell still running ``cell_timeout`` seconds after the one before it ended is
        interrupted, and the kernel killed if it ignores that for ``interrupt_grace`` seconds.
        The kernel starts a cell only once we answer that the one before it has arrived whole
        (``_answer``), so the cell that was running when the kernel was lost or interrupted is
        the one after the last marker. Returns (status, cell) for each cell that ran, in order:
        every one, or those up to the one interrupted, the one that lost the kernel, or the last
        one begun within the notebook's time left (``budget``); the caller runs the rest again.
        None at all if the kernel has no ``run_cells`` any more: the caller runs them one a request."""
        client = self.client
        assert client is not None
        timeout, grace = self.limits.cell_timeout, self.limits.interrupt_grace
        endpoint = self.endpoint = self._ack_endpoint()
        outer, index = self._cell("", (timeout + grace) * len(sources) + grace)  # (nbclient's own: never first)
        outer.source = (f"__import__('__grader_recorder__').run_cells({json.dumps(sources)!r}, {budget!r}, "
                        f"{endpoint!r}, {index!r})")
        client.begin(index, self._answer if endpoint else None)
        task = asyncio.ensure_future(client.async_execute_cell(outer, index, store_history=False))
        began, lost = time.monotonic(), None
        interrupted, interrupted_at = None, 0.0  # the cell the grader interrupted, and when
        while True:
            k = len(client.cuts)
            start = client.ended[-1] if k else began
            deadline = start + timeout if interrupted != k else interrupted_at + grace
            client.marked.clear()
            marked = asyncio.ensure_future(client.marked.wait())
            done, _ = await asyncio.wait({task, marked}, timeout=max(0.0, deadline - time.monotonic()),
                                         return_when=asyncio.FIRST_COMPLETED)
            marked.cancel()
            if task in done:
                break
            if len(client.cuts) > k:
                continue  # a cell has ended: the next one's time begins
            if interrupted != k:
                interrupted, interrupted_at, client.hold = k, time.monotonic(), True
                try:
                    await ensure_async(client.km.interrupt_kernel())
                except Exception:
                    pass
                continue
            await self.kill()  # the interrupt was ignored: the kernel is killed, its state is lost
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            lost = "killed"
            break
        if lost is None:
            try:
                task.result()
            except DeadKernelError:
                lost = "dead"
            except Exception:  # the kernel broke the protocol (e.g. patched json): it cannot be trusted on
                await self.kill()
                lost = "broken"
        outs, ran, start = outer.get("outputs", []), [], 0
        for k, end in enumerate(client.cuts):
            cell = NotebookNode(cell_type="code", execution_count=client.counts[k], metadata=NotebookNode(),
                                outputs=outs[start:end], source=sources[k])
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            timed_out = interrupted == k and errors and errors[-1].get("ename") == "KeyboardInterrupt"
            ran.append(("timeout" if timed_out else "error" if errors else "ok", cell))
            start = end
        if not ran and lost is None:
            return []  # the kernel could not run them together (the notebook removed the recorder)
        if lost is not None and len(ran) < len(sources):  # the cell that was running
            ran.append((lost, NotebookNode(cell_type="code", execution_count=None, metadata=NotebookNode(),
                                           outputs=outs[start:], source=sources[len(ran)])))
        return ran  # (outputs after the last marker of a request that ended are the request's own)

    def _ack_path(self) -> str | None:
        km = self.client.km if self.client is not None else None
        return f"{km.connection_file}.ack" if km is not None and km.connection_file else None

    def _ack_endpoint(self) -> str | None:
        """Where the kernel binds the socket it hears our answers on: beside its connection
        file (a folder it shares with us, sandboxed or not). None where the path is too long
        for a Unix socket: then a request runs one cell, the rest again in the next."""
        path = self._ack_path()
        return f"ipc://{path}" if path and len(path.encode()) < 100 else None

    def _answer(self, text: str) -> None:
        """Answer a marker that waits (go or stop), connecting on the first: the kernel has bound
        its socket by then, so no reconnection delay."""
        import zmq

        if self.ack is None:
            self.ack = zmq.Context.instance().socket(zmq.PUSH)
            self.ack.setsockopt(zmq.LINGER, 0)
            self.ack.connect(self.endpoint)
        try:
            self.ack.send(text.encode("ascii"), zmq.NOBLOCK)
        except zmq.ZMQError:  # (nothing queued can block it: one answer a cell)
            pass

    async def kill(self) -> None:
        if self.ack is not None:
            self.ack.close()
            self.ack = None
        if self.client is None:
            return
        ack = self._ack_path()
        if ack is not None:  # (the kernel's socket file, left by a killed kernel)
            try:
                os.unlink(ack)
            except OSError:
                pass
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
    count = cell.get("execution_count")
    if isinstance(count, int):
        ex.counts[count] = index
    for payload in payloads:
        ex.events.extend(_written(ex, _events.decode(payload, index)))
    if not payloads and isinstance(count, int):
        missing[count] = index


def _written(ex: Execution, events: list[dict]) -> list[dict]:
    """Each event's "from" (execution counts of the kernel that ran it, now) as "written": the
    indices of the cells whose code did it besides the cell that ran."""
    for ev in events:
        counts = ev.pop("from", None)
        if counts:
            ev["written"] = [ex.counts[n] for n in counts if n in ex.counts and ex.counts[n] != ev["cell"]]
    return events


async def _recover(runner: "_Runner", ex: Execution, nonce: str, missing: dict[int, int], limits: Limits) -> None:
    """Ask the kernel again for the payloads that did not arrive; events stay in cell order."""
    if not missing:
        return
    status, cell = await runner.run(f"__import__('__grader_recorder__').resend({sorted(missing)!r})",
                                    limits.probe_timeout)
    for payload in _take_recorded(cell, nonce):
        count = payload.get("count")
        if isinstance(count, int) and count in missing:
            ex.events.extend(_written(ex, _events.decode(payload, missing.pop(count))))
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
    started (or its start failed: nothing is left waiting). Consecutive student cells with no
    probe between them run in one request (``_batch``, ``_Runner.run_cells``)."""
    launcher = launcher or Launcher()
    ex = Execution()
    started = time.monotonic()
    nonce = secrets.token_hex(16)
    own_dir = workdir is None
    cwd = workdir or scratch.make("run")
    runner = _Runner(launcher, limits, cwd, nonce)
    cells = nb.get("cells", [])
    for c in cells_of(nb):
        ex.sources.append(c.source if c.kind == "code" else "")
        ex.markdown.append(c.source if c.kind == "markdown" else "")
        ex.numbers.append(c.number)
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
        runner = _Runner(launcher, limits, cwd, nonce)
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

        i = -1
        while i + 1 < len(cells):
            i += 1
            c = cells[i]
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
                batch = _batch(plan, ex.sources, i)
                with phase("cells"):
                    if len(batch) == 1:
                        ran = [await runner.run(ex.sources[i], limits.cell_timeout)]
                    else:
                        ran = await runner.run_cells(
                            [ex.sources[j] for j in batch], max(0.0, limits.notebook_timeout - (time.monotonic() - started)))
                    if not ran:
                        ran = [await runner.run(ex.sources[i], limits.cell_timeout)]
                for j, (status, cell) in zip(batch, ran):
                    i = j
                    _record(ex, cell, j, nonce, missing)
                    ename, evalue = _error_of(cell)
                    if status in LOST:
                        ex.kernel_died_at = j
                        st = "timeout" if status == "killed" else "dead"
                        ex.cells.append(CellRun(j, ex.sources[j], st, ename, evalue, _stream_text(cell)))
                        mark_lost(plan.post.get(j, {}), *LOST[status])
                        break
                    ex.cells.append(CellRun(j, ex.sources[j], status, ename, evalue, _stream_text(cell)))
                if ran[-1][0] in LOST:  # (i is the last cell that ran; the rest of a batch runs from the next)
                    lost = await after_loss(i)
                    continue
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


_ASYNC = re.compile(r"\b(await|async)\b")


def _batch(plan: Plan, sources: list[str], first: int) -> list[int]:
    """The code cells to run in one request from ``first`` (a code cell) on: one round trip to
    the kernel instead of one a cell. It ends before the next cell with probes before it and at
    the first with probes after it, so probes still run between the same cells. A cell that may
    hold top-level ``await`` runs alone (IPython runs it on the kernel's event loop, which a
    cell run from another cannot). ``sources``: each cell's code, "" for other cells."""
    out = [first]
    if first in plan.post or _ASYNC.search(sources[first]):
        return out
    for j in range(first + 1, len(sources)):
        if j in plan.pre or _ASYNC.search(sources[j]):
            break
        if sources[j].strip():
            out.append(j)
        if j in plan.post:
            break
    return out


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
