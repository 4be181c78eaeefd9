"""``grader report DIR``: DIR/report.html, the class report of a graded folder (the gradebook's
results, with the instructor's overrides)."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from . import options


def run(args) -> int:
    from .. import overrides as ov
    from ..formats import class_report
    from ..gradebook import stored_results
    from ..report import write_atomic

    rubric = options.rubric(args)
    lang = options.lang(args, rubric)
    folder = Path(args.dir)
    db_path = folder / "gradebook.sqlite"
    if not db_path.is_file():
        raise InputError("no gradebook here: run grader grade --out DIR first", str(db_path))
    stored = stored_results(db_path)
    reviewed = ov.load(folder / "overrides.yaml")
    results = [ov.apply(r, reviewed, lang, rubric.messages) for r in stored]
    write_atomic(folder / "report.html", class_report.render(results, rubric, lang))
    print(f"wrote {folder / 'report.html'} ({len(results)} submissions)")
    return 0
