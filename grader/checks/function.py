"""Student function on hidden inputs: call the student's function on inputs the grader draws
with a fixed seed, and compare its values and gradients with the reference function's.
This is what catches a hard-coded function."""
from __future__ import annotations

from .. import capture
from ..model import Text
from .base import CheckKind, Context, Param, Verdict, errored, failed, passed, register
from .tensor_value import compare

SIGNS = ("any", "positive", "negative")


def draw_inputs(specs: list[dict], seed: int) -> list[dict]:
    """Inputs as plain data, the same for the student and the reference."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = []
    for s in specs:
        x = torch.randn(tuple(s.get("shape", [])), generator=g, dtype=torch.float64)
        x = torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x)  # never 0: the book's f loops on 0
        if s.get("sign") == "negative" and x.sum() > 0 or s.get("sign") == "positive" and x.sum() < 0:
            x = -x
        x = x * float(s.get("scale", 1.0))
        out.append({"dtype": s.get("dtype", "float32"), "values": x.to(torch.float32).tolist()
                    if s.get("dtype", "float32") == "float32" else x.tolist(), "shape": list(x.shape)})
    return out


def _describe(spec: dict) -> str:
    shape = spec.get("shape", [])
    kind = {0: "scalar", 1: "vector"}.get(len(shape), "matrix" if len(shape) == 2 else "tensor")
    sign = {"negative": ", sum < 0", "positive": ", sum > 0"}.get(spec.get("sign", "any"), "")
    return f"{kind} {tuple(shape)}{sign}"


@register
class FunctionOnInputs(CheckKind):
    kind = "function"
    summary = Text("學生的函式在隱藏輸入上的值與梯度", "the student's function on hidden inputs: values and gradients")
    needs_reference = True
    params = {
        "function": Param(str, required=True, doc="name of the function in the student's namespace"),
        "inputs": Param(list, required=True, doc="list of {shape: [..], sign: any|positive|negative, scale, dtype}"),
        "seed": Param(int, default=0, doc="seed of the grader's generator for the inputs"),
        "rtol": Param((int, float), default=1e-5),
        "atol": Param((int, float), default=1e-5),
    }

    def validate(self, params, fail):
        if not params["function"].isidentifier():
            fail("function", f"{params['function']!r} is not a valid name")
        if not params["inputs"]:
            fail("inputs", "give at least one input")
        for s in params["inputs"]:
            if not isinstance(s, dict) or set(s) - {"shape", "sign", "scale", "dtype"}:
                fail("inputs", "each input is a mapping with shape, sign, scale, dtype")
            shape = s.get("shape", [])
            if not isinstance(shape, list) or not all(isinstance(n, int) and 0 < n <= 64 for n in shape):
                fail("inputs", f"shape must be a list of sizes 1..64, got {shape!r}")
            if s.get("sign", "any") not in SIGNS:
                fail("inputs", f"sign must be one of {', '.join(SIGNS)}")
            if s.get("dtype", "float32") not in ("float32", "float64"):
                fail("inputs", "dtype must be float32 or float64")

    def requests(self, spec, region):
        inputs = draw_inputs(spec.params["inputs"], spec.params["seed"])
        return {"calls": ("post", {"op": "call", "function": spec.params["function"], "inputs": inputs})}

    def judge(self, ctx: Context) -> Verdict:
        import torch

        t, name = ctx.t, ctx.p("function")
        got, exp = ctx.got["calls"], ctx.expected["calls"] if ctx.expected else None
        if not exp or exp.get("type") != "calls":
            return errored(t("參考解的函式無法執行", "the reference function could not be run"))
        if got.get("type") == "error":
            return failed(t(f"找不到函式 {name}（{got.get('evalue', '')}）", f"function {name} not found ({got.get('evalue', '')})"))
        results = got.get("results") or []
        specs = ctx.p("inputs")
        if len(results) != len(specs):
            return failed(t("函式的結果數目不對", "wrong number of results from the function"))
        wrong = []
        for i, (g, e, s) in enumerate(zip(results, exp["results"], specs)):
            label = t(f"輸入 {i + 1}（{_describe(s)}）", f"input {i + 1} ({_describe(s)})")
            if "error" in g:
                err = g["error"]
                wrong.append(t(f"{label}：{name} 引發 {err.get('ename')}: {str(err.get('evalue'))[:120]}",
                               f"{label}: {name} raised {err.get('ename')}: {str(err.get('evalue'))[:120]}"))
                continue
            for part, zh in (("value", "值"), ("grad", "梯度")):
                try:
                    ev = capture.tensor(e[part], with_grad=False)
                except (capture.CaptureError, KeyError):
                    return errored(t("參考解的函式無法在這個輸入上執行", "the reference function failed on this input"))
                try:
                    gv = capture.value(g.get(part))
                except capture.CaptureError as err:
                    wrong.append(f"{label}: {err}")
                    break
                if not isinstance(gv, torch.Tensor):
                    wrong.append(t(f"{label}：{zh}不是張量", f"{label}: the {part} is not a tensor"))
                    break
                shown = f"{name}(x)" if part == "value" else "x.grad"
                v = compare(ctx, shown, gv, ev, ctx.p("rtol"), ctx.p("atol"), False)
                if v.status != "pass":
                    wrong.append(f"{label}: {v.message}")
                    break
        if wrong:
            ok = len(specs) - len(wrong)
            return failed(t(f"{name} 在 {len(wrong)} / {len(specs)} 個隱藏輸入上與正確答案不同：",
                            f"{name} disagrees with the correct function on {len(wrong)} of {len(specs)} hidden inputs: ")
                          + " | ".join(wrong[:3]), ok / len(specs))
        return passed()
