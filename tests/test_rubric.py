"""The rubric loads, and every kind of mistake in one is a one-line error naming file, line, key."""
from __future__ import annotations

from pathlib import Path

import pytest

from grader.errors import RubricError
from grader.rubric import DEFAULT_RUBRIC, load

from .conftest import ROOT, run_cli

BASE = DEFAULT_RUBRIC.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text.replace("reference: reference.ipynb", "reference: " + str(ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb")), encoding="utf-8")
    return p


def test_a_bundled_assignment_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repository: the name is found in the installed package
    linreg = load("d2l-linreg")
    assert Path(linreg.path).parent.name == "d2l-linreg" and sum(q.points for q in linreg.questions) == 100
    assert Path(load("d2l-autograd").path) == Path(DEFAULT_RUBRIC)
    with pytest.raises(RubricError, match="rubric file not found"):
        load("d2l-no-such-section")
    (tmp_path / "d2l-linreg").write_text("not: [a rubric", encoding="utf-8")  # a file by that name wins
    with pytest.raises(RubricError):
        load("d2l-linreg")


def test_bundled_rubric_loads(rubric):
    assert [q.id for q in rubric.questions] == [
        "autograd-basics", "sum-gradient", "nonscalar-backward", "detach", "control-flow",
        "ex1-second-derivative-cost", "ex2-backward-twice", "ex3-vector-input", "ex4-own-control-flow",
        "ex5-sin-derivative-plot"]
    assert sum(q.points for q in rubric.questions) == 100
    kinds = {c.kind for _, c in rubric.checks()}
    assert kinds == {"gradient", "exception", "function", "numgrad", "static", "figure", "written", "paths", "any_of"}


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("old,new,key,words", [
    ("        points: 3\n        feedback: {zh-TW: \"x = torch", "        points: 3\n        pointz: 2\n        feedback: {zh-TW: \"x = torch",
     "questions[autograd-basics].checks[y-is-2-x-dot-x].pointz", "unknown key"),
    ("kind: gradient\n        cell: section", "kind: gradiant\n        cell: section",
     "questions[autograd-basics].checks[y-is-2-x-dot-x].kind", "unknown check kind 'gradiant'"),
    ("cell: section\n        where: allclose(leaf, arange(4)) and allclose(out, sum(leaf))",
     "cell: sektion\n        where: allclose(leaf, arange(4)) and allclose(out, sum(leaf))",
     "questions[sum-gradient].checks[grad-is-ones].cell", "unknown cell anchor 'sektion'"),
    ("expect: allclose(contrib, 4 * leaf)", "expect: allclose(contrib, 4 * leaf",
     "questions[autograd-basics].checks[grad-is-4x].expect", "not a valid expression"),
    ("expect: allclose(contrib, 4 * leaf)", "expect: allclose(x.grad, 4 * leaf)",
     "questions[autograd-basics].checks[grad-is-4x].expect", "unknown name 'x'"),
    ("expect: allclose(contrib, 4 * leaf)", "expect: __import__('os')",
     "questions[autograd-basics].checks[grad-is-4x].expect", "only these functions"),
    ("  section: {scope: section}", "  section: {scope: chapter}", "cells.section.scope", "scope is 'notebook' or 'section'"),
    ("  section: {scope: section}", "  section: {scope: section, tag: s}", "cells.section", "takes no other key"),
    ("        points: 5\n        feedback: {zh-TW: \"x.sum()", "        points: five\n        feedback: {zh-TW: \"x.sum()",
     "questions[sum-gradient].checks[grad-is-ones].points", "expected number, got string"),
    ("visibility: hidden", "visibility: secret", "visibility", "is not one of public, hidden"),
    ("match: 'backward through the graph a second time'", "match: '(unclosed'",
     "checks[shows-runtime-error].match", "bad regular expression"),
    ("free_choice: true}", "free_choice: true, after: cell0}",
     "cells.cell10.after", "unknown cell anchor 'cell0'"),
    ("    points: 15\n    checks:\n      - name: plots", "    points: 16\n    checks:\n      - name: plots",
     "questions[ex5-sin-derivative-plot].points", "checks add up to 15"),
    # editions and exercises
    ("number: {d2l-zh-2.0: 4, course-zh-TW: 4, d2l-en-0.17: 4}", "number: {d2l-zh-2.0: 4, course-zh-TW: 4, d2l-en-0.18: 4}",
     "cells.ex4.exercise.number.d2l-en-0.18", "unknown edition 'd2l-en-0.18'"),
    ("d2l-en-0.17: 5, d2l-en-1.0: 4}", "d2l-en-0.17: 5, d2l-en-1.0: 9}", "cells.ex5.exercise", "exercise 9 is not in d2l-en-1.0"),
    ("d2l-en-0.17: 5, d2l-en-1.0: 4}", "d2l-en-0.17: 5, d2l-en-1.0: 3}", "cells.ex5.exercise", "d2l-en-1.0 exercise 3 is already ex3"),
    ("d2l-en-0.17: 5, d2l-en-1.0: 4}", "d2l-en-0.17: 5, d2l-en-1.0: 5}", "cells.ex5.exercise", "also listed in editions.d2l-en-1.0.others"),
    ("        en: ['\\bsin\\b',", "        en: ['(sin',", "cells.ex5.exercise.phrases.en", "bad regular expression"),
    ("        en: ['\\bsin\\b', '\\bplot|graph|draw', 'without|do not exploit|not use|rather', '\\bcos\\b']",
     "        en: ['\\bsin\\b']", "cells.ex5.exercise.phrases.en", "at least two key phrases"),
    ("    lang: zh-CN\n    exercises: 5", "    lang: fr\n    exercises: 5", "editions.d2l-zh-2.0.lang", "is not one of"),
    ("      number: 1\n", "      nummer: 1\n", "cells.ex1.exercise.nummer", "unknown key"),
])
def test_rubric_errors_name_file_line_and_key(tmp_path, old, new, key, words):
    assert old in BASE, old
    text = BASE.replace(old, new, 1)
    path = write(tmp_path, text)
    with pytest.raises(RubricError) as e:
        load(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:"), msg
    assert key in msg and words in msg, msg
    line = int(msg.split(":")[1])
    changed = _line_of(text, new.strip().splitlines()[0].strip()) if new.strip().splitlines()[0].strip() in text else None
    assert changed is None or abs(line - changed) <= 3, (line, changed, msg)


def test_yaml_syntax_error_has_line(tmp_path):
    path = write(tmp_path, BASE.replace("seed: 0", "seed: [0", 1))
    with pytest.raises(RubricError, match=r"r\.yaml:\d+: not valid YAML"):
        load(path)


def test_missing_rubric_and_missing_reference(tmp_path):
    with pytest.raises(RubricError, match="rubric file not found"):
        load(tmp_path / "nope.yaml")
    path = write(tmp_path, BASE.replace("reference: reference.ipynb", "reference: missing.ipynb"))
    with pytest.raises(RubricError, match=r":6: reference: reference notebook not found"):
        load(path)


def test_cli_bad_rubric_exit_2_one_line(tmp_path):
    path = write(tmp_path, BASE.replace("kind: static", "kind: statik", 1))
    proc = run_cli("check", "submissions/reference.ipynb", "--rubric", str(path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown check kind 'statik'" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
