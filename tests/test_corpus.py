"""The grader agrees with a fair teacher's verdicts on the verdict corpus (tests/corpus).

The corpus (made by tools/make_corpus.py) holds correct-but-different and wrong-but-plausible
notebooks with a verdict per question; tools/corpus_agreement.py grades them in one batch with the
CLI and compares. AGREEMENT_MIN is the agreement main measured when the corpus was merged (rounded
down to 0.01); raise it as the grader improves. The target is 0.98. WRONG_AGREEMENT_MIN guards the
agreement on wrong work alone.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from pathlib import Path

import pytest

AGREEMENT_MIN = 0.99   # measured 0.997 (1559 of 1563) once errors reported in writing count; the target was 0.98
# ... and on the verdicts that are not "full" alone (positive, notfull, zero: about 90 of them), so
# that agreeing more on correct work never comes from giving full marks to wrong work. Main measured
# 0.711 (64 of 90) at first, 0.789 (71 of 90) at 07873c2; keep this at or above 0.60.
WRONG_AGREEMENT_MIN = 0.95   # measured 0.989 on wrong work (0.967 before errors reported in writing counted)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
# written by hand, independently of the grader (tests/corpus_hand/README.md), with stored outputs
HAND = ROOT / "tests" / "corpus_hand"
HAND_AGREEMENT_MIN = 0.97   # measured 0.982 (751 of 765); the first 40 alone 1.000 (393 of 393)
HAND_WRONG_MIN = 0.90   # measured 0.941 on the verdicts that are not "full"


def _tool():
    spec = importlib.util.spec_from_file_location("corpus_agreement", ROOT / "tools" / "corpus_agreement.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["corpus_agreement"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_corpus_is_well_formed():
    """Every verdict names a notebook and uses the fixed vocabulary and question ids; enough of each kind."""
    tool = _tool()
    verdicts = json.loads((CORPUS / "verdicts.json").read_text(encoding="utf-8"))
    stems = {p.stem for p in (CORPUS / "notebooks").glob("*.ipynb")}
    assert stems == set(verdicts)
    for stem, e in verdicts.items():
        assert set(e["verdicts"]) == set(tool.QIDS), stem
        assert set(e["verdicts"].values()) <= set(tool.VERDICTS), stem
        assert e["edition"] in {"d2l-zh 2.0", "d2l-en 0.17", "d2l-en 1.0"} and e["lang"] in {"zh-CN", "zh-TW", "en"}
        assert (e["verdicts"]["ex4-own-control-flow"] == "-") == (e["edition"] == "d2l-en 1.0"), stem
        nb = json.loads((CORPUS / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
        assert nb["nbformat"] == 4 and all(not c.get("outputs") for c in nb["cells"]), f"{stem}: outputs stored"
    ok = [s for s, e in verdicts.items() if all(v in ("full", "-") for v in e["verdicts"].values())]
    assert len(ok) >= 60 and len(verdicts) - len(ok) >= 30


def test_agrees_rule():
    tool = _tool()
    assert tool.agrees("full", 10, 10) and not tool.agrees("full", 9.5, 10)
    assert tool.agrees("positive", 4, 10) and not tool.agrees("positive", 0, 10) and not tool.agrees("positive", 10, 10)
    assert tool.agrees("notfull", 0, 10) and tool.agrees("notfull", 9, 10) and not tool.agrees("notfull", 10, 10)
    assert tool.agrees("zero", 0, 10) and not tool.agrees("zero", 1, 10)


def _measure(folder: Path, out: Path) -> tuple[dict, str]:
    """Grade a corpus with the CLI: the agreement summary, and its report (printed)."""
    tool = _tool()
    s = tool.measure(folder, out)
    proc = s.pop("grader")
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    text = tool.report(s, folder)
    print(text)
    return s, text


@pytest.mark.slow
def test_corpus_agreement(tmp_path):
    s, text = _measure(CORPUS, tmp_path / "out")
    if s["skipped"]:
        warnings.warn(f"corpus: {len(s['skipped'])} notebook(s) skipped, their packages are not importable: "
                      + ", ".join(f"{k} ({'/'.join(v)})" for k, v in sorted(s["skipped"].items())))
    assert s["graded"] >= 90
    assert s["rate"] >= AGREEMENT_MIN, f"agreement {s['rate']:.3f} < {AGREEMENT_MIN}\n{text}"
    assert s["rate_wrong"] >= WRONG_AGREEMENT_MIN, \
        f"agreement on wrong work {s['rate_wrong']:.3f} < {WRONG_AGREEMENT_MIN}\n{text}"


def test_hand_corpus_is_well_formed():
    tool = _tool()
    verdicts = json.loads((HAND / "VERDICTS.json").read_text(encoding="utf-8"))
    assert {p.stem for p in (HAND / "nb").glob("*.ipynb")} == set(verdicts) and len(verdicts) >= 78
    for stem, e in verdicts.items():
        assert set(e["verdicts"]) == set(tool.QIDS) and set(e["verdicts"].values()) <= set(tool.VERDICTS), stem
        assert (e["verdicts"]["ex4-own-control-flow"] == "-") == (e["edition"] == "d2l-en 1.0"), stem


@pytest.mark.slow
def test_hand_corpus_agreement(tmp_path):
    s, text = _measure(HAND, tmp_path / "out")
    assert s["graded"] == 78 and not s["skipped"]
    assert s["rate"] >= HAND_AGREEMENT_MIN, f"agreement {s['rate']:.3f} < {HAND_AGREEMENT_MIN}\n{text}"
    assert s["rate_wrong"] >= HAND_WRONG_MIN, \
        f"agreement on wrong work {s['rate_wrong']:.3f} < {HAND_WRONG_MIN}\n{text}"
