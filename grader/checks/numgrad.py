"""Numerical gradient: for a function the student designed, autograd's gradient at the
student's own calls must agree with finite differences.

The kernel records every call of a function defined in the cells (any arguments, any return,
lambdas, methods, ``nn.Module.forward``), which of those calls autograd differentiated
(``backward()`` or ``torch.autograd.grad`` reached their output), and re-runs up to six of them
on copies of their arguments: in float64 where the copy takes the same path, else in the
student's own dtype. It differentiates L(x) = Σ w·f(x) (fixed weights w) with autograd and
reports, along each input coordinate (up to 16 elements) or along three random unit
directions v (more), grad·v and L(x ± εv). The differences are formed and compared here.
A call where ±εv changes the path is on a branch boundary: reported, not judged."""
from __future__ import annotations

import math

from ..model import Text
from .base import CheckKind, Context, Param, Verdict, errored, failed, passed, register
from ._trace import calls_of, trace_requests

MACHINE_EPS = {"float64": 2.2e-16, "float32": 1.2e-7, "float16": 9.8e-4, "bfloat16": 7.8e-3}
DTYPE_RTOL = {"float32": 1e-2, "float16": 5e-2, "bfloat16": 5e-2}


@register
class NumericalGradient(CheckKind):
    kind = "numgrad"
    summary = Text("自動微分的梯度與數值微分一致", "autograd's gradient agrees with finite differences")
    params = {
        "rtol": Param((int, float), default=1e-4, doc="relative tolerance in float64 (looser in the student's float32)"),
        "atol": Param((int, float), default=1e-5),
    }

    def requests(self, spec, region):
        return trace_requests(spec.cell, "cells", gradcheck=True)

    def judge(self, ctx: Context) -> Verdict:
        t = ctx.t
        calls = calls_of(ctx.got)
        if not calls:
            return failed(t("這些儲存格沒有呼叫你自己定義的函式（需要定義一個函式，並用張量輸入呼叫它）",
                            "your cells never called a function you defined (define one and call it on a tensor)"))
        payload = ctx.got.get("trace") or {}
        if not any(c.get("reached") for c in calls):
            if payload.get("autograd_inside"):
                return failed(t("你的函式在內部自己呼叫 backward()，回傳的不是可以微分的值，所以無法檢查自動微分的梯度："
                                "讓函式回傳計算結果，在函式外面呼叫 backward()",
                                "your function calls backward() itself and returns no value autograd can differentiate, so "
                                "its gradient cannot be checked: return the computed value and call backward() outside"))
            return failed(t("自動微分從來沒有對你的函式的輸出求導（沒有 backward() 或 torch.autograd.grad 走到它）："
                            "這個練習是看自動微分如何穿過控制流，自己手寫的導數不算",
                            "autograd never differentiated your function's output (no backward() or torch.autograd.grad "
                            "reached it): the exercise is about autograd's gradient through control flow, so a derivative "
                            "written by hand earns none of these points"))
        good, bad, boundary, unjudged, partly, directional = [], [], [], [], [], 0
        for c in calls:
            g = c.get("gradcheck")
            if not isinstance(g, dict):
                continue
            where = _where(c)
            if g.get("timeout"):
                unjudged.append(t(f"{where}：重新執行超過時間限制", f"{where}: re-running it ran past the time limit"))
                continue
            if "error" in g or "skipped" in g:
                unjudged.append(f"{where}: {str(g.get('error') or g.get('skipped'))[:160]}")
                continue
            verdict = _compare(g, ctx.p("rtol"), ctx.p("atol"))
            if verdict is None:
                unjudged.append(t(f"{where}：回報的資料無法讀取", f"{where}: the kernel's report could not be read"))
            elif verdict == "boundary":
                boundary.append(where)
            else:
                if verdict[3]:
                    partly.append(where)
                if g.get("mode") == "directions":
                    directional += 1
                if verdict[0]:
                    good.append(where)
                else:
                    bad.append((where, verdict[1], verdict[2], g))
        note = ""
        if boundary:
            note = t(f"（{', '.join(boundary[:3])} 正好在控制流切換分支的地方：x 稍微變動就走不同的分支，函式在那裡不可微，"
                     "自動微分只給出其中一個分支的梯度，所以那個呼叫沒有拿來比較；換一個不在分支邊界上的輸入更好）",
                     f" ({', '.join(boundary[:3])} sits exactly where your control flow switches branches: a tiny change of "
                     "the input takes another branch, so the function is not differentiable there and autograd reports one "
                     "branch's gradient; that call was not compared — an input away from the boundary shows more)")
        if partly:
            note += t(f"（{', '.join(partly[:3])}：有些座標（或方向）稍微變動就走另一個分支，那些沒有比較，其餘的都比較了）",
                      f" ({', '.join(partly[:3])}: along some coordinates (or directions) a tiny change takes another branch; "
                      "those were left out, the others compared)")
        if directional:
            note += t(f"（{directional} 個輸入超過 16 個元素：沿 3 個隨機方向 v 比較 grad·v 與 (f(x+εv) − f(x−εv)) / 2ε）",
                      f" ({directional} input(s) over 16 elements: grad·v compared with (f(x+εv) − f(x−εv)) / 2ε "
                      "along 3 random directions v)")
        if unjudged:
            note += t("（無法檢查：", " (not checked: ") + " | ".join(unjudged[:2]) + t("）", ")")
        judged = len(good) + len(bad)
        if not judged:
            if boundary:
                return failed(t("你的每個呼叫都正好在分支的邊界上，無法和數值微分比較",
                                "every call of yours sits on a branch boundary, so none can be compared with finite differences") + note)
            return errored(t("無法重新執行你的函式來檢查梯度", "your function could not be re-run to check its gradient") + note)
        if bad:
            lines = []
            for where, auto, numeric, g in bad[:3]:
                along = t("沿各座標", "along each coordinate") if g.get("mode") == "coordinates" else \
                    t("沿隨機方向 v 的方向導數", "directional derivatives along random directions v")
                of = t("（輸出的加權和 Σ w·f(x)，w 是固定的權重）", " (of the weighted sum Σ w·f(x), fixed weights w)") \
                    if g.get("weighted") else ""
                lines.append(t(f"{where}：{along}{of}，自動微分 {_fmt(auto)}，中央差分 {_fmt(numeric)}",
                               f"{where}: {along}{of}, autograd {_fmt(auto)}, central differences {_fmt(numeric)}"))
            return failed(t("梯度與中央差分不一致：", "gradient disagrees with central differences: ") + " | ".join(lines)
                          + t("。自動微分的梯度應該等於函式實際的變化率；常見原因是自訂的 backward 寫錯，或在計算中用了 "
                              ".detach()/.data/.item() 讓一部分計算脫離了計算圖",
                              ". Autograd's gradient should equal how fast the function really changes; a usual cause is a "
                              "wrong custom backward, or .detach()/.data/.item() taking part of the computation off the graph")
                          + note, len(good) / judged)
        return passed(t(f"在 {judged} 個你自己的呼叫上，自動微分的梯度與中央差分一致",
                        f"autograd's gradient agrees with central differences at {judged} of your own call(s)") + note)


def _compare(g: dict, rtol: float, atol: float):
    """(ok, autograd values, numerical values, directions skipped) | "boundary" (every direction
    changes the path) | None for a malformed report. A direction (or coordinate) along which
    ±ε changes the path crosses a branch boundary: it is left out, the others are compared."""
    try:
        auto = [float(v) for v in g["auto"]]
        plus = [float(v) for v in g["plus"]]
        minus = [float(v) for v in g["minus"]]
        eps = float(g["eps"])
        skip = {int(i) for i in g.get("boundary") or []}
    except (KeyError, TypeError, ValueError):
        return None
    if not auto or len(auto) != len(plus) or len(plus) != len(minus) or not eps > 0:
        return None
    if len(skip & set(range(len(auto)))) >= len(auto):
        return "boundary"
    dtype = str(g.get("dtype", "float64"))
    rtol = max(rtol, DTYPE_RTOL.get(dtype, 0.0))
    macheps = MACHINE_EPS.get(dtype, 1.2e-7)
    numeric = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
    ok = True
    for k, (a, n, p, m) in enumerate(zip(auto, numeric, plus, minus)):
        if k in skip:
            continue
        if not (math.isfinite(a) and math.isfinite(n)):
            ok = ok and a == n
            continue
        noise = 100 * macheps * max(1.0, abs(p), abs(m)) / eps
        if abs(a - n) > atol + noise + rtol * max(abs(a), abs(n)):
            ok = False
    return ok, auto, numeric, len(skip)


def _fmt(v: list[float]) -> str:
    return "[" + ", ".join(f"{x:.4g}" for x in v[:8]) + (", …]" if len(v) > 8 else "]")


def _where(call: dict) -> str:
    name = str(call.get("function", "?"))[:60]
    inp = call.get("input")
    if isinstance(inp, dict) and isinstance(inp.get("values"), list):
        shape = inp.get("shape") or []
        vals = [v for v in inp["values"] if isinstance(v, (int, float))]
        shown = _fmt(vals) if len(vals) == int(math.prod(shape)) else f"{_fmt(vals)[:-1]}, … shape {tuple(shape)}]"
        return f"{name}({shown})"
    return f"{name}(…)"
