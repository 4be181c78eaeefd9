"""Writes grader/assignments/d2l-linreg/reference.ipynb and the linear-regression sample
submissions in examples/d2l-linreg/submissions/ (graded with that rubric; not in submissions/,
which the autograd rubric grades).

The notebooks are committed; this script is how they were made, so a change to one is a
reviewable change here. Run: python tools/build_linreg.py
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell as code, new_markdown_cell as md, new_notebook

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / "grader" / "assignments" / "d2l-linreg" / "reference.ipynb"
OUT = ROOT / "examples" / "d2l-linreg" / "submissions"
META = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}}


def ex(src, tag, kind="code"):
    c = code(src) if kind == "code" else md(src)
    c.metadata["tags"] = [tag]
    return c


def write(path, cells):
    nb = new_notebook(cells=cells, metadata=META)
    for i, c in enumerate(nb.cells):
        c["id"] = f"c{i:02d}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def reference():
    cells = [
        md("# 线性回归的从零开始实现\n\n只用张量和自动微分，从零实现数据流水线、模型、损失函数和小批量随机梯度下降。"),
        code("%matplotlib inline\nimport random\nimport torch\nimport matplotlib.pyplot as plt"),
        md("## 生成数据集\n\n1000 个样本、每个 2 个标准正态特征；标签 $y = Xw + b + \\epsilon$，$w = [2, -3.4]^T$，$b = 4.2$，噪声标准差 0.01。"),
        code("def synthetic_data(w, b, num_examples):\n"
             "    \"\"\"生成 y = Xw + b + 噪声\"\"\"\n"
             "    ### BEGIN SOLUTION\n"
             "    X = torch.normal(0, 1, (num_examples, len(w)))\n"
             "    y = torch.matmul(X, w) + b\n"
             "    y += torch.normal(0, 0.01, y.shape)\n"
             "    return X, y.reshape((-1, 1))\n"
             "    ### END SOLUTION"),
        code("true_w = torch.tensor([2, -3.4])\ntrue_b = 4.2\nfeatures, labels = synthetic_data(true_w, true_b, 1000)"),
        code("print('features:', features[0], '\\nlabel:', labels[0])"),
        code("plt.figure(figsize=(3.5, 2.5))\nplt.scatter(features[:, 1].detach().numpy(), labels.detach().numpy(), 1);"),
        md("## 读取数据集"),
        code("def data_iter(batch_size, features, labels):\n"
             "    ### BEGIN SOLUTION\n"
             "    num_examples = len(features)\n"
             "    indices = list(range(num_examples))\n"
             "    # 样本随机读取，没有特定顺序\n"
             "    random.shuffle(indices)\n"
             "    for i in range(0, num_examples, batch_size):\n"
             "        batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])\n"
             "        yield features[batch_indices], labels[batch_indices]\n"
             "    ### END SOLUTION"),
        code("batch_size = 10\n\nfor X, y in data_iter(batch_size, features, labels):\n    print(X, '\\n', y)\n    break"),
        md("## 初始化模型参数"),
        code("### BEGIN SOLUTION\nw = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)\nb = torch.zeros(1, requires_grad=True)\n"
             "### END SOLUTION"),
        md("## 定义模型"),
        code("def linreg(X, w, b):\n    \"\"\"线性回归模型\"\"\"\n    ### BEGIN SOLUTION\n    return torch.matmul(X, w) + b\n"
             "    ### END SOLUTION"),
        md("## 定义损失函数"),
        code("def squared_loss(y_hat, y):\n    \"\"\"均方损失\"\"\"\n    ### BEGIN SOLUTION\n"
             "    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2\n    ### END SOLUTION"),
        md("## 定义优化算法"),
        code("def sgd(params, lr, batch_size):\n"
             "    \"\"\"小批量随机梯度下降\"\"\"\n"
             "    ### BEGIN SOLUTION\n"
             "    with torch.no_grad():\n"
             "        for param in params:\n"
             "            param -= lr * param.grad / batch_size\n"
             "            param.grad.zero_()\n"
             "    ### END SOLUTION"),
        md("## 训练"),
        code("lr = 0.03\nnum_epochs = 3\nnet = linreg\nloss = squared_loss"),
        code("for epoch in range(num_epochs):\n"
             "    for X, y in data_iter(batch_size, features, labels):\n"
             "        ### BEGIN SOLUTION\n"
             "        l = loss(net(X, w, b), y)  # X 和 y 的小批量损失\n"
             "        # l 的形状是 (batch_size, 1)，不是标量：先求和再反向传播\n"
             "        l.sum().backward()\n"
             "        sgd([w, b], lr, batch_size)  # 用参数的梯度更新参数\n"
             "        ### END SOLUTION\n"
             "    with torch.no_grad():\n"
             "        train_l = loss(net(features, w, b), labels)\n"
             "        print(f'epoch {epoch + 1}, loss {float(train_l.mean()):f}')"),
        code("print(f'w的估计误差: {true_w - w.reshape(true_w.shape)}')\nprint(f'b的估计误差: {true_b - b}')"),
        md("## 练习"),
        md("### 练习 1\n如果我们将权重初始化为零，会发生什么。算法仍然有效吗？"),
        ex("<!-- BEGIN SOLUTION -->\n仍然有效。线性回归只有一层、损失是凸的：即使 $w = 0$，梯度 $X^\\top(Xw + b - y)$ 也不为零"
           "（它取决于数据），所以参数照样被更新并收敛到同样的解。全零初始化的对称性问题只出现在有隐藏层的网络里。\n<!-- END SOLUTION -->", "ex1", "md"),
        md("### 练习 2\n假设你是乔治·西蒙·欧姆，试图为电压和电流的关系建立一个模型。你能使用自动微分来学习模型的参数吗?"),
        ex("<!-- BEGIN SOLUTION -->\n可以。模型是线性的：$U = I R$，电阻 $R$ 就是要学的参数（可再加一个偏置）。"
           "把测量到的 (I, U) 数据代入，用平方损失和梯度下降拟合，梯度由自动微分（backward）算出。\n<!-- END SOLUTION -->", "ex2", "md"),
        md("### 练习 3\n您能基于普朗克定律使用光谱能量密度来确定物体的温度吗？"),
        ex("<!-- BEGIN SOLUTION -->\n可以。把温度 T 当作参数，用梯度下降拟合：让公式算出的 B(λ, T) 与测量的光谱能量密度的平方误差最小，"
           "梯度由自动微分求出。但模型是非线性的，exp 容易溢出、各量尺度相差很大，需要对数变换或缩放，并选好初始值。\n<!-- END SOLUTION -->", "ex3", "md"),
        md("### 练习 4\n如果你想计算二阶导数可能会遇到什么问题？你会如何解决这些问题？"),
        ex("<!-- BEGIN SOLUTION -->\n反向传播默认不保留一阶导数的计算图，无法再对梯度求导：要用 `create_graph=True`（或 `torch.autograd.grad`）"
           "建立并保留一阶导数的计算图。二阶导数（Hessian）有 n² 个元素，需要更多内存和计算量，可以只算 Hessian 与向量的乘积。\n<!-- END SOLUTION -->", "ex4", "md"),
        md("### 练习 5\n为什么在 `squared_loss` 函数中需要使用 `reshape` 函数？"),
        ex("<!-- BEGIN SOLUTION -->\n`y_hat` 的形状是 (n, 1) 的列向量，而 `y` 可能是形状为 (n,) 的一维向量。两者形状不同时直接相减会广播成 n×n 的矩阵，"
           "损失就错了；reshape 让 `y` 的形状与 `y_hat` 相同，逐样本相减。\n<!-- END SOLUTION -->", "ex5", "md"),
        md("### 练习 6\n尝试使用不同的学习率，观察损失函数值下降的快慢。"),
        ex("### BEGIN SOLUTION\n"
           "def train(lr, num_epochs=1):\n"
           "    w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)\n"
           "    b = torch.zeros(1, requires_grad=True)\n"
           "    for epoch in range(num_epochs):\n"
           "        for X, y in data_iter(batch_size, features, labels):\n"
           "            loss(net(X, w, b), y).sum().backward()\n"
           "            sgd([w, b], lr, batch_size)\n"
           "    with torch.no_grad():\n"
           "        return float(loss(net(features, w, b), labels).mean())\n"
           "\n"
           "for lr in (0.001, 0.03, 1.0):\n"
           "    print(f'lr {lr}: loss after one epoch {train(lr):f}')\n"
           "### END SOLUTION", "ex6"),
        ex("<!-- BEGIN SOLUTION -->\n学习率太小（0.001）时损失下降很慢；0.03 时一个迭代周期内就降得很低；学习率越大下降越快，"
           "但太大时会震荡甚至发散（损失变成 inf 或 nan）。\n<!-- END SOLUTION -->", "ex6", "md"),
        md("### 练习 7\n如果样本个数不能被批量大小整除，`data_iter`函数的行为会有什么变化？"),
        ex("### BEGIN SOLUTION\n"
           "sizes = [len(y) for X, y in data_iter(300, features, labels)]\n"
           "print(sizes)  # [300, 300, 300, 100]\n"
           "### END SOLUTION", "ex7"),
        ex("<!-- BEGIN SOLUTION -->\n最后一个小批量比较小：1000 不能被 300 整除，最后一批只有余数 100 个样本（`min(i + batch_size, num_examples)` 截断）。"
           "但 `sgd` 仍然除以 batch_size，所以最后一步的步长偏小；可以除以实际批量的大小 len(y)，或丢弃最后一个不满的批量。\n<!-- END SOLUTION -->", "ex7", "md"),
    ]
    write(REF, cells)


def samples():
    # ---- correct_en: d2l-en 0.17 in English, spelled differently, cells merged ---------------------
    write(OUT / "correct_en.ipynb", [
        md("# Linear Regression Implementation from Scratch\n\n(my notebook: section 3.2 of D2L 0.17)"),
        md("## Generating the Dataset"),
        code("import random\nimport torch\nfrom matplotlib import pyplot as plt\n\n"
             "def synthetic_data(w, b, num_examples):\n"
             "    X = torch.randn(num_examples, len(w))\n"
             "    y = X @ w + b\n"
             "    y = y + 0.01 * torch.randn(y.shape)\n"
             "    return X, y.reshape(-1, 1)\n\n"
             "true_w = torch.tensor([2.0, -3.4])\ntrue_b = 4.2\n"
             "features, labels = synthetic_data(true_w, true_b, 1000)\n"
             "fig, ax = plt.subplots()\nax.scatter(features[:, 1].numpy(), labels.numpy(), s=1)\nplt.show()"),
        md("## Reading the Dataset"),
        code("def data_iter(batch_size, features, labels):\n"
             "    n = len(features)\n"
             "    order = torch.randperm(n)\n"
             "    for start in range(0, n, batch_size):\n"
             "        idx = order[start:start + batch_size]\n"
             "        yield features[idx], labels[idx]\n\n"
             "batch_size = 10\nX, y = next(iter(data_iter(batch_size, features, labels)))\nprint(X.shape, y.shape)"),
        md("## Initializing Model Parameters, the Model, the Loss and SGD"),
        code("w = torch.normal(0, 0.01, size=(2, 1))\nw.requires_grad_()\nb = torch.zeros(1)\nb.requires_grad_()\n\n"
             "def linreg(X, w, b):\n    return X @ w + b\n\n"
             "def squared_loss(y_hat, y):\n    return 0.5 * (y_hat - y.view(y_hat.shape)) ** 2\n\n"
             "def sgd(params, lr, batch_size):\n"
             "    for p in params:\n"
             "        p.data -= lr * p.grad.data / batch_size\n"
             "        p.grad = None"),
        md("## Training"),
        code("lr, num_epochs = 0.03, 3\n"
             "for epoch in range(num_epochs):\n"
             "    for X, y in data_iter(batch_size, features, labels):\n"
             "        batch_loss = squared_loss(linreg(X, w, b), y).sum()\n"
             "        batch_loss.backward()\n"
             "        sgd([w, b], lr, batch_size)\n"
             "    with torch.no_grad():\n"
             "        print('epoch', epoch + 1, 'loss', squared_loss(linreg(features, w, b), labels).mean().item())\n"
             "print('error in w:', true_w - w.reshape(true_w.shape).detach())\nprint('error in b:', true_b - b.item())"),
        md("## Exercises"),
        md("**1.** What would happen if we were to initialize the weights $w = 0$. Would the algorithm still work?\n\n"
           "Yes, it still works. The gradient with respect to w is X^T(Xw + b - y), which is nonzero even when w = 0 "
           "because it depends on the data; there is no symmetry problem since there is no hidden layer."),
        md("**2.** Ohm's law model with autograd?\n\n"
           "Yes. The model is linear, V = I * R, with the resistance R as the parameter. With measured (I, V) pairs we "
           "minimise the squared loss by gradient descent; autograd gives dL/dR."),
        md("**3.** Planck's law and temperature?\n\n"
           "Yes: treat the temperature T as the parameter and fit the measured spectral density with gradient descent. "
           "Because the formula is nonlinear (an exp that can overflow), we should rescale or take a log and pick a sensible initial T."),
        md("**4.** Second derivatives?\n\n"
           "backward frees the graph of the first derivative, so we need create_graph=True to build it and differentiate again. "
           "It also costs more memory, and a full Hessian has n^2 entries."),
        md("**5.** Why reshape in squared_loss?\n\n"
           "y_hat has shape (n, 1) but y may be a 1-D vector of shape (n,). Subtracting them would broadcast into an n x n matrix "
           "and give a wrong loss, so y is reshaped to y_hat's shape."),
        md("**6.** Different learning rates"),
        code("for lr in [0.003, 0.03, 0.3]:\n"
             "    w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)\n"
             "    b = torch.zeros(1, requires_grad=True)\n"
             "    for X, y in data_iter(batch_size, features, labels):\n"
             "        squared_loss(linreg(X, w, b), y).sum().backward()\n"
             "        sgd([w, b], lr, batch_size)\n"
             "    with torch.no_grad():\n"
             "        print(lr, squared_loss(linreg(features, w, b), labels).mean().item())"),
        md("A small learning rate is slow; a larger one makes the loss drop fast, and one that is too large would diverge."),
        md("**7.** If the number of examples cannot be divided by the batch size?"),
        code("print([len(y) for _, y in data_iter(64, features, labels)][-3:])"),
        md("The last minibatch is smaller: it holds only the remaining 1000 % 64 = 40 examples. sgd still divides by "
           "batch_size, so that last step is too small; dividing by len(y) fixes it."),
    ])

    # ---- book_layout: typed in like the zh-TW course, no tags, the book's list of questions --------
    write(OUT / "book_layout.ipynb", [
        md("# 線性回歸的從零開始實現"),
        code("%matplotlib inline\nimport random\nimport torch\nimport matplotlib.pyplot as plt"),
        md("## 生成資料集"),
        code("def synthetic_data(w, b, num_examples):  #@save\n"
             "    \"\"\"生成y=Xw+b+噪聲\"\"\"\n"
             "    X = torch.normal(0, 1, (num_examples, len(w)))\n"
             "    y = torch.matmul(X, w) + b\n"
             "    y += torch.normal(0, 0.01, y.shape)\n"
             "    return X, y.reshape((-1, 1))"),
        code("true_w = torch.tensor([2, -3.4])\ntrue_b = 4.2\nfeatures, labels = synthetic_data(true_w, true_b, 1000)"),
        code("print('features:', features[0],'\\nlabel:', labels[0])"),
        code("plt.scatter(features[:, (1)].detach().numpy(), labels.detach().numpy(), 1);"),
        md("## 讀取資料集"),
        code("def data_iter(batch_size, features, labels):\n"
             "    num_examples = len(features)\n"
             "    indices = list(range(num_examples))\n"
             "    # 這些樣本是隨機讀取的，沒有特定的順序\n"
             "    random.shuffle(indices)\n"
             "    for i in range(0, num_examples, batch_size):\n"
             "        batch_indices = torch.tensor(\n"
             "            indices[i: min(i + batch_size, num_examples)])\n"
             "        yield features[batch_indices], labels[batch_indices]"),
        code("batch_size = 10\n\nfor X, y in data_iter(batch_size, features, labels):\n    print(X, '\\n', y)\n    break"),
        md("## 初始化模型參數"),
        code("w = torch.normal(0, 0.01, size=(2,1), requires_grad=True)\nb = torch.zeros(1, requires_grad=True)"),
        md("## 定義模型"),
        code("def linreg(X, w, b):  #@save\n    \"\"\"線性回歸模型\"\"\"\n    return torch.matmul(X, w) + b"),
        md("## 定義損失函數"),
        code("def squared_loss(y_hat, y):  #@save\n    \"\"\"均方損失\"\"\"\n    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2"),
        md("## 定義優化算法"),
        code("def sgd(params, lr, batch_size):  #@save\n"
             "    \"\"\"小批量隨機梯度下降\"\"\"\n"
             "    with torch.no_grad():\n"
             "        for param in params:\n"
             "            param -= lr * param.grad / batch_size\n"
             "            param.grad.zero_()"),
        md("## 訓練"),
        code("lr = 0.03\nnum_epochs = 3\nnet = linreg\nloss = squared_loss"),
        code("for epoch in range(num_epochs):\n"
             "    for X, y in data_iter(batch_size, features, labels):\n"
             "        l = loss(net(X, w, b), y)  # X和y的小批量損失\n"
             "        l.sum().backward()\n"
             "        sgd([w, b], lr, batch_size)  # 使用參數的梯度更新參數\n"
             "    with torch.no_grad():\n"
             "        train_l = loss(net(features, w, b), labels)\n"
             "        print(f'epoch {epoch + 1}, loss {float(train_l.mean()):f}')"),
        code("print(f'w的估計誤差: {true_w - w.reshape(true_w.shape)}')\nprint(f'b的估計誤差: {true_b - b}')"),
        md("## 練習\n\n"
           "1. 如果我們將權重初始化為零，會發生什麼。演算法仍然有效嗎？\n"
           "1. 假設試圖為電壓和電流的關係建立一個模型。自動微分可以用來學習模型的參數嗎?\n"
           "1. 能基於普朗克定律使用光譜能量密度來確定物體的溫度嗎？\n"
           "1. 計算二階導數時可能會遇到什麼問題？這些問題可以如何解決？\n"
           "1. 為什麼在`squared_loss`函數中需要使用`reshape`函數？\n"
           "1. 嘗試使用不同的學習率，觀察損失函數值下降的快慢。\n"
           "1. 如果樣本個數不能被批量大小整除，`data_iter`函數的行為會有什麼變化？"),
        md("練習1：仍然有效。只有一層，損失是凸的；w = 0 時梯度 Xᵀ(Xw+b−y) 取決於資料，不為零，參數照樣更新。"),
        md("練習2：可以。U = IR 是線性模型，電阻 R 就是參數；用測量的電流、電壓資料和平方損失做梯度下降來擬合。"),
        md("練習3：可以，把溫度 T 當作參數，用梯度下降擬合測量到的光譜能量密度；但公式有 exp，數值容易溢位，要取對數並選好初始值。"),
        md("練習4：預設不會保留一階導數的計算圖，要用 create_graph=True；二階導數還需要更多記憶體，Hessian 有 n² 個元素。"),
        md("練習5：y_hat 的形狀是 (n, 1)，y 可能是一維的 (n,)，形狀不同時相減會廣播成 n×n 的矩陣，損失就算錯了。"),
        code("# 練習6\n"
             "for lr in (0.001, 0.03, 0.5):\n"
             "    w = torch.normal(0, 0.01, size=(2,1), requires_grad=True)\n"
             "    b = torch.zeros(1, requires_grad=True)\n"
             "    for X, y in data_iter(batch_size, features, labels):\n"
             "        l = loss(net(X, w, b), y)\n"
             "        l.sum().backward()\n"
             "        sgd([w, b], lr, batch_size)\n"
             "    with torch.no_grad():\n"
             "        print(lr, float(loss(net(features, w, b), labels).mean()))"),
        md("學習率 0.001 下降得很慢，0.03 很快，學習率太大時會震盪。"),
        code("# 練習7\nfor X, y in data_iter(300, features, labels):\n    print(X.shape)"),
        md("最後一個小批量只有剩下的 100 個樣本，比較小；sgd 卻仍除以 batch_size，可以改成除以 len(y)。"),
    ])


    # typical mistakes, each a real one students make:
    # - synthetic_data hard-codes two features (X of shape (n, 2) whatever len(w) is)
    # - data_iter forgets to shuffle (examples always in the same order)
    # - squared_loss without reshape: right for the section's (n, 1) labels, a matrix for a label vector
    # - exercise 5 answered wrongly, exercise 6 answered without running anything
    variant("typical_mistakes", [
        ("torch.normal(0, 1, (num_examples, len(w)))", "torch.normal(0, 1, (num_examples, 2))"),
        ("    # 样本随机读取，没有特定顺序\n    random.shuffle(indices)\n", ""),
        ("(y_hat - y.reshape(y_hat.shape)) ** 2 / 2", "(y_hat - y) ** 2 / 2"),
        ("`y_hat` 的形状是 (n, 1) 的列向量，而 `y` 可能是形状为 (n,) 的一维向量。两者形状不同时直接相减会广播成 n×n 的矩阵，"
         "损失就错了；reshape 让 `y` 的形状与 `y_hat` 相同，逐样本相减。", "reshape 可以让计算更快，也更省事。"),
    ], drop=("def train(lr",))

    # sgd forgets to zero the gradients: they accumulate from step to step
    variant("no_zero_grad", [("            param.grad.zero_()\n", ""), ("            param.grad.zero_()", "")])


# ---- variants of the reference (zh-CN, d2l-zh 2.0), tags stripped ----------------------------------


def variant(name, edits, drop=()):
    nb = nbformat.read(str(REF), 4)
    cells = []
    for c in nb.cells:
        c.metadata.pop("tags", None)
        c.outputs = [] if c.cell_type == "code" else None
        if c.cell_type == "markdown":
            c.pop("outputs", None)
        src = re.sub(r"(?m)^[ \t]*(### (BEGIN|END) SOLUTION|<!-- (BEGIN|END) SOLUTION -->)[ \t]*\n?", "", c.source).rstrip("\n")
        for old, new in edits:
            src = src.replace(old, new)
        c.source = src
        if not any(d in src for d in drop):
            cells.append(c)
    write(OUT / f"{name}.ipynb", cells)



def template():
    """The notebook students get (grader release), handed in as it is: every answer a placeholder."""
    import json
    import sys

    sys.path.insert(0, str(ROOT))
    from grader.release import release

    nb = release(json.loads(REF.read_text(encoding="utf-8")), "d2l-linreg", REF.name)
    (OUT / "template.ipynb").write_text(json.dumps(nb, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    reference()
    samples()
    template()
