"""The student's function on hidden inputs: find the function the notebook really used (the one
whose output autograd differentiated in the anchor's cells; else one those cells called with a
tensor; else the name given), call it on inputs the grader draws with a fixed seed, each call
with a time limit, and require on every input a relation over the input ``x`` (with its
``x.grad`` from ``y.sum().backward()``) and the output ``y`` — e.g. ``allclose(x.grad, y / x)``
for a piecewise-linear function — and that the inputs do not all take the same path through
its control flow. This tests the concept, not one spelling of the function: another threshold
or loop bound passes; a hard-coded result (one path for every input) fails."""
from __future__ import annotations

from .. import capture, expr
from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, failed, passed, register
from ._trace import trace_requests

# seconds: one call on a hidden input (the book's f takes milliseconds), and all of them
TIME_LIMIT = 1.0
BUDGET = 7.5

SIGNS = ("any", "positive", "negative")
SPEC_KEYS = {"shape", "sign", "scale", "dtype", "min_abs"}


def draw_inputs(specs: list[dict], seed: int) -> list[dict]:
    """Inputs as plain data (float64 values, standard normal times ``scale``, from numpy's
    generator seeded with ``seed``; ``dtype`` None means the dtype of the student's own call).
    ``min_abs`` moves elements closer to 0 than that away from it (keeping their sign)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for s in specs:
        x = rng.standard_normal(tuple(s.get("shape", [])))
        if s.get("sign") == "negative" and x.sum() > 0 or s.get("sign") == "positive" and x.sum() < 0:
            x = -x
        x = x * float(s.get("scale", 1.0))
        m = float(s.get("min_abs", 0.0))
        if m > 0:
            x = np.where(np.abs(x) < m, np.where(x < 0, -m, m), x)
        out.append({"dtype": s.get("dtype"), "values": x.tolist(), "shape": list(x.shape)})
    return out


def _describe(spec: dict) -> Reason:
    shape = spec.get("shape", [])
    kind = {0: "function.scalar", 1: "function.vector"}.get(len(shape), "function.matrix" if len(shape) == 2 else "function.tensor")
    sign = {"negative": Reason("function.sum_negative"), "positive": Reason("function.sum_positive")}.get(spec.get("sign", "any"), "")
    scale = float(spec.get("scale", 1.0))
    size = ""
    if scale <= 1e-2:
        size = Reason("function.tiny")
    elif scale >= 1e2 / 2:
        size = Reason("function.large")
    return Reason("function.describe", kind=Reason(kind), shape=str(tuple(shape)), sign=sign, size=size)


@register
class FunctionOnInputs(CheckKind):
    kind = "function"
    summary = Text("學生的函式在隱藏輸入上：梯度關係成立，路徑隨輸入而變",
                   "the student's function on hidden inputs: a gradient relation holds and the path depends on the input")
    params = {
        "function": Param(str, default="", doc="name to fall back on when no function of the notebook was seen in use"),
        "inputs": Param(list, required=True, doc="list of {shape: [..], sign: any|positive|negative, scale, min_abs, dtype}"),
        "seed": Param(int, default=0, doc="seed of the grader's generator for the inputs"),
        "expect": Param(str, default="allclose(x.grad, y / x)",
                        doc="relation over the input x (with x.grad after y.sum().backward()) and the output y, on every input"),
        "min_paths": Param(int, default=2, doc="distinct paths the inputs must take (0: not required)"),
        "rtol": Param((int, float), default=1e-4, doc="default rtol for allclose in expect"),
        "atol": Param((int, float), default=1e-5, doc="default atol for allclose in expect"),
    }

    def validate(self, params, fail):
        if params["function"] and not params["function"].isidentifier():
            fail("function", f"{params['function']!r} is not a valid name")
        if not params["inputs"]:
            fail("inputs", "give at least one input")
        for s in params["inputs"]:
            if not isinstance(s, dict) or set(s) - SPEC_KEYS:
                fail("inputs", "each input is a mapping with " + ", ".join(sorted(SPEC_KEYS)))
            shape = s.get("shape", [])
            if not isinstance(shape, list) or not all(isinstance(n, int) and 0 < n <= 64 for n in shape):
                fail("inputs", f"shape must be a list of sizes 1..64, got {shape!r}")
            if s.get("sign", "any") not in SIGNS:
                fail("inputs", f"sign must be one of {', '.join(SIGNS)}")
            if s.get("dtype") not in (None, "float32", "float64"):
                fail("inputs", "dtype must be float32 or float64 (or left out: the dtype of the student's own call)")
            for key in ("scale", "min_abs"):
                if key in s and not (isinstance(s[key], (int, float)) and s[key] >= 0):
                    fail("inputs", f"{key} must be a number >= 0")
        try:
            expr.parse(params["expect"], {"x", "y"})
        except expr.ExprError as e:
            fail("expect", str(e))

    def requests(self, spec, region):
        inputs = draw_inputs(spec.params["inputs"], spec.params["seed"])
        return trace_requests(spec.cell, "notebook", hidden={"function": spec.params["function"], "inputs": inputs},
                              time_limit=TIME_LIMIT, budget=BUDGET)

    def judge(self, ctx: Context) -> Verdict:
        from .. import tensors
        from ._expr import tolerant

        payload = ctx.got.get("trace") or {}
        hidden = payload.get("hidden") if isinstance(payload, dict) else None
        if not isinstance(hidden, dict) or hidden.get("type") != "calls":
            why = str((hidden or {}).get("evalue", "")) if isinstance(hidden, dict) else ""
            return failed(Reason("function.not_found", why=why))
        name = str(hidden.get("function", "?"))[:60]
        results = hidden.get("results") or []
        specs = ctx.p("inputs")
        if not isinstance(results, list) or len(results) != len(specs):
            return failed(Reason("function.result_count"))
        drawn = draw_inputs(specs, ctx.p("seed"))
        tree = tolerant(ctx.p("expect"), ctx.p("rtol"), ctx.p("atol"))
        wrong, paths, completed = [], set(), 0
        for i, (r, s, d) in enumerate(zip(results, specs, drawn)):
            label = Reason("function.input", i=i + 1, describe=_describe(s))
            if not isinstance(r, dict):
                wrong.append(Reason("function.unknown", input=label))
                continue
            if r.get("timeout"):
                paths.add("timeout")  # never ending on some inputs only is behaviour that depends on the input too
                wrong.append(Reason("function.timeout", input=label, limit=TIME_LIMIT))
                continue
            if "skipped" in r:
                wrong.append(Reason("function.skipped", input=label))
                continue
            if "error" in r:
                err = r["error"] if isinstance(r["error"], dict) else {}
                paths.add(f"raised {err.get('ename')}")
                wrong.append(Reason("function.raised", input=label, name=name, ename=str(err.get("ename")),
                                    evalue=str(err.get("evalue"))[:120]))
                continue
            paths.add(str(r.get("path")))
            completed += 1
            try:
                y = capture.value(r.get("value"))
                grad = capture.value(r.get("grad"))
            except capture.CaptureError as err:
                wrong.append(Reason("function.capture_error", input=label, error=str(err)))
                continue
            if not isinstance(y, tensors.Tensor):
                wrong.append(Reason("function.no_tensor", input=label, name=name))
                continue
            if not isinstance(grad, tensors.Tensor):
                wrong.append(Reason("function.no_grad", input=label))
                continue
            dtype = grad.dtype_name if grad.is_floating_point else "float64"  # x in its gradient's dtype
            x = tensors.tensor(d["values"], dtype)
            if grad.shape != x.shape:
                wrong.append(Reason("function.grad_shape", input=label, shape=str(tuple(grad.shape))))
                continue
            x.grad = tensors.tensor(grad, dtype)
            try:
                ok = expr._truth(expr.evaluate(tree, {"x": x, "y": y}))
            except Exception as err:
                ok = False
                wrong.append(Reason("function.eval_error", input=label, expect=ctx.p("expect"), error=str(err)[:100]))
                continue
            if not ok:
                wrong.append(Reason("function.not_hold", input=label, expect=ctx.p("expect")))
        n = len(specs)
        need = ctx.p("min_paths")
        if need and completed and len(paths) < need:
            return failed(Reason("function.one_path", name=name))
        if wrong:
            return failed(Reason("function.wrong", name=name, count=len(wrong), total=n, problems=wrong[:3]),
                          (n - len(wrong)) / n)
        how = {"autograd": Reason("function.by_autograd"), "called": Reason("function.by_call")}.get(
            str(hidden.get("found_by")), "")
        return passed(Reason("function.passed", name=name, how=how, total=n, paths=len(paths)))
