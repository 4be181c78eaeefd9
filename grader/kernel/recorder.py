"""Code that runs *inside the student's kernel* and records what the notebook's code DID.

Like probe.py, this file is never imported by the grader: its source text is sent to the
kernel in the set-up cell, before any student code, and lives there as ``__grader_recorder__``.
It imports nothing from ``grader``.

What it records, at the moment it happens, whatever the variables are called:
- every ``Tensor.backward`` / ``torch.autograd.backward`` / ``torch.autograd.grad`` call: the
  output (values, shape, dtype, grad_fn), the ``gradient`` argument, retain_graph/create_graph,
  the leaves reached (walking ``grad_fn.next_functions`` to ``AccumulateGrad.variable``) with
  each leaf's values and its ``.grad`` before and after, and the exception it raised even when
  the notebook catches it;
- every exception a torch function raises (caught or not), every hand assignment ``t.grad = ...``;
- every uncaught cell error (IPython's post_run_cell result);
- every figure created in a cell (even if ``plt.show()`` closed it): its artists' x/y data.

A torch function mode entered once (re-entered at a cell's start if the notebook popped it) sees
the torch calls; its ``__torch_function__`` runs on every torch op, so it does one dict lookup
and calls through for everything else. At each cell's end (post_run_cell) the cell's events are
published as one display_data message under the run's nonce; the grader attaches them to the
cell it just ran and strips them from the cell's outputs. Everything sent is plain JSON and
untrusted: the grader decodes it strictly.
"""
import json as _json
import math as _math
import sys as _sys

MIME = "application/vnd.grader.capture.v1+json"
MAX_NUMEL = 4_096  # values kept per tensor in an event
MAX_EVENTS = 300  # events kept from a cell's start ...
TAIL_EVENTS = 100  # ... and from its end (a long loop's last steps); those between are counted as dropped
MAX_LEAVES = 16  # leaves kept per backward call
MAX_NODES = 20_000  # graph nodes walked per backward call
MAX_PRODUCED = 100_000  # gradient values kept per cell for provenance (beyond the events' own)
MAX_POINTS = 20_000  # points kept per plotted artist
MAX_ARTISTS = 64  # artists kept per figure
MAX_FIGURES = 16  # figures kept per cell
MAX_TEXT = 400

_dumps, _loads = _json.dumps, _json.loads
_st = {"nonce": None, "publish": None, "mode": None, "events": [], "tail": None, "dropped": 0, "produced": [],
       "paused": False, "figures": [], "fig_patched": False, "fig_seen": {}, "torch": None, "log": {},
       "fig_lock": None, "shell": None, "ack": None,
       "batch": False, "pending": None, "files": {}, "count": None}


def _clean(values):
    if isinstance(values, list):
        return [_clean(v) for v in values]
    if isinstance(values, float) and not _math.isfinite(values):
        return "nan" if values != values else ("inf" if values > 0 else "-inf")
    return values


def _tensor(t, values=True):
    """A tensor as plain data: dtype, shape, requires_grad and (up to MAX_NUMEL) its values."""
    torch = _st["torch"]
    try:
        d = t.detach()
        out = {"dtype": str(d.dtype).replace("torch.", ""), "shape": list(d.shape),
               "requires_grad": bool(t.requires_grad)}
        if values:
            if d.is_complex() or d.layout != torch.strided or d.is_meta:
                out["unsupported"] = True
            elif d.numel() <= MAX_NUMEL:
                out["values"] = _clean(d.cpu().tolist())
            else:
                out["truncated"] = True
        return out
    except Exception as e:
        return {"unreadable": type(e).__name__}


def _add(event):
    """Keep the cell's first MAX_EVENTS events and its last TAIL_EVENTS: what a long loop did at
    its end (the parameters a training reached) matters as much as how it began."""
    if _st["paused"]:
        return
    if event.get("kind") in ("backward", "grad", "set_grad", "error"):
        written = _written_in()
        if written:
            event["from"] = written
    if len(_st["events"]) < MAX_EVENTS:
        _st["events"].append(event)
        return
    tail = _st["tail"]
    if tail is None:
        import collections

        tail = _st["tail"] = collections.deque(maxlen=TAIL_EVENTS)
    if len(tail) == TAIL_EVENTS:
        _st["dropped"] += 1  # the oldest of the tail makes room
    tail.append(event)


MAX_FILES = 4_096  # cell code names remembered (a cell run again keeps its first)


def _written_in():
    """The execution counts of the earlier cells whose code is on the stack: where the code that
    did this was written (a function defined in cell 3 and called in cell 9 did it in cell 3 as
    much as in cell 9). Empty when only the running cell's code is."""
    files, now, out = _st["files"], _st["count"], []
    try:
        f = _sys._getframe(2)
    except ValueError:
        return out
    depth = 0
    while f is not None and depth < 64:
        n = files.get(f.f_code.co_filename)
        if n is not None and n != now and n not in out:
            out.append(n)
        f, depth = f.f_back, depth + 1
    return out[:16]


def _name_cell(raw):
    """Remember the code name IPython compiles this cell under (ipykernel: a hash of the raw
    code; IPython: of the transformed code and the count) with its execution count."""
    shell = _st["shell"]
    if shell is None or len(_st["files"]) >= MAX_FILES:
        return
    try:
        comp, count = shell.compile, shell.execution_count
        code = raw if type(comp).__module__.startswith("ipykernel") else shell.transform_cell(raw)
        _st["count"] = count
        _st["files"].setdefault(comp.get_code_name(raw, code, count), count)
    except Exception:
        pass


def _produced(t):
    """Keep the values of a gradient autograd produced (for the provenance of plotted data)."""
    if len(_st["produced"]) >= MAX_PRODUCED or _st["paused"]:
        return
    try:
        d = t.detach()
        if d.is_floating_point() and d.layout == _st["torch"].strided:
            room = MAX_PRODUCED - len(_st["produced"])
            _st["produced"].extend(_clean(d.reshape(-1)[:room].cpu().tolist()))
    except Exception:
        pass


def _error(e):
    return {"type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__][:8],
            "message": str(e)[:MAX_TEXT]}


def _leaves(roots):
    """Leaf tensors reached from the roots' graphs (AccumulateGrad.variable), in walk order."""
    found, seen, stack, nodes = [], set(), [], 0
    for r in roots:
        fn = getattr(r, "grad_fn", None)
        if fn is not None:
            stack.append(fn)
        elif getattr(r, "requires_grad", False):
            found.append(r)  # backward on a leaf itself
    while stack and nodes < MAX_NODES and len(found) < MAX_LEAVES:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        nodes += 1
        var = getattr(fn, "variable", None)
        if var is not None:
            found.append(var)
            continue
        try:
            nxt = fn.next_functions
        except Exception:
            continue
        stack.extend(n for n, _ in reversed(nxt))
    return found


def _grad_of(t):
    if t.is_leaf:
        return t.grad
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = t.grad
    return g


def _as_list(v):
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def _full():
    """No event is kept (the grader's own probe cells): calls go straight through, the gradients
    they produce kept for provenance while there is room. Otherwise every event is recorded: one
    beyond the cell's first MAX_EVENTS may be among its last TAIL_EVENTS."""
    return bool(_st["paused"])


def _light(func, args, kwargs, outs_of):
    if _st["paused"] or len(_st["produced"]) >= MAX_PRODUCED:
        return func(*args, **kwargs)
    outs, leaves = outs_of()
    result = func(*args, **kwargs)
    for g in (result if leaves is None else [_grad_of(t) for t in leaves]):
        if isinstance(g, _st["torch"].Tensor):
            _produced(g)
    return result


def _on_backward(func, args, kwargs, api):
    torch = _st["torch"]
    if _full():
        def outs_of():
            first = args[0] if args else kwargs.get("tensors", kwargs.get("self"))
            outs = [t for t in _as_list(first) if isinstance(t, torch.Tensor)]
            return outs, _leaves(outs)
        return _light(func, args, kwargs, outs_of)
    names = ("tensors", "grad_tensors", "retain_graph", "create_graph", "grad_variables", "inputs") \
        if api == "autograd.backward" else ("self", "gradient", "retain_graph", "create_graph", "inputs")
    bound = dict(zip(names, args))
    bound.update(kwargs)
    outs = [t for t in _as_list(bound.get("tensors", bound.get("self"))) if isinstance(t, torch.Tensor)]
    gradient = bound.get("gradient", bound.get("grad_tensors"))
    if isinstance(gradient, (list, tuple)):
        gradient = gradient[0] if gradient else None
    inputs = _as_list(bound.get("inputs"))
    leaves = [t for t in inputs if isinstance(t, torch.Tensor)][:MAX_LEAVES] if inputs else _leaves(outs)
    before = []
    for leaf in leaves:
        g = _grad_of(leaf)
        before.append(g.detach().clone() if isinstance(g, torch.Tensor) and g.numel() <= MAX_NUMEL else g)
    event = {"kind": "backward", "api": api,
             "out": _out(outs[0]) if outs else None,
             "gradient": _tensor(gradient) if isinstance(gradient, torch.Tensor) else
             ({"type": type(gradient).__name__} if gradient is not None else None),
             "retain_graph": bool(bound.get("retain_graph")) if bound.get("retain_graph") is not None else None,
             "create_graph": bool(bound.get("create_graph", False))}
    result = _call(event, func, args, kwargs)
    event["leaves"] = [_leaf_row(leaf, b, _grad_of(leaf)) for leaf, b in zip(leaves, before)]
    _add(event)
    return result


def _call(event, func, args, kwargs):
    """Run the autograd call; if it raises, the event records the error and is kept."""
    try:
        return func(*args, **kwargs)
    except BaseException as e:
        event["error"] = _error(e)
        _add(event)
        raise


def _leaf_row(leaf, before, grad):
    """A leaf (or input) with the gradient it held before the call and the one autograd gave it."""
    torch = _st["torch"]
    row = _tensor(leaf)
    row["is_leaf"] = bool(leaf.is_leaf)
    row["grad_before"] = _tensor(before) if isinstance(before, torch.Tensor) else None
    row["grad"] = _tensor(grad) if isinstance(grad, torch.Tensor) else None
    if isinstance(grad, torch.Tensor):
        _produced(grad)
    return row


def _out(t):
    row = _tensor(t)
    row["grad_fn"] = type(t.grad_fn).__name__ if t.grad_fn is not None else None
    return row


def _on_grad(func, args, kwargs):
    torch = _st["torch"]
    if _full():
        def outs_of():
            return None, None
        return _light(func, args, kwargs, outs_of)
    names = ("outputs", "inputs", "grad_outputs", "retain_graph", "create_graph")
    bound = dict(zip(names, args))
    bound.update(kwargs)
    outs = [t for t in _as_list(bound.get("outputs")) if isinstance(t, torch.Tensor)]
    inputs = [t for t in _as_list(bound.get("inputs")) if isinstance(t, torch.Tensor)][:MAX_LEAVES]
    g_out = [t for t in _as_list(bound.get("grad_outputs")) if isinstance(t, torch.Tensor)]
    event = {"kind": "grad", "api": "autograd.grad", "out": _out(outs[0]) if outs else None,
             "gradient": _tensor(g_out[0]) if g_out else None,
             "retain_graph": bool(bound.get("retain_graph")) if bound.get("retain_graph") is not None else None,
             "create_graph": bool(bound.get("create_graph", False))}
    result = _call(event, func, args, kwargs)
    event["leaves"] = [_leaf_row(inp, None, g) for inp, g in zip(inputs, _as_list(result))]
    _add(event)
    return result


def _on_set_grad(func, args, kwargs):
    torch = _st["torch"]
    target = args[0] if args else None
    value = args[1] if len(args) > 1 else None
    event = {"kind": "set_grad",
             "leaf": _tensor(target) if isinstance(target, torch.Tensor) else None,
             "value": _tensor(value) if isinstance(value, torch.Tensor) else None}
    _add(event)
    return func(*args, **kwargs)


def _make_mode():
    import torch
    from torch.overrides import TorchFunctionMode

    watch = {torch.Tensor.backward: "backward", torch.autograd.backward: "autograd.backward",
             torch.autograd.grad: "grad", torch._C.TensorBase.grad.__set__: "set_grad"}
    lookup = watch.get

    class _Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            try:
                what = lookup(func)
            except TypeError:  # an unhashable callable
                what = None
            if what is None:
                try:
                    return func(*args, **kwargs)
                except Exception as e:
                    _on_error(func, e)
                    raise
            if what == "grad":
                return _on_grad(func, args, kwargs)
            if what == "set_grad":
                return _on_set_grad(func, args, kwargs)
            return _on_backward(func, args, kwargs, "Tensor.backward" if what == "backward" else what)

    return _Recorder()


def _on_error(func, e):
    if getattr(e, "_grader_seen", False):
        return
    try:
        e._grader_seen = True
    except Exception:
        pass
    ev = {"kind": "error", "function": str(getattr(func, "__qualname__", getattr(func, "__name__", "?")))[:80]}
    ev.update(_error(e))
    _add(ev)


def _ensure_mode():
    torch = _st["torch"]
    mode = _st["mode"]
    try:
        stack = torch.overrides._get_current_function_mode_stack()
        if not any(m is mode for m in stack):
            mode.__enter__()
    except Exception:
        pass


# ---- figures ------------------------------------------------------------------------------

def _patch_figures():
    """Watch every Figure created from now on (once matplotlib.figure is fully imported: a
    thread of the notebook's may be importing it right now)."""
    mfig = _sys.modules.get("matplotlib.figure")
    if _st["fig_patched"] or mfig is None or getattr(mfig, "Figure", None) is None:
        return
    with _st["fig_lock"]:
        if _st["fig_patched"]:
            return
        init = mfig.Figure.__init__
        figures = _st["figures"]

        def recording_init(self, *a, **k):
            init(self, *a, **k)
            if len(figures) < MAX_FIGURES and not _st["paused"]:
                figures.append(self)

        try:
            mfig.Figure.__init__ = recording_init
            _st["fig_patched"] = True
        except Exception:
            pass


def _floats(data):
    import numpy as np

    try:
        arr = np.asarray(data, dtype=np.float64).reshape(-1)
    except Exception:
        try:
            arr = np.asarray([float(v) for v in data], dtype=np.float64)
        except Exception:
            return None
    return _clean(arr[:MAX_POINTS].tolist())


def _color(get):
    """A colour (``get()``: a line's colour, or a scatter's face colours: the first) as a hashable
    key, or None."""
    try:
        import matplotlib.colors as mcolors

        c = get()
        if getattr(c, "ndim", 1) == 2:
            c = c[0] if len(c) else None
        return None if c is None else tuple(round(v, 3) for v in mcolors.to_rgba(c))
    except Exception:
        return None


def _artists(fig):
    """Each axes' lines, scatters and bars as x/y data. Points drawn one or two at a time (a loop
    calling plt.scatter or plt.plot per point) are one curve per axes, kind and colour, in the
    order they were drawn: that is how the plot reads."""
    out, small = [], {}

    def add(art, key):
        x, y = art["x"], art["y"]
        if key is not None and isinstance(x, list) and isinstance(y, list) and len(x) == len(y) <= 2:
            group = small.get(key)
            if group is None:
                small[key] = group = dict(art, x=list(art["x"]), y=list(art["y"]))
                out.append(group)
            elif len(group["x"]) < MAX_POINTS:
                group["x"] += art["x"]
                group["y"] += art["y"]
            return
        out.append(art)

    for ai, ax in enumerate(fig.axes):
        for line in ax.get_lines():
            add({"type": "line", "axes": ai, "label": str(line.get_label())[:MAX_TEXT],
                 "x": _floats(line.get_xdata(orig=True)), "y": _floats(line.get_ydata(orig=True))},
                (ai, "line", _color(line.get_color)))
        for coll in ax.collections:
            try:
                offs = coll.get_offsets()
                if len(offs) == 0:
                    continue
                add({"type": "scatter", "axes": ai, "label": str(coll.get_label())[:MAX_TEXT],
                     "x": _floats(offs[:, 0]), "y": _floats(offs[:, 1])}, (ai, "scatter", _color(coll.get_facecolor)))
            except Exception:
                continue
        for cont in getattr(ax, "containers", []):
            patches = [p for p in cont if hasattr(p, "get_height")]
            if not patches:
                continue
            try:
                xs = [p.get_x() + p.get_width() / 2 for p in patches]
                ys = [p.get_height() for p in patches]
                out.append({"type": "bar", "axes": ai, "label": str(cont.get_label())[:MAX_TEXT],
                            "x": _floats(xs), "y": _floats(ys)})
            except Exception:
                continue
        if len(out) >= MAX_ARTISTS:
            break
    return out[:MAX_ARTISTS]


def _harvest_figures():
    figs = []
    for f in _st["figures"]:
        if all(f is not g for g in figs):
            figs.append(f)
    _st["figures"].clear()
    new = len(figs)
    plt = _sys.modules.get("matplotlib.pyplot")
    if plt is not None:  # figures still open (a non-inline backend, or one created before the patch)
        try:
            for n in plt.get_fignums():
                f = plt.figure(n)
                if all(f is not g for g in figs) and len(figs) < MAX_FIGURES:
                    figs.append(f)
        except Exception:
            pass
    seen = _st["fig_seen"]
    for i, f in enumerate(figs):
        try:
            arts = _artists(f)
        except Exception:
            continue
        sig = _dumps(arts)
        if i >= new and seen.get(id(f)) == sig:
            continue  # an open figure this cell did not change
        if len(seen) > 256:
            seen.clear()
        seen[id(f)] = sig
        if arts:
            _add({"kind": "figure", "artists": arts})
    if plt is not None:  # as Jupyter's inline backend does: a cell's figures end with the cell
        try:
            plt.close("all")
        except Exception:
            pass


# ---- per cell -----------------------------------------------------------------------------

def _pre_run_cell(info=None):
    raw = getattr(info, "raw_cell", "") or ""
    _st["paused"] = raw.startswith("__import__('__grader_")
    _st["events"], _st["tail"], _st["dropped"], _st["produced"] = [], None, 0, []
    _st["count"] = None
    if not _st["paused"]:
        _name_cell(raw)
    _st["figures"].clear()
    _ensure_mode()
    try:
        _patch_figures()
    except Exception:
        pass


def _post_run_cell(result=None):
    if _st["paused"]:
        _st["figures"].clear()
        return
    try:
        try:  # a figure that cannot be read costs the figure, never the cell's other events
            _patch_figures()
            _harvest_figures()
        except Exception as e:
            _add({"kind": "error", "function": "grader:figures", "type": type(e).__name__, "mro": [],
                  "message": str(e)[:MAX_TEXT]})
        err = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        if err is not None:
            ev = {"kind": "cell_error"}
            ev.update(_error(err))
            _add(ev)
        count = getattr(result, "execution_count", None)
        events = _st["events"] + list(_st["tail"] or ())
        payload = {"nonce": _st["nonce"], "recorder": {"events": events, "dropped": _st["dropped"],
                                                       "produced": _st["produced"], "count": count}}
        text = _dumps(payload, allow_nan=False)
    except Exception as e:
        count = None
        text = _dumps({"nonce": _st["nonce"], "recorder": {"events": [], "dropped": 0, "produced": [],
                                                           "failed": ("%s: %s" % (type(e).__name__, e))[:MAX_TEXT]}})
    _st["events"], _st["tail"], _st["produced"] = [], None, []
    if isinstance(count, int):
        _st["log"][count] = text
    if _st["batch"]:  # run_cells publishes it, with its marker: one message a cell
        _st["pending"] = text
    else:
        _st["publish"]({MIME: _loads(text)}, metadata={})


def run_cells(sources, budget=None, ack=None, token=None):
    """Run notebook cells (a JSON list of their sources) one after another in this one request,
    each as IPython runs a cell sent alone (its own execution count, history, hooks, display and
    traceback), and publish a marker under the nonce after each, with the cell's record (what
    post_run_cell would have published alone): the grader splits the request's outputs there.

    After each cell but the last, wait for the grader's answer on the ZeroMQ endpoint ``ack``
    (bound once, beside the connection file): "go" once the grader has received everything the
    cell sent (the marker comes last), "stop" if it interrupted the kernel meanwhile. So no cell
    starts before the one before it is delivered: a cell that kills the kernel cannot take the
    outputs of the cells before it along, and an interrupt reaches only the cell it was sent for.
    Stops after a cell interrupted, after exit(), once ``budget`` seconds (what is left of the
    notebook's time) have passed, or after the first cell if no endpoint can be bound; the
    grader runs the rest again."""
    import time

    shell = _st["shell"]
    end = None if budget is None else time.monotonic() + budget
    cells = _loads(sources)
    sock = _ack_socket(ack)
    _st["batch"] = True
    try:
        for k, source in enumerate(cells):
            _st["pending"] = None
            result = shell.run_cell(source, store_history=True)
            stop = isinstance(result.error_in_exec, KeyboardInterrupt) or bool(getattr(shell, "exit_now", False)) \
                or (end is not None and time.monotonic() > end) or sock is None or k == len(cells) - 1
            mark = _loads(_st["pending"]) if _st["pending"] else {"nonce": _st["nonce"]}  # (the cell's record)
            mark.update(ran=k, count=result.execution_count, wait=not stop)
            _st["pending"] = None
            _st["publish"]({MIME: mark}, metadata={})
            if stop:
                return
            while True:  # (an answer to an earlier request, one that ended without reading it, is skipped)
                answer = sock.recv().decode("ascii", "replace").split()
                if answer[:2] == [str(token), str(k)]:
                    break
            if answer[2:] != ["go"]:
                return
    finally:
        _st["batch"], _st["pending"] = False, None
        _st["paused"] = True  # this request's own end (post_run_cell) is the grader's, not a cell's


def _ack_socket(endpoint):
    sock = _st.get("ack")
    if sock is None and endpoint:
        try:
            import zmq

            sock = zmq.Context.instance().socket(zmq.PULL)
        except Exception:
            return None
        try:
            sock.bind(endpoint)
        except Exception:
            sock.close(linger=0)
            return None
        _st["ack"] = sock
    return sock


def resend(counts):
    """Publish again the payloads of the cells with these execution counts (the grader did not
    receive them: a loaded machine can deliver a cell's last output after its reply)."""
    for c in counts:
        text = _st["log"].get(c)
        if text is not None:
            _st["publish"]({MIME: _loads(text)}, metadata={})


def install(nonce):
    """Called once per kernel from the set-up cell, before any student code."""
    from IPython.display import publish_display_data
    import torch

    import threading

    _st["nonce"], _st["publish"], _st["torch"] = nonce, publish_display_data, torch
    _st["fig_lock"] = threading.Lock()
    _st["mode"] = _make_mode()
    _st["mode"].__enter__()
    ip = get_ipython()  # noqa: F821 - provided by IPython in the kernel
    _st["shell"] = ip
    ip.events.register("pre_run_cell", _pre_run_cell)
    ip.events.register("post_run_cell", _post_run_cell)
    try:  # matplotlib is imported by now (the probe's set-up): its figures are watched from the start
        _patch_figures()
    except Exception:
        pass
