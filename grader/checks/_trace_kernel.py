"""The kernel half of the kinds that watch the notebook's own functions run (function,
numgrad, paths; their grader half is ``_trace.py``): the probe operations ``trace_start`` and
``trace_stop``.

Like grader/kernel/probe.py, this file is never imported by the grader: its source text is sent
to the kernel (grader/kernel/extensions.py) and run in the namespace of the probe module
``__grader_probe__``, after the probe's core, whose names it uses (``_state``, ``encode``,
``_err``, ``_ns``, ``_clean``, ``_Later``, ``_sys``, ``MAX_TEXT``, ``OPS``). It imports nothing from ``grader``.
"""
# ruff: noqa: F821  (names of the probe's core)

# ---- watching the notebook's own functions run (exercise 4, the control-flow section) ----
#
# A window opens before some cells (``trace_start``) and closes after them (``trace_stop``).
# While it is open, a trace function sees every call of a function the notebook defined
# (its globals are the notebook's namespace): lambdas, methods, ``nn.Module.forward`` and
# helpers alike. For each call it keeps a copy of the arguments, the path the call took (how
# often each line ran, which bytecode offsets ran) and the tensors it returned; and it sees
# every call of ``torch.autograd.backward`` / ``torch.autograd.grad`` and which recorded calls
# those reached through the graph. Only plain data leaves: the grader judges.

_CO_OPTIMIZED = 0x1
_CO_VARARGS = 0x4
_CO_VARKEYWORDS = 0x8
MAX_RECORDS = 2_000  # calls recorded per window (paths only beyond MAX_SNAPSHOTS per function)
MAX_SNAPSHOTS = 16  # calls per function whose arguments are kept for re-running
MAX_SENT = 400  # calls reported to the grader per window
MAX_NODES = 50_000  # graph nodes walked per autograd call
MAX_SEQ = 20_000  # line events kept per call for loop-iteration paths
MAX_GRADCHECKS = 6
MAX_SNAPSHOT_NUMEL = 1_000_000
COORDINATE_LIMIT = 16  # up to this many input elements: one coordinate at a time


class _Timeout(BaseException):
    """Raised inside a call the grader made that ran past its time limit."""


def _alarm(signum, frame):
    if _state.get("armed"):
        raise _Timeout()


def _limited(seconds, fn, *args, **kwargs):
    """Run ``fn`` with a time limit: ("ok", result) | ("timeout", None) | ("error", exc)."""
    import signal

    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        _state["armed"] = True
        signal.setitimer(signal.ITIMER_REAL, max(0.01, seconds), 0.05)  # again every 50 ms
        try:
            return "ok", fn(*args, **kwargs)
        except _Timeout:
            return "timeout", None
        except Exception as e:
            return "error", e
        finally:
            _state["armed"] = False
    except _Timeout:  # fired between the call and the disarming
        return "timeout", None
    finally:
        _state["armed"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class _Window:
    def __init__(self, ns, scope):
        self.ns, self.scope = ns, scope
        self.files = set()  # files of the cells that ran in the window
        self.fidx = {}  # file name -> small number, for line keys
        self.records = []
        self.stack = []  # records of the notebook's frames now running (outermost first)
        self.frames = {}  # id(frame) -> record
        self.snapshots = {}  # code -> arguments kept
        self.nodes = {}  # id(grad_fn or leaf) -> (object, record)
        self.autograd_calls = 0
        self.autograd_inside = 0  # autograd calls made while one of the notebook's functions ran

    def file(self, name):
        return self.fidx.setdefault(name, len(self.fidx))

    def enter(self, frame, code):
        if code.co_name == "<module>":
            self.files.add(code.co_filename)
            return False
        if not code.co_flags & _CO_OPTIMIZED:
            return False  # a class body
        if self.scope == "cells" and code.co_filename not in self.files:
            return False
        if code.co_name.startswith("<") and code.co_name != "<lambda>":
            return bool(self.stack)  # a comprehension: its lines belong to the call around it
        if len(self.records) >= MAX_RECORDS:
            return False
        keep = self.snapshots.get(code, 0) < MAX_SNAPSHOTS
        rec = {"code": code, "depth": len(self.stack), "outer": all(r["code"] is not code for r in self.stack),
               "lines": {}, "offsets": set(), "seq": [], "args": _arguments(frame, code) if keep else None,
               "out": None, "reached": False, "t0": _perf(), "seconds": None, "error": False}
        if keep:
            self.snapshots[code] = self.snapshots.get(code, 0) + 1
        self.records.append(rec)
        self.frames[id(frame)] = rec
        self.stack.append(rec)
        return True

    def line(self, frame):
        key = (self.file(frame.f_code.co_filename), frame.f_lineno)
        for rec in self.stack:
            rec["lines"][key] = rec["lines"].get(key, 0) + 1
        rec = self.frames.get(id(frame))
        if rec is not None and len(rec["seq"]) < MAX_SEQ:
            rec["seq"].append(frame.f_lineno)

    def opcode(self, frame):
        key = (self.file(frame.f_code.co_filename), frame.f_lasti)
        for rec in self.stack:
            rec["offsets"].add(key)

    def leave(self, frame, value):
        rec = self.frames.pop(id(frame), None)
        if rec is None:
            return
        rec["seconds"] = _perf() - rec["t0"]
        if self.stack and self.stack[-1] is rec:
            self.stack.pop()
        else:
            self.stack = [r for r in self.stack if r is not rec]
        outs = _tensors_in(value)
        rec["out"] = len(outs)
        for t in outs:
            if len(self.nodes) >= 4 * MAX_RECORDS:
                break
            if t.requires_grad:
                obj = t.grad_fn if t.grad_fn is not None else t
                self.nodes[id(obj)] = (obj, rec)

    def autograd(self, frame):
        self.autograd_calls += 1
        if self.stack:
            self.autograd_inside += 1
        loc = frame.f_locals
        roots = loc.get("tensors", loc.get("outputs"))
        for node in _graph(roots):
            hit = self.nodes.get(id(node))
            if hit is not None and hit[0] is node:
                hit[1]["reached"] = True
            var = getattr(node, "variable", None)
            if var is not None:
                hit = self.nodes.get(id(var))
                if hit is not None and hit[0] is var:
                    hit[1]["reached"] = True


def _perf():
    import time

    return time.perf_counter()


def _graph(roots):
    """Nodes of the autograd graph behind ``roots`` (bounded)."""
    import torch

    todo = [t.grad_fn if t.grad_fn is not None else t for t in _tensors_in(roots) if isinstance(t, torch.Tensor)]
    seen = set()
    while todo and len(seen) < MAX_NODES:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        for nxt in getattr(node, "next_functions", ()) or ():
            if nxt and nxt[0] is not None and id(nxt[0]) not in seen:
                todo.append(nxt[0])


def _tensors_in(v, depth=0):
    import torch

    if isinstance(v, torch.Tensor):
        return [v]
    out = []
    if depth < 3:
        if isinstance(v, (list, tuple)):
            for item in v[:64]:
                out += _tensors_in(item, depth + 1)
        elif isinstance(v, dict):
            for item in list(v.values())[:64]:
                out += _tensors_in(item, depth + 1)
    return out


def _snap(v, depth=0):
    """A copy of an argument as it was at the call (the cell may change it in place later)."""
    import torch

    if isinstance(v, torch.Tensor):
        if v.numel() > MAX_SNAPSHOT_NUMEL:
            return v  # kept as it is: too large to copy for every call
        try:
            c = v.detach().clone()
            return c.requires_grad_(True) if v.requires_grad and c.is_floating_point() else c
        except Exception:
            return v
    if depth < 2 and type(v) in (list, tuple) and len(v) <= 64:
        return type(v)(_snap(x, depth + 1) for x in v)
    if depth < 2 and type(v) is dict and len(v) <= 64:
        return {k: _snap(x, depth + 1) for k, x in v.items()}
    return v


def _arguments(frame, code):
    loc = frame.f_locals
    names = code.co_varnames
    n = code.co_argcount
    args = [_snap(loc.get(k)) for k in names[:n]]
    kwargs = {k: _snap(loc.get(k)) for k in names[n:n + code.co_kwonlyargcount]}
    i = n + code.co_kwonlyargcount
    if code.co_flags & _CO_VARARGS:
        args += [_snap(v) for v in loc.get(names[i], ())]
        i += 1
    if code.co_flags & _CO_VARKEYWORDS:
        kwargs.update({k: _snap(v) for k, v in dict(loc.get(names[i], {})).items()})
    return args, kwargs


def _local(frame, event, arg):
    if _state["paused"]:
        return _local
    for w in _state["windows"].values():
        if event == "line":
            w.line(frame)
        elif event == "opcode":
            w.opcode(frame)
        elif event == "return":
            w.leave(frame, arg)
    return _local


def _global(frame, event, arg):
    if event != "call" or _state["paused"]:
        return None
    code = frame.f_code
    if any(code is c for c in _state["autograd_codes"]):
        for w in list(_state["windows"].values()):
            try:
                w.autograd(frame)
            except Exception:
                pass
        return None
    if frame.f_globals is not _state["ns"]:
        return None
    traced = False
    for w in list(_state["windows"].values()):
        traced = w.enter(frame, code) or traced
    if traced:
        frame.f_trace_opcodes = True
        return _local
    return None


# The trace function is on only while a cell runs (from IPython's pre_run_cell to its
# post_execute), not while the kernel handles messages between cells: a Python trace makes every
# frame of the thread slower, and the kernel's own message handling (ipykernel's and the
# recorder's) cost about 2.5 ms more per request with it on. Nothing the notebook does runs there.

def _trace_on(info=None):
    if _state["windows"] and _sys.gettrace() is _state.get("previous_trace"):
        _sys.settrace(_global)


def _trace_off():
    if _sys.gettrace() is _global:
        _sys.settrace(_state.get("previous_trace"))


def _hook_cells():
    """Once per kernel: the trace follows the cells (outside IPython it stays on throughout)."""
    if _state.get("trace_hooked"):
        return
    try:
        from IPython import get_ipython

        events = get_ipython().events
        events.register("pre_run_cell", _trace_on)  # after the recorder's own (registered at set-up)
        events.register("post_execute", _trace_off)  # before any post_run_cell (the recorder's)
        _state["trace_hooked"] = True
    except Exception:
        pass


def op_trace_start(req):
    import torch.autograd as ag

    _state["autograd_codes"] = tuple(f.__code__ for f in (ag.backward, ag.grad) if hasattr(f, "__code__"))
    _state["ns"] = _ns()
    windows = _state["windows"]
    if not windows:
        _state["previous_trace"] = _sys.gettrace()
    windows[req.get("key", "")] = _Window(_ns(), req.get("scope", "cells"))
    _hook_cells()
    _sys.settrace(_global)
    return {"type": "ok"}


def _signature(rec):
    import hashlib

    data = repr((sorted(rec["lines"].items()), sorted(rec["offsets"])))
    return hashlib.sha1(data.encode()).hexdigest()[:16]


def _loop_paths(seq):
    """Distinct paths taken by the iterations of the call's own loops: a loop whose iterations
    take different branches shows control flow within one call."""
    best = 1
    heads = {seq[i] for i in range(1, len(seq)) if seq[i] <= seq[i - 1]}
    for h in heads:
        segments, cur, started = set(), [], False
        for ln in seq:
            if ln == h:
                if started and cur:
                    segments.add(tuple(cur))
                cur, started = [], True
            elif started:
                cur.append(ln)
        best = max(best, len(segments))
    return best


def _name(code):
    return getattr(code, "co_qualname", code.co_name)


def _function_of(code, ns):
    """The function object running ``code``: from the namespace first, else any referrer."""
    import gc
    import types

    cache = _state.setdefault("functions", {})
    if code in cache:
        return cache[code]
    cache[code] = _find_function(code, ns, gc, types)
    return cache[code]


def _find_function(code, ns, gc, types):
    for v in list(ns.values()):
        f = getattr(v, "__func__", v)
        if isinstance(f, types.FunctionType) and f.__code__ is code:
            return f
    for ref in gc.get_referrers(code):
        if isinstance(ref, types.FunctionType) and ref.__code__ is code and ref.__globals__ is ns:
            return ref
    return None


def op_trace_stop(req):
    """Close a window and report each recorded call; optionally check autograd's gradient at the
    student's own calls (``gradcheck``) and call the student's function on given inputs
    (``hidden``). Every call the grader makes has a time limit; the whole op has a budget."""
    windows = _state["windows"]
    w = windows.pop(req.get("key", ""), None)
    if not windows:
        _sys.settrace(_state.get("previous_trace"))
    if w is None:
        return {"type": "error", "ename": "NoWindow", "evalue": "the trace was not started"}
    out = {"type": "trace", "calls": [], "autograd_calls": w.autograd_calls,
           "autograd_inside": w.autograd_inside, "truncated": len(w.records) >= MAX_RECORDS}
    for i, rec in enumerate(w.records):
        rec["sig"] = _signature(rec)
        rec["loop_paths"] = _loop_paths(rec["seq"])
        rec["index"] = i
        if len(out["calls"]) < MAX_SENT:
            out["calls"].append(_describe(w, rec))
    if req.get("abort") or not (req.get("gradcheck") or req.get("hidden") is not None):
        return out
    return _Later(lambda: _rerun(w, req, out))


def _rerun(w, req, out):
    budget = {"end": _perf() + float(req.get("budget", 6.0)), "limit": float(req.get("time_limit", 2.0))}
    recorder = _sys.modules.get("__grader_recorder__")
    rstate = getattr(recorder, "_st", None) if recorder is not None else None
    was = rstate.get("paused") if isinstance(rstate, dict) else None
    _state["paused"] = True
    if isinstance(rstate, dict):
        rstate["paused"] = True  # the grader's own calls are not the notebook's
    try:
        if req.get("gradcheck"):
            _gradchecks(w, out, budget)
        if req.get("hidden") is not None:
            out["hidden"] = _hidden_calls(w, req["hidden"], budget)
    finally:
        _state["paused"] = False
        if isinstance(rstate, dict):
            rstate["paused"] = was
    return out


def _describe(w, rec):
    import torch

    own = w.fidx.get(rec["code"].co_filename)
    args, kwargs = rec["args"] or ([], {})
    first = next((t for t in _tensors_in([args, kwargs]) if isinstance(t, torch.Tensor)
                  and t.is_floating_point()), None)
    d = {"function": _name(rec["code"]), "depth": rec["depth"], "outer": rec["outer"],
         "path": rec["sig"], "loop_paths": rec["loop_paths"],
         "lines": sorted({ln for (f, ln) in rec["lines"] if f == own})[:200],
         "reached": rec["reached"], "outputs": rec["out"]}
    if first is not None:
        d["input"] = {"dtype": str(first.dtype).replace("torch.", ""), "shape": list(first.shape),
                      "values": _clean(first.detach().reshape(-1)[:8].tolist())}
    return d


# -- the gradient at the student's own calls, against finite differences

def _flatten(obj, slots, depth=0):
    """Replace floating-point tensors in args by slot markers; collect them in ``slots``."""
    import torch

    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and not obj.is_complex():
            slots.append(obj)
            return _Slot(len(slots) - 1)
        return obj
    if depth < 2 and type(obj) in (list, tuple):
        return type(obj)(_flatten(v, slots, depth + 1) for v in obj)
    if depth < 2 and type(obj) is dict:
        return {k: _flatten(v, slots, depth + 1) for k, v in obj.items()}
    return obj


class _Slot:
    def __init__(self, i):
        self.i = i


def _fill(obj, values):
    if isinstance(obj, _Slot):
        return values[obj.i]
    if type(obj) in (list, tuple):
        return type(obj)(_fill(v, values) for v in obj)
    if type(obj) is dict:
        return {k: _fill(v, values) for k, v in obj.items()}
    return obj


def _run_traced(w, fn, args, kwargs, seconds):
    """Call ``fn`` once, tracing the path it takes as the window would. -> (status, value, sig)."""
    probe = _Window(w.ns, w.scope)
    probe.fidx, probe.files = w.fidx, w.files
    saved = dict(_state["windows"])
    _state["windows"].clear()
    _state["windows"]["__probe__"] = probe
    _state["paused"] = False
    previous = _sys.gettrace()
    _sys.settrace(_global)
    try:
        status, value = _limited(seconds, fn, *args, **kwargs)
    finally:
        _sys.settrace(previous)
        _state["paused"] = True
        _state["windows"].clear()
        _state["windows"].update(saved)
    top = next((r for r in probe.records if r["depth"] == 0), None)
    return status, value, _signature(top) if top is not None else ""


def _objective(value, weights_seed):
    """L(y) = sum_k <w_k, y_k> over the floating-point outputs that autograd tracks; the weights
    are fixed numbers in [0.5, 1.5] (a plain sum could hide errors that cancel)."""
    import torch

    outs = [t for t in _tensors_in(value) if t.is_floating_point() and not t.is_complex()]
    if not outs:
        return None
    g = torch.Generator().manual_seed(weights_seed)
    single = sum(t.numel() for t in outs) == 1  # a scalar output: its own gradient, unweighted
    total = None
    for t in outs:
        wgt = torch.ones((), dtype=torch.float64) if single else torch.rand(t.shape, generator=g, dtype=torch.float64) + 0.5
        term = (t.to(torch.float64) * wgt).sum()
        total = term if total is None else total + term
    return total


def _gradchecks(w, out, budget):
    import torch

    chosen, seen_inputs, seen_paths = [], set(), set()
    candidates = [r for r in w.records if r["reached"] and r["args"] is not None]
    candidates.sort(key=lambda r: r["depth"])
    for pass_ in (0, 1):  # one call per distinct path first, then the others
        for r in candidates:
            if len(chosen) >= MAX_GRADCHECKS or any(r is c for c in chosen):
                continue
            if pass_ == 0 and (r["code"], r["sig"]) in seen_paths:
                continue
            key = (r["code"], repr([t.detach().reshape(-1)[:64].tolist() for t in _tensors_in(r["args"])
                                    if isinstance(t, torch.Tensor)]))
            if key in seen_inputs:
                continue
            seen_inputs.add(key)
            seen_paths.add((r["code"], r["sig"]))
            chosen.append(r)
    for r in chosen:
        item = out["calls"][r["index"]] if r["index"] < len(out["calls"]) else None
        if item is None:
            continue
        if _perf() > budget["end"]:
            item["gradcheck"] = {"skipped": "time budget"}
            continue
        try:
            item["gradcheck"] = _gradcheck(w, r, budget)
        except _Timeout:
            item["gradcheck"] = {"timeout": True}
        except Exception as e:
            item["gradcheck"] = {"error": "%s: %s" % (type(e).__name__, str(e)[:MAX_TEXT])}


def _as_float64(obj):
    import copy

    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().to(torch.float64) if obj.is_floating_point() else obj
    if isinstance(obj, torch.nn.Module):
        try:
            return copy.deepcopy(obj).double()
        except Exception:
            return obj
    if type(obj) in (list, tuple):
        return type(obj)(_as_float64(v) for v in obj)
    if type(obj) is dict:
        return {k: _as_float64(v) for k, v in obj.items()}
    return obj


def _gradcheck(w, rec, budget):
    import torch

    fn = _function_of(rec["code"], w.ns)
    if fn is None:
        return {"error": "the function could not be found again to re-run it"}
    args, kwargs = rec["args"]
    limit = min(budget["limit"], max(0.5, 20 * (rec["seconds"] or 0.0) + 0.5))
    note = ""
    for dtype_mode in ("float64", "own"):
        slots = []
        template = _flatten([args, kwargs], slots)
        if not slots:
            return {"error": "the call has no floating-point tensor argument to differentiate with respect to"}
        wrt = [i for i, t in enumerate(slots) if t.requires_grad] or list(range(len(slots)))
        base = [t.detach().clone() for t in slots]
        if dtype_mode == "float64":
            base = [t.to(torch.float64) for t in base]
            template = _as_float64(template)
        xs = [t.clone().requires_grad_(i in wrt) for i, t in enumerate(base)]
        a, k = _fill(template, xs)
        status, value, path = _run_traced(w, fn, a, k, limit)
        if dtype_mode == "float64" and (status != "ok" or path != rec["sig"]):
            note = "float64 copy failed or took another path: checked in the student's dtype"
            continue
        if status == "timeout":
            return {"timeout": True}
        if status == "error":
            return {"error": "%s: %s" % (type(value).__name__, str(value)[:MAX_TEXT])}
        L = _objective(value, 1234)
        if L is None or not L.requires_grad:
            return {"error": "no output is a tensor that autograd tracks from the input"}
        grads = torch.autograd.grad(L, [xs[i] for i in wrt], allow_unused=True)
        grads = [g if g is not None else torch.zeros_like(xs[i]) for g, i in zip(grads, wrt)]
        n = sum(xs[i].numel() for i in wrt)
        dt = xs[wrt[0]].dtype
        base_eps = 1e-6 if dt == torch.float64 else (1e-3 if dt == torch.float32 else 1e-2)
        scale = max([1.0] + [float(xs[i].detach().abs().max()) for i in wrt if xs[i].numel()])
        eps = base_eps * scale
        gen = torch.Generator().manual_seed(4321)
        if n <= COORDINATE_LIMIT:
            directions = []
            for j in range(n):
                flat = torch.zeros(n, dtype=torch.float64)
                flat[j] = 1.0
                directions.append(flat)
            mode = "coordinates"
        else:
            directions = []
            for _ in range(3):
                v = torch.randn(n, generator=gen, dtype=torch.float64)
                directions.append(v / v.norm())
            mode = "directions"
        gflat = torch.cat([g.detach().to(torch.float64).reshape(-1) for g in grads])
        auto, plus, minus, boundary = [], [], [], []
        for v in directions:
            auto.append(_clean(float((gflat * v).sum())))
            for sign, store in ((1.0, plus), (-1.0, minus)):
                if _perf() > budget["end"]:
                    return {"skipped": "time budget"}
                moved, start = list(base), 0
                for i in wrt:
                    m = xs[i].numel()
                    step = v[start:start + m].reshape(xs[i].shape).to(base[i].dtype)
                    moved[i] = base[i] + sign * eps * step
                    start += m
                a2, k2 = _fill(template, moved)
                st, val, p = _run_traced(w, fn, a2, k2, limit)
                if st == "timeout":
                    return {"timeout": True, "perturbed": True}
                if st == "error":
                    return {"error": "%s: %s" % (type(val).__name__, str(val)[:MAX_TEXT]), "perturbed": True}
                Lv = _objective(val, 1234)
                store.append(_clean(float(Lv.detach())) if Lv is not None else "nan")
                if p != path and (not boundary or boundary[-1] != len(auto) - 1):
                    boundary.append(len(auto) - 1)
        return {"mode": mode, "dtype": str(dt).replace("torch.", ""), "eps": eps, "numel": n,
                "auto": auto, "plus": plus, "minus": minus, "boundary": boundary,
                "value": _clean(float(L.detach())), "note": note,
                "weighted": sum(t.numel() for t in _tensors_in(value) if t.is_floating_point()) > 1}
    return {"error": "could not re-run the call"}


# -- the student's function on inputs the grader chose (hidden checks)

def _target(w, fallback):
    """The function to call: one whose output autograd differentiated in the window, else one
    the window's cells called with a floating-point tensor, else the name given."""
    import torch

    for want_reached in (True, False):
        for r in sorted(w.records, key=lambda r: r["depth"]):
            if r["args"] is None or (want_reached and not r["reached"]):
                continue
            slots = []
            template = _flatten(list(r["args"]), slots)
            if not slots:
                continue
            fn = _function_of(r["code"], w.ns)
            if fn is None:
                continue
            pick = next((i for i, t in enumerate(slots) if t.requires_grad), 0)
            return fn, template, slots, pick, "autograd" if want_reached else "called"
    fn = w.ns.get(fallback) if fallback else None
    if callable(fn):
        return fn, [[_Slot(0)], {}], [torch.zeros(())], 0, "name"
    return None


def _hidden_calls(w, spec, budget):
    import torch

    found = _target(w, spec.get("function"))
    if found is None:
        return {"type": "error", "ename": "NotFound", "evalue": "no function of the notebook was called"}
    fn, template, slots, pick, how = found
    results = []
    for inp in spec.get("inputs", []):
        if _perf() > budget["end"]:
            results.append({"skipped": "time budget"})
            continue
        dtype = inp.get("dtype") or str(slots[pick].dtype).replace("torch.", "")
        if dtype not in ("float32", "float64", "float16", "bfloat16"):
            dtype = "float32"
        x = torch.tensor(inp["values"], dtype=getattr(torch, dtype)).requires_grad_(True)
        values = list(slots)
        values[pick] = x
        a, k = _fill(template, values)

        def call():
            y = fn(*a, **k)
            if isinstance(y, torch.Tensor) and y.requires_grad:  # only x's gradient: no other leaf's .grad changes
                x.grad = torch.autograd.grad(y.sum(), x, allow_unused=True)[0]
            return y

        st, y, path = _run_traced(w, call, [], {}, budget["limit"])
        if st == "timeout":
            results.append({"timeout": True})
        elif st == "error":
            results.append({"error": _err(y)})
        else:
            results.append({"value": encode(y), "grad": encode(x.grad) if x.grad is not None else {"type": "none"},
                            "path": path})
    return {"type": "calls", "function": _name(fn.__code__) if hasattr(fn, "__code__") else type(fn).__name__,
            "found_by": how, "results": results}


OPS["trace_start"] = op_trace_start
OPS["trace_stop"] = op_trace_stop
