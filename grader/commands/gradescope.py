"""``grader gradescope ZIP``: the Gradescope autograder zip; ``grader gradescope-run``: what its
``run_autograder`` calls inside Gradescope (grade the one submitted notebook, always write
results.json)."""
from __future__ import annotations

import sys
from pathlib import Path

from . import options


def build(args) -> int:
    from ..formats.gradescope import build_zip

    rubric = options.rubric(args)
    build_zip(Path(args.zip), Path(rubric.path), Path(rubric.reference))
    print(f"wrote {args.zip}: upload it as the autograder of a Gradescope programming assignment")
    return 0


def run_inside(args) -> int:
    """Inside Gradescope: grade the one submitted notebook, always write results.json."""
    import time as _time

    from ..formats import gradescope
    from ..report import write_atomic

    root = Path(args.root)
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = _time.monotonic()
    lang, result, error = "zh-TW", None, None
    try:
        rubric = options.rubric(args)
        lang = rubric.lang
        notebooks = sorted((root / "submission").rglob("*.ipynb"))
        notebooks = [p for p in notebooks if ".ipynb_checkpoints" not in p.parts]
        if not notebooks:
            error = "no .ipynb file in the submission" if lang == "en" else "繳交的檔案中沒有 .ipynb 筆記本"
        else:
            launcher = options.launcher(args, rubric, fallback=True)
            launcher.prestart()  # its imports overlap the grader's own, as in check
            try:
                from ..grade import expected_values, grade_path

                result = grade_path(notebooks[0], rubric, expected_values(rubric, launcher), lang,
                                    public_only=False, launcher=launcher)
            finally:
                launcher.close()
    except Exception as e:  # whatever happens, Gradescope gets a results.json
        error = f"{type(e).__name__}: {e}"
    write_atomic(out, gradescope.dumps(gradescope.results(result, error, _time.monotonic() - started, lang)))
    if error or result is None or result.status == "error":
        print(f"grader: error: not graded: {error or (result.error if result else '')}", file=sys.stderr)
        return 2  # results.json says why; the exit code says it too
    return 0
