"""``grader grade PATHS --out DIR``: every submission with all checks, on local workers or a
Dask cluster; results as they come (JSON per submission, the gradebook), then grades.csv, the
requested formats, a table and a summary."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ..errors import InputError
from ..formats import output
from . import options


def find_notebooks(paths: Iterable[str]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found += sorted(q for q in path.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in q.parts and q.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise InputError("no such file or directory", p)
    return found


def run(args) -> int:
    from ..report import table, write_atomic, write_result

    rubric = options.rubric(args)
    lang = options.lang(args, rubric)
    if args.jobs < 1:
        raise InputError("-j must be at least 1")
    paths = find_notebooks(args.paths)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("--out must be a folder", args.out)
    if not paths:
        raise InputError("no .ipynb files found", " ".join(args.paths))
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):  # left by a grader killed while writing; the real file is intact
        stale.unlink(missing_ok=True)
    jobs = min(args.jobs, len(paths))
    cluster, launchers, book = None, [], None
    try:
        if args.cluster:  # every kernel runs on the cluster's workers; this process only writes
            from ..cluster import Cluster

            cluster = Cluster(args.cluster, rubric, not args.no_sandbox, not args.cold)
        else:
            launchers.append(options.launcher(args, rubric, slot=0, warm=not args.cold))
            launchers += [options.launcher(args, rubric, slot=i, warm=not args.cold, checked=True)
                          for i in range(1, jobs)]
            for launcher in launchers:  # each worker's fork server (or first kernel) starts its imports
                launcher.prestart()     # now, while the grader makes its own below
        from ..grade import _unique_names, expected_values, grade_many
        from ..gradebook import Gradebook
        from ..progress import Progress

        book = Gradebook(out / "gradebook.sqlite")
        from .. import overrides as ov

        reviewed = ov.load(out / "overrides.yaml")
        names = [_unique_names(paths)[p] for p in paths]
        progress = Progress(len(paths))
        expected = cluster.expected(rubric) if cluster else expected_values(rubric, launchers[0])

        def previous(name: str):
            return None if args.force else book.previous(name)

        def on_result(r, kept):
            if not kept:
                book.record(r)  # the machine's grade
            shown = ov.apply(r, reviewed, lang, rubric.messages)
            if not kept or reviewed:
                write_result(out, shown)
            r = shown
            if args.feedback:
                from ..formats import feedback

                write_atomic(out / f"{r.submission}.feedback.md", feedback.markdown(r, lang))
                write_atomic(out / f"{r.submission}.feedback.html", feedback.html_page(r, lang))
            progress.update(r, kept)

        results = grade_many(paths, rubric, expected, lang, on_result=on_result, launchers=launchers,
                             previous=previous, runner=cluster.runner(rubric, expected, lang) if cluster else None)
        results = [ov.apply(r, reviewed, lang, rubric.messages) for r in results]
        write_atomic(out / "grades.csv",
                     book.csv(rubric, names, lambda r: ov.apply(r, reviewed, lang, rubric.messages)))
        output.write_all(args.formats, results, rubric, lang)
    finally:
        if book is not None:
            book.close()
        for launcher in launchers:
            launcher.close()
        if cluster:
            cluster.close()
    print(table(results, rubric))
    where = cluster.describe() if cluster else f"{launchers[0].describe()}, {jobs} worker{'s' if jobs > 1 else ''}"
    print(f"\n{progress.summary()}\nresults in {out}/ (gradebook.sqlite, grades.csv, one .json per submission); "
          f"kernels: {where}")
    errored = [r for r in results if r.status == "error"]
    if results and len(errored) == len(results):  # nothing was graded: never a quiet exit 0
        raise InputError(f"every submission errored ({len(errored)} of {len(results)}), nothing was graded: "
                         f"{errored[0].submission}: {errored[0].error}")
    return 0
