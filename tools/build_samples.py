"""Writes grader/assignments/d2l-autograd/reference.ipynb and the sample submissions in submissions/.

The notebooks are committed; this script is how they were made, so a change to one is a
reviewable change here. Run: python tools/build_samples.py
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent

BOOK = {
    "cell1": "import torch\n\nx = torch.arange(4.0)\nx",
    "cell2": "x.requires_grad_(True)  # 等價於x=torch.arange(4.0,requires_grad=True)\nx.grad  # 默認值是None",
    "cell3": "y = 2 * torch.dot(x, x)\ny",
    "cell4": "y.backward()\nx.grad",
    "cell5": "x.grad == 4 * x",
    "cell6": "# 在預設情況下，PyTorch會累積梯度，我們需要清除之前的值\nx.grad.zero_()\ny = x.sum()\ny.backward()\nx.grad",
    "cell7": "# 對非純量調用backward需要傳入一個gradient參數，該參數指定微分函數關於self的梯度。\n"
             "# 本例只想求偏導數的和，所以傳遞一個1的梯度是合適的\nx.grad.zero_()\ny = x * x\n"
             "# 等價於y.backward(torch.ones(len(x)))\ny.sum().backward()\nx.grad",
    "cell8": "x.grad.zero_()\ny = x * x\nu = y.detach()\nz = u * x\n\nz.sum().backward()\nx.grad == u",
    "cell9": "x.grad.zero_()\ny.sum().backward()\nx.grad == 2 * x",
    "cell10": "def f(a):\n    b = a * 2\n    while b.norm() < 1000:\n        b = b * 2\n    if b.sum() > 0:\n"
              "        c = b\n    else:\n        c = 100 * b\n    return c",
    "cell11": "a = torch.randn(size=(), requires_grad=True)\nd = f(a)\nd.backward()",
    "cell12": "a.grad == d / a",
}
INTRO = {
    "cell1": "# 自動微分\n\n## 一個簡單的例子\n假設我們想對函數 $y=2\\mathbf{x}^{\\top}\\mathbf{x}$ 關於列向量 $\\mathbf{x}$ 求導。",
    "cell6": "現在計算`x`的另一個函數。",
    "cell7": "## 非純量變量的反向傳播",
    "cell8": "## 分離計算",
    "cell10": "## Python控制流的梯度計算",
}
QUESTIONS = [
    "為什麼計算二階導數比一階導數的開銷要更大？",
    "在運行反向傳播函數之後，立即再次運行它，看看會發生什麼。",
    "在控制流的例子中，我們計算`d`關於`a`的導數，如果將變量`a`更改為隨機向量或矩陣，會發生什麼？",
    "重新設計一個求控制流梯度的例子，運行並分析結果。",
    "使$f(x)=\\sin(x)$，繪製$f(x)$和$\\frac{df(x)}{dx}$的圖像，其中後者不使用$f'(x)=\\cos(x)$。",
]

REF_EX = {
    "ex1": ("md", "<!-- BEGIN SOLUTION -->\n計算二階導數時，要先算出一階導數，而且必須**保留一階導數的計算圖**（`create_graph=True`），"
                  "再對這個一階導數**再做一次反向傳播**。所以除了原本的計算圖，還要儲存一階導數的計算圖與中間結果，"
                  "需要**更多記憶體**，也多了一次反向傳播的**計算量**。\n<!-- END SOLUTION -->"),
    "ex2": ("code", "### BEGIN SOLUTION\nx = torch.arange(4.0, requires_grad=True)\ny = 2 * torch.dot(x, x)\n"
                    "y.backward(retain_graph=True)  # 保留計算圖，才能再反向傳播一次\ny.backward()\n"
                    "print(x.grad)  # 梯度會累加：8x\n\n"
                    "z = 2 * torch.dot(x, x)\nz.backward()\ntry:\n    z.backward()  # 計算圖已被釋放\n"
                    "except RuntimeError as e:\n    print('RuntimeError:', e)\n### END SOLUTION"),
    "ex3": ("code", "### BEGIN SOLUTION\na = torch.randn(size=(3, 4), requires_grad=True)\nd = f(a)\ntry:\n"
                    "    d.backward()  # d 不是純量\nexcept RuntimeError as e:\n    print('RuntimeError:', e)\n"
                    "d.sum().backward()  # 對非純量要先加總（或傳入 gradient）\n"
                    "print(torch.allclose(a.grad, d / a))\n### END SOLUTION"),
    "ex4": ("code", "### BEGIN SOLUTION\ndef g(x):\n    if x.sum() > 0:\n        y = x ** 2\n    else:\n        y = torch.sin(x) * 3\n"
                    "    for _ in range(2):\n        y = y * 1.5\n    return y.sum()\n\n"
                    "for x in (torch.tensor([1.0, 2.0, 3.0], requires_grad=True),\n"
                    "          torch.tensor([-1.0, -2.0, 0.5], requires_grad=True)):\n"
                    "    out = g(x)\n    out.backward()\n    print(x, x.grad)\n### END SOLUTION"),
    "ex5": ("code", "### BEGIN SOLUTION\nimport matplotlib.pyplot as plt\n\n"
                    "x = torch.linspace(-2 * torch.pi, 2 * torch.pi, 100, requires_grad=True)\n"
                    "y = torch.sin(x)\ny.sum().backward()  # dy/dx 由自動微分算出\n\n"
                    "plt.plot(x.detach(), y.detach(), label='f(x) = sin(x)')\n"
                    "plt.plot(x.detach(), x.grad, label='df(x)/dx (autograd)')\nplt.legend()\nplt.show()\n### END SOLUTION"),
}


def nb_of(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, c in enumerate(nb.cells):
        c["id"] = f"c{i:03d}"
    return nb


def code(src, tag=None):
    c = new_code_cell(src)
    if tag:
        c.metadata["tags"] = [tag]
    return c


def md(src, tag=None):
    c = new_markdown_cell(src)
    if tag:
        c.metadata["tags"] = [tag]
    return c


def section(tagged=True, replace=None):
    replace = replace or {}
    cells = []
    for key, src in BOOK.items():
        if key in INTRO:
            cells.append(md(INTRO[key]))
        cells.append(code(replace.get(key, src), key if tagged else None))
    return cells


def exercises(answers, tagged=True, heading="### 練習 {n}"):
    cells = [md("## 練習")]
    for n, q in enumerate(QUESTIONS, 1):
        key = f"ex{n}"
        cells.append(md(heading.format(n=n) + "\n" + q))
        for kind, src in answers[key] if isinstance(answers[key], list) else [answers[key]]:
            cells.append((md if kind == "md" else code)(src, key if tagged else None))
    return cells


def write(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")


def reference():
    return nb_of(section() + exercises(REF_EX))


# ---- the seed's own sample answers ("not necessarily correct"), as a student would hand them in
SEED_EX = {
    "ex1": ("md", "計算二階導數比一階導數的開銷更大，主要是由以下原因導致的：\n\n"
                  "1. **額外的計算依賴性**：\n   - 一階導數僅需要計算函數對輸入的偏導數。\n"
                  "   - 二階導數則需要計算一階導數對輸入的導數，因此需要追蹤和存儲更多的計算圖。\n\n"
                  "2. **計算圖的大小增加**：\n   - 自動微分中，計算圖會表示所有變數之間的依賴性。計算二階導數時，"
                  "圖的深度和複雜性增加，需要更多內存和計算資源。\n\n"
                  "3. **額外的反向傳播步驟**：\n   - 計算一階導數需要執行一次反向傳播。而計算二階導數需要在一階導數的基礎上再次進行反向傳播。\n\n"
                  "4. **數值穩定性**：\n   - 高階導數的計算更容易受到數值誤差的影響，可能需要更多精確的浮點運算來避免不穩定的結果。"),
    "ex2": [("md", "在 PyTorch 中執行反向傳播（`backward()`）後，計算圖默認會被釋放。因此，嘗試在執行完一次 `backward()` "
                   "後再次執行，會引發錯誤：\n```\nRuntimeError: Trying to backward through the graph a second time, "
                   "but the buffers have already been freed.\n```\n要避免這種情況，您可以使用 `retain_graph=True`。"),
            ("code", "import torch\n\n# 建立需要梯度的張量\nx = torch.tensor([2.0, 3.0], requires_grad=True)\n"
                     "y = x.pow(2).sum()  # y = x1^2 + x2^2\n\n# 第一次反向傳播\n"
                     "y.backward(retain_graph=True)  # 保留計算圖\nprint(\"第一次反向傳播後的梯度：\", x.grad)\n\n"
                     "# 嘗試再次反向傳播\ntry:\n    y.backward()  # 再次反向傳播（若未保留計算圖，會報錯）\n"
                     "    print(\"第二次反向傳播後的梯度：\", x.grad)\nexcept RuntimeError as e:\n"
                     "    print(\"再次反向傳播時的錯誤：\", e)")],
    "ex3": [("md", "如果將變量 `a` 更改為隨機向量或矩陣，自動微分工具將會重新構建計算圖並計算梯度。梯度的結果會根據 `a` 的新值而變化。"),
            ("code", "import torch\n\n# 定義一個控制流函數\ndef control_flow_example(a):\n"
                     "    b = a * 2 if a.sum() > 1 else a / 2\n    return b.sum()\n\n"
                     "# 初始化變量 a，並啟用梯度\na = torch.tensor([0.5, 1.0, -0.5], requires_grad=True)\n\n"
                     "# 計算控制流函數的輸出\nd = control_flow_example(a)\nd.backward()  # 計算 d 關於 a 的導數\n"
                     "print(\"原始梯度：\", a.grad)\n\n# 更改變量 a 為隨機向量，重新計算\na = torch.randn(3, requires_grad=True)\n"
                     "d = control_flow_example(a)\nd.backward()\nprint(\"隨機向量的新梯度：\", a.grad)\n\n"
                     "# 更改變量 a 為隨機矩陣，重新計算\na = torch.randn(3, 3, requires_grad=True)\n"
                     "d = control_flow_example(a)\nd.backward()\nprint(\"隨機矩陣的新梯度：\", a.grad)")],
    "ex4": [("code", "import torch\n\n# 定義控制流函數\ndef custom_control_flow(x):\n    # 根據條件選擇不同計算路徑\n"
                     "    if x.sum() > 0:\n        y = x ** 2  # 條件 1: 平方\n    else:\n        y = x.abs()  # 條件 2: 絕對值\n"
                     "    return y.sum()\n\n# 測試 1: x 為正向量\nx = torch.tensor([1.0, 2.0, -3.0], requires_grad=True)\n"
                     "output = custom_control_flow(x)\noutput.backward()\nprint(\"x 為正向量時的梯度：\", x.grad)\n\n"
                     "# 測試 2: x 為負向量\nx = torch.tensor([-1.0, -2.0, -3.0], requires_grad=True)\n"
                     "output = custom_control_flow(x)\noutput.backward()\nprint(\"x 為負向量時的梯度：\", x.grad)\n\n"
                     "# 測試 3: x 為隨機值\nx = torch.randn(3, requires_grad=True)\noutput = custom_control_flow(x)\n"
                     "output.backward()\nprint(\"x 為隨機值時的梯度：\", x.grad)"),
            ("md", "1. **條件選擇影響梯度**：當 `x.sum() > 0` 時，梯度反映的是平方運算的導數（`2*x`）。"
                   "當 `x.sum() <= 0` 時，梯度反映的是絕對值的導數（`1` 或 `-1`，取決於符號）。")],
    "ex5": ("code", "import torch\nimport matplotlib.pyplot as plt\nimport numpy as np\n\n# 定義 x 範圍\n"
                    "x_vals = np.linspace(-2 * np.pi, 2 * np.pi, 100)\nx = torch.tensor(x_vals, requires_grad=True)\n\n"
                    "# 定義 f(x) = sin(x)\ny = torch.sin(x)\n\n# 計算梯度\ny.backward(torch.ones_like(x))  # 對 y 求梯度\n"
                    "grad = x.grad  # 取得梯度值\n\n# 繪製圖像\nplt.figure(figsize=(10, 6))\n\n# 繪製 f(x)\n"
                    "plt.plot(x_vals, np.sin(x_vals), label=\"f(x) = sin(x)\")\n\n# 繪製 df(x)/dx\n"
                    "plt.plot(x_vals, grad.detach().numpy(), label=\"df(x)/dx (calculated via autograd)\")\n\n# 標註\n"
                    "plt.title(\"f(x) = sin(x) and its derivative df(x)/dx\")\nplt.xlabel(\"x\")\nplt.ylabel(\"y\")\n"
                    "plt.axhline(0, color='gray', linewidth=0.5, linestyle='--')\n"
                    "plt.axvline(0, color='gray', linewidth=0.5, linestyle='--')\nplt.legend()\nplt.grid()\n\nplt.show()"),
}


def book_layout():
    """Typed in like the book: no tags, cells 3-5 merged, extra cells, assorted headings."""
    cells = []
    for key, src in BOOK.items():
        if key in ("cell4", "cell5"):
            continue
        if key in INTRO:
            cells.append(md(INTRO[key]))
        if key == "cell3":
            src = "y = 2 * torch.dot(x, x)\nprint(y)\ny.backward()\nprint(x.grad)\nx.grad == 4 * x"
        cells.append(code(src))
        if key == "cell1":
            cells.append(code("print(x.shape, x.dtype)  # 我自己加的"))
    cells += [
        md("## 練習\n\n### 練習 1\n為什麼計算二階導數比一階導數的開銷要更大？"),
        md("Computing a second derivative means we must keep the graph of the first derivative "
           "(create_graph=True) and run backward through it again: the extra backward pass costs time and "
           "storing the intermediate graph takes more memory."),
        md("Exercise 2"),
        code("x = torch.arange(4.0, requires_grad=True)\ny = (x * x).sum()\ny.backward(retain_graph=True)\ny.backward()\nx.grad"),
        code("y = (x * x).sum()\ny.backward()\ny.backward()"),
        md("**練習 3** 把 a 換成向量"),
        code("a = torch.randn(5, requires_grad=True)\nd = f(a)\nd.backward()"),
        code("d.sum().backward()\nprint(a.grad, d / a)"),
        md("#### 4. 自己設計"),
        code("def h(v):\n    s = v\n    while s.abs().sum() < 10:\n        s = s * 3\n    if s.mean() > 0:\n"
             "        return (s * v).sum()\n    return (s - v).sum()\n\n"
             "for v in [torch.tensor([0.5, 0.25]), torch.tensor([-2.0, -1.0, -4.0])]:\n"
             "    v.requires_grad_(True)\n    h(v).backward()\n    print(v.grad)"),
        md("练习 5"),
        code("import numpy as np\nimport matplotlib.pyplot as plt\nxs = torch.tensor(np.linspace(0, 6, 50), requires_grad=True)\n"
             "ys = torch.sin(xs)\nys.backward(torch.ones_like(xs))\nfig, ax = plt.subplots()\n"
             "ax.plot(xs.detach().numpy(), ys.detach().numpy())\nax.plot(xs.detach().numpy(), xs.grad.numpy())\nplt.show()"),
    ]
    return nb_of(cells)


MISTAKES_EX = {
    "ex1": ("md", "因為要算兩次。"),
    "ex2": ("code", "x = torch.arange(4.0, requires_grad=True)\ny = 2 * torch.dot(x, x)\ny.backward()\n"
                    "y = 2 * torch.dot(x, x)  # 重新計算 y，第二次就不會出錯了\ny.backward()\nprint('沒有錯誤！', x.grad)"),
    "ex3": ("code", "a = torch.randn(4, requires_grad=True)\nd = f(a)\nd.backward()"),
    "ex4": ("code", "def g(x):\n    return (x ** 3).sum()\n\nx = torch.tensor([1.0, -2.0], requires_grad=True)\n"
                    "g(x).backward()\nx.grad"),
    "ex5": ("code", "import matplotlib.pyplot as plt\nx = torch.linspace(-3, 3, 60)\n"
                    "plt.plot(x, torch.sin(x), label='sin')\nplt.plot(x, torch.cos(x), label='derivative')\nplt.show()"),
}

HARDCODED_EX = dict(REF_EX)


def main() -> None:
    ref = reference()
    write(ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb", ref)
    sub = ROOT / "submissions"
    write(sub / "reference.ipynb", ref)
    write(sub / "seed_answers.ipynb", nb_of(section(tagged=False) + exercises(SEED_EX, tagged=False)))
    write(sub / "book_layout.ipynb", book_layout())
    write(sub / "typical_mistakes.ipynb", nb_of(
        section(replace={"cell7": "x.grad.zero_()\ny = x * x\ny.backward()  # 忘了 sum()\nx.grad"}) + exercises(MISTAKES_EX)))
    write(sub / "hardcoded_f.ipynb", nb_of(
        section(replace={"cell10": "def f(a):\n    # 看過輸出後直接寫死\n    return 1024 * a"}) + exercises(HARDCODED_EX)))
    syntax = dict(REF_EX, ex4=("code", "def g(x)\n    if x.sum() > 0:\n        return (x ** 2).sum()\n    return x.abs().sum()"))
    write(sub / "syntax_error.ipynb", nb_of(section() + exercises(syntax)))
    loop = dict(REF_EX, ex4=("code", "def g(x):\n    y = x\n    while y.norm() < 1000:\n        y = y.detach() * 1  # 永遠不會變大\n"
                                      "    return y.sum()\n\nx = torch.tensor([1.0, 2.0], requires_grad=True)\ng(x).backward()"))
    write(sub / "infinite_loop.ipynb", nb_of(section() + exercises(loop)))
    kill = dict(REF_EX, ex3=("code", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)  # 核心自己結束了"))
    write(sub / "kills_kernel.ipynb", nb_of(section() + exercises(kill)))
    (sub / "not_a_notebook.ipynb").write_text("這不是筆記本，是一份 Word 檔改了副檔名。\n", encoding="utf-8")


if __name__ == "__main__":
    main()
