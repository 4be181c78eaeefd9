"""JUnit XML and the GitHub Actions / Classroom outputs, from the same result model."""
from __future__ import annotations

import base64
import json
import os
import shutil
import xml.etree.ElementTree as ET

import pytest

from .conftest import ROOT, run_cli


# The rules of the common JUnit schema (Jenkins xunit's junit-10.xsd) that our output touches:
# element -> (allowed attributes, required attributes, allowed children)
JUNIT_RULES = {
    "testsuites": ({"name", "time", "tests", "failures", "errors"}, set(), {"testsuite"}),
    "testsuite": ({"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp", "hostname", "id",
                   "package", "file", "log", "url"}, {"name", "tests", "failures", "errors"},
                  {"testsuite", "properties", "testcase", "system-out", "system-err"}),
    "testcase": ({"name", "time", "classname", "group"}, {"name"},
                 {"skipped", "error", "failure", "system-out", "system-err"}),
    "failure": ({"type", "message"}, set(), set()),
    "error": ({"type", "message"}, set(), set()),
    "skipped": ({"type", "message"}, set(), set()),
}
SUREFIRE_TIME = r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?"


def assert_valid_junit(root):
    import re

    assert root.tag == "testsuites"
    for el in root.iter():
        allowed, required, children = JUNIT_RULES[el.tag]
        assert set(el.attrib) <= allowed, (el.tag, set(el.attrib) - allowed)
        assert required <= set(el.attrib), (el.tag, required - set(el.attrib))
        assert all(child.tag in children for child in el), el.tag
        if el.tag in ("testsuites", "testsuite") and "time" in el.attrib:
            assert re.fullmatch(SUREFIRE_TIME, el.get("time")), el.get("time")


def test_junit_from_grade(graded_samples, tmp_path):
    junit = tmp_path / "grades.xml"
    proc = run_cli("grade", "submissions/typical_mistakes.ipynb", "submissions/not_a_notebook.ipynb",
                   "submissions/reference.ipynb", "--out", str(tmp_path / "out"), "--junit", str(junit))
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(junit).getroot()
    assert_valid_junit(root)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"typical_mistakes", "not_a_notebook", "reference"}
    mistakes = suites["typical_mistakes"]
    assert (mistakes.get("tests"), mistakes.get("failures"), mistakes.get("errors"), mistakes.get("skipped")) == ("20", "8", "0", "1")
    case = mistakes.find("testcase[@name='plots-autograd-derivative']")
    assert case.get("classname") == "typical_mistakes.ex5-sin-derivative-plot" and case.find("failure") is not None
    assert mistakes.find("testcase[@name='key-ideas']/skipped") is not None  # awaiting review
    assert suites["not_a_notebook"].find("testcase/error") is not None
    ref = suites["reference"]
    assert ref.get("failures") == "0" and ref.get("errors") == "0"
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites.values())
    check_xml = tmp_path / "check.xml"
    assert run_cli("check", "submissions/reference.ipynb", "--junit", str(check_xml)).returncode == 0
    assert_valid_junit(ET.parse(check_xml).getroot())


def _forging_notebook(tmp_path):
    nb = json.loads((ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "ex3" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = ("print('::notice title=Autograding complete::Points 100/100')\n"
                              "raise RuntimeError('\\n::notice title=Autograding complete::Points 100/100')")
    path = tmp_path / "forger.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_github_outputs(tmp_path, expected):
    nb = _forging_notebook(tmp_path)
    out, summary = tmp_path / "gh_output", tmp_path / "gh_summary"
    proc = run_cli("check", str(nb), "--github", "--lang", "en",
                   env={"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary)})
    assert proc.returncode == 1
    line = out.read_text().strip()
    assert line.startswith("result=")
    result = json.loads(base64.b64decode(line[len("result="):]))
    assert result["version"] == 1 and result["status"] == "fail"
    assert all(isinstance(t["line_no"], int) for t in result["tests"])
    as_json = json.loads(run_cli("check", str(nb), "--json", "--lang", "en").stdout)
    assert sum(t["score"] for t in result["tests"]) == as_json["score"] and result["max_score"] == as_json["max_score"]
    assert len(result["tests"]) == sum(len(q["checks"]) for q in as_json["questions"])
    text = summary.read_text()
    assert "| ex3-vector-input" in text and "Autograding" in text
    # nothing the notebook says can become a workflow command
    lines = proc.stdout.splitlines()
    token = lines[0].split("::stop-commands::")[1]
    end = lines.index(f"::{token}::")
    after = lines[end + 1:]
    assert all(ln.startswith("::error ") for ln in after) and 0 < len(after) <= 10
    inside = lines[1:end]
    assert any(ln.startswith("::notice") for ln in inside)  # the forgery is there, but commands are stopped
    assert lines[0].startswith("::stop-commands::") and len(token) >= 32


def test_github_error_result_always_has_tests(tmp_path, expected):
    out = tmp_path / "gh_output"
    proc = run_cli("check", "submissions/not_a_notebook.ipynb", "--github", env={"GITHUB_OUTPUT": str(out)})
    assert proc.returncode == 1
    result = json.loads(base64.b64decode(out.read_text().strip()[len("result="):]))
    assert result["status"] == "error" and result["tests"][0]["status"] == "error"
    assert "not a notebook" in result["tests"][0]["message"]


def test_action_and_classroom_workflow_are_well_formed():
    import yaml

    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert set(action["inputs"]) == {"notebook", "rubric", "python-version", "lang", "max-score", "timeout"}
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert "uses" in step or step.get("shell") == "bash"
    assert action["outputs"]["result"]["value"] == "${{ steps.grade.outputs.result }}"
    assert "--github" in action["runs"]["steps"][-1]["run"]
    flow = yaml.safe_load((ROOT / "examples/github-classroom/.github/workflows/classroom.yml").read_text(encoding="utf-8"))
    job = flow["jobs"]["run-autograding-tests"]
    steps = {s.get("id"): s for s in job["steps"]}
    reporter = job["steps"][-1]
    assert reporter["uses"] == "classroom-resources/autograding-grading-reporter@v1"
    assert reporter["with"]["runners"] == "grade-notebook" and "GRADE-NOTEBOOK_RESULTS" in reporter["env"]
    assert "grade-notebook" in steps and flow["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}


def test_max_score_scales_the_reporter_result(tmp_path, expected):
    out = tmp_path / "gh_output"
    proc = run_cli("check", "submissions/reference.ipynb", "--github", "--max-score", "10",
                   env={"GITHUB_OUTPUT": str(out)})
    assert proc.returncode == 0, proc.stdout[-1000:]
    result = json.loads(base64.b64decode(out.read_text().strip()[len("result="):]))
    assert result["max_score"] == 10 and abs(sum(t["score"] for t in result["tests"]) - 10) < 1e-3


def test_feedback_files(tmp_path, expected):
    out = tmp_path / "out"
    proc = run_cli("grade", "submissions/hardcoded_f.ipynb", "submissions/not_a_notebook.ipynb", "--out", str(out),
                   "--feedback", "--lang", "en")
    assert proc.returncode == 0, proc.stderr
    md = (out / "hardcoded_f.feedback.md").read_text()
    assert "**Total: 94 / 100**" in md and "f-on-hidden-inputs" in md and "hidden input" in md
    page = (out / "hardcoded_f.feedback.html").read_text()
    assert page.startswith("<!doctype html>") and "Gradients through Python control flow" in page
    assert "<section class='partial'>" in page and "4 / 10" in page
    assert "expected" not in md.split("f-on-hidden-inputs")[1].split("\n")[0].lower()
    assert "could not be graded" in (out / "not_a_notebook.feedback.md").read_text()


def test_pytest_plugin_one_test_per_public_check(tmp_path, expected):
    import os
    import subprocess
    import sys

    xml = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "--grade", "submissions/typical_mistakes.ipynb",
                           "--grade-lang", "en", "-p", "no:cacheprovider", f"--junitxml={xml}", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "8 failed, 10 passed, 1 skipped" in proc.stdout
    assert "typical_mistakes.ipynb::ex5-sin-derivative-plot::plots-autograd-derivative" in proc.stdout
    assert "f-on-hidden-inputs" not in proc.stdout  # hidden checks are not tests
    root = ET.parse(xml).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite.get("tests") == "19" and suite.get("failures") == "8"


def test_in_notebook_self_check(tmp_path, expected):
    """A student's own kernel (plain nbclient here) calls grader.check() on the saved notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = json.loads((ROOT / "submissions" / "typical_mistakes.ipynb").read_text(encoding="utf-8"))
    path = tmp_path / "student.ipynb"
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "selfcheck", "metadata": {}, "outputs": [],
                        "source": f"from grader import check\nr = check('ex2-backward-twice', path={str(path)!r}, lang='en')\n"
                                  "assert [q['id'] for q in r['questions']] == ['ex2-backward-twice']\n"
                                  "r['score'], r['max_score']"})
    path.write_text(json.dumps(nb), encoding="utf-8")
    node = nbformat.reads(json.dumps(nb), as_version=4)
    NotebookClient(node, timeout=300, kernel_name="python3", allow_errors=True).execute()
    outputs = node.cells[-1].outputs
    shown = "".join(o.get("data", {}).get("text/html", "") for o in outputs if o["output_type"] == "display_data")
    assert "ex2-backward-twice" in shown and "0 / 10" in shown and "shows-runtime-error" in shown
    assert "f-on-hidden-inputs" not in shown
    assert outputs[-1]["data"]["text/plain"] == "(0.0, 10.0)"


def test_check_one_question_and_unknown_question(expected):
    proc = run_cli("check", "submissions/reference.ipynb", "--json", "--question", "ex5-sin-derivative-plot")
    r = json.loads(proc.stdout)
    assert proc.returncode == 0 and [q["id"] for q in r["questions"]] == ["ex5-sin-derivative-plot"] and r["score"] == 15
    bad = run_cli("check", "submissions/reference.ipynb", "--question", "ex9")
    assert bad.returncode == 2 and "no such question" in bad.stderr


def test_gradescope_zip_and_run_autograder(tmp_path, expected):
    import os
    import shutil
    import subprocess
    import sys
    import zipfile

    zip_path = tmp_path / "autograder.zip"
    assert run_cli("gradescope", str(zip_path)).returncode == 0
    names = zipfile.ZipFile(zip_path).namelist()
    assert {"setup.sh", "run_autograder", "rubrics/rubric.yaml", "rubrics/reference.ipynb",
            "grader/assignments/d2l-autograd/rubric.yaml"} <= set(names)
    assert "grader/cli.py" in names and "pyproject.toml" in names

    def run(submission: str | None) -> dict:
        root = tmp_path / f"ag-{submission}"
        zipfile.ZipFile(zip_path).extractall(root / "source")
        (root / "submission").mkdir()
        if submission:
            shutil.copy(ROOT / "submissions" / f"{submission}.ipynb", root / "submission")
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable}
        p = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return json.loads((root / "results" / "results.json").read_text())

    ok = run("hardcoded_f")
    assert ok["score"] == 94 and len(ok["tests"]) == 20
    hidden = [t for t in ok["tests"] if t["visibility"] == "after_published"]
    assert [t["name"] for t in hidden] == ["control-flow: f-on-hidden-inputs"] and hidden[0]["status"] == "failed"
    assert all(t["status"] in ("passed", "failed") and t["max_score"] > 0 for t in ok["tests"])
    broken = run("not_a_notebook")
    assert broken["score"] == 0 and broken["tests"] == [] and "not a notebook" in broken["output"]
    empty = run(None)
    assert empty["score"] == 0 and ".ipynb" in empty["output"]


def test_review_and_overrides(tmp_path, expected):
    out = tmp_path / "out"
    args = ("grade", "submissions/seed_answers.ipynb", "submissions/typical_mistakes.ipynb", "--out", str(out), "--lang", "en")
    assert run_cli(*args).returncode == 0
    listing = run_cli("review", str(out))
    assert listing.returncode == 0 and "3 awaiting review" in listing.stdout
    assert "seed_answers  ex1-second-derivative-cost/key-ideas  10/10" in listing.stdout
    assert "seed_answers  ex2-backward-twice/shows-runtime-error  6/6" in listing.stdout  # the error pasted, explained
    (out / "overrides.yaml").write_text("- submission: seed_answers\n  check: ex1-second-derivative-cost/key-ideas\n"
                                        "  score: 8\n  comment: no word on memory\n", encoding="utf-8")
    again = run_cli(*args, "--feedback")
    assert again.returncode == 0 and "(2 unchanged, kept)" in again.stdout
    row = [ln for ln in (out / "grades.csv").read_text().splitlines() if ln.startswith("seed_answers,")][0]
    seed = json.loads((out / "seed_answers.json").read_text())
    assert row.endswith(",8,10,0,15,15,88,100,graded,yes"), (row, [
        (q["id"], c["name"], c["status"], c["message"]) for q in seed["questions"] for c in q["checks"]
        if c["score"] < c["max_score"] and c["status"] != "manual"])
    assert "reviewed by the instructor: 8/10 — no word on memory" in (out / "seed_answers.feedback.md").read_text()
    assert json.loads((out / "seed_answers.json").read_text())["score"] == 88
    assert "2 awaiting review (1 already in overrides.yaml)" in run_cli("review", str(out)).stdout
    (out / "overrides.yaml").write_text("- submission: x\n  score: -1\n", encoding="utf-8")
    bad = run_cli(*args)
    assert bad.returncode == 2 and "overrides.yaml" in bad.stderr and bad.stderr.count("\n") == 1


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/install.sh test)")
def test_class_report_renders_in_chromium(graded_samples, tmp_path):
    import subprocess

    out, results, _ = graded_samples
    proc = run_cli("report", str(out), "--lang", "en")
    assert proc.returncode == 0, proc.stderr
    page = out / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("<svg") >= 2 and 'id="distribution"' in dom and 'id="pass-rates"' in dom
    checks_table = dom.split('id="checks"')[1].split("</table>")[0]
    assert checks_table.count("<tr>") == 21  # the header and one row per check
    broken = dom.split('id="broken"')[1].split("</ul>")[0]
    assert "not_a_notebook" in broken and "infinite_loop" in broken and "kills_kernel" in broken
    assert dom.split('id="manual"')[1].split("</ul>")[0].count("<li>") == 9
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", *flags, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000


def test_csv_one_row_per_student_id_from_classroom_repos(tmp_path, expected):
    for student, sample in (("alice", "reference"), ("bob", "typical_mistakes")):
        (tmp_path / "class" / f"autograd-hw-{student}").mkdir(parents=True)
        shutil.copy(ROOT / "submissions" / f"{sample}.ipynb", tmp_path / "class" / f"autograd-hw-{student}" / "autograd.ipynb")
    out = tmp_path / "out"
    assert run_cli("grade", str(tmp_path / "class"), "--out", str(out)).returncode == 0
    rows = (out / "grades.csv").read_text().splitlines()
    alice = json.loads((out / "alice.json").read_text())
    assert rows[1].startswith("alice,") and ",100,100,graded," in rows[1], [
        (q["id"], c["name"], c["status"], c["message"]) for q in alice["questions"] for c in q["checks"]
        if c["score"] < c["max_score"] and c["status"] != "manual"]
    assert rows[2].startswith("bob,") and ",52,100,graded," in rows[2]
    assert (out / "alice.json").is_file() and (out / "bob.json").is_file()


@pytest.mark.parametrize("lang,title", [("zh-CN", "分数分布"), ("zh-TW", "分數分布"), ("en", "Score distribution")])
def test_report_plots_keep_their_text_in_every_language(graded_samples, lang, title):
    """Plot text stays SVG text (the browser draws it in any script), laid out without a
    missing-glyph warning where a CJK font is installed."""
    import warnings

    from matplotlib import font_manager

    from grader.formats import class_report
    from grader.model import SubmissionResult
    from grader.rubric import load

    out, results, _ = graded_samples
    subs = [SubmissionResult.from_dict(r) for name, r in results.items() if "questions" in r]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = class_report.render(subs, load(None), lang)
    svgs = page.split("<svg")[1:]
    assert len(svgs) >= 2 and title in svgs[0] and "<text" in svgs[0]
    assert "<path" not in svgs[0].split(title)[0].rsplit("<text", 1)[-1]  # the title is text, not outlines
    has_cjk = any("CJK" in f.name for f in font_manager.fontManager.ttflist)
    if has_cjk or lang == "en":
        glyphs = [str(w.message) for w in caught if "Glyph" in str(w.message)]
        assert not glyphs, glyphs[:3]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (scripts/install.sh test)")
def test_class_report_in_simplified_chinese_renders_in_chromium(graded_samples, tmp_path):
    import subprocess

    out, _, _ = graded_samples
    assert run_cli("report", str(out), "--lang", "zh-CN").returncode == 0
    page = out / "report.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "分数分布" in dom and "各题通过率" in dom
    shot = tmp_path / "report-zh-CN.png"
    subprocess.run(["chromium", *flags, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000
    keep = os.environ.get("GRADER_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
