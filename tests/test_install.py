"""The grader grades right wherever it is installed, and a broken install is an error (exit 2
with the cause), never a grade.

Each test installs for real, the cheap way: a venv made with ``--system-site-packages`` on top
of the Python running the tests (which already has torch), or, for a Python that has nothing
(Debian's /usr/bin/python3), the CPU build of torch from pip's usual sources.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb"
BASE_PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
slow = pytest.mark.slow


def run(cmd, env=None, cwd=None, timeout=900, user=None) -> subprocess.CompletedProcess:
    """``cmd`` in a clean environment (no PYTHONPATH or venv of the test run's own) plus ``env``."""
    env = {**{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")},
           **(env or {})}
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--", *cmd]
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def make_venv(path: Path, *args: str, python: str = BASE_PYTHON) -> Path:
    p = run([python, "-m", "venv", *args, path])
    assert p.returncode == 0, p.stderr
    return path / "bin" / "python"


def shadow_site(venv: Path, leave_out: tuple[str, ...]) -> None:
    """Make the venv see every package of the base Python but ``leave_out`` (a real missing
    package: the folder the venv reads is made of links to the base's packages, less those)."""
    base = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
    shadow = venv / "shadow"
    shadow.mkdir()
    for entry in base.iterdir():
        if not entry.name.lower().startswith(leave_out):
            (shadow / entry.name).symlink_to(entry)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "shadow.pth").write_text(f"import site; site.addsitedir({str(shadow)!r})\n")


@pytest.fixture
def sources(tmp_path) -> Path:
    """The grader's source tree, as a fresh clone has it (committed or not)."""
    files = run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT).stdout.split()
    dest = tmp_path / "src"
    for f in files:
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    return dest


def _gradebook_rows(out: Path) -> list:
    db = out / "gradebook.sqlite"
    if not db.exists():
        return []
    con = sqlite3.connect(str(db))
    try:
        return con.execute("SELECT submission, status FROM submissions").fetchall()
    finally:
        con.close()


# ---- a kernel that cannot start: exit 2 with its own error, nothing graded ----------------

@slow
@pytest.mark.parametrize("mode", ["warm", "cold"])
def test_missing_ipykernel_is_exit_2_with_the_cause_and_no_grades(tmp_path, mode):
    venv = tmp_path / "venv"
    python = make_venv(venv, "--without-pip")
    shadow_site(venv, ("ipykernel",))
    env = {"PYTHONPATH": str(ROOT), "GRADER_CACHE": str(tmp_path / "cache")}
    # the grader itself runs in this environment (it does not need ipykernel), the kernel cannot
    probe = run([python, "-c", "import grader, torch, nbclient; import ipykernel"], env=env)
    assert "No module named 'ipykernel'" in probe.stderr
    out = tmp_path / "out"
    extra = ["--cold"] if mode == "cold" else []
    for cmd in (["grade", REFERENCE, "--out", out, *extra], ["check", REFERENCE], ["validate"]):
        p = run([python, "-m", "grader", *cmd], env=env, cwd=tmp_path)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2, (cmd, p.stdout[-2000:], p.stderr)
        assert len(lines) == 1 and lines[0].startswith("grader: error: the kernel could not start"), p.stderr
        assert "ipykernel" in lines[0], lines[0]  # the kernel's own words, not a lost log file
        assert "Traceback" not in p.stdout + p.stderr
    assert not list(out.glob("*.json"))
    assert _gradebook_rows(out) == []
    assert not list((tmp_path / "cache").glob("expected-*.json"))  # no expected values from a failed run
    if mode == "warm":  # doctor starts kernels as grading does: both fail, with the cause, exit 1
        d = run([python, "-m", "grader", "doctor"], env=env, cwd=tmp_path)
        assert d.returncode == 1, d.stdout + d.stderr
        kernels = [ln for ln in d.stdout.splitlines() if ln.startswith(("✓ kernel", "✗ kernel"))]
        assert len(kernels) == 2 and all(ln.startswith("✗") and "ipykernel" in ln for ln in kernels), d.stdout


@slow
def test_doctor_starts_real_kernels_and_lists_missing_course_packages(tmp_path):
    from grader.rubric import load

    env = {"PYTHONPATH": str(ROOT), "GRADER_CACHE": str(tmp_path / "cache")}
    rubric = tmp_path / "rubric.yaml"
    text = Path(load().path).read_text(encoding="utf-8")
    text = text.replace("reference: reference.ipynb", f"reference: {REFERENCE}")
    text = text.replace("packages: [", "packages: [no_such_course_package, ")
    rubric.write_text(text, encoding="utf-8")
    d = run([sys.executable, "-m", "grader", "doctor", "--rubric", rubric], env=env, cwd=tmp_path)
    lines = d.stdout.splitlines()
    kernels = [ln for ln in lines if " kernel, " in ln]
    assert len(kernels) == 2 and all(ln.startswith("✓") and "autograd's value came back" in ln for ln in kernels), d.stdout
    assert d.returncode == 1  # a declared package is missing
    at = lines.index(next(ln for ln in lines if ln.startswith("✗ course packages")))
    listed = {ln.split(":")[0].strip(): ln for ln in lines[at + 1:] if ln.startswith("    ")}
    assert "no_such_course_package" in listed and "No module named 'no_such_course_package'" in listed[
        "no_such_course_package"]
    assert "torch" not in listed and "matplotlib" not in listed


@slow
def test_cached_expected_values_and_a_dead_install_errors_every_submission(tmp_path, expected):
    """Expected values already cached (an earlier, working run: the session's): each submission
    is an error with the cause, never zeros, and a batch where every one errored exits non-zero."""
    env = {"PYTHONPATH": str(ROOT), "GRADER_CACHE": os.environ["GRADER_CACHE"]}
    assert list(Path(os.environ["GRADER_CACHE"]).glob("expected-*.json"))
    venv = tmp_path / "venv"
    python = make_venv(venv, "--without-pip")
    shadow_site(venv, ("ipykernel",))
    out = tmp_path / "out"
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("reference", "typical_mistakes"):
        shutil.copy(ROOT / "submissions" / f"{name}.ipynb", subs)
    p = run([python, "-m", "grader", "grade", subs, "--out", out, "--cold", "-j", "1"], env=env, cwd=tmp_path)
    assert p.returncode == 2, p.stdout[-2000:] + p.stderr
    assert "every submission errored (2 of 2)" in p.stderr and "ipykernel" in p.stderr
    summary = [ln for ln in p.stdout.splitlines() if "could not be graded" in ln]
    assert summary and summary[0].startswith("2 could not be graded, 0 graded"), p.stdout
    for name in ("reference", "typical_mistakes"):
        r = json.loads((out / f"{name}.json").read_text())
        assert r["status"] == "error" and r["error"].startswith("the kernel could not start") and r["questions"] == []
    assert sorted(_gradebook_rows(out)) == [("reference", "error"), ("typical_mistakes", "error")]
    c = run([python, "-m", "grader", "check", REFERENCE], env=env, cwd=tmp_path)
    assert c.returncode == 2 and "ipykernel" in c.stderr, c.stderr


# ---- installs that grade the reference with full marks ----------------------------------

TEST_USER = "grader-test"


def unprivileged_uid() -> int | None:
    """A real unprivileged user to run as (made here when the tests run as root)."""
    import pwd

    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(TEST_USER).pw_uid
    except KeyError:
        p = run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER])
        assert p.returncode == 0, p.stderr
        import atexit

        atexit.register(subprocess.run, ["userdel", TEST_USER], capture_output=True)  # made here, removed here
        return pwd.getpwnam(TEST_USER).pw_uid


@pytest.fixture
def shared_tmp():
    """A folder every user can reach (pytest's own tmp is private to root)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="grader-install-test-", dir="/var/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def result_of(out: Path, name: str) -> dict:
    return json.loads((out / f"{name}.json").read_text())


@slow
def test_wheel_in_a_copies_venv_from_another_folder(tmp_path):
    """A non-editable wheel in a ``--copies`` venv, used from a folder that is not the
    checkout: the bundled rubric is found, a released notebook picks it by its metadata, the
    reference scores full marks (warm and cold), and kernels cannot read the bundled reference."""
    dist = tmp_path / "dist"
    p = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, ROOT])
    assert p.returncode == 0, p.stderr
    wheel = next(dist.glob("grader-*.whl"))
    python = make_venv(tmp_path / "venv", "--copies", "--system-site-packages")
    assert not python.is_symlink()
    p = run([python, "-m", "pip", "install", "-q", "--no-deps", wheel])
    assert p.returncode == 0, p.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(ROOT / "template" / "autograd.ipynb", elsewhere / "template.ipynb")
    shutil.copy(REFERENCE, elsewhere / "mine.ipynb")
    env = {"GRADER_CACHE": str(tmp_path / "cache")}
    where = run([python, "-c", "import grader, grader.rubric as r; print(grader.__file__); print(r.load().reference)"],
                env=env, cwd=elsewhere)
    assert str(tmp_path / "venv") in where.stdout and str(ROOT) not in where.stdout, where.stdout + where.stderr
    grader = tmp_path / "venv" / "bin" / "grader"
    c = run([grader, "check", "mine.ipynb", "--json"], env=env, cwd=elsewhere)
    assert c.returncode == 0, c.stderr
    r = json.loads(c.stdout)
    assert r["status"] == "graded" and r["score"] == r["max_score"] > 0
    t = run([grader, "check", "template.ipynb", "--json"], env=env, cwd=elsewhere)
    assert t.returncode == 1 and json.loads(t.stdout)["status"] == "graded", t.stderr  # graded, 0 on exercises
    for extra in ([], ["--cold"]):
        out = elsewhere / f"out{len(extra)}"
        g = run([grader, "grade", "mine.ipynb", "--out", out, *extra], env=env, cwd=elsewhere)
        assert g.returncode == 0, g.stderr
        r = result_of(out, "mine")
        assert (r["status"], r["score"]) == ("graded", 100.0), r


@slow
def test_readme_commands_with_debians_python_and_an_unprivileged_user(shared_tmp, tmp_path):
    """The README's set-up on Debian's externally managed /usr/bin/python3: install.sh makes
    and uses a project .venv (symlinked to /usr/bin/python3, which has none of the packages),
    the README's grade command grades the reference 100; then as an unprivileged user."""
    debian = "/usr/bin/python3"
    if not os.path.exists(debian):
        pytest.skip("no /usr/bin/python3 here")
    managed = run([debian, "-c", "import sysconfig, os; print(os.path.exists(os.path.join("
                                 "sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"]).stdout.strip()
    src = shared_tmp / "src"
    files = run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT).stdout.split()
    for f in files:
        if (ROOT / f).is_file() and not f.startswith(("tests/", "bench/", "tools/")):
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    bindir = shared_tmp / "bin"  # python3 on PATH is Debian's, as on a fresh machine (the venv links to it:
    # a folder every user can reach)
    bindir.mkdir()
    (bindir / "python3").symlink_to(debian)
    env = {"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin", "GRADER_CACHE": str(shared_tmp / "cache")}
    p = run(["sh", "scripts/install.sh"], env=env, cwd=src, timeout=1500)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    venv_python = src / ".venv" / "bin" / "python"
    if managed == "True":
        assert venv_python.is_symlink() and (src / ".grader-python").read_text().strip() == str(venv_python)
    g = run(["sh", "-c", "scripts/run grader grade submissions/reference.ipynb submissions/typical_mistakes.ipynb "
                         "--out out/"], env=env, cwd=src)
    assert g.returncode == 0, g.stdout[-3000:] + g.stderr
    assert result_of(src / "out", "reference")["score"] == 100.0
    assert result_of(src / "out", "typical_mistakes")["score"] < 100.0
    uid = unprivileged_uid()
    if uid is None:
        return
    home = shared_tmp / "home"
    home.mkdir()
    os.chown(home, uid, uid)
    user_env = {**env, "HOME": str(home), "GRADER_CACHE": str(home / "cache")}
    for extra in ([], ["--cold"]):
        out = home / f"out{len(extra)}"
        g = run([src / ".venv" / "bin" / "grader", "grade", src / "submissions" / "reference.ipynb", "--out", out,
                 *extra], env=user_env, cwd=home, user=uid)
        assert g.returncode == 0, g.stdout[-2000:] + g.stderr
        r = result_of(out, "reference")
        assert (r["status"], r["score"]) == ("graded", 100.0), r
        assert "your uid, in a user namespace" in r["sandbox"]


def _expand(text: str, values: dict[str, str]) -> str:
    import re

    def sub(m):
        key = m.group(1).strip()
        assert key in values, f"action.yml uses ${{{{ {key} }}}}, which this test does not provide"
        return values[key]
    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", sub, text)


@slow
def test_classroom_action_steps_as_a_runner_runs_them(shared_tmp):
    """action.yml's own steps, run as a GitHub runner would: not root, a Python of the runner's
    (here a fresh venv), the grader installed non-editable from the action's folder, the same
    variables (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the step's env); the `result` output decodes to
    a full score for the reference."""
    import base64

    import yaml

    uid = unprivileged_uid()
    action_path = shared_tmp / "action"
    files = run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT).stdout.split()
    for f in files:
        if (ROOT / f).is_file() and not f.startswith(("tests/", "bench/", "tools/", "submissions/")):
            (action_path / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, action_path / f)
    workspace = shared_tmp / "workspace"
    workspace.mkdir()
    shutil.copy(REFERENCE, workspace / "autograd.ipynb")
    home = shared_tmp / "home"
    home.mkdir()
    # what setup-python provides: a Python the runner's user can run (the test Python may live
    # under /root); Debian's, with nothing installed, so the action's own steps install it all
    runner_python = "/usr/bin/python3" if uid is not None else BASE_PYTHON
    if not os.path.exists(runner_python):
        pytest.skip("no Python an unprivileged user can run")
    python = make_venv(shared_tmp / "toolcache", python=runner_python)
    output, summary = shared_tmp / "github_output", shared_tmp / "step_summary"
    output.touch()
    summary.touch()
    if uid is not None:
        for root, dirs, names in os.walk(shared_tmp):
            for n in [*dirs, *names]:
                os.lchown(os.path.join(root, n), uid, uid)
        os.chown(shared_tmp, uid, uid)
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    inputs.update({"notebook": "autograd.ipynb", "max-score": "100"})
    values = {f"inputs.{k}": v for k, v in inputs.items()}
    values["github.action_path"] = str(action_path)
    base_env = {"PATH": f"{python.parent}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home), "CI": "true",
                "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_WORKSPACE": str(workspace), "GITHUB_ACTION_PATH": str(action_path), "RUNNER_OS": "Linux",
                "GRADER_CACHE": str(home / "cache")}
    ran = 0
    for step in action["runs"]["steps"]:
        if "uses" in step:
            assert step["uses"].startswith("actions/setup-python@")  # done above: the venv on PATH
            continue
        env = {**base_env, **{k: _expand(str(v), values) for k, v in (step.get("env") or {}).items()}}
        # the package index aside (unreachable here): torch==2.13.0 comes from pip's usual sources
        script = _expand(step["run"], values).replace(" --index-url https://download.pytorch.org/whl/cpu", "")
        p = run(["bash", "-e", "-c", script], env=env, cwd=workspace, user=uid, timeout=1200)
        assert p.returncode == 0, (step.get("name"), p.stdout[-3000:], p.stderr[-3000:])
        ran += 1
    assert ran == 2
    where = run([python, "-c", "import grader; print(grader.__file__)"], env=base_env, cwd=workspace)
    assert str(shared_tmp / "toolcache") in where.stdout  # installed, not the checkout
    lines = output.read_text().splitlines()
    encoded = next(ln.split("=", 1)[1] for ln in lines if ln.startswith("result="))
    result = json.loads(base64.b64decode(encoded))
    assert result["tests"] and all(t["status"] == "pass" for t in result["tests"]), result
    assert result["max_score"] == 100  # each test's score is rounded to 4 places when scaled to --max-score
    assert sum(t["score"] for t in result["tests"]) == pytest.approx(100, abs=1e-3)
    assert summary.read_text().strip()


@slow
def test_gradescope_setup_and_run_autograder_with_a_venv(shared_tmp):
    """setup.sh's install steps (Debian's package lines and the package index aside: torch
    comes from pip's usual sources, the venv sees the test Python's packages so nothing is
    downloaded twice) into a venv, then run_autograder with that venv's python grades the
    reference with full marks in results.json."""
    import zipfile

    zip_path = shared_tmp / "autograder.zip"
    p = run([sys.executable, "-m", "grader", "gradescope", zip_path], env={"PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    root = shared_tmp / "autograder"
    zipfile.ZipFile(zip_path).extractall(root / "source")
    (root / "submission").mkdir()
    shutil.copy(REFERENCE, root / "submission" / "autograd.ipynb")
    setup = (root / "source" / "setup.sh").read_text()
    steps = []
    for line in setup.splitlines():
        if "apt-get" in line:
            continue  # Debian's packages: bubblewrap is here already
        line = line.replace(" --index-url https://download.pytorch.org/whl/cpu", "")
        line = line.replace("-m venv ", "-m venv --system-site-packages ")
        steps.append(line)
    venv = shared_tmp / "venv"
    bindir = shared_tmp / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(BASE_PYTHON)
    env = {"AUTOGRADER_ROOT": str(root), "GRADER_VENV": str(venv), "PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin",
           "GRADER_CACHE": str(shared_tmp / "cache")}
    s = run(["bash", "-c", "\n".join(steps)], env=env, cwd=root, timeout=1200)
    assert s.returncode == 0, s.stdout[-3000:] + s.stderr[-3000:]
    where = run([venv / "bin" / "python", "-c", "import grader; print(grader.__file__)"], env=env, cwd=root)
    assert str(venv) in where.stdout, where.stdout + where.stderr
    r = run(["bash", root / "source" / "run_autograder"], env=env, cwd=root, timeout=900)
    assert r.returncode == 0, r.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 100.0, results.get("output")
    assert results["tests"] and all(t["score"] == t["max_score"] for t in results["tests"])
    assert all(t["status"] == "passed" for t in results["tests"] if "manual" not in t["tags"])


@slow
def test_imports_outside_the_course_environment_get_a_line_in_the_feedback(tmp_path):
    import nbformat

    nb = nbformat.read(str(REFERENCE), as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell("import no_such_pkg_xyz"))
    nb.cells.insert(2, nbformat.v4.new_code_cell("import collections, json\nimport pandas"))
    path = tmp_path / "imports.ipynb"
    nbformat.write(nb, str(path))
    env = {"PYTHONPATH": str(ROOT), "GRADER_CACHE": str(tmp_path / "cache")}
    p = run([sys.executable, "-m", "grader", "check", path, "--json", "--lang", "en"], env=env, cwd=tmp_path)
    r = json.loads(p.stdout)
    assert r["score"] == r["max_score"], r  # the rest of the notebook is graded as usual
    bad = [n for n in r["notes"] if "no_such_pkg_xyz" in n]
    assert len(bad) == 1 and bad[0].startswith("cell 2:") and "not in the course's environment" in bad[0]
    assert not any("collections" in n or "json" in n for n in r["notes"])  # the standard library is always there
    pandas = [n for n in r["notes"] if "pandas" in n and "cell 3" in n]
    import importlib.util

    if importlib.util.find_spec("pandas") is None:  # declared, missing here: the machine's fault, said so
        assert pandas and "tell your instructor" in pandas[0]
    else:
        assert not pandas
