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
MAX_CALLS = 6

_dumps = _json.dumps
_loads = _json.loads
_state = {"nonce": None, "publish": None, "trace": None, "figures": None, "fig_init": None}


def setup(nonce, seed, output_cap=1 << 20):
    """Called once per kernel, before student code: keep our own references, seed RNGs, and
    drop printed output beyond ``output_cap`` characters per cell right here, so a flood costs
    neither the kernel's time nor the grader's (the grader caps what it keeps too)."""
    from IPython.display import publish_display_data

    _state["nonce"] = nonce
    _state["publish"] = publish_display_data
    _cap_output(output_cap)
    try:  # the grader reads only the exception's type and message: skip the costly context
        get_ipython().InteractiveTB.set_mode(mode="Minimal")  # noqa: F821
    except Exception:
        pass
    import random

    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except Exception:
        pass
    import torch

    torch.manual_seed(seed)
    import threading

    threading.Thread(target=_warm_imports, daemon=True).start()


def _warm_imports():
    """Import matplotlib while the first cells run (on another core): exercise 5 needs it and
    the figure probe would otherwise pay for it. Nothing else is touched."""
    try:
        import matplotlib.figure  # noqa: F401
    except Exception:
        pass


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


def op_call(req):
    import torch

    fn = _ns().get(req["function"])
    if not callable(fn):
        return {"type": "error", "ename": "NameError", "evalue": "%s is not defined" % req["function"]}
    results = []
    for inp in req["inputs"]:
        x = torch.tensor(inp["values"], dtype=getattr(torch, inp["dtype"])).requires_grad_(True)
        try:
            y = fn(x)
            item = {"value": encode(y)}
            if isinstance(y, torch.Tensor) and y.requires_grad:
                y.sum().backward()
            item["grad"] = encode(x.grad) if x.grad is not None else {"type": "none"}
        except Exception as e:
            item = {"error": _err(e)}
        results.append(item)
    return {"type": "calls", "results": results}


def op_snippet(req):
    ns = dict(_ns())
    try:
        exec(compile(req["code"], "<grader check>", "exec"), ns)
    except Exception as e:
        return {"type": "raised", "ename": type(e).__name__,
                "mro": [c.__name__ for c in type(e).__mro__], "evalue": str(e)[:MAX_TEXT]}
    return {"type": "no_exception"}


# ---- tracing calls of the student's own functions during a cell (exercise 4) -------------

def _tracer(names, ns, calls):
    def local(frame, event, arg):
        if event == "line":
            calls[-1]["lines"].add(frame.f_lineno)
        return local

    def glob(frame, event, arg):
        code = frame.f_code
        if event != "call" or code.co_name not in names or frame.f_globals is not ns:
            return None
        if len(calls) >= MAX_CALLS * len(names):
            return None
        first = frame.f_locals.get(code.co_varnames[0]) if code.co_argcount else None
        if hasattr(first, "detach") and hasattr(first, "clone"):
            first = first.detach().clone()  # the cell may change it in place later
        calls.append({"name": code.co_name, "arg": first, "lines": set()})
        return local

    return glob


def op_trace_start(req):
    calls = []
    _state["trace"] = (calls, _sys.gettrace())
    _sys.settrace(_tracer(set(req["functions"]), _ns(), calls))
    return {"type": "ok"}


def _trace_stop():
    calls, previous = _state["trace"] or ([], None)
    _sys.settrace(previous)
    _state["trace"] = None
    return calls


def _lines_of(fn, x):
    calls = []
    _sys.settrace(_tracer({fn.__name__}, fn.__globals__, calls))
    try:
        y = fn(x)
    finally:
        _sys.settrace(None)
    return y, frozenset(calls[0]["lines"]) if calls else frozenset()


def op_trace_stop(req):
    """Report each traced call: its input, the lines it ran, and for the gradient check the
    function's autograd gradient and the values needed for central differences (float64)."""
    import torch

    calls = _trace_stop()
    ns = _ns()
    eps = float(req.get("eps", 1e-6))
    max_numel = int(req.get("max_numel", 32))
    out = []
    seen = set()
    for c in calls:
        arg = c["arg"]
        entry = {"function": c["name"], "lines": sorted(c["lines"])}
        if isinstance(arg, torch.Tensor) and arg.is_floating_point():
            entry["input"] = _tensor(arg, False)
            key = (c["name"], str(arg.detach().tolist()) if arg.numel() <= max_numel else id(arg))
            fn = ns.get(c["name"])
            if callable(fn) and key not in seen and arg.numel() <= max_numel and len(seen) < MAX_CALLS \
                    and not req.get("abort"):
                seen.add(key)
                entry["gradcheck"] = _gradcheck(fn, arg, eps)
        out.append(entry)
    return {"type": "trace", "calls": out}


def _gradcheck(fn, arg, eps):
    import torch

    try:
        x = arg.detach().to(torch.float64).clone().requires_grad_(True)
        y, path = _lines_of(fn, x)
        if not isinstance(y, torch.Tensor) or not y.requires_grad:
            return {"error": "output is not a tensor that depends on the input"}
        y.sum().backward()
        grad = x.grad if x.grad is not None else torch.zeros_like(x)
        plus, minus, changed = [], [], False
        flat = x.detach().reshape(-1)
        for i in range(flat.numel()):
            for sign, store in ((1.0, plus), (-1.0, minus)):
                xe = flat.clone()
                xe[i] += sign * eps
                ye, p = _lines_of(fn, xe.reshape(x.shape))
                changed = changed or p != path
                store.append(_clean(float(ye.detach().to(torch.float64).sum())))
        return {"grad": _tensor(grad, False), "plus": plus, "minus": minus,
                "eps": eps, "path_changes": changed}
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, str(e)[:MAX_TEXT])}


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


OPS = {
    "values": op_values,
    "call": op_call,
    "snippet": op_snippet,
    "trace_start": op_trace_start,
    "trace_stop": op_trace_stop,
    "figures_start": op_figures_start,
    "figures_stop": op_figures_stop,
}


def run(batch_json):
    """Run a batch of requests ``{probe_id: request}`` and publish all answers at once."""
    results = {}
    for pid, req in _loads(batch_json).items():
        try:
            results[pid] = OPS[req["op"]](req)
        except Exception as e:
            results[pid] = _err(e)
    payload = {"nonce": _state["nonce"], "results": results}
    _state["publish"]({MIME: _loads(_dumps(payload))}, metadata={})
