"""Numerical gradient: for a function the student designed, autograd's gradient at the
student's own inputs must agree with central finite differences in float64. The kernel only
reports f(x ± eps·e_i) and the autograd gradient; the differences are formed here."""
from __future__ import annotations

from .. import capture
from ..model import Text
from .base import CheckKind, Context, Param, Verdict, failed, passed, register
from ._trace import trace_requests


@register
class NumericalGradient(CheckKind):
    kind = "numgrad"
    summary = Text("自動微分的梯度與數值微分一致", "autograd's gradient agrees with finite differences")
    params = {
        "rtol": Param((int, float), default=1e-4),
        "atol": Param((int, float), default=1e-5),
    }

    def requests(self, spec, region):
        return trace_requests(region)

    def judge(self, ctx: Context) -> Verdict:
        import torch

        t = ctx.t
        calls = (ctx.got.get("trace") or {}).get("calls") or []
        checked = [c for c in calls if isinstance(c.get("gradcheck"), dict)]
        if not calls:
            return failed(t("這些儲存格沒有呼叫你自己定義的函式（需要定義一個函式，並用張量輸入呼叫它）",
                            "your cells never called a function you defined (define one and call it on a tensor)"))
        if not checked:
            return failed(t("你的函式沒有以浮點張量作為第一個參數被呼叫，無法檢查梯度",
                            "your function was never called with a floating-point tensor as its first argument, so its gradient cannot be checked"))
        bad = []
        for c in checked:
            g = c["gradcheck"]
            where = _input_text(c)
            if "error" in g:
                bad.append(t(f"{c['function']}({where})：{g['error']}", f"{c['function']}({where}): {g['error']}"))
                continue
            try:
                auto = capture.tensor(g["grad"], with_grad=False).to(torch.float64).reshape(-1)
                plus = torch.tensor(capture.floats(g["plus"]), dtype=torch.float64)
                minus = torch.tensor(capture.floats(g["minus"]), dtype=torch.float64)
                eps = float(g["eps"])
            except (capture.CaptureError, KeyError, TypeError, ValueError) as e:
                bad.append(str(e))
                continue
            numeric = (plus - minus) / (2 * eps)
            if auto.shape != numeric.shape or not torch.allclose(auto, numeric, rtol=ctx.p("rtol"), atol=ctx.p("atol")):
                why = ""
                if g.get("path_changes"):
                    why = t("：這個輸入正好在控制流切換分支的地方（x 稍微變動就走不同的分支），函式在這裡不可微，"
                            "自動微分只給出其中一個分支的梯度；換一個不在分支邊界上的輸入",
                            ": this input sits exactly where your control flow switches branches (a tiny change of x "
                            "takes another branch), so the function is not differentiable there and autograd reports one "
                            "branch's gradient; use an input away from the boundary")
                bad.append(t(f"{c['function']}({where})：自動微分 {_fmt(auto)}，數值微分 {_fmt(numeric)}{why}",
                             f"{c['function']}({where}): autograd {_fmt(auto)}, finite differences {_fmt(numeric)}{why}"))
        if bad:
            return failed(t("梯度與中央差分不一致：", "gradient disagrees with central differences: ") + " | ".join(bad[:3]),
                          (len(checked) - len(bad)) / len(checked))
        return passed(t(f"在 {len(checked)} 個輸入上檢查過", f"checked at {len(checked)} input(s)"))


def _fmt(v) -> str:
    return "[" + ", ".join(f"{x:.4g}" for x in v.tolist()[:8]) + (", …]" if v.numel() > 8 else "]")


def _input_text(call: dict) -> str:
    try:
        x = capture.tensor(call["input"], with_grad=False).reshape(-1)
    except (capture.CaptureError, KeyError):
        return "x"
    return _fmt(x)
