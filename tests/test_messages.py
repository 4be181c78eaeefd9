"""Typed reasons and the message catalogue: every code the source uses is worded in every
built-in language with the same parameters; a rubric's own wording is validated when it loads;
hidden checks carry no reference values in their reasons; runs render from the catalogue."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import torch

from grader import messages as M
from grader.errors import RubricError
from grader.messages import Reason, render
from grader.rubric import load

from .checks.helpers import enc, judge

ROOT = Path(__file__).resolve().parent.parent
SOURCE = sorted((ROOT / "grader").rglob("*.py"))
CODE = re.compile(r"^[a-z_]+(\.[a-z_0-9]+)+$")
FILE = re.compile(r"\.(json|py|yaml|ipynb|txt|md|html|csv|sqlite)$")  # "kernel.json" is a file, not a code


def _reason_calls():
    """(file, line, code, keyword names or None when the call spreads **kwargs) of every
    Reason("...") call in the grader's source."""
    for path in SOURCE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Reason" and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names = None if any(k.arg is None for k in node.keywords) else {k.arg for k in node.keywords}
                yield path.relative_to(ROOT), node.lineno, node.args[0].value, names


def _codes_in_source() -> dict[str, str]:
    """code -> where it is used: the literal first argument of every Reason(...) call, and every
    string constant of the form namespace.name whose namespace such a call uses (codes kept in
    tables, e.g. LOST in execute.py or the report lines in tensor_value.py)."""
    used = {code: f"{f}:{line}" for f, line, code, _ in _reason_calls()}
    spaces = {c.split(".")[0] for c in used}
    for path in SOURCE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value) \
                    and node.value.split(".")[0] in spaces and not FILE.search(node.value):
                used.setdefault(node.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return used


def test_every_code_used_is_worded_in_every_builtin_language():
    used = _codes_in_source()
    assert len(used) > 100 and "value.shape" in used and "kernel.died_in_cell" in used  # the scan sees them
    for lang in M.BUILTIN:
        catalogue = M.builtin(lang)
        missing = sorted(f"{code} ({where})" for code, where in used.items() if code not in catalogue)
        assert not missing, f"{lang}.yaml lacks: {missing}"
        for code in used:
            assert M.placeholders(catalogue[code]) == M.placeholders(M.builtin("en")[code]), (lang, code)


def test_each_reason_call_gives_exactly_its_templates_parameters():
    en = M.builtin("en")
    for f, line, code, names in _reason_calls():
        if names is not None:
            assert names == M.placeholders(en[code]), f"{f}:{line} Reason({code!r}) gives {sorted(names)}, " \
                                                      f"the template uses {sorted(M.placeholders(en[code]))}"


def test_catalogues_hold_the_same_codes_and_none_unused():
    used = set(_codes_in_source())
    for lang in M.BUILTIN:
        assert set(M.builtin(lang)) == set(M.builtin("en")), lang
    assert set(M.builtin("en")) - used == set(), "codes no source uses"


def test_zh_cn_is_its_own_catalogue_not_a_conversion():
    cn, tw = M.builtin("zh-CN"), M.builtin("zh-TW")
    assert "单元格" in cn["judge.timeout"] and "儲存格" in tw["judge.timeout"]
    r = Reason("judge.timeout", cell=3, head="`while True: pass`", limit=15.0)
    assert render(r, "zh-CN") == cn["judge.timeout"].format(cell=3, head="`while True: pass`", limit=15.0)
    assert render(r, "en") == "cell 3 (`while True: pass`) ran past its time limit (15 s) and was interrupted: an endless loop?"


def test_lists_nested_reasons_and_fallback_to_english():
    r = Reason("static.problems", problems=[Reason("static.forbidden", name="cos", lines=[3, 4]),
                                            Reason("static.require", name="retain_graph")])
    assert render(r, "en") == "cos must not be used (found on line 3, 4); the code should use retain_graph"
    assert render(r, "zh-TW") == "不可以使用 cos（出現在第 3, 4 行）; 程式碼中應該用到 retain_graph"
    assert render(r, "ja") == render(r, "en")  # no Japanese catalogue: English
    ja = {"ja": {"static.require": "{name} を使ってください"}}
    assert render(r, "ja", ja).endswith("retain_graph を使ってください")
    assert Reason.from_dict(json.loads(json.dumps(r.to_dict()))) == r


RUBRIC = (ROOT / "grader" / "assignments" / "d2l-autograd" / "rubric.yaml").read_text(encoding="utf-8")


def _rubric_with(tmp_path, block: str, lang: str = "zh-TW") -> Path:
    ref = ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb"
    text = RUBRIC.replace("reference: reference.ipynb", f"reference: {ref}").replace("lang: zh-TW", f"lang: {lang}", 1)
    assert text != RUBRIC
    p = tmp_path / "rubric.yaml"
    p.write_text(text + "\n" + block, encoding="utf-8")
    return p


def test_a_rubric_adds_a_language_and_rewords(tmp_path):
    r = load(_rubric_with(tmp_path, "messages:\n  ja:\n    static.require: '{name} を使ってください'\n"
                                    "  en:\n    figure.none: 'draw the plot, please'\n", lang="ja"))
    assert r.lang == "ja" and r.messages["ja"]["static.require"] == "{name} を使ってください"
    assert render(Reason("static.require", name="retain_graph"), "ja", r.messages) == "retain_graph を使ってください"
    assert render(Reason("figure.none"), "en", r.messages) == "draw the plot, please"
    assert render(Reason("figure.none"), "ja", r.messages) == "draw the plot, please"  # ja lacks it: English
    assert render(Reason("figure.none"), "zh-TW", r.messages) == "這些儲存格沒有畫出任何圖"
    with pytest.raises(RubricError, match="lang"):  # a language nobody words
        load(_rubric_with(tmp_path, "", lang="ja"))


@pytest.mark.parametrize("block,key,says", [
    ("messages:\n  ja:\n    static.nonsense: 'x'\n", "messages.ja.static.nonsense", "unknown message code"),
    ("messages:\n  ja:\n    static.require: '{nme} を使って'\n", "messages.ja.static.require", "unknown placeholder {nme}"),
    ("messages:\n  ja:\n    static.require: '{name'\n", "messages.ja.static.require", "malformed template"),
    ("messages:\n  Japanese:\n    static.require: 'x'\n", "messages.Japanese", "language tag"),
    ("messages:\n  ja: [a]\n", "messages.ja", "expected a mapping"),
])
def test_bad_rubric_messages_are_one_line_errors(tmp_path, block, key, says):
    with pytest.raises(RubricError) as e:
        load(_rubric_with(tmp_path, block))
    text = str(e.value)
    assert key in text and says in text and "\n" not in text, text


# ---- hidden checks: no reference value in the reason, in any language ----------------------

def _values(t: torch.Tensor) -> list[str]:
    return [repr(v) for v in t.reshape(-1).tolist()] + [f"{v:.4g}" for v in t.reshape(-1).tolist()]


@pytest.mark.parametrize("got,exp", [
    (torch.tensor([1.0, 2.0]), torch.tensor([517.25, 731.5])),  # values
    (torch.tensor([1.0, 2.0, 3.0]), torch.tensor([517.25, 731.5, 913.75, 88.125])),  # shape
    (torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[517.25, 2.0], [3.0, 731.5]])),  # some elements
])
def test_hidden_tensor_check_reason_has_no_reference_values(got, exp):
    public = judge("tensor_value", got={"value": {"v": enc(got)}}, expected={"value": {"v": enc(exp)}}, expr="x.grad")
    assert any(v in json.dumps(public.reason.to_dict()) for v in _values(exp)) or \
        str(tuple(exp.shape)) in json.dumps(public.reason.to_dict()), "a public check shows them (the test can fail)"
    v = judge("tensor_value", got={"value": {"v": enc(got)}}, expected={"value": {"v": enc(exp)}}, expr="x.grad",
              visibility="hidden")
    assert v.status == "fail"
    shown = json.dumps(v.reason.to_dict(), ensure_ascii=False) + "".join(v.text(lang) for lang in M.BUILTIN)
    for value in _values(exp):
        if value not in _values(got):
            assert value not in shown, (value, shown)
    if got.shape != exp.shape:
        assert str(tuple(exp.shape)) not in shown
    assert "expected" not in json.dumps(v.reason.to_dict())  # no parameter named for the reference either


def test_plain_text_from_a_plugin_is_the_text_reason():
    from grader.checks.base import Verdict, failed

    v = failed("only 2 code cells")
    assert v.reason == Reason("text", text="only 2 code cells") and v.text("zh-CN") == "only 2 code cells"
    assert Verdict("pass", 1.0).reason is None and Verdict("pass", 1.0, "").reason is None


# ---- a real run, worded in two languages from the catalogue ----------------------------------

def _literals(tmpl: str) -> list[str]:
    import string

    return [lit for lit, *_ in string.Formatter().parse(tmpl) if len(lit.strip()) >= 2]


def test_a_run_words_its_results_from_the_catalogue(rubric, expected):
    from grader.grade import grade_path

    nb = ROOT / "submissions" / "typical_mistakes.ipynb"
    runs = {lang: grade_path(nb, rubric, expected, lang, public_only=False) for lang in ("zh-CN", "en")}
    statuses = {lang: [(c.name, c.status, c.score, c.reason) for q in r.questions for c in q.checks]
                for lang, r in runs.items()}
    assert statuses["zh-CN"] == statuses["en"]  # the reasons do not depend on the language
    for lang, r in runs.items():
        catalogue = M.builtin(lang)
        worded = 0
        for c in (c for q in r.questions for c in q.checks if c.reason):
            text = render(c.reason, lang, rubric.messages)
            assert text and c.message.startswith(text), (lang, c.name, c.message)  # then the hint, the note
            for literal in _literals(catalogue[c.reason["code"]]):
                assert literal in c.message, (lang, c.name, literal)
            worded += 1
        assert worded >= 6
    cn = " ".join(c.message for q in runs["zh-CN"].questions for c in q.checks)
    en = " ".join(c.message for q in runs["en"].questions for c in q.checks)
    assert "单元格" in cn or "梯度" in cn
    assert "儲存格" not in cn and "實際" not in cn  # Simplified, from zh-CN.yaml, not zh-TW's
    assert "does not hold gradients autograd produced" in en and "不是自动微分" in cn


def test_lang_outside_the_rubrics_languages_is_a_one_line_error():
    from .conftest import run_cli

    proc = run_cli("check", str(ROOT / "submissions" / "reference.ipynb"), "--lang", "fr")
    assert proc.returncode == 2 and "--lang fr" in proc.stderr and "zh-CN, zh-TW, en" in proc.stderr
    assert proc.stderr.count("\n") == 1
