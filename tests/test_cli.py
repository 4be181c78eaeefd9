"""The command line as a student and an instructor use it."""
from __future__ import annotations

import json

from .conftest import ROOT, run_cli


def test_check_reference_passes_and_hides_hidden_checks(expected):
    proc = run_cli("check", "submissions/reference.ipynb", "--json", "--lang", "en")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["status"] == "graded" and r["score"] == r["max_score"] == 94
    names = {c["name"] for q in r["questions"] for c in q["checks"]}
    assert "f-on-hidden-inputs" not in names
    assert all(c["visibility"] == "public" for q in r["questions"] for c in q["checks"])


def test_check_failing_notebook_exit_1_readable_report(expected):
    proc = run_cli("check", "submissions/typical_mistakes.ipynb")
    assert proc.returncode == 1, proc.stderr
    assert "ex5-sin-derivative-plot" in proc.stdout and "不是自動微分（backward）算出來的梯度" in proc.stdout


def test_bad_input_is_one_line_exit_2(tmp_path):
    cases = [
        ("check", "nope.ipynb"),
        ("check", "submissions/not_a_notebook.ipynb"),
        ("check", "submissions/reference.ipynb", "--lang", "fr"),
        ("grade", "submissions/reference.ipynb"),  # --out missing
        ("grade", "missing_dir", "--out", str(tmp_path / "o")),
        ("frobnicate",),
        ("check", "submissions/reference.ipynb", "--cell-timeout", "-1"),
    ]
    for args in cases:
        proc = run_cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("grader: error: ") and proc.stderr.count("\n") == 1, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_a_bad_max_score_stops_check_before_it_grades(tmp_path):
    junit = tmp_path / "check.xml"
    proc = run_cli("check", "submissions/reference.ipynb", "--github", "--max-score", "0", "--junit", str(junit))
    assert proc.returncode == 2 and proc.stderr == "grader: error: --max-score 0: must be positive\n", proc.stderr
    assert not junit.exists() and proc.stdout == ""  # nothing graded, nothing written


def test_validate_bundled_rubric(expected):
    proc = run_cli("validate")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reference scores 100/100" in proc.stdout


def test_validate_fails_when_reference_is_wrong(tmp_path):
    from .test_rubric import BASE, write

    ref = json.loads((ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb").read_text(encoding="utf-8"))
    for cell in ref["cells"]:
        if "ex5" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = "import matplotlib.pyplot as plt\nx = torch.linspace(0, 3, 30)\nplt.plot(x, torch.sin(x))\nplt.plot(x, torch.cos(x))"
    (tmp_path / "ref.ipynb").write_text(json.dumps(ref), encoding="utf-8")
    path = write(tmp_path, BASE.replace("reference: reference.ipynb", "reference: ref.ipynb"))
    proc = run_cli("validate", str(path))
    assert proc.returncode == 1
    assert "does not score full marks (90/100)" in proc.stdout


def test_warnings_and_stderr_never_cost_points(tmp_path, expected):
    ref = json.loads((ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb").read_text(encoding="utf-8"))
    noisy = {"cell_type": "code", "execution_count": None, "id": "noisy", "metadata": {}, "outputs": [],
             "source": "import sys, warnings\nwarnings.warn('deprecated thing', DeprecationWarning)\n"
                       "warnings.warn('careful')\nprint('to stderr', file=sys.stderr)"}
    cells = []
    for cell in ref["cells"]:
        cells.append(cell)
        if cell.get("cell_type") == "code":
            cells.append(dict(noisy, id=f"noisy{len(cells)}"))
    ref["cells"] = cells
    (tmp_path / "noisy.ipynb").write_text(json.dumps(ref), encoding="utf-8")
    proc = run_cli("check", str(tmp_path / "noisy.ipynb"), "--json")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert json.loads(proc.stdout)["score"] == 94


def test_grading_never_imports_torch_in_the_grader(tmp_path, expected):
    """torch is the kernels' (1-2 cpu-s to import, on the cores the kernels start on): the grader
    judges what they sent back with numpy (grader/tensors.py). ``-X importtime`` lists every
    module the grader process imported (the kernels, other processes, are not listed)."""
    import re
    import subprocess
    import sys

    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "grader", "grade", "submissions/reference.ipynb",
                           "submissions/typical_mistakes.ipynb", "--out", str(out), "--lang", "en"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = [m.group(1) for m in re.finditer(r"^import time:.*\|\s+(\S+)$", proc.stderr, re.M)]
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]
    assert "grader.tensors" in imported and "numpy" in imported  # the values were judged
    reference = json.loads((out / "reference.json").read_text())
    assert reference["score"] == reference["max_score"] == 100
    mistakes = json.loads((out / "typical_mistakes.json").read_text())
    assert mistakes["status"] == "graded" and 0 < mistakes["score"] < 100
