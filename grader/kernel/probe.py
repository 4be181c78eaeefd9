"""Code that runs *inside the student's kernel* to send values back as plain JSON data.

This file is never imported by the grader: its source text is sent to the kernel in the
set-up cell, before any student code runs, and lives there as the module ``__grader_probe__``.
It must import nothing from ``grader``. Whatever it sends is untrusted data: the grader
decodes it strictly and makes every comparison in its own process.
"""
import json as _json
import math as _math
import sys as _sys
import warnings as _warnings

MIME = "application/vnd.grader.capture.v1+json"
MAX_NUMEL = 200_000
MAX_POINTS = 20_000
MAX_TEXT = 400

_dumps = _json.dumps
_loads = _json.loads
_state = {"nonce": None, "publish": None, "figures": None, "fig_init": None, "windows": {}, "paused": False,
          "ns": None, "autograd_codes": (), "previous_trace": None, "armed": False}


def setup(nonce, seed, output_cap=1 << 20, warm=()):
    """Called once per kernel, before student code: keep our own references, seed RNGs, and
    drop printed output beyond ``output_cap`` characters per cell right here, so a flood costs
    neither the kernel's time nor the grader's (the grader caps what it keeps too). ``warm``:
    modules to import first (grader.kernel.WARM_IMPORTS)."""
    from IPython.display import publish_display_data

    _state["nonce"] = nonce
    _state["publish"] = publish_display_data
    _cap_output(output_cap)
    _skip_empty_flush()
    try:  # the grader reads only the exception's type and message: skip the costly context
        get_ipython().InteractiveTB.set_mode(mode="Minimal")  # noqa: F821
    except Exception:
        pass
    _warm_imports(warm)
    import random

    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except Exception:
        pass
    import torch

    torch.manual_seed(seed)


def _warm_imports(names):
    """Import ``names`` here, before any student code, without cyclic garbage collection: each
    full collection walks every object made so far, and a cold kernel (``grader check``) imports
    them in 1.6-2.3 cpu-s this way against 2.4-2.7 with it (and, later, in the student's cells).
    The collector is as it was afterwards. A forked kernel, or one started early, has nothing
    left to import."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            for name in names:
                try:
                    __import__(name)
                except Exception:
                    pass
    finally:
        if enabled:
            gc.enable()


def _cap_output(limit):
    count = {"n": 0, "noted": False}
    for name in ("stdout", "stderr"):
        stream = getattr(_sys, name)
        original = stream.write

        def write(text, _original=original):
            count["n"] += len(text)
            if count["n"] <= limit:
                return _original(text)
            if not count["noted"]:
                count["noted"] = True
                _original("\n[grader: output beyond %d KiB dropped]\n" % (limit // 1024))
            return len(text)

        stream.write = write

    def reset(*args):
        count["n"], count["noted"] = 0, False

    get_ipython().events.register("pre_run_cell", reset)  # noqa: F821


def _pending(stream):
    """Whether ipykernel's stream holds text not yet sent (None: a stream this code does not know)."""
    buffers = getattr(stream, "_buffers", None)  # ipykernel 7: one buffer per parent message
    if isinstance(buffers, dict):
        return any(b.tell() for b in list(buffers.values()))
    buffer = getattr(stream, "_buffer", None)  # ipykernel 6
    if buffer is not None and hasattr(buffer, "tell"):
        return buffer.tell() > 0
    return None


def _skip_empty_flush():
    """ipykernel's ``flush`` hands the stream's buffer to its IOPub thread and waits for that
    thread to answer, even when the buffer is empty; it runs four times a request, mostly with
    nothing to send (1 ms of the kernel's CPU a request). With nothing buffered it now returns at
    once: nothing written before it can be sent later than before (anything already handed
    to the IOPub thread is sent before the reply's messages, which follow it in that thread's queue)."""
    for name in ("stdout", "stderr"):
        stream = getattr(_sys, name)
        lock = getattr(stream, "_buffer_lock", None)
        if lock is None or getattr(stream, "echo", None) is not None or _pending(stream) is None:
            continue
        original = stream.flush

        def flush(_stream=stream, _lock=lock, _original=original):
            with _lock:
                pending = _pending(_stream)
            if pending is False:
                return None
            return _original()

        stream.flush = flush


def _ns():
    return get_ipython().user_ns  # noqa: F821 - provided by IPython in the kernel


def _err(e):
    return {"type": "error", "ename": type(e).__name__, "evalue": str(e)[:MAX_TEXT]}


def _clean(values):
    if isinstance(values, list):
        return [_clean(v) for v in values]
    if isinstance(values, float) and not _math.isfinite(values):
        return "nan" if values != values else ("inf" if values > 0 else "-inf")
    return values


def _tensor(v, with_grad=True):
    import torch

    t = v.detach()
    out = {
        "type": "tensor",
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "requires_grad": bool(v.requires_grad),
        "is_leaf": bool(v.is_leaf),
        "grad_fn": type(v.grad_fn).__name__ if v.grad_fn is not None else None,
        "values": None,
    }
    if t.is_complex() or t.layout != torch.strided:
        out["unsupported"] = True
    elif t.numel() <= MAX_NUMEL:
        out["values"] = _clean(t.cpu().tolist())
    else:
        out["truncated"] = True
    if with_grad:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            g = v.grad
        out["grad"] = _tensor(g, False) if isinstance(g, torch.Tensor) else None
    return out


def encode(v):
    import torch

    if isinstance(v, torch.Tensor):
        return _tensor(v)
    if isinstance(v, bool):
        return {"type": "bool", "value": v}
    if isinstance(v, (int, float)):
        return {"type": "number", "value": _clean(float(v)) if isinstance(v, float) else v}
    if v is None:
        return {"type": "none"}
    if type(v).__module__ == "numpy" and hasattr(v, "dtype"):
        try:
            return _tensor(torch.as_tensor(v))
        except Exception:
            pass
    return {"type": "object", "name": type(v).__name__}


# ---- operations, one per kind of request -------------------------------------------------

def op_values(req):
    ns = _ns()
    out = {}
    for name, expr in req["exprs"].items():
        try:
            out[name] = encode(eval(expr, ns))
        except Exception as e:
            out[name] = _err(e)
    return out


def op_snippet(req):
    ns = dict(_ns())
    try:
        exec(compile(req["code"], "<grader check>", "exec"), ns)
    except Exception as e:
        return {"type": "raised", "ename": type(e).__name__,
                "mro": [c.__name__ for c in type(e).__mro__], "evalue": str(e)[:MAX_TEXT]}
    return {"type": "no_exception"}


class _Later:
    """A result to compute after the batch's other requests (see ``run``): what calls the
    student's code runs last, so the values read in the same batch stay as the cells left them."""

    def __init__(self, fn):
        self.run = fn


# ---- figures drawn by a cell, even after plt.show() closed them --------------------------

def op_figures_start(req):
    import matplotlib.figure as mfig

    figures = []
    init = mfig.Figure.__init__

    def recording_init(self, *a, **k):
        init(self, *a, **k)
        figures.append(self)

    _state["figures"], _state["fig_init"] = figures, init
    mfig.Figure.__init__ = recording_init
    return {"type": "ok"}


def _points(data):
    import numpy as np

    try:
        arr = np.asarray(data, dtype=float).reshape(-1)
    except Exception:
        try:
            arr = np.asarray([float(v) for v in data], dtype=float)
        except Exception:
            return None
    return _clean(arr[:MAX_POINTS].tolist())


def op_figures_stop(req):
    import matplotlib.figure as mfig

    figures = _state["figures"] or []
    if _state["fig_init"] is not None:
        mfig.Figure.__init__ = _state["fig_init"]
    _state["figures"] = _state["fig_init"] = None
    out = []
    for fig in figures:
        lines = []
        for ax in fig.axes:
            for line in ax.get_lines():
                lines.append({"label": str(line.get_label())[:MAX_TEXT],
                              "x": _points(line.get_xdata(orig=True)),
                              "y": _points(line.get_ydata(orig=True))})
        out.append({"lines": lines})
    return {"type": "figures", "figures": out}


# Operations of the core. A check kind's own kernel code (e.g. grader/checks/_trace_kernel.py) is
# run in this module's namespace after it (see grader/kernel/extensions.py) and adds its own.
OPS = {
    "values": op_values,
    "snippet": op_snippet,
    "figures_start": op_figures_start,
    "figures_stop": op_figures_stop,
}


def run(batch_json):
    """Run a batch of requests ``{probe_id: request}`` and publish all answers at once."""
    results, later = {}, []
    for pid, req in _loads(batch_json).items():
        try:
            results[pid] = OPS[req["op"]](req)
        except Exception as e:
            results[pid] = _err(e)
        if isinstance(results[pid], _Later):
            later.append(pid)
    for pid in later:  # calls of the student's code run last: the values read above stay as the cells left them
        try:
            results[pid] = results[pid].run()
        except BaseException as e:  # a _Timeout that escaped, or the student's code's own
            results[pid] = _err(e)
    payload = {"nonce": _state["nonce"], "results": results}
    _state["publish"]({MIME: _loads(_dumps(payload))}, metadata={})
