"""Grading on a Dask cluster: ``grader grade PATH... --out DIR --cluster ADDRESS``.

The client (the ``grader grade`` process) reads every notebook, sends each one to the cluster as
a task that carries the notebook's bytes, the rubric and the expected values (pickled once per
batch), and gets the ``SubmissionResult`` back as soon as it is graded; it alone writes the JSON
files, the gradebook and the CSV, exactly as on one machine (``grade.grade_many`` calls the
``runner`` below instead of its own worker threads). Workers need no shared filesystem.

Each Dask worker grades with its own warm, sandboxed launchers (one per worker thread), started
once when the batch's ``WorkerPlugin`` is set up on it (also on a worker that joins later) and
closed when the plugin is removed at the end of the batch or the worker closes.

A worker lost mid-batch: the scheduler runs its submissions again elsewhere; the client gets
one result per submission whatever happens (one future each). A submission that takes down a
worker every time it runs is given up by the scheduler after ``allowed-failures`` deaths
(``KilledWorker``) and recorded as ``status: error``; with ``local:N`` that is 2 (3 tries).
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import pickle
import queue
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from .kernel import scratch
from .errors import InputError
from .model import Limits, Rubric, SubmissionResult

try:
    from distributed import WorkerPlugin as _PluginBase
except ImportError:  # without the extra: --cluster says how to install it
    _PluginBase = object

INSTALL_HINT = "--cluster needs Dask's distributed: pip install 'grader[dask]' (or: pip install distributed)"
ALLOWED_FAILURES = 2  # local:N: a submission may take down a worker twice; the third death is final
WINDOW = 256  # submissions in flight at once beyond the workers' threads (bounds the client's memory)


def _distributed():
    try:
        import distributed
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return distributed


class WorkerUnfit(RuntimeError):
    """A worker cannot grade at all (e.g. no sandbox there): the batch stops, it is not a grade."""


# ---- on the worker ----------------------------------------------------------------------------

class GraderPlugin(_PluginBase):
    """Per worker: one warm (or cold) launcher per worker thread, sandboxed unless the batch
    said --no-sandbox; made in ``setup`` (the worker's event-loop thread, which lives as long as
    the worker: the fork servers die with the thread that started them), closed in ``teardown``."""

    def __init__(self, sandbox: bool, warm: bool, limits: Limits):
        self.sandbox, self.warm, self.limits = sandbox, warm, limits
        self.error = ""

    def setup(self, worker=None):
        from .kernel.factory import SandboxUnavailable, make_launcher

        self._free: queue.Queue = queue.Queue()
        self._all: list = []
        self._jobs: dict[str, tuple] = {}
        self._lock = threading.Lock()
        self.error = ""
        n = max(1, getattr(getattr(worker, "state", None), "nthreads", 1) or 1)
        from .grade import prepare_judging

        try:
            for slot in range(n):
                launcher = make_launcher(self.sandbox, self.limits, slot, self.warm, checked=slot > 0)
                self._all.append(launcher)
                launcher.prestart()  # its fork server imports while this process makes the judge's imports
            prepare_judging()  # in this thread, before any task judges
            for launcher in self._all:
                if self.warm:
                    launcher.zygote  # noqa: B018 -- ready now, not in the first task
                self._free.put(launcher)
        except SandboxUnavailable as e:
            self.error = f"the sandbox cannot start on this worker: {e}"
        except Exception as e:  # a fork server that will not start, ...
            self.error = f"the grader cannot start its kernels on this worker: {type(e).__name__}: {e}"

    def teardown(self, worker=None):
        for launcher in getattr(self, "_all", []):
            try:
                launcher.close()
            except Exception:
                pass
        self._all = []

    def job(self, key: str, blob: bytes) -> tuple:
        """The batch's (rubric, expected, lang), unpickled once per worker."""
        with self._lock:
            if key not in self._jobs:
                self._jobs[key] = pickle.loads(blob)
            return self._jobs[key]

    def launcher(self):
        if self.error:
            raise WorkerUnfit(self.error)
        return self._free.get()

    def give_back(self, launcher) -> None:
        self._free.put(launcher)


def _plugin(name: str) -> GraderPlugin:
    from distributed import get_worker

    plugin = get_worker().plugins.get(name)
    if plugin is None:
        raise WorkerUnfit("the grader's worker plugin is missing on this worker")
    return plugin


def _worker_error(name: str, dask_worker=None) -> str:
    plugin = dask_worker.plugins.get(name) if dask_worker is not None else None
    return "the grader's worker plugin is missing" if plugin is None else plugin.error


def grade_task(plugin_name: str, job_key: str, job_blob: bytes, name: str, data: bytes) -> SubmissionResult:
    """One submission on a worker: the notebook's bytes in a private temporary file, graded by
    ``grade.grade_path`` with this worker's launcher, as a local batch would."""
    from .grade import grade_path

    plugin = _plugin(plugin_name)
    rubric, expected, lang = plugin.job(job_key, job_blob)
    launcher = plugin.launcher()
    try:
        with tempfile.TemporaryDirectory(prefix=scratch.prefix("sub")) as d:
            path = Path(d) / "submission.ipynb"
            path.write_bytes(data)
            return grade_path(path, rubric, expected, lang, public_only=False, launcher=launcher, name=name)
    finally:
        plugin.give_back(launcher)


def reference_task(plugin_name: str, rubric: Rubric, reference: bytes):
    """The expected values: the reference (its bytes, from the client) run under the probes."""
    from .grade import NotANotebook, read_notebook, run_notebook

    plugin = _plugin(plugin_name)
    launcher = plugin.launcher()
    try:
        with tempfile.TemporaryDirectory(prefix=scratch.prefix("ref")) as d:
            path = Path(d) / Path(rubric.reference).name
            path.write_bytes(reference)
            try:
                nb = read_notebook(path)
            except NotANotebook as e:
                raise InputError(str(e), rubric.reference) from None
            ex, _ = asyncio.run(run_notebook(nb, dataclasses.replace(rubric, reference=str(path)),
                                             public_only=False, launcher=launcher))
            return ex  # the client decides, as for a local run, whether it is whole
    finally:
        plugin.give_back(launcher)


# ---- on the client ----------------------------------------------------------------------------

class Cluster:
    """A connection to a Dask scheduler (an existing one, or a LocalCluster started here) with
    the batch's plugin registered on every worker."""

    def __init__(self, address: str, rubric: Rubric, sandbox: bool, warm: bool):
        _distributed()
        if address.startswith("local:"):
            try:
                self.n_local = int(address[len("local:"):])
            except ValueError:
                self.n_local = 0
            if self.n_local < 1:
                raise InputError(f"--cluster {address}: expected local:N with N at least 1")
        elif "://" not in address:
            raise InputError(f"--cluster {address}: expected tcp://HOST:PORT (a Dask scheduler) or local:N")
        self.address, self.rubric, self.sandbox, self.warm = address, rubric, sandbox, warm
        self.local = self.client = None
        self.workers = self.threads = 0

    def _start(self) -> None:
        """Connect (or start the LocalCluster) and set the grader up on every worker: only when
        something needs grading, so a resumed batch with nothing new starts nothing."""
        if self.client is not None:
            return
        distributed = _distributed()
        import dask

        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # what matters is said in one line
        if self.address.startswith("local:"):
            with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
                self.local = distributed.LocalCluster(n_workers=self.n_local, threads_per_worker=1, processes=True,
                                                      dashboard_address=None, silence_logs=logging.CRITICAL)
            self.client = distributed.Client(self.local)
        else:
            try:
                self.client = distributed.Client(self.address, timeout="30s")
            except (OSError, TimeoutError) as e:
                raise InputError(f"cannot reach the Dask scheduler: {str(e).splitlines()[0] if str(e) else e}",
                                 self.address) from None
        try:
            wait = float(os.environ.get("GRADER_CLUSTER_WAIT", "600"))
            try:
                self.client.wait_for_workers(1, timeout=wait)
            except TimeoutError:
                raise InputError(f"no Dask worker joined the scheduler in {wait:g} s", self.address) from None
            self.plugin_name = f"grader-{secrets.token_hex(6)}"
            for attempt in range(3):  # a worker lost while it sets up: its replacement gets the plugin
                try:
                    self.client.register_plugin(GraderPlugin(self.sandbox, self.warm, self.rubric.limits),
                                                name=self.plugin_name)
                    errors = self.client.run(_worker_error, self.plugin_name)
                    break
                except OSError as e:  # CommClosedError is one
                    if attempt == 2:
                        raise InputError(f"the Dask cluster kept losing workers while the grader was set up "
                                         f"on them: {str(e).splitlines()[0]}", self.address) from None
                    self.client.wait_for_workers(1, timeout=wait)
            bad = {w: e for w, e in errors.items() if e}
            if bad:
                worker, error = sorted(bad.items())[0]
                raise InputError(f"worker {worker}: {error}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
            try:
                info = self.client.scheduler_info(n_workers=-1).get("workers", {})
            except TypeError:  # distributed before 2025: every worker is listed
                info = self.client.scheduler_info().get("workers", {})
            self.workers = len(info)
            self.threads = sum(w.get("nthreads", 1) for w in info.values()) or 1
        except BaseException:
            self.close()
            raise

    def expected(self, rubric: Rubric) -> dict:
        """The expected values: from the client's cache when current, else computed on a worker."""
        from .grade import expected_values

        def compute():
            self._start()
            future = self.client.submit(reference_task, self.plugin_name, rubric,
                                        Path(rubric.reference).read_bytes(), pure=False)
            return self._result(future)

        return expected_values(rubric, compute=compute)

    def _result(self, future):
        try:
            return future.result()
        except WorkerUnfit as e:
            raise InputError(f"a Dask worker cannot grade: {e}") from None
        except InputError:
            raise
        except Exception as e:
            why = f"it took down a worker {e.allowed_failures + 1} times" \
                if isinstance(e, _distributed().KilledWorker) else f"{type(e).__name__}: {e}"
            raise InputError(f"the reference could not be run on the cluster: {why}") from None

    def runner(self, rubric: Rubric, expected: dict, lang: str):
        """``grade_many``'s runner: (index, path, name) items in, (index, result) out as they finish."""
        distributed = _distributed()
        blob = pickle.dumps((rubric, expected, lang))
        key = hashlib.sha256(blob).hexdigest()[:16]
        total = sum(c.points for _, c in rubric.checks())

        def run(items: list[tuple[int, Path, str]]) -> Iterator[tuple[int, SubmissionResult]]:
            if not items:
                return
            self._start()
            todo = list(reversed(items))
            meta: dict = {}
            done = distributed.as_completed()
            ahead = WINDOW + 2 * self.threads

            def submit() -> None:
                i, path, name = todo.pop()
                try:
                    data = path.read_bytes()
                except OSError:
                    data = b""  # unreadable here: the worker records it as not a notebook
                fut = self.client.submit(grade_task, self.plugin_name, key, blob, name, data, pure=False,
                                         key=f"grade-{key}-{i}-{secrets.token_hex(4)}")
                meta[fut.key] = (i, name, hashlib.sha256(data).hexdigest() if data else "")
                done.add(fut)

            while todo and len(meta) < ahead:
                submit()
            for fut in done:
                i, name, digest = meta.pop(fut.key)
                if fut.status == "finished":
                    r = fut.result()
                elif fut.status == "cancelled":  # not the submission's doing: stop, record nothing for it
                    raise InputError("the Dask cluster cancelled the batch (was the scheduler lost?); every "
                                     "result so far is kept: run the same command again to finish")
                else:
                    e = fut.exception()
                    if isinstance(e, WorkerUnfit):
                        raise InputError(f"a Dask worker cannot grade: {e}")
                    if isinstance(e, distributed.KilledWorker):
                        r = SubmissionResult(name, "error", f"grading this notebook took down a worker "
                                             f"{e.allowed_failures + 1} times; it was not tried again", 0.0, total, [])
                    else:
                        r = SubmissionResult(name, "error", f"internal grader error: {type(e).__name__}: {e}",
                                             0.0, total, [])
                r.notebook_sha256 = digest
                fut.release()
                if todo:
                    submit()
                yield i, r

        return run

    def describe(self) -> str:
        if not self.workers:
            return f"the Dask cluster {self.address} was not needed (nothing to grade)"
        where = f"a local Dask cluster ({self.workers} worker processes)" if self.address.startswith("local:") else \
            f"the Dask cluster at {self.address} ({self.workers} workers, {self.threads} threads)"
        return where

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                if getattr(self, "plugin_name", None) and not self.local:
                    client.unregister_worker_plugin(self.plugin_name)  # closes the workers' kernels
            except Exception:
                pass
            try:
                client.close()
            except Exception:
                pass
        local, self.local = self.local, None
        if local is not None:
            try:
                local.close()
            except Exception:
                pass

