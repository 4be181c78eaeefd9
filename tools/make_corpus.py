"""Generates the verdict corpus: tests/corpus/notebooks/*.ipynb and tests/corpus/verdicts.json.

Each notebook works through the autograd section of Dive into Deep Learning and its exercises the
way a student might: another edition (d2l-zh 2.0 in zh-CN, the zh-TW course, d2l-en 0.17 and 1.0),
other names and import aliases, equivalent expressions, merged or split cells, extra cells, every
form of exercise marker (or none), other plotting APIs. It is composed from independent parts
(section variants, answer variants per exercise, layouts) drawn with a fixed seed.

Notebooks named `ok_*` are correct but written differently; `bad_*` are wrong but plausible in one
or two questions. Each has the verdict a fair teacher gives per question (see STANDARD below):
  full      full marks
  positive  some credit, not full marks
  notfull   must not get full marks
  zero      no credit
  -         the question does not exist in that edition (d2l-en 1.0 has no own-control-flow one)

The verdicts are decided here from what each part does, never from how the grader checks it.

    python3 tools/make_corpus.py            # (re)write the corpus
    python3 tools/make_corpus.py --check    # also run every notebook's code (plain Python, no kernel)
                                            # and verify that exactly the cells meant to raise do raise
    python3 tools/make_corpus.py --seed 7 --out /tmp/heldout   # a held-out corpus never committed:
    python3 tools/corpus_agreement.py /tmp/heldout              # does a change generalise?
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "corpus"
SEED = 20261127
N_OK = 78           # first batch
N_BAD = 52
N_OK2 = 14          # second batch: more styles (added later; the first batch is unchanged by them)
N_BAD2 = 16

STANDARD = """\
autograd-basics: full if x = arange(4.) (any float dtype) requires grad, y = 2·xᵀx and autograd gives
  x.grad = 4x; positive if part of it (y = xᵀx giving 2x); zero if no gradient autograd produced.
sum-gradient: full if autograd's gradient of sum(x) is ones (zeroed first); notfull if accumulated; zero if
  absent or hand-set.
nonscalar-backward: full if y = x*x is reduced (sum or ones gradient) and autograd gives 2x; zero if the
  backward on the non-scalar just errors.
detach: full if u = detached y, z = u*x, backward gives x.grad == u and y's own graph still gives 2x;
  positive if half.
control-flow: full if the book's f (any threshold) is called on a random scalar and a.grad == d/a is shown by
  autograd; notfull if f is hard-coded or the gradient hand-set.
ex1: full: the first derivative's graph must be built/kept and differentiated again (more compute and
  memory); positive: partly (memory with a reason, Hessian size); notfull: a one-line guess; zero: absent,
  placeholder, irrelevant.
ex2: full: the second backward is run and the RuntimeError shown (uncaught or caught and printed);
  positive: only retain_graph, or the error text only pasted (comment, markdown, string); zero: absent or y
  recomputed.
ex3: full: a vector/matrix, the non-scalar error shown AND fixed with a.grad == d/a; positive: one of the
  two; zero: scalar only or absent.
ex4: full: own input-dependent control flow, inputs taking two paths, autograd's gradient; positive: one
  path or no gradient; notfull: no (input-dependent) control flow or hand-written gradient.
ex5: full: sin and its autograd derivative plotted over a range; notfull: cos, sin(x+pi/2), finite
  differences, pasted numbers, one curve only, a single point without plot; zero: absent.
"""

QIDS = ["autograd-basics", "sum-gradient", "nonscalar-backward", "detach", "control-flow",
        "ex1-second-derivative-cost", "ex2-backward-twice", "ex3-vector-input", "ex4-own-control-flow",
        "ex5-sin-derivative-plot"]
EX = {"ex1": "ex1-second-derivative-cost", "ex2": "ex2-backward-twice", "ex3": "ex3-vector-input",
      "ex4": "ex4-own-control-flow", "ex5": "ex5-sin-derivative-plot"}

# ---------------------------------------------------------------------------------------------
# cells


@dataclass
class Cell:
    kind: str          # "code" | "md"
    src: str
    raises: bool = False   # this cell is meant to end with an uncaught exception


def code(src: str, raises: bool = False) -> Cell:
    return Cell("code", textwrap.dedent(src).strip("\n"), raises)


def md(src: str) -> Cell:
    return Cell("md", textwrap.dedent(src).strip("\n"))


@dataclass
class Ctx:
    rng: random.Random
    edition: str
    lang: str                     # language the student writes in: zh-CN, zh-TW, en
    n: dict = field(default_factory=dict)      # names: T (torch), x y u z a d f
    from_tensor: bool = False     # `from torch import tensor`
    plt_imported: bool = False
    np_imported: bool = False
    grad_exists: bool = False     # x.grad is a tensor (not None)
    d_backwarded: bool = False    # the control-flow d has had its backward run
    y_freed: bool = False         # the section's last y has been backpropagated (its graph is freed)
    needs: set = field(default_factory=set)
    wrongs: set = field(default_factory=set)
    notes: list = field(default_factory=list)   # what was drawn, for the verdict's "why"
    canon: bool = False           # the section typed in as the book has it (each list's first choice)
    force: dict = field(default_factory=dict)   # part -> style, to make sure a rare style is present
    v2: bool = False              # second batch: more styles (the first batch stays as it was)
    v3: bool = False              # a held-out corpus (--seed): also other wordings of the questions

    def pick(self, seq):
        seq = list(seq)
        return seq[0] if self.canon else self.rng.choice(seq)

    def s(self, src: str, **extra) -> str:
        """Substitutes $T, $x, ... in code."""
        return Template(textwrap.dedent(src).strip("\n")).substitute({**self.n, **extra})

    def c(self, src: str, raises: bool = False, **extra) -> Cell:
        return Cell("code", self.s(src, **extra), raises)

    def t(self, zh_cn: str, zh_tw: str, en: str) -> str:
        return {"zh-CN": zh_cn, "zh-TW": zh_tw, "en": en}[self.lang]


# ---------------------------------------------------------------------------------------------
# exercise wording (our own paraphrases, per edition and language) and marker texts

Q = {
    "zh-CN": {
        "ex1": "为什么二阶导数的计算开销比一阶导数大得多？",
        "ex2": "执行完一次反向传播之后，马上再执行一次，观察会出现什么情况。",
        "ex3": "在控制流的例子里我们求了 `d` 关于 `a` 的导数。如果把 `a` 换成随机向量或者矩阵，会发生什么？",
        "ex4": "自己重新设计一个求控制流梯度的例子，运行它并分析结果。",
        "ex5": "令 $f(x)=\\sin(x)$，画出 $f(x)$ 和 $\\frac{df(x)}{dx}$ 的图像，后者不能直接利用 $f'(x)=\\cos(x)$。",
    },
    "zh-TW": {
        "ex1": "為什麼二階導數的計算開銷會比一階導數大？",
        "ex2": "反向傳播函數執行完之後，立刻再執行一次，觀察會發生什麼事。",
        "ex3": "控制流的例子中我們計算了 `d` 對 `a` 的導數；若把變數 `a` 改成隨機向量或矩陣，會怎麼樣？",
        "ex4": "重新設計一個計算控制流梯度的例子，執行並分析結果。",
        "ex5": "設 $f(x)=\\sin(x)$，畫出 $f(x)$ 與 $\\frac{df(x)}{dx}$ 的圖形，後者不可直接用 $f'(x)=\\cos(x)$。",
    },
    "en": {
        "ex1": "Why does the second derivative cost so much more to compute than the first derivative?",
        "ex2": "Run the backpropagation function, then immediately run it once more. What happens?",
        "ex3": "In the control-flow example we take the derivative of `d` with respect to `a`. What happens if "
               "`a` becomes a random vector or matrix, so that `f(a)` is no longer a scalar? How do we "
               "analyze the result?",
        "ex4": "Design your own example of a gradient through control flow. Run it and analyze the result.",
        "ex5": "With $f(x) = \\sin(x)$, plot $f(x)$ and $\\frac{df(x)}{dx}$, computing the latter without "
               "using $f'(x) = \\cos(x)$.",
    },
}
Q_EN10 = {
    "ex2": "After running the backpropagation function, run it again straight away. What happens, and why?",
    "ex5": "Let $f(x) = \\sin(x)$. Plot $f$ together with its derivative $f'$, obtaining $f'$ by automatic "
           "differentiation instead of from $f'(x) = \\cos(x)$.",
    "x5": "For $f(x) = (\\log x^2)\\cdot\\sin x + x^{-1}$, draw the dependency graph that leads from $x$ to $f(x)$.",
    "x6": "Apply the chain rule to find $\\frac{df}{dx}$ for that function and put each term on your graph.",
    "x7": "With the graph and the intermediate derivatives, evaluate the gradient once from $x$ towards $f$ and "
          "once from $f$ back to $x$ (forward and backward differentiation).",
    "x8": "When is forward differentiation preferable, and when backward? Consider intermediate storage, "
          "parallelism and the sizes of the matrices and vectors.",
}
Q_ZH_EN10 = {  # an English d2l-en 1.0 notebook answered in Chinese: the student's own translation
    "ex5": "令 $f(x)=\\sin(x)$，画出 $f$ 和它的导数 $f'$，导数要用自动微分求，不要用 $f'(x)=\\cos(x)$。",
    "x5": "对 $f(x)=(\\log x^2)\\cdot\\sin x + x^{-1}$，画出从 $x$ 到 $f(x)$ 的依赖图。",
    "x6": "用链式法则求这个函数的 $\\frac{df}{dx}$，并把每一项标在依赖图上。",
    "x7": "分别从 $x$ 到 $f$、从 $f$ 回到 $x$ 计算一次梯度（前向与反向微分）。",
    "x8": "什么时候用前向微分，什么时候用反向微分？",
}
SHORT = {
    "zh-CN": {"ex1": "二阶导数的开销", "ex2": "再次反向传播", "ex3": "a 改成向量", "ex4": "自己的控制流例子",
              "ex5": "sin 的导数图"},
    "zh-TW": {"ex1": "二階導數的開銷", "ex2": "再跑一次反向傳播", "ex3": "a 改成向量", "ex4": "自己的控制流例子",
              "ex5": "sin 的導數圖"},
    "en": {"ex1": "Cost of second derivatives", "ex2": "Running backprop again", "ex3": "Vector a",
           "ex4": "My own control flow", "ex5": "sin and its derivative"},
}
ZH_NUM = "零一二三四五六七八"


Q_ALT = {  # other paraphrases, used only in held-out corpora (--seed)
    "zh-CN": {
        "ex1": "二阶导数为什么比一阶导数更耗费计算资源？",
        "ex2": "在调用一次 backward 之后紧接着再调用一次，会怎么样？",
        "ex3": "控制流那个例子中，若 `a` 不是标量而是随机向量或矩阵，求 `d` 对 `a` 的导数会出现什么？",
        "ex4": "仿照书中的例子，写一个带有控制流的函数并求它的梯度，分析结果。",
        "ex5": "对 $f(x)=\\sin(x)$ 作图：画出函数本身和它的导数（导数用自动微分求，不用 cos）。",
    },
    "zh-TW": {
        "ex1": "二階導數為何比一階導數更花計算資源？",
        "ex2": "呼叫一次 backward 之後馬上再呼叫一次，結果如何？",
        "ex3": "控制流的例子裡，如果 `a` 是隨機向量或矩陣而不是純量，求 `d` 對 `a` 的導數會怎樣？",
        "ex4": "自己寫一個有控制流的函數並用自動微分求梯度，分析結果。",
        "ex5": "畫出 $f(x)=\\sin(x)$ 及其導數的圖，導數用自動微分而不是 cos 求得。",
    },
    "en": {
        "ex1": "What makes second derivatives more expensive than first derivatives?",
        "ex2": "Call backward a second time right after the first call. What do you observe?",
        "ex3": "What changes in the control-flow example if `a` is a random vector or a matrix instead of a scalar?",
        "ex4": "Write your own function with control flow, differentiate it with autograd and discuss the result.",
        "ex5": "Plot sin(x) together with its derivative, the derivative obtained by autograd, not from cos(x).",
    },
}


def question(ctx: Ctx, ex: str) -> str:
    if ctx.v3 and ex in Q_ALT[ctx.lang] and ctx.rng.random() < 0.5:
        return Q_ALT[ctx.lang][ex]
    if ctx.edition == "d2l-en 1.0":
        if ctx.lang == "en" and ex in Q_EN10:
            return Q_EN10[ex]
        if ctx.lang != "en" and ex in Q_ZH_EN10:
            return Q_ZH_EN10[ex]
    return Q[ctx.lang][ex]


def numbering(edition: str) -> list[str]:
    """The exercises of an edition in book order (x5..x8: d2l-en 1.0's other exercises)."""
    if edition == "d2l-en 1.0":
        return ["ex1", "ex2", "ex3", "ex5", "x5", "x6", "x7", "x8"]
    return ["ex1", "ex2", "ex3", "ex4", "ex5"]


# ---------------------------------------------------------------------------------------------
# the section: each part returns (cells, verdict) and updates ctx

def names(ctx: Ctx) -> None:
    rng = ctx.rng
    if ctx.canon:
        ctx.n = dict(T="torch", x="x", y="y", u="u", z="z", a="a", d="d", f="f", IMPORTS="import torch")
        return
    alias = ctx.pick(["torch"] * 5 + ["t", "th", "tensor_from"] + ["np_torch"])
    T = {"t": "t", "th": "th"}.get(alias, "torch")
    ctx.from_tensor = alias == "tensor_from"
    used = {T, "plt", "np", "tensor", "nn", "math", "pd", "d2l"}

    def one(pool):
        pool = [p for p in pool if p not in used]
        v = rng.choice(pool)
        used.add(v)
        return v

    x = one(["x"] * 6 + ["vec", "inp", "xs", "v", "x_vec", "t"])
    y = one(["y"] * 6 + ["out", "res", "loss", "y1"])
    u = one(["u"] * 4 + ["y_const", "c", "u_detached", "const"])
    z = one(["z"] * 4 + ["z_val", "out2", "zz"])
    a = one(["a"] * 4 + ["s", "a0", "rand_a", "inp_a"])
    d = one(["d"] * 4 + ["out_d", "res_d", "d_val"])
    f = one(["f"] * 4 + ["ctrl", "book_f", "f_ctrl", "func"])
    ctx.n = dict(T=T, x=x, y=y, u=u, z=z, a=a, d=d, f=f)
    lines = {"torch": "import torch", "t": "import torch as t", "th": "import torch as th",
             "tensor_from": "import torch\nfrom torch import tensor", "np_torch": "import numpy as np\nimport torch"}[alias]
    ctx.np_imported = alias == "np_torch"
    if rng.random() < 0.25:
        lines += "\nimport matplotlib.pyplot as plt"
        ctx.plt_imported = True
    ctx.n["IMPORTS"] = lines


def zero_grad(ctx: Ctx) -> str:
    """A line that clears x.grad (or nothing when there is none yet)."""
    if not ctx.grad_exists:
        return ctx.pick(["", "", f"{ctx.n['x']}.grad = None"])
    line = ctx.s(ctx.pick(["$x.grad.zero_()"] * 4 + ["$x.grad = None", "$x.grad.data.zero_()", "$x.grad *= 0",
                                                    "$x.grad.fill_(0)"]))
    if line.endswith("= None"):
        ctx.grad_exists = False   # until the next backward
    return line


def title(ctx: Ctx) -> list[Cell]:
    r = ctx.rng.random()
    if r < 0.25:
        return []
    return [md(ctx.pick({
        "zh-CN": ["# 自动微分", "# 2.5 自动微分", "# 自动微分 学习笔记", "# 动手学深度学习：自动微分"],
        "zh-TW": ["# 自動微分", "# 2.5 自動微分", "# 自動微分 作業"],
        "en": ["# Automatic Differentiation", "# 2.5 Automatic Differentiation", "# Autograd notes"],
    }[ctx.lang]))]


def heading(ctx: Ctx, key: str) -> list[Cell]:
    if ctx.rng.random() < 0.4:
        return []
    h = {
        "basics": ("## 一个简单的例子", "## 一個簡單的例子", "## A Simple Function"),
        "nonscalar": ("## 非标量变量的反向传播", "## 非純量變量的反向傳播", "## Backward for Non-Scalar Variables"),
        "detach": ("## 分离计算", "## 分離計算", "## Detaching Computation"),
        "cf": ("## Python控制流的梯度计算", "## Python控制流的梯度計算", "## Gradients and Python Control Flow"),
    }[key]
    return [md(ctx.t(*h))]


def basics(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    n = ctx.n
    make = ctx.pick(["arange", "arange", "arange_rg", "f64", "f32_tensor", "double", "arange3"]
                    + (["tensor"] * 3 if ctx.from_tensor else []))
    if make == "arange":
        mk = [ctx.s("$x = $T.arange(4.0)\n$x"), ctx.s("$x.requires_grad_(True)\n$x.grad")]
    elif make == "arange_rg":
        mk = [ctx.s("$x = $T.arange(4.0, requires_grad=True)\nprint($x, $x.grad)")]
    elif make == "f64":
        mk = [ctx.s("$x = $T.arange(4, dtype=$T.float64)\n$x"), ctx.s("$x.requires_grad_()\nprint($x.grad)")]
    elif make == "f32_tensor":
        mk = [ctx.s("$x = $T.tensor([0, 1, 2, 3], dtype=$T.float32)\n$x.requires_grad = True\n$x")]
    elif make == "double":
        mk = [ctx.s("$x = $T.arange(4.).double().requires_grad_(True)\n$x")]
    elif make == "arange3":
        mk = [ctx.s("$x = $T.arange(0, 4, 1.0)\n$x"), ctx.s("$x.requires_grad_(True)\n$x.grad is None")]
    else:
        mk = [ctx.s("$x = tensor([0., 1., 2., 3.], requires_grad=True)\n$x")]
    half = wrong == "basics_half"
    if half:
        yexpr = ctx.s(ctx.pick(["$T.dot($x, $x)", "$x @ $x", "($x * $x).sum()"]))
    else:
        yexpr = ctx.s(ctx.pick(["2 * $T.dot($x, $x)"] * 3 + ["2 * $x.dot($x)", "2 * ($x @ $x)", "($x * $x).sum() * 2",
                                                             "2 * $T.sum($x ** 2)", "$T.matmul($x, $x) * 2"]))
    ycell = ctx.s("$y = " + yexpr + "\n" + ctx.pick(["$y", "print($y)", "print($y, $y.grad_fn)"]))
    grad_style = "backward" if wrong == "basics_hand" or "sum_no_zero" in ctx.wrongs else ctx.pick(["backward"] * 5 + ["agrad"])
    factor = "2" if half else "4"
    if wrong == "basics_hand":
        bw = ctx.s("# $y.backward()\n$x.grad = $T.tensor([0., 4., 8., 12.]" +
                   (", dtype=$T.float64)" if make in ("f64", "double") else ")") + "\n$x.grad")
        check = ctx.s("$x.grad == 4 * $x")
        ctx.grad_exists = True
        verdict = "zero"
    elif grad_style == "agrad":
        bw = ctx.s("g = $T.autograd.grad($y, $x)[0]\ng")
        check = ctx.s(ctx.pick(["g == $F * $x", "$T.allclose(g, $F * $x)", "print(g == $F * $x)"], ), F=factor)
        verdict = "positive" if half else "full"
    else:
        bw = ctx.s("$y.backward()\n" + ctx.pick(["$x.grad", "print($x.grad)"]))
        check = ctx.s(ctx.pick(["$x.grad == $F * $x", "$T.allclose($x.grad, $F * $x)", "print($x.grad == $F * $x)",
                                "assert ($x.grad == $F * $x).all()", "($x.grad == $F * $x).all()"]), F=factor)
        ctx.grad_exists = True
        verdict = "positive" if half else "full"
    lay = ctx.pick(["split", "split", "merged", "two"])
    ctx.notes.append(f"x by {make}, {grad_style}, cells {lay}")
    srcs = mk + [ycell, bw, check]
    cells: list[Cell] = heading(ctx, "basics")
    if lay == "split":
        for i, s in enumerate(srcs):
            cells.append(Cell("code", s))
            if i == 0 and ctx.rng.random() < 0.3:
                cells.append(ctx.c(ctx.pick(["print($x.shape, $x.dtype)", "type($x)", "len($x)"])))
            if s is ycell and ctx.rng.random() < 0.3:
                cells.append(md(ctx.t("接下来调用反向传播函数自动计算梯度。", "接著呼叫反向傳播函數自動計算梯度。",
                                      "Now call backward to get the gradient.")))
    elif lay == "merged":
        cells.append(Cell("code", "\n".join(srcs)))
    else:
        cells.append(Cell("code", "\n".join(mk)))
        cells.append(Cell("code", "\n\n".join(srcs[len(mk):])))
    return cells, verdict


def sum_gradient(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    cells = []
    if ctx.rng.random() < 0.35:   # exploring before the book's cell 6
        cells.append(ctx.c(ctx.pick(["$x.sum()", "print($x.sum())", "$T.sum($x)"])))
    if ctx.rng.random() < 0.4:
        cells.append(md(ctx.t("现在计算 `x` 的另一个函数。", "現在計算`x`的另一個函數。",
                              "Now a different function of `x`.")))
    sexpr = ctx.s(ctx.pick(["$x.sum()", "$x.sum()", "$T.sum($x)", "$x.sum(dim=0)"]))
    show = ctx.s(ctx.pick(["$x.grad", "print($x.grad)"]))
    if wrong == "sum_no_zero":
        src = ctx.s(f"$y = {sexpr}\n$y.backward()\n{show}")
        verdict = "notfull"
    elif wrong == "sum_hand":
        z = zero_grad(ctx)
        src = ctx.s(f"{z}\n$y = {sexpr}\n# $y.backward()\n$x.grad = $T.ones_like($x)\n{show}".lstrip("\n"))
        verdict = "zero"
    else:
        z = zero_grad(ctx)
        cmt = ctx.pick(["", ctx.t("# 默认情况下 PyTorch 会累积梯度，先清零\n", "# PyTorch 預設會累積梯度，先清掉\n",
                                  "# gradients accumulate by default: clear them first\n")])
        src = (cmt + (z + "\n" if z else "") + f"{ctx.s('$y')} = {sexpr}\n{ctx.s('$y')}.backward()\n{show}")
        verdict = "full"
    ctx.grad_exists = True
    cells.append(Cell("code", src))
    return cells, verdict


def nonscalar(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    cells = heading(ctx, "nonscalar")
    z = zero_grad(ctx) if wrong != "nonscalar_no_zero" else ""
    sq = ctx.s(ctx.pick(["$x * $x"] * 3 + ["$x ** 2", "$x.pow(2)", "$T.mul($x, $x)"]))
    pre = (z + "\n" if z else "") + ctx.s(f"$y = {sq}") + "\n"
    if wrong == "nonscalar_error":
        cells.append(Cell("code", pre + ctx.s("$y.backward()\n$x.grad"), raises=True))
        return cells, "zero"
    style = ctx.pick(["sum", "sum", "ones", "ones_like", "gradient_kw", "agrad", "error_then_fix"])
    if wrong == "nonscalar_no_zero":
        style = ctx.pick(["sum", "ones_like"])
    if ctx.canon and ctx.edition == "d2l-en 1.0":
        style = "gradient_kw"
    ctx.notes.append(f"non-scalar by {style}")
    if style == "sum":
        cells.append(Cell("code", pre + ctx.s("$y.sum().backward()\n$x.grad")))
    elif style == "ones":
        cells.append(Cell("code", pre + ctx.s("$y.backward($T.ones(len($x)))\nprint($x.grad)")))
    elif style == "ones_like":
        cells.append(Cell("code", pre + ctx.s("$y.backward($T.ones_like($y))\n$x.grad")))
    elif style == "gradient_kw":
        cells.append(Cell("code", pre + ctx.s("$y.backward(gradient=$T.ones(len($y)))  # faster: $y.sum().backward()\n$x.grad")))
    elif style == "agrad":
        cells.append(Cell("code", pre + ctx.s("g2, = $T.autograd.grad($y, $x, grad_outputs=$T.ones_like($y))\ng2")))
    else:
        cells.append(Cell("code", pre + ctx.s("$y.backward()  # y is not a scalar"), raises=True))
        cells.append(md(ctx.t("报错了：非标量不能直接 backward，要先求和。", "出錯了：非純量不能直接 backward，要先加總。",
                              "That fails: backward needs a scalar. Sum first.")))
        cells.append(ctx.c("$y.sum().backward()\n$x.grad"))
    ctx.grad_exists = ctx.grad_exists or style != "agrad"
    return cells, "notfull" if wrong == "nonscalar_no_zero" else "full"


def detach(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    cells = heading(ctx, "detach")
    det = ctx.pick(["$y.detach()"] * 3 + ["$y.clone().detach()", "$y.detach().clone()"])
    red = ctx.pick(["$z.sum().backward()"] * 2 + ["$z.backward($T.ones_like($z))"])
    chk = ctx.pick(["$x.grad == $u", "$T.allclose($x.grad, $u)", "print($x.grad == $u)", "print($x.grad, $u)"])
    z = zero_grad(ctx)
    first = (z + "\n" if z else "") + ctx.s(f"$y = $x * $x\n$u = {det}\n$z = $u * $x\n\n{red}\n{chk}")
    ctx.grad_exists = True
    red2 = ctx.pick(["$y.sum().backward()", "$y.sum().backward()", "$y.backward($T.ones_like($y))"])
    chk2 = ctx.pick(["$x.grad == 2 * $x", "$T.allclose($x.grad, 2 * $x)", "print($x.grad == 2 * $x)"])
    if wrong == "detach_missing":
        cells.append(Cell("code", first))
        return cells, "positive"
    if wrong == "detach_no_zero":
        second = ctx.s(f"{red2}\n{chk2}")
        verdict = "positive"
    else:
        z2 = zero_grad(ctx)
        second = (z2 + "\n" if z2 else "") + ctx.s(f"{red2}\n{chk2}")
        verdict = "full"
    ctx.y_freed = True
    if ctx.rng.random() < 0.3:
        cells.append(Cell("code", first + "\n\n" + second))
    else:
        cells.append(Cell("code", first))
        if ctx.rng.random() < 0.4:
            cells.append(md(ctx.t("`y` 的计算图还在，可以对 `y` 单独反向传播。", "`y` 的計算圖還在，可以對 `y` 反向傳播。",
                                  "`y`'s own graph is still there, so we can backprop through it.")))
        cells.append(Cell("code", second))
    return cells, verdict


def control_flow(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    cells = heading(ctx, "cf")
    thr = ctx.pick(["1000"] * 4 + ["100", "500", "2000", "10"])
    norm = ctx.pick(["b.norm()"] * 3 + ["$T.norm(b)", "$T.linalg.norm(b)"])
    sumb = ctx.pick(["b.sum()"] * 3 + ["$T.sum(b)"])
    dbl = ctx.pick(["b = b * 2", "b = b * 2", "b = 2 * b"])
    if wrong == "cf_hardcoded":
        fsrc = "def $f(a):\n    return 1024 * a"
    elif ctx.rng.random() < 0.2:
        fsrc = (f"def $f(a):\n    b = a * 2\n    while {norm} < {thr}:\n        {dbl}\n"
                f"    return b if {sumb} > 0 else 100 * b")
    else:
        fsrc = (f"def $f(a):\n    b = a * 2\n    while {norm} < {thr}:\n        {dbl}\n    if {sumb} > 0:\n"
                f"        c = b\n    else:\n        c = 100 * b\n    return c")
    cells.append(ctx.c(fsrc))
    ctx.notes.append(f"f threshold {thr}")
    mk = ctx.pick(["$a = $T.randn(size=(), requires_grad=True)"] * 3 +
                  ["$a = $T.randn((), requires_grad=True)", "$a = $T.randn(1).squeeze().requires_grad_()",
                   "$a = $T.randn(size=(), dtype=$T.float64, requires_grad=True)"])
    chk = ctx.pick(["$a.grad == $d / $a", "$a.grad == $d / $a", "$T.allclose($a.grad, $d / $a)",
                    "print($a.grad, $d / $a)", "print($a.grad == $d / $a)"])
    if wrong == "cf_hand_grad":
        cells.append(ctx.c(mk + "\n$d = $f($a)\n# $d.backward()\n$a.grad = $d / $a"))
        cells.append(ctx.c(chk))
        return cells, "notfull"
    ctx.d_backwarded = True
    if ctx.rng.random() < 0.3:
        cells.append(ctx.c(mk + "\n$d = $f($a)\n$d.backward()\n" + chk))
    else:
        cells.append(ctx.c(mk + "\n$d = $f($a)\n$d.backward()"))
        if ctx.rng.random() < 0.4:
            cells.append(md(ctx.t("`f` 是分段线性的，所以可以用 `d / a` 验证梯度。", "`f` 在 `a` 上是分段線性的，可用 `d/a` 驗證梯度。",
                                  "`f` is piecewise linear in `a`, so `d / a` checks the gradient.")))
        cells.append(ctx.c(chk))
    return cells, "notfull" if wrong == "cf_hardcoded" else "full"


# ---------------------------------------------------------------------------------------------
# exercise answers: each returns (cells, verdict); cells[0] may get a marker comment

EX1_TEXT = {
    "full": {
        "zh-CN": [
            "二阶导数是对一阶导数再求导。求一阶导数的反向传播本身也要被记录成计算图（`create_graph=True`）并保留下来，"
            "然后再沿着这张更大的图做一次反向传播。要存更多中间结果，占更多内存，计算量也多了一轮，所以开销更大。",
            "因为一阶导数本身也是通过计算图算出来的，要对它再求导，就得把求一阶导数的那张图也建出来、存着不释放，"
            "再对它反向传播一次。图更大，显存占用更多，计算量也成倍增加。",
            "算一阶导数只需要一次前向和一次反向。算二阶导数时，得先在保留计算图的情况下算出一阶导数（梯度本身成了图上的节点），"
            "再对这个梯度做第二次反向传播，中间变量都得保存，所以时间和内存都更多。",
        ],
        "zh-TW": [
            "二階導數就是對一階導數再微分一次：反向傳播算一階導數時，要把這個過程也建成計算圖並保留（不能像平常一樣算完就釋放），"
            "接著再對它做一次反向傳播。多出來的圖與中間值要佔記憶體，多一次反向傳播也要花時間。",
            "因為一階導數本身是由計算圖算出來的，要再對它求導，就必須保存計算一階導數的那張圖，再沿著它反向傳播一次，"
            "所以需要更多的記憶體與計算量。",
        ],
        "en": [
            "To get a second derivative we differentiate the first derivative. So the backward pass that produces the "
            "first derivative must itself be recorded as a graph (`create_graph=True`) and kept instead of freed, and "
            "then we backpropagate again through that larger graph: more stored intermediates and another full pass, "
            "i.e. more memory and more compute.",
            "The first derivative is itself computed by a graph. Differentiating it again means building and keeping "
            "the graph of the gradient computation and running backprop through it, so both time and memory go up.",
            "A second derivative differentiates through the backward pass: autograd has to keep the graph of the first "
            "derivative (all its intermediate values) and traverse it again, which costs extra computation and memory.",
        ],
    },
    "hessian": {
        "zh-CN": ["对 n 维输入，一阶导数（梯度）只有 n 个数，而二阶导数是 n×n 的海森矩阵，需要计算的元素多得多。"],
        "zh-TW": ["輸入有 n 維時，梯度只有 n 個數，二階導數卻是 n×n 的 Hessian 矩陣，要算的元素多很多。"],
        "en": ["For n inputs the gradient has n entries but the second derivative is an n by n Hessian matrix, "
               "so there are far more numbers to compute."],
    },
    "memory": {
        "zh-CN": ["因为要保存更多的中间变量，所以二阶导数需要更多内存。"],
        "zh-TW": ["因為要保存更多中間變數，所以需要更多記憶體。"],
        "en": ["Because more intermediate values have to be stored, so it needs more memory."],
    },
    "guess": {
        "zh-CN": ["因为要算两次。", "计算量更大吧"],
        "zh-TW": ["因為要多算一次吧。"],
        "en": ["Because you compute it twice.", "more operations i guess"],
    },
    "intro": {  # an irrelevant paragraph copied from the section's introduction (our paraphrase)
        "zh-CN": ["我们不会在每次对一个参数求导时都分配新的内存。因为同一个参数经常要更新成千上万次，每次都分配新内存会很快把内存耗尽。"],
        "zh-TW": ["我們不會每次對參數求導時都分配新的記憶體，因為相同的參數常要更新成千上萬次，每次分配新記憶體很快就會耗盡記憶體。"],
        "en": ["We do not allocate new memory every time we take a derivative with respect to a parameter, because the "
               "same parameters are updated thousands of times and we could quickly run out of memory."],
    },
    "placeholder": {"zh-CN": ["你的答案"], "zh-TW": ["你的答案"], "en": ["YOUR ANSWER HERE"]},
}
EX1_VERDICT = {"full": "full", "hessian": "positive", "memory": "positive", "guess": "notfull", "intro": "zero",
               "placeholder": "zero"}


def ex1(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    kind = {"ex1_guess": "guess", "ex1_intro": "intro", "ex1_placeholder": "placeholder", "ex1_hessian": "hessian",
            "ex1_memory": "memory", "ex1_absent": "absent"}.get(wrong, "full")
    if kind == "absent":
        return [], "zero"
    text = ctx.pick(EX1_TEXT[kind][ctx.lang])
    where = ctx.pick(["md"] * 6 + ["comment", "string", "print"]) if kind != "placeholder" else "md"
    ctx.notes.append(f"ex1 {kind} in {where}")
    label = ctx.pick(["", "", ctx.t("答：", "答：", "Answer: ")])
    if where == "md" and ctx.v2 and kind == "full" and ctx.rng.random() < 0.4:
        ctx.notes.append("ex1 in two cells")
        cut = max(text.find("。") + 1, text.find(". ") + 1) or len(text) // 2
        return [md(label + text[:cut]), md(text[cut:].strip())], EX1_VERDICT[kind]
    if where == "md":
        cell = md(label + text)
    elif where == "comment":
        wrapped = textwrap.wrap(label + text, 60 if ctx.lang != "en" else 90)
        cell = Cell("code", "\n".join("# " + w for w in wrapped))
    elif where == "string":
        cell = Cell("code", 'answer1 = """\n' + "\n".join(textwrap.wrap(text, 70 if ctx.lang == "en" else 40)) + '\n"""')
    else:
        cell = Cell("code", "print(" + json.dumps(label + text, ensure_ascii=False) + ")")
    return [cell], EX1_VERDICT[kind]


def printerr(ctx: Ctx, e: str = "e") -> str:
    return ctx.pick([f"print({e})", f"print({e})", f'print("出错了：", {e})' if ctx.lang == "zh-CN" else f'print("出錯了：", {e})',
                     f'print("Error:", {e})', f"print(type({e}).__name__, {e})", f"print(repr({e}))",
                     f'print(f"caught: {{{e}}}")'])


def ex2(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    v = ctx.pick(["x", "x", "x2", "w", "v2"])
    y = ctx.pick(["y", "y", "y2", "out"])
    T = ctx.n["T"]
    setup = f"{v} = {T}.arange(4.0, requires_grad=True)\n{y} = 2 * {T}.dot({v}, {v})\n"
    if ctx.v2 and ctx.rng.random() < 0.4:   # the section's x again (it still requires grad)
        v = ctx.n["x"]
        setup = f"{y} = 2 * {T}.dot({v}, {v})\n"
        ctx.notes.append("ex2 on the section's x")
    if wrong == "ex2_recompute":
        return [Cell("code", setup + f"{y}.backward()\n{y} = 2 * {T}.dot({v}, {v})\n{y}.backward()\nprint({v}.grad)")], "zero"
    if wrong == "ex2_string":
        return [Cell("code", setup + f"{y}.backward()\n"
                     'print("RuntimeError: Trying to backward through the graph a second time")')], "positive"
    if wrong == "ex2_retain":
        return [Cell("code", setup + f"{y}.backward(retain_graph=True)\nprint({v}.grad)\n{y}.backward()\n"
                     f"print({v}.grad)  " + ctx.t("# 梯度累加了", "# 梯度累加了", "# the gradient doubled"))], "positive"
    if wrong == "ex2_comment":
        return [Cell("code", setup + f"{y}.backward()\n# {y}.backward()\n"
                     "# RuntimeError: Trying to backward through the graph a second time (or directly access saved "
                     "tensors after they have already been freed).")], "positive"
    if wrong == "ex2_md_paste":
        return [Cell("code", setup + f"{y}.backward()\nprint({v}.grad)"),
                md(ctx.t("再运行一次会报错：", "再跑一次會出錯：", "Running it again gives:") +
                   "\n\n```\nRuntimeError: Trying to backward through the graph a second time\n```")], "positive"
    if wrong == "ex2_absent":
        return [], "zero"
    if wrong == "ex2_placeholder":
        return [Cell("code", "# your answer\nraise NotImplementedError()", raises=True)], "zero"
    style = ctx.pick(["uncaught", "uncaught", "try", "try", "try", "retain_then_err", "split"] +
                     (["section_y", "section_y"] if ctx.y_freed else []))
    ctx.notes.append(f"ex2 {style}")
    if style == "section_y":   # the section's y (from the detach example) was already backpropagated
        again = ctx.s("$y.sum().backward()")
        if ctx.rng.random() < 0.5:
            return [Cell("code", again + "  " + ctx.t("# 再来一次", "# 再跑一次", "# once more"), raises=True)], "full"
        return [Cell("code", f"try:\n    {again}\nexcept RuntimeError as e:\n    {printerr(ctx)}")], "full"
    if style == "uncaught":
        return [Cell("code", setup + f"{y}.backward()\n{y}.backward()", raises=True)], "full"
    if style == "try":
        exc = ctx.pick(["RuntimeError", "RuntimeError", "Exception"])
        return [Cell("code", setup + f"{y}.backward()\ntry:\n    {y}.backward()\nexcept {exc} as e:\n    {printerr(ctx)}")], "full"
    if style == "retain_then_err":
        return [Cell("code", setup + f"{y}.backward(retain_graph=True)\n{y}.backward()\nprint({v}.grad)"),
                Cell("code", f"{y}.backward()  " + ctx.t("# 这次图已经释放了", "# 這次圖已被釋放", "# now the graph is gone"),
                     raises=True)], "full"
    if style == "split":
        return [Cell("code", setup + f"{y}.backward()\n{v}.grad"), Cell("code", f"{y}.backward()", raises=True)], "full"
    raise AssertionError(style)


def ex3(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    f, T = ctx.n["f"], ctx.n["T"]
    a = ctx.pick(["a", "a", "vec", "m", "a_vec"])
    d = ctx.pick(["d", "d", "out", "res"])
    shape = ctx.pick(["size=(3,)", "size=(4,)", "size=(2, 3)", "(3, 4)", "5"])
    if ctx.v2 and ctx.rng.random() < 0.35:
        f = ctx.pick(["f", "g", "f3"])
        ctx.notes.append(f"ex3 defines {f} again")
        mk = (f"def {f}(a):\n    b = a * 2\n    while b.norm() < 1000:\n        b = b * 2\n    if b.sum() > 0:\n"
              f"        c = b\n    else:\n        c = 100 * b\n    return c\n\n")
    else:
        mk = ""
    defn = mk
    mk += f"{a} = {T}.randn({shape}, requires_grad=True)\n{d} = {f}({a})\n"
    chk = ctx.pick([f"print({a}.grad == {d} / {a})", f"{T}.allclose({a}.grad, {d} / {a})",
                    f"print({T}.allclose({a}.grad, {d} / {a}))", f"print({a}.grad)\nprint({d} / {a})"])
    fix = ctx.pick([f"{d}.sum().backward()", f"{d}.sum().backward()", f"{d}.backward({T}.ones_like({d}))",
                    f"{d}.backward(gradient={T}.ones_like({a}))"])
    if wrong == "ex3_absent":
        return [], "zero"
    if wrong == "ex3_scalar_switch":   # a vector, but another function with a scalar output: no error, no d/a
        return [Cell("code", f"def g(a):\n    b = a * 2\n    while b.norm() < 1000:\n        b = b * 2\n    return b.norm()\n\n"
                     f"{a} = {T}.randn({shape}, requires_grad=True)\n{d} = g({a})\n{d}.backward()\nprint({a}.grad)")], "zero"
    if wrong == "ex3_scalar_only":
        return [Cell("code", defn + f"{a} = {T}.randn(size=(), requires_grad=True)\n{d} = {f}({a})\n{d}.backward()\n"
                     f"print({a}.grad == {d} / {a})")], "zero"
    if wrong == "ex3_error_only":
        return [Cell("code", mk + f"{d}.backward()", raises=True),
                md(ctx.t("`d` 不是标量了，所以报错。", "`d` 不再是純量，所以出錯。", "`d` is no longer a scalar, hence the error."))], "positive"
    if wrong == "ex3_fix_only":
        return [Cell("code", mk + fix + "\n" + chk)], "positive"
    style = ctx.pick(["try", "try", "uncaught_then_fix", "agrad"])
    ctx.notes.append(f"ex3 {style} {shape}")
    if style == "try":
        exc = ctx.pick(["RuntimeError", "Exception"])
        return [Cell("code", mk + f"try:\n    {d}.backward()\nexcept {exc} as e:\n    {printerr(ctx)}\n{fix}\n{chk}")], "full"
    if style == "uncaught_then_fix":
        cells = [Cell("code", mk + f"{d}.backward()", raises=True)]
        if ctx.rng.random() < 0.5:
            cells.append(md(ctx.t("报错：只能对标量输出隐式创建梯度。对 `d` 求和后再反向传播：",
                                  "錯誤：只有純量輸出才能隱式建立梯度。先加總再反向傳播：",
                                  "Error: grad can only be created implicitly for scalar outputs. Sum first:")))
        cells.append(Cell("code", fix + "\n" + chk))
        return cells, "full"
    return [Cell("code", mk + f"try:\n    {d}.backward()\nexcept RuntimeError as err:\n    {printerr(ctx, 'err')}\n"
                 f"g, = {T}.autograd.grad({d}, {a}, grad_outputs={T}.ones_like({d}))\nprint({T}.allclose(g, {d} / {a}))")], "full"


def ex4(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    T = ctx.n["T"]
    if wrong == "ex4_no_cf":
        return [Cell("code", f"def g(x):\n    return (x ** 2 + 3 * x).sum()\n\n"
                     f"x = {T}.tensor([1.0, -2.0, 3.0], requires_grad=True)\ng(x).backward()\nprint(x.grad)")], "notfull"
    if wrong == "ex4_const_cf":
        return [Cell("code", f"def g(x):\n    y = x\n    for i in range(3):\n        y = y * 2\n    return y.sum()\n\n"
                     f"x = {T}.randn(3, requires_grad=True)\ng(x).backward()\nprint(x.grad)")], "notfull"
    if wrong == "ex4_hand_grad":
        return [Cell("code", f"def g(x):\n    if x > 0:\n        return x ** 2\n    return -x\n\n"
                     f"for v in [2.0, -1.0]:\n    x = {T}.tensor(v)\n    grad = 2 * x if x > 0 else {T}.tensor(-1.0)\n"
                     f"    print(g(x), grad)")], "notfull"
    if wrong == "ex4_one_path":
        return [Cell("code", f"def g(x):\n    if x.sum() > 0:\n        y = x ** 3\n    else:\n        y = -2 * x\n    return y.sum()\n\n"
                     f"x = {T}.tensor([1.0, 2.0], requires_grad=True)\ng(x).backward()\nprint(x.grad)")], "positive"
    if wrong == "ex4_no_grad":
        return [Cell("code", f"def g(x):\n    while x.abs().max() < 10:\n        x = x * 3\n    if x.sum() > 0:\n        return x\n"
                     f"    return -x\n\nprint(g({T}.tensor([0.5, 1.0])))\nprint(g({T}.tensor([-4.0, 2.0])))")], "positive"
    if wrong == "ex4_placeholder":
        return [Cell("code", "# " + ctx.t("你的代码", "你的程式碼", "your code here") + "\nraise NotImplementedError()",
                     raises=True)], "zero"
    style = ctx.pick(["ifelse", "ifelse", "tuple_args", "module", "loop_big", "while_sign", "two_args_cells"]
                     + (["recursion", "recursion"] if ctx.v2 else []))
    if style == "recursion":
        ctx.notes.append("ex4 recursion")
        return [Cell("code", f"def halve(x):\n    if x.abs().max() < 1:\n        return (x ** 2).sum()\n    return halve(x / 2) * 4\n\n"
                     f"for v in ({T}.tensor([0.5, -0.25]), {T}.tensor([6.0, -3.0])):\n    v.requires_grad_(True)\n"
                     f"    out = halve(v)\n    out.backward()\n    print(out.item(), v.grad)")], "full"
    ctx.notes.append(f"ex4 {style}")
    if style == "ifelse":
        fn = ctx.pick(["g", "my_f", "h", "piecewise"])
        return [Cell("code", f"def {fn}(x):\n    if x.sum() > 0:\n        y = x ** 3\n    else:\n        y = -2 * x\n    return y.sum()\n\n"
                     f"for x in ({T}.tensor([1.0, 2.0], requires_grad=True), {T}.tensor([-3.0, 1.0], requires_grad=True)):\n"
                     f"    {fn}(x).backward()\n    print(x, x.grad)")], "full"
    if style == "tuple_args":
        return [Cell("code", f"def shrink(x, limit):\n    steps = 0\n    while x.abs().max() > limit:\n        x = x / 2\n        steps += 1\n"
                     f"    return x.sum(), steps\n\n"
                     f"small = {T}.tensor([0.3, 0.2], requires_grad=True)\nbig = {T}.tensor([40.0, -7.0], requires_grad=True)\n"
                     f"for inp in (small, big):\n    s, n = shrink(inp, 1.0)\n    s.backward()\n    print(n, inp.grad)")], "full"
    if style == "module":
        return [Cell("code", f"from torch import nn\n\nclass Gate(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                     f"        self.w = nn.Parameter({T}.tensor([0.5, -1.5, 2.0]))\n\n    def forward(self, x):\n"
                     f"        if (x * self.w).sum() > 0:\n            return (x * self.w).sum()\n        return (x ** 2).sum() * 0.5\n\n"
                     f"net = Gate()\nfor x in ({T}.tensor([1.0, 0.0, 1.0], requires_grad=True), {T}.tensor([-1.0, 0.0, -1.0], requires_grad=True)):\n"
                     f"    net.zero_grad()\n    net(x).backward()\n    print(x.grad, net.w.grad)")], "full"
    if style == "loop_big":
        return [Cell("code", f"def relu_sq(x):\n    total = 0\n    for xi in x:\n        if xi > 0:\n            total = total + xi ** 2\n"
                     f"        else:\n            total = total + 3 * xi\n    return total\n\n"
                     f"{T}.manual_seed(0)\nx = {T}.randn(300, requires_grad=True)\nrelu_sq(x).backward()\n"
                     f"print({T}.allclose(x.grad, {T}.where(x > 0, 2 * x, {T}.full_like(x, 3.0))))")], "full"
    if style == "while_sign":
        return [Cell("code", f"def grow(x):\n    k = 0\n    while x.norm() < 50:\n        x = x * 3\n        k += 1\n"
                     f"    if x.mean() < 0:\n        x = -x\n    return x.sum()\n\n"
                     f"p = {T}.tensor([0.1, 0.2], dtype={T}.float64, requires_grad=True)\n"
                     f"q = {T}.tensor([-20.0, 5.0], dtype={T}.float64, requires_grad=True)\n"
                     f"grow(p).backward()\ngrow(q).backward()\nprint(p.grad, q.grad)")], "full"
    return [Cell("code", f"def h(x, y):\n    if (x > y).all():\n        return (x * y).sum()\n    elif (x < y).all():\n"
                 f"        return (x - y).pow(2).sum()\n    return (x + y).sum()"),
            Cell("code", f"pairs = [({T}.tensor([3.0, 4.0]), {T}.tensor([1.0, 1.0])), ({T}.tensor([0.0, 1.0]), {T}.tensor([2.0, 2.0]))]\n"
                 f"for x, y in pairs:\n    x.requires_grad_(True)\n    h(x, y).backward()\n    print(x.grad)")], "full"


def ensure_plt(ctx: Ctx) -> str:
    magic = "%matplotlib inline\n" if ctx.rng.random() < 0.2 else ""
    if ctx.plt_imported:
        return magic
    ctx.plt_imported = True
    return magic + "import matplotlib.pyplot as plt\n"


def ex5(ctx: Ctx, wrong: str | None) -> tuple[list[Cell], str]:
    T = ctx.n["T"]
    xs = ctx.pick(["x", "x", "xs", "grid", "x5"])
    rng_ = ctx.pick([f"{T}.linspace(-5, 5, 100", f"{T}.linspace(-2 * {T}.pi, 2 * {T}.pi, 200",
                     f"{T}.arange(-6.0, 6.0, 0.1", f"{T}.linspace(0, 10, 150"])
    mk = f"{xs} = {rng_}, requires_grad=True)\n"
    sin = f"sy = {T}.sin({xs})\n"
    det = f"{xs}.detach()"
    if wrong == "ex5_absent":
        return [], "zero"
    imp = ensure_plt(ctx)
    if wrong == "ex5_cos":
        return [Cell("code", imp + mk + sin + f"plt.plot({det}, sy.detach(), label='sin')\n"
                     f"plt.plot({det}, {T}.cos({det}), label='derivative')\nplt.legend()\nplt.show()")], "notfull"
    if wrong == "ex5_shift":
        return [Cell("code", imp + "import math\n" + mk + sin + f"dy = {T}.sin({det} + math.pi / 2)\n"
                     f"plt.plot({det}, sy.detach())\nplt.plot({det}, dy)\nplt.show()")], "notfull"
    if wrong == "ex5_fd_forward":
        return [Cell("code", imp + f"{xs} = {rng_})\nh = 1e-4\ndy = ({T}.sin({xs} + h) - {T}.sin({xs})) / h\n"
                     f"plt.plot({xs}, {T}.sin({xs}), label='f')\nplt.plot({xs}, dy, label=\"f'\")\nplt.legend()")], "notfull"
    if wrong == "ex5_fd_central":
        return [Cell("code", imp + f"{xs} = {rng_}, dtype={T}.float64)\nh = 1e-5\n"
                     f"dy = ({T}.sin({xs} + h) - {T}.sin({xs} - h)) / (2 * h)\n"
                     f"plt.plot({xs}, {T}.sin({xs}))\nplt.plot({xs}, dy)\nplt.show()")], "notfull"
    if wrong == "ex5_pasted":
        pts = [i * 0.5 for i in range(-8, 9)]
        import math
        vals = ", ".join(f"{math.cos(p):.4f}" for p in pts)
        return [Cell("code", imp + f"{xs} = {T}.arange(-4.0, 4.5, 0.5)\n"
                     f"dy = [{vals}]\nplt.plot({xs}, {T}.sin({xs}))\nplt.plot({xs}, dy)\nplt.show()")], "notfull"
    if wrong == "ex5_only_sin":
        return [Cell("code", imp + mk + sin + f"sy.sum().backward()\nplt.plot({det}, sy.detach())\nplt.title('sin(x)')\nplt.show()")], "notfull"
    if wrong == "ex5_only_grad":
        return [Cell("code", imp + mk + sin + f"sy.sum().backward()\nplt.plot({det}, {xs}.grad, label='derivative')\nplt.legend()\nplt.show()")], "notfull"
    if wrong == "ex5_single_point":
        return [Cell("code", f"p = {T}.tensor(1.0, requires_grad=True)\n{T}.sin(p).backward()\nprint(p.grad)")], "notfull"
    style = ctx.pick(["two_plots", "two_plots", "one_call", "subplots", "two_axes", "scatter", "loop", "agrad",
                      "numpy_f64", "ones_like"])
    r = ctx.rng.random()
    if r < 0.02:
        style = "pandas"
    elif r < 0.045:
        style = "d2l"
    style = ctx.force.get("ex5", style)
    grad = f"{xs}.grad"
    ctx.notes.append(f"ex5 {style}")
    bw = ctx.pick([f"sy.sum().backward()", f"sy.backward({T}.ones_like(sy))"])
    if style == "two_plots":
        src = imp + mk + sin + bw + f"\nplt.plot({det}, sy.detach(), label='sin(x)')\nplt.plot({det}, {grad}, label='d sin/dx')\nplt.legend()\nplt.show()"
    elif style == "ones_like":
        src = imp + mk + sin + f"sy.backward({T}.ones_like(sy))\nplt.plot({det}.numpy(), sy.detach().numpy())\nplt.plot({det}.numpy(), {grad}.numpy())\nplt.show()"
    elif style == "one_call":
        src = imp + mk + sin + bw + f"\nplt.plot({det}, sy.detach(), {det}, {grad})\nplt.legend(['f', 'df/dx'])"
    elif style == "subplots":
        src = imp + mk + sin + bw + f"\nfig, ax = plt.subplots(figsize=(6, 3))\nax.plot({det}, sy.detach(), label='f(x)')\nax.plot({det}, {grad}, '--', label=\"f'(x)\")\nax.legend()\nplt.show()"
    elif style == "two_axes":
        src = imp + mk + sin + bw + f"\nfig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3))\nax1.plot({det}, sy.detach())\nax1.set_title('sin')\nax2.plot({det}, {grad})\nax2.set_title('autograd derivative')\nplt.show()"
    elif style == "scatter":
        src = imp + mk + sin + bw + f"\nplt.plot({det}, sy.detach(), label='sin')\nplt.scatter({det}, {grad}, s=4, c='r', label='grad')\nplt.legend()\nplt.show()"
    elif style == "loop":
        np_ = "" if ctx.np_imported else "import numpy as np\n"
        src = (imp + np_ + "pts = np.linspace(-5, 5, 60)\ngrads = []\nfor p in pts:\n"
               f"    pt = {T}.tensor(p, requires_grad=True)\n    {T}.sin(pt).backward()\n    grads.append(pt.grad.item())\n"
               "plt.plot(pts, np.sin(pts), label='sin')\nplt.plot(pts, grads, label='grad')\nplt.legend()\nplt.show()")
    elif style == "agrad":
        src = imp + mk + sin + f"dy, = {T}.autograd.grad(sy.sum(), {xs})\nplt.plot({det}, sy.detach())\nplt.plot({det}, dy)\nplt.show()"
    elif style == "numpy_f64":
        np_ = "" if ctx.np_imported else "import numpy as np\n"
        src = (imp + np_ + f"{xs} = {T}.tensor(np.arange(-5, 5, 0.05), requires_grad=True)\n" + sin + bw +
               f"\nplt.plot({det}.numpy(), sy.detach().numpy(), 'b')\nplt.plot({det}.numpy(), {grad}.numpy(), 'g')\nplt.show()")
    elif style == "pandas":
        ctx.needs.add("pandas")
        src = ("import pandas as pd\n" + mk + sin + bw +
               f"\ndf = pd.DataFrame({{'sin': sy.detach().numpy(), 'grad': {grad}.numpy()}}, index={det}.numpy())\n"
               "df.plot()")
    else:
        ctx.needs.add("d2l")
        src = ("from d2l import torch as d2l\n" + mk + sin + bw +
               f"\nd2l.plot({det}, [sy.detach(), {grad}], 'x', 'f(x)', legend=['f(x)', \"f'(x)\"])")
    cells = [Cell("code", src)]
    return cells, "full"


def extra_en10(ctx: Ctx, ex: str) -> list[Cell]:
    """d2l-en 1.0's exercises 5-8 (dependency graph, chain rule, forward/backward mode): answered, not graded."""
    T = ctx.n["T"]
    if ex == "x5":
        return [md(ctx.t("x → x² → log(x²) → 乘以 sin x；另一支 x → 1/x；两支相加得到 f。",
                         "x → x² → log(x²) → 乘上 sin x；另一支 x → 1/x；相加得到 f。",
                         "x → x² → log(x²) → times sin x, and x → 1/x; the two branches are added to give f."))]
    if ex == "x6":
        return [md(ctx.t("df/dx = (2/x)·sin x + log(x²)·cos x − 1/x²", "df/dx = (2/x)·sin x + log(x²)·cos x − 1/x²",
                         "df/dx = (2/x) sin x + log(x^2) cos x - 1/x^2")),
                Cell("code", f"xx = {T}.tensor(2.0, requires_grad=True)\nfx = {T}.log(xx ** 2) * {T}.sin(xx) + 1 / xx\nfx.backward()\n"
                     f"manual = 2 / xx * {T}.sin(xx) + {T}.log(xx ** 2) * {T}.cos(xx) - 1 / xx ** 2\nprint(xx.grad, manual.item())")]
    if ex == "x7":
        return [md(ctx.t("前向：从 x 开始逐个节点乘局部导数；反向：从 f 开始往回乘，两种结果相同。",
                         "前向：從 x 開始逐節點乘上局部導數；反向：從 f 往回乘，結果相同。",
                         "Forward: start at x and multiply local derivatives node by node; backward: start at f and "
                         "go back. Both give the same number."))]
    return [md(ctx.t("输入少、输出多时用前向模式；输出是标量（比如损失）、参数很多时用反向模式，但反向要保存中间结果。",
                     "輸入少輸出多時用前向；輸出是純量、參數很多時用反向，但反向要存中間結果。",
                     "Forward mode when there are few inputs and many outputs; backward mode for a scalar loss of many "
                     "parameters, at the price of storing intermediates."))]


# ---------------------------------------------------------------------------------------------
# markers and layout

def marker_cells(ctx: Ctx, style: str, ex: str, num: int, answer: list[Cell]) -> list[Cell]:
    """Puts the marker of exercise `ex` (book number `num`) in front of / into its answer cells."""
    q = question(ctx, ex)
    word = ctx.t("练习", "練習", "Exercise")
    if style == "heading":
        level = ctx.pick(["##", "###", "###", "####"])
        h = f"{level} {word} {num}" if ctx.lang != "en" or True else ""
        with_q = ctx.rng.random() < 0.5
        return [md(h + ("\n\n" + q if with_q else ""))] + answer
    if style == "numhead":
        return [md(f"#### {num}.")] + answer
    if style == "bold_zh":
        return [md(f"**{word} {num}**" if ctx.lang == "en" else f"**{word}{num}：{q}**")] + answer
    if style == "restate":
        return [md(f"{num}. {q}")] + answer
    if style == "restate_answer":   # question, then 答案： / Answer: before the answer
        lab = ctx.t("答案：", "答：", "Answer:")
        if answer and answer[0].kind == "md":
            return [md(f"{num}. {q}\n\n{lab}{answer[0].src}")] + answer[1:]
        return [md(f"{num}. {q}\n\n{lab}")] + answer
    if style == "Q":
        if answer and answer[0].kind == "md":
            return [md(f"Q{num}: {answer[0].src}")] + answer[1:]
        return [md(f"Q{num}: {q}")] + answer
    if style == "zh_numeral":
        return [md(f"{'习题' if ctx.lang == 'zh-CN' else '習題'}{ZH_NUM[num]}")] + answer
    if style == "comment_q":   # the question's text as the first comment line of the answer
        style = "comment"
        tag_q = f"# {num}. " + re.sub(r"[$`]", "", q)
    else:
        tag_q = None
    if style == "comment":
        tag = tag_q or ctx.pick([f"# EXP{num}", f"# {word}{num}" if ctx.lang != "en" else f"# Exercise {num}",
                        f"## {num}. {SHORT[ctx.lang].get(ex, '')}", f"# Q{num}", f"###{num}."])
        out, done = [], False
        for c in answer:
            if not done and c.kind == "code":
                out.append(Cell("code", tag + "\n" + c.src, c.raises))
                done = True
            elif not done and c.kind == "md":   # prose answer: turn it into a commented code cell
                wrapped = textwrap.wrap(c.src, 60 if ctx.lang != "en" else 90)
                out.append(Cell("code", tag + "\n" + "\n".join("# " + w for w in wrapped)))
                done = True
            else:
                out.append(c)
        if not done:
            out.insert(0, Cell("code", tag + "\n# " + ctx.t("没做", "沒做", "skipped")))
        return out
    raise ValueError(style)


MARKER_STYLES = {
    "zh-CN": ["heading", "heading", "restate", "restate_answer", "comment", "Q", "zh_numeral", "numhead", "bold_zh"],
    "zh-TW": ["heading", "heading", "restate", "restate_answer", "comment", "Q", "zh_numeral", "numhead", "bold_zh"],
    "en": ["heading", "heading", "restate", "restate_answer", "comment", "Q", "numhead", "bold_zh"],
}


def exercises(ctx: Ctx, wrongs: set[str]) -> tuple[list[Cell], dict]:
    order = numbering(ctx.edition)
    verdicts = {}
    answers = {}
    for ex in order:
        if ex.startswith("x"):
            answers[ex] = extra_en10(ctx, ex)
            continue
        w = next((k for k in wrongs if k.startswith(ex + "_")), None)
        answers[ex], verdicts[EX[ex]] = {"ex1": ex1, "ex2": ex2, "ex3": ex3, "ex4": ex4, "ex5": ex5}[ex](ctx, w)
    layout = ctx.pick(["markers"] * 5 + ["list_then_markers"] * 2 + ["one_heading", "list_then_plain", "no_marker"])
    cells: list[Cell] = []
    head = md(ctx.pick({"zh-CN": ["## 练习", "## 练习", "## 课后习题", "# 练习"], "zh-TW": ["## 練習", "## 練習", "## 習題"],
                        "en": ["## Exercises", "## Exercises", "# Exercises"]}[ctx.lang]))
    if layout in ("list_then_markers", "list_then_plain"):
        lst = "\n".join(f"{i}. {question(ctx, ex)}" for i, ex in enumerate(order, 1))
        cells.append(md(head.src + "\n\n" + lst))
    elif layout == "one_heading" or (layout == "markers" and ctx.rng.random() < 0.5):
        cells.append(head)
    if layout in ("markers", "list_then_markers"):
        styles = MARKER_STYLES[ctx.lang] + (["comment_q", "comment_q"] if ctx.v2 else [])
        style = ctx.pick(styles)
        ctx.notes.append(f"markers {style}")
        for i, ex in enumerate(order, 1):
            s = style if ctx.rng.random() < 0.85 else ctx.pick(styles)
            if s != style:
                ctx.notes.append(f"{ex} marker {s}")
            if not answers[ex]:
                continue   # an absent answer: no marker either (a student who skipped it)
            cells += marker_cells(ctx, s, ex, i, answers[ex])
    else:
        for ex in order:
            cells += answers[ex]
    return cells, verdicts, layout


# ---------------------------------------------------------------------------------------------
# wrong kinds: name -> (question it touches, editions where it applies)

WRONG = {
    "basics_hand": "autograd-basics", "basics_half": "autograd-basics",
    "sum_no_zero": "sum-gradient", "sum_hand": "sum-gradient",
    "nonscalar_error": "nonscalar-backward",
    "detach_missing": "detach", "detach_no_zero": "detach",
    "cf_hardcoded": "control-flow", "cf_hand_grad": "control-flow",
    "ex1_guess": "ex1-second-derivative-cost", "ex1_intro": "ex1-second-derivative-cost",
    "ex1_placeholder": "ex1-second-derivative-cost", "ex1_hessian": "ex1-second-derivative-cost",
    "ex1_memory": "ex1-second-derivative-cost",
    "ex2_recompute": "ex2-backward-twice", "ex2_string": "ex2-backward-twice", "ex2_retain": "ex2-backward-twice",
    "ex2_comment": "ex2-backward-twice", "ex2_md_paste": "ex2-backward-twice", "ex2_placeholder": "ex2-backward-twice",
    "ex3_scalar_switch": "ex3-vector-input", "ex3_scalar_only": "ex3-vector-input", "ex3_error_only": "ex3-vector-input",
    "ex3_fix_only": "ex3-vector-input",
    "ex4_no_cf": "ex4-own-control-flow", "ex4_const_cf": "ex4-own-control-flow", "ex4_hand_grad": "ex4-own-control-flow",
    "ex4_one_path": "ex4-own-control-flow", "ex4_no_grad": "ex4-own-control-flow",
    "ex4_placeholder": "ex4-own-control-flow",
    "ex5_cos": "ex5-sin-derivative-plot", "ex5_shift": "ex5-sin-derivative-plot", "ex5_fd_forward": "ex5-sin-derivative-plot",
    "ex5_fd_central": "ex5-sin-derivative-plot", "ex5_pasted": "ex5-sin-derivative-plot",
    "ex5_only_sin": "ex5-sin-derivative-plot", "ex5_single_point": "ex5-sin-derivative-plot",
    "ex5_absent": "ex5-sin-derivative-plot",
    "nonscalar_no_zero": "nonscalar-backward", "ex1_absent": "ex1-second-derivative-cost",
    "ex3_absent": "ex3-vector-input", "ex2_absent": "ex2-backward-twice",
    "ex5_only_grad": "ex5-sin-derivative-plot",
}

WRONG_V2 = {"ex5_only_grad"}   # wrong kinds of the second batch only

EDITIONS = [("d2l-zh 2.0", "zh-CN")] * 9 + [("d2l-zh 2.0", "zh-TW")] * 4 + [("d2l-en 0.17", "en")] * 3 + \
           [("d2l-en 1.0", "en")] * 3 + [("d2l-en 1.0", "zh-CN")]


# a few rare styles are put in on purpose (notebook number among the correct ones -> part -> style)
FORCE = {5: {"ex5": "pandas"}, 33: {"ex5": "pandas"}, 47: {"ex5": "d2l"}, 61: {"ex5": "scatter"}}


def build(rng: random.Random, edition: str, lang: str, wrongs: set[str], force: dict | None = None, v2: bool = False,
          v3: bool = False):
    ctx = Ctx(rng=rng, edition=edition, lang=lang, wrongs=set(wrongs), force=dict(force or {}), v2=v2, v3=v3)
    canon = ctx.canon = rng.random() < 0.35
    names(ctx)
    cells = title(ctx) + [Cell("code", ctx.n["IMPORTS"])]
    verdicts = {}

    def w(q):
        return next((k for k in wrongs if WRONG[k] == q), None)

    section: list[Cell] = []
    for qid, part in (("autograd-basics", basics), ("sum-gradient", sum_gradient), ("nonscalar-backward", nonscalar),
                      ("detach", detach), ("control-flow", control_flow)):
        cs, verdicts[qid] = part(ctx, w(qid))
        section += cs
    ctx.canon = False
    if ctx.rng.random() < 0.3:   # a student who merges some neighbouring cells of the section
        merged: list[Cell] = []
        for c in section:
            prev = merged[-1] if merged else None
            if (prev and prev.kind == c.kind == "code" and not prev.raises and ctx.rng.random() < 0.5):
                merged[-1] = Cell("code", prev.src + "\n\n" + c.src, c.raises)
            else:
                merged.append(c)
        section = merged
    cells += section
    ex_cells, ex_verdicts, layout = exercises(ctx, wrongs)
    cells += ex_cells
    verdicts.update(ex_verdicts)
    if edition == "d2l-en 1.0":
        verdicts["ex4-own-control-flow"] = "-"
    if ctx.rng.random() < 0.3:
        cells.append(md(ctx.pick(["完", "（完）", "The end.", "---"])))
    return cells, {q: verdicts[q] for q in QIDS}, ctx, layout, canon


def merge_imports(cells: list[Cell], rng: random.Random) -> list[Cell]:
    """Half of the students put the imports in the first code cell of the section."""
    i = next(i for i, c in enumerate(cells) if c.kind == "code")
    if rng.random() < 0.5 and i + 1 < len(cells) and cells[i + 1].kind == "code" and not cells[i + 1].raises:
        merged = Cell("code", cells[i].src + "\n\n" + cells[i + 1].src)
        return cells[:i] + [merged] + cells[i + 2:]
    return cells


def to_notebook(cells: list[Cell]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, c in enumerate(cells):
        cell = new_code_cell(c.src) if c.kind == "code" else new_markdown_cell(c.src)
        cell.id = f"c{i:02d}"
        nb.cells.append(cell)
    return nb


def plan_batch(rng: random.Random, n_ok: int, n_bad: int, kinds: list[str], first=()) -> list:
    plan = [("ok", set()) for _ in range(n_ok)]
    kinds = sorted(kinds)
    rng.shuffle(kinds)
    kinds = [k for k in first if k in kinds] + [k for k in kinds if k not in first]
    for i in range(n_bad):
        k = kinds[i % len(kinds)]
        ks = {k}
        if rng.random() < 0.4:
            ks.add(rng.choice([o for o in kinds if WRONG[o] != WRONG[k]]))
        plan.append(("bad", ks))
    return plan


def generate(seed: int = SEED) -> dict:
    """The committed corpus with the default seed; another seed draws a held-out corpus of the same
    size from every style (to see whether a change generalises beyond the committed notebooks)."""
    rng = random.Random(seed)
    held_out = seed != SEED
    if held_out:
        plan = [(p, True, None) for p in plan_batch(rng, N_OK + N_OK2, N_BAD + N_BAD2, list(WRONG), sorted(WRONG_V2))]
    else:
        plan = [(p, False, None) for p in plan_batch(rng, N_OK, N_BAD, [k for k in WRONG if k not in WRONG_V2])]
        rng2 = random.Random(SEED + 2)
        plan += [(p, True, rng2) for p in plan_batch(rng2, N_OK2, N_BAD2, list(WRONG), sorted(WRONG_V2))]
    corpus = {}
    counters = {"ok": 0, "bad": 0}
    for (kind, ks), v2, r in plan:
        sub = random.Random((r or rng).random())
        if any(k.startswith("ex4_") for k in ks):
            edition, lang = sub.choice([e for e in EDITIONS if e[0] != "d2l-en 1.0"])
        else:
            edition, lang = sub.choice(EDITIONS)
        force = FORCE.get(counters["ok"] + 1, {}) if kind == "ok" else {}
        cells, verdicts, ctx, layout, canon = build(sub, edition, lang, ks, force if not held_out else {}, v2,
                                                    held_out)
        cells = merge_imports(cells, sub)
        counters[kind] += 1
        tag = {"d2l-zh 2.0": "zh", "d2l-en 0.17": "en017", "d2l-en 1.0": "en10"}[edition]
        stem = f"{kind}_{counters[kind]:03d}_{tag}_{lang.replace('-', '').lower()}"
        why = ("correct, written differently" if kind == "ok" else "wrong: " + ", ".join(sorted(ks)))
        why += "; section as in the book" if canon else ""
        why += f"; alias {ctx.n['T']}, x as {ctx.n['x']}, exercises: {layout}; " + "; ".join(ctx.notes)
        entry = {"edition": edition, "lang": lang, "why": why, "verdicts": verdicts}
        if ctx.needs:
            entry["needs"] = sorted(ctx.needs)
        corpus[stem] = (entry, cells)
    return corpus


def run_check(corpus: dict, out: Path) -> int:
    """Runs each notebook's code cells in order (a fresh namespace per notebook, matplotlib's Agg
    backend, no kernel: the sources are plain Python): exactly the cells meant to raise must raise."""
    import contextlib
    import importlib.util
    import io
    import os
    import traceback

    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bad = 0
    for stem, (entry, cells) in corpus.items():
        if any(importlib.util.find_spec(p) is None for p in entry.get("needs", [])):
            print(f"{stem}: skipped (needs {entry['needs']})")
            continue
        ns: dict = {"__name__": "__main__"}
        for i, spec in enumerate(cells):
            if spec.kind != "code":
                continue
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    src = "\n".join("pass" if ln.lstrip().startswith(("%", "!")) else ln
                                    for ln in spec.src.splitlines())   # IPython magics: not Python
                    exec(compile(src, f"<{stem} cell {i}>", "exec"), ns)
                err = None
            except Exception as exc:  # noqa: BLE001
                err = f"{type(exc).__name__}: {str(exc)[:120]}"
                tb = traceback.format_exc(limit=-1)
            if bool(err) != spec.raises:
                bad += 1
                print(f"{stem} cell {i}: expected {'an error' if spec.raises else 'no error'}, got {err or 'none'}\n"
                      + textwrap.indent(spec.src, "    | ") + ("\n" + tb if err else ""))
        plt.close("all")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="run every notebook and verify which cells raise")
    ap.add_argument("--seed", type=int, default=SEED,
                    help="another seed draws a held-out corpus (every style, other question wordings); "
                         "write it elsewhere with --out")
    args = ap.parse_args(argv)
    if args.seed != SEED and args.out == OUT:
        ap.error("a held-out corpus (--seed) goes elsewhere: give --out")
    corpus = generate(args.seed)
    nbdir = args.out / "notebooks"
    nbdir.mkdir(parents=True, exist_ok=True)
    for old in nbdir.glob("*.ipynb"):
        if old.stem not in corpus:
            old.unlink()
    for stem, (entry, cells) in corpus.items():   # rewrite only what changed (others may be grading it)
        path = nbdir / f"{stem}.ipynb"
        text = nbformat.writes(to_notebook(cells)) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    verdicts = {stem: entry for stem, (entry, _) in corpus.items()}
    (args.out / "verdicts.json").write_text(json.dumps(verdicts, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    n_ok = sum(1 for s in corpus if s.startswith("ok_"))
    print(f"wrote {len(corpus)} notebooks ({n_ok} correct, {len(corpus) - n_ok} wrong) to {nbdir}")
    if args.check:
        bad = run_check(corpus, args.out)
        print(f"{bad} cell(s) behaved otherwise than planned")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
