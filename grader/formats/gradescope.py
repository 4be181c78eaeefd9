"""Gradescope: the autograder zip (``grader gradescope ZIP``) and its ``results.json``.

The zip holds ``setup.sh`` (installs bubblewrap, the CPU build of torch and the grader),
``run_autograder`` (grades ``/autograder/submission/*.ipynb`` and always writes
``/autograder/results/results.json``, also when grading fails), the grader's source, the rubric
and the reference. Student-facing text goes only in ``output`` fields; hidden checks are tests
with ``visibility: after_published``."""
from __future__ import annotations

from ..i18n import say

import json
import os
import zipfile
from pathlib import Path

from ..model import SubmissionResult

ROOT = Path(__file__).resolve().parent.parent.parent

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once on its Ubuntu image: the sandbox, then a venv with the CPU build of
# torch, the course's packages and the grader (kernels run that venv's own python).
set -euo pipefail
SOURCE="${AUTOGRADER_ROOT:-/autograder}/source"
VENV="${GRADER_VENV:-/opt/grader-venv}"
apt-get update -qq && apt-get install -y -qq bubblewrap python3 python3-pip python3-venv >/dev/null
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/python" -m pip install --quiet -r "$SOURCE/scripts/course-requirements.txt" "$SOURCE" torch==2.13.0
"$VENV/bin/python" -m pip install --quiet --no-deps d2l==1.0.3
"""

RUN = """#!/usr/bin/env bash
# Grades the submitted notebook; always leaves results/results.json behind.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${GRADER_PYTHON:-${GRADER_VENV:-/opt/grader-venv}/bin/python}"
mkdir -p "$ROOT/results"
"$PY" -m grader gradescope-run --root "$ROOT" --rubric "$ROOT/source/rubrics/__RUBRIC__" || \\
  [ -s "$ROOT/results/results.json" ] || \\
  printf '%s\\n' '{"score": 0, "output": "The autograder failed before grading; please tell your instructor.", "tests": []}' \\
    > "$ROOT/results/results.json"
"""


def build_zip(zip_path: Path, rubric_path: Path, reference_path: Path) -> None:
    """Everything Gradescope needs, at the zip's root."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        def add_text(name: str, text: str, executable: bool = False) -> None:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if executable else 0o644) << 16
            z.writestr(info, text)

        add_text("setup.sh", SETUP, executable=True)
        add_text("run_autograder", RUN.replace("__RUBRIC__", rubric_path.name), executable=True)
        for path in sorted((ROOT / "grader").rglob("*")):
            if path.suffix in (".py", ".yaml", ".ipynb") and "__pycache__" not in path.parts:
                z.write(path, f"grader/{path.relative_to(ROOT / 'grader')}")
        for name in ("pyproject.toml", "README.md", "scripts/course-requirements.txt"):
            z.write(ROOT / name, name)
        # the rubric names its reference relative to itself: keep that layout
        z.write(rubric_path, f"rubrics/{rubric_path.name}")
        ref_rel = os.path.relpath(reference_path, rubric_path.parent)
        z.write(reference_path, os.path.normpath(f"rubrics/{ref_rel}"))


def results(r: SubmissionResult | None, error: str | None, seconds: float, lang: str) -> dict:
    t = (lambda zh, en: say(lang, zh, en))
    if r is None or r.status == "error":
        why = error or (r.error if r else "") or "unknown error"
        return {"score": 0, "execution_time": round(seconds, 2), "output_format": "md", "stdout_visibility": "hidden",
                "output": t("無法評分這份繳交：", "This submission could not be graded: ") + why, "tests": []}
    tests = []
    number = 0
    for qi, q in enumerate(r.questions, 1):
        for ci, c in enumerate(q.checks, 1):
            number += 1
            tests.append({
                "name": f"{q.id}: {c.name}", "number": f"{qi}.{ci}", "score": c.score, "max_score": c.max_score,
                "status": "passed" if c.status == "pass" else "failed", "output": c.message, "output_format": "text",
                "tags": [q.id, c.status], "visibility": "visible" if c.visibility == "public" else "after_published"})
    summary = t(f"總分 {r.score:g} / {r.max_score:g}。", f"Total {r.score:g} / {r.max_score:g}.")
    manual = [f"{q.id}" for q in r.questions if q.status == "manual"]
    if manual:
        summary += t(" 待老師複核：", " Awaiting the instructor's review: ") + ", ".join(manual)
    return {"score": r.score, "execution_time": round(seconds, 2), "output": summary, "output_format": "md",
            "stdout_visibility": "hidden", "visibility": "visible", "tests": tests}


def dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1)
