"""The command line: ``grader check`` (a student), ``grader grade`` (a class), ``grader validate``."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from .errors import InputError
from .model import Limits, Rubric, SubmissionResult


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise InputError(f"{self.prog}: {message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="grader", description="Grade Jupyter notebooks on PyTorch autograd.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp, rubric=True):
        if rubric:
            sp.add_argument("--rubric", help="rubric YAML (default: the bundled grader/assignments/d2l-autograd/rubric.yaml)")
        sp.add_argument("--lang", help="language of feedback: zh-CN, zh-TW, en or one the rubric's messages add "
                                       "(default: the rubric's)")
        sp.add_argument("--cell-timeout", type=float, metavar="S", help="seconds a cell may run (default: the rubric's)")
        sp.add_argument("--limit", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a limit of the rubric ({', '.join(Limits.__dataclass_fields__)})")
        sp.add_argument("--no-sandbox", action="store_true",
                        help="run kernels without the sandbox (student code then runs as you, with your files and network)")

    c = sub.add_parser("check", help="self-check one notebook against the public checks")
    c.add_argument("notebook")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--question", metavar="ID", help="only this question's public checks")
    c.add_argument("--github", action="store_true",
                   help="GitHub Actions: step output `result` (grading-reporter JSON), job summary, annotations")
    c.add_argument("--junit", metavar="FILE", help="also write the result as JUnit XML")
    c.add_argument("--format", action="append", default=[], metavar="NAME=FILE",
                   help="also write the result in this format (junit, json, or a plug-in's)")
    c.add_argument("--max-score", type=float, metavar="N",
                   help="with --github: points this runner is worth in Classroom (scores are scaled to it)")
    common(c)

    g = sub.add_parser("grade", help="grade every .ipynb under the paths with all checks")
    g.add_argument("paths", nargs="+")
    g.add_argument("--out", required=True, help="folder for <stem>.json per submission and grades.csv")
    g.add_argument("--force", action="store_true", help="regrade submissions already graded in --out")
    g.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="notebooks graded at once, each worker with its own kernels (default: the number of cores)")
    g.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML")
    g.add_argument("--format", action="append", default=[], metavar="NAME=FILE",
                   help="also write the results in this format (junit, json, or a plug-in's)")
    g.add_argument("--feedback", action="store_true",
                   help="also write <stem>.feedback.md and .feedback.html per submission in --out, for students")
    g.add_argument("--cluster", metavar="ADDRESS",
                   help="grade on a Dask cluster: tcp://HOST:8786 (an existing scheduler) or local:N (N worker "
                        "processes here); needs pip install 'grader[dask]'")
    g.add_argument("--cold", action="store_true", help="start every kernel from scratch instead of forking it "
                                                        "from a pre-warmed server (slower; same results)")
    common(g)

    v = sub.add_parser("validate", help="check a rubric and that the reference scores full marks")
    v.add_argument("rubric_path", nargs="?", metavar="RUBRIC")
    v.add_argument("--mutants", action="store_true", help="also grade wrong variants of the reference (mutation testing)")
    v.add_argument("--threshold", type=float, default=0.9, help="least kill rate accepted with --mutants (default 0.9)")
    common(v, rubric=False)

    rl = sub.add_parser("release", help="write the student notebook made from the reference (solutions removed)")
    rl.add_argument("reference", nargs="?", help="reference notebook (default: the rubric's)")
    rl.add_argument("-o", "--out", required=True, help="folder to write the student notebook to")
    rl.add_argument("--rubric", help="rubric YAML (default: the bundled one)")

    rp = sub.add_parser("report", help="write DIR/report.html, the class report of a graded folder")
    rp.add_argument("dir", help="the --out folder of grader grade")
    rp.add_argument("--rubric", help="the rubric it was graded with (default: the bundled one)")
    rp.add_argument("--lang", help="zh-CN, zh-TW, en or one the rubric's messages add")

    rv = sub.add_parser("review", help="list the answers awaiting manual review in a graded folder")
    rv.add_argument("dir", help="the --out folder of grader grade")

    z = sub.add_parser("gradescope", help="build a Gradescope autograder zip")
    z.add_argument("zip", help="the zip file to write")
    z.add_argument("--rubric", help="rubric YAML (default: the bundled grader/assignments/d2l-autograd/rubric.yaml)")

    zr = sub.add_parser("gradescope-run", help=argparse.SUPPRESS)  # what run_autograder calls
    zr.add_argument("--root", default="/autograder")
    zr.add_argument("--rubric")

    d = sub.add_parser("doctor", help="show which protections are active on this machine")
    d.add_argument("--rubric", help="rubric whose limits to show")
    return p


def _rubric(args) -> Rubric:
    from .rubric import load

    path = getattr(args, "rubric", None) or getattr(args, "rubric_path", None)
    if path is None and args.command == "check":  # a released notebook names its assignment
        from .rubric import for_notebook

        path = for_notebook(args.notebook)
    rubric = load(path)
    changes: dict[str, float] = {}
    for item in getattr(args, "limit", []) or []:
        key, sep, value = item.partition("=")
        if not sep or key not in Limits.__dataclass_fields__:
            raise InputError(f"--limit {item}: expected KEY=VALUE with KEY one of {', '.join(Limits.__dataclass_fields__)}")
        try:
            changes[key] = float(value)
        except ValueError:
            raise InputError(f"--limit {item}: {value!r} is not a number") from None
    if getattr(args, "cell_timeout", None) is not None:
        changes["cell_timeout"] = args.cell_timeout
    for key, value in changes.items():
        if value < 0 or value == 0 and key != "restarts":
            raise InputError(f"--{'cell-timeout' if key == 'cell_timeout' else 'limit ' + key} must be positive")
    if changes:
        rubric = dataclasses.replace(rubric, limits=dataclasses.replace(rubric.limits, **changes))
    return rubric


def _launcher(args, rubric: Rubric, fallback: bool = False, slot: int = 0, warm: bool = False,
              checked: bool = False):
    from .kernel.factory import launcher

    return launcher(rubric.limits, not getattr(args, "no_sandbox", False), fallback, slot, warm, checked)


def _formats(args) -> list[tuple[object, Path]]:
    """--format NAME=FILE (and --junit FILE): checked before any grading starts."""
    from .plugins import get_format

    wanted = [("junit", args.junit)] if args.junit else []
    for item in args.format:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise InputError(f"--format {item}: expected NAME=FILE, e.g. junit=grades.xml")
        wanted.append((name, file))
    return [(get_format(name), Path(file)) for name, file in wanted]


def _lang(args, rubric: Rubric) -> str:
    """--lang, else the rubric's: a built-in language or one the rubric's ``messages`` add."""
    if args.lang and args.lang not in rubric.languages():
        raise InputError(f"--lang {args.lang}: not a language of this rubric (known: {', '.join(rubric.languages())})")
    return args.lang or rubric.lang


def _write_formats(args, results, rubric, lang) -> None:
    from .report import write_atomic

    for fmt, file in args.formats:
        write_atomic(file, fmt.render(results, rubric, lang))


def _github_error(args, rubric: Rubric, lang: str, error: str) -> None:
    from .formats import github
    from .report import student_report

    total = sum(c.points for _, c in rubric.checks() if c.visibility == "public")
    result = SubmissionResult(Path(args.notebook).stem, "error", error, 0.0, total, [])
    github.write(result, args.notebook, lang, student_report(result, lang), sys.stdout,
                 os.environ.get("GITHUB_OUTPUT"), os.environ.get("GITHUB_STEP_SUMMARY"), args.max_score)


def cmd_check(args) -> int:
    from .grade import START_ERROR, KernelUnavailable, NotANotebook, expected_values, grade_path, prepare_judging, read_notebook
    from .report import student_report, write_atomic

    rubric = full = _rubric(args)
    if args.question:
        chosen = tuple(q for q in rubric.questions if q.id == args.question)
        if not chosen:
            raise InputError(f"--question {args.question}: no such question (known: "
                             f"{', '.join(q.id for q in rubric.questions)})")
        rubric = dataclasses.replace(rubric, questions=chosen)
    path = Path(args.notebook)
    if not path.is_file():
        raise InputError("no such notebook", args.notebook)
    lang = _lang(args, rubric)
    try:
        read_notebook(path)
    except NotANotebook as e:
        if not args.github:
            raise InputError(str(e), args.notebook) from None
    prepare_judging(wait=False)  # the checks' imports, while the kernel boots
    launcher = _launcher(args, rubric, fallback=True)
    try:
        expected = expected_values(full, launcher)  # always every check's: the cache is shared
    except KernelUnavailable as e:
        if args.github:  # the reporter still gets a result: this notebook could not be graded
            _github_error(args, rubric, lang, str(e))
        raise
    result = grade_path(path, rubric, expected, lang, public_only=True, launcher=launcher)
    if result.status == "error" and (result.error or "").startswith(START_ERROR):
        if args.github:
            _github_error(args, rubric, lang, result.error)
        raise KernelUnavailable(f"{result.error} (run `grader doctor`)")
    _write_formats(args, [result], rubric, lang)
    if args.github:
        from .formats import github

        if args.max_score is not None and args.max_score <= 0:
            raise InputError("--max-score must be positive")
        github.write(result, args.notebook, lang, student_report(result, lang), sys.stdout,
                     os.environ.get("GITHUB_OUTPUT"), os.environ.get("GITHUB_STEP_SUMMARY"), args.max_score)
    elif args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        print(student_report(result, lang))
    if result.status == "error":
        return 1
    ok = all(c.status == "pass" or c.status == "manual" and c.score >= c.max_score
             for q in result.questions for c in q.checks)
    return 0 if ok else 1


def cmd_grade(args) -> int:
    from .grade import _unique_names, expected_values, find_notebooks, grade_many
    from .gradebook import Gradebook
    from .progress import Progress
    from .report import table, write_atomic, write_result

    rubric = _rubric(args)
    lang = _lang(args, rubric)
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
    cluster = None
    if args.cluster:  # every kernel runs on the cluster's workers; this process only writes
        from .cluster import Cluster

        cluster, launchers = Cluster(args.cluster, rubric, not args.no_sandbox, not args.cold), []
    else:
        launchers = [_launcher(args, rubric, slot=0, warm=not args.cold)]
        launchers += [_launcher(args, rubric, slot=i, warm=not args.cold, checked=True) for i in range(1, jobs)]
    book = Gradebook(out / "gradebook.sqlite")
    from . import overrides as ov

    reviewed = ov.load(out / "overrides.yaml")
    names = [_unique_names(paths)[p] for p in paths]
    progress = Progress(len(paths))
    try:
        expected = cluster.expected(rubric) if cluster else expected_values(rubric, launchers[0])

        def previous(name: str):
            return None if args.force else book.previous(name)

        def on_result(r, kept):
            if not kept:
                book.record(r)  # the machine's grade
            shown = ov.apply(r, reviewed, lang)
            if not kept or reviewed:
                write_result(out, shown)
            r = shown
            if args.feedback:
                from .formats import feedback

                write_atomic(out / f"{r.submission}.feedback.md", feedback.markdown(r, lang))
                write_atomic(out / f"{r.submission}.feedback.html", feedback.html_page(r, lang))
            progress.update(r, kept)

        results = grade_many(paths, rubric, expected, lang, on_result=on_result, launchers=launchers,
                             previous=previous, runner=cluster.runner(rubric, expected, lang) if cluster else None)
        results = [ov.apply(r, reviewed, lang) for r in results]
        write_atomic(out / "grades.csv", book.csv(rubric, names, lambda r: ov.apply(r, reviewed, lang)))
        _write_formats(args, results, rubric, lang)
    finally:
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


def cmd_validate(args) -> int:
    from .grade import START_ERROR, KernelUnavailable, expected_values, grade_path
    from .report import student_report

    rubric = _rubric(args)
    lang = _lang(args, rubric)
    launcher = _launcher(args, rubric)
    expected = expected_values(rubric, launcher, refresh=True)
    result = grade_path(Path(rubric.reference), rubric, expected, lang, public_only=False, launcher=launcher)
    if result.status == "error" and (result.error or "").startswith(START_ERROR):
        raise KernelUnavailable(f"{result.error} (run `grader doctor`)")
    short = [f"{q.id}/{c.name}: {c.status} {c.message}" for q in result.questions for c in q.checks
             if c.score < c.max_score]
    n = sum(len(q.checks) for q in rubric.questions)
    if result.status != "graded" or short:
        print(student_report(result, lang))
        print(f"\n{rubric.path}: the reference does not score full marks ({result.score:g}/{result.max_score:g})")
        return 1
    print(f"{rubric.path}: OK: {len(rubric.questions)} questions, {n} checks, "
          f"reference scores {result.score:g}/{result.max_score:g}")
    if rubric.packages:  # the course's environment, as a kernel here sees it
        from .doctor import kernel_report

        report = kernel_report(launcher, rubric.limits, rubric.packages)
        if report.missing:
            print(f"{rubric.path}: packages: {len(report.missing)} of {len(rubric.packages)} cannot be imported in a "
                  f"kernel here (students' notebooks that import them will fail): "
                  + "; ".join(f"{m} ({why})" for m, why in report.missing.items()))
    if not args.mutants:
        return 0
    return _mutation_test(args, rubric, expected, lang)


def _mutation_test(args, rubric, expected, lang) -> int:
    from . import mutants
    from .grade import read_notebook

    launcher = _launcher(args, rubric, warm=True)
    try:
        def show(o):
            verdict = "equivalent" if o.equivalent else ("killed by " + ", ".join(o.killed_by[:3])
                                                          + (" …" if len(o.killed_by) > 3 else "")
                                                          if o.killed_by else "SURVIVED")
            print(f"  cell {o.mutant.cell + 1:>2} ({o.mutant.tag}) {o.mutant.operator}: {verdict}")

        print("mutants:")
        ref_score, outcomes = mutants.run(read_notebook(Path(rubric.reference)), rubric, expected, lang, launcher, show)
    finally:
        launcher.close()
    counted = [o for o in outcomes if not o.equivalent]
    killed = [o for o in counted if o.killed_by]
    survived = [o for o in counted if not o.killed_by]
    rate = len(killed) / len(counted) if counted else 1.0
    for o in survived:
        print(f"\nsurvived: cell {o.mutant.cell + 1} ({o.mutant.tag}), {o.mutant.operator}\n{o.mutant.diff()}")
    print(f"\nkill rate {rate:.1%}: {len(killed)} of {len(counted)} mutants killed "
          f"({len(outcomes) - len(counted)} equivalent left out); threshold {args.threshold:.0%}")
    return 0 if rate >= args.threshold else 1


def cmd_release(args) -> int:
    from .release import release
    from .report import write_atomic

    rubric = _rubric(args)
    ref = Path(args.reference or rubric.reference)
    try:
        data = json.loads(ref.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such notebook", str(ref)) from None
    except (ValueError, UnicodeDecodeError):
        raise InputError("not a notebook: not valid JSON", str(ref)) from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / rubric.notebook
    write_atomic(target, json.dumps(release(data, rubric.assignment, str(ref)), ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {target}")
    return 0


def cmd_report(args) -> int:
    import sqlite3

    from . import overrides as ov
    from .formats import class_report
    from .report import write_atomic

    rubric = _rubric(args)
    lang = _lang(args, rubric)
    folder = Path(args.dir)
    db_path = folder / "gradebook.sqlite"
    if not db_path.is_file():
        raise InputError("no gradebook here: run grader grade --out DIR first", str(db_path))
    db = sqlite3.connect(str(db_path))
    rows = db.execute("SELECT result_json FROM submissions ORDER BY submission").fetchall()
    db.close()
    reviewed = ov.load(folder / "overrides.yaml")
    results = [ov.apply(SubmissionResult.from_dict(json.loads(r[0])), reviewed, lang) for r in rows]
    write_atomic(folder / "report.html", class_report.render(results, rubric, lang))
    print(f"wrote {folder / 'report.html'} ({len(results)} submissions)")
    return 0


def cmd_review(args) -> int:
    import sqlite3

    from . import overrides as ov

    db_path = Path(args.dir) / "gradebook.sqlite"
    if not db_path.is_file():
        raise InputError("no gradebook here: run grader grade --out DIR first", str(db_path))
    done = {(o.submission, o.check) for o in ov.load(Path(args.dir) / "overrides.yaml")}
    db = sqlite3.connect(str(db_path))
    rows = db.execute("SELECT submission, question, check_name, score, max_score, message FROM checks "
                      "WHERE status = 'manual' ORDER BY submission, question, check_name").fetchall()
    db.close()
    todo = [r for r in rows if (r[0], r[2]) not in done and (r[0], f"{r[1]}/{r[2]}") not in done]
    for sub_name, qid, name, score, max_score, message in todo:
        print(f"{sub_name}  {qid}/{name}  {score:g}/{max_score:g}  {message}")
    print(f"\n{len(todo)} awaiting review ({len(rows) - len(todo)} already in overrides.yaml). To set a score, add to "
          f"{Path(args.dir) / 'overrides.yaml'}:\n- submission: NAME\n  check: QUESTION/CHECK\n  score: N\n  comment: ...")
    return 0


def cmd_gradescope(args) -> int:
    from .formats.gradescope import build_zip

    rubric = _rubric(args)
    build_zip(Path(args.zip), Path(rubric.path), Path(rubric.reference))
    print(f"wrote {args.zip}: upload it as the autograder of a Gradescope programming assignment")
    return 0


def cmd_gradescope_run(args) -> int:
    """Inside Gradescope: grade the one submitted notebook, always write results.json."""
    import time as _time

    from .formats import gradescope
    from .grade import expected_values, grade_path
    from .report import write_atomic

    root = Path(args.root)
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = _time.monotonic()
    lang, result, error = "zh-TW", None, None
    try:
        rubric = _rubric(args)
        lang = rubric.lang
        notebooks = sorted((root / "submission").rglob("*.ipynb"))
        notebooks = [p for p in notebooks if ".ipynb_checkpoints" not in p.parts]
        if not notebooks:
            error = "no .ipynb file in the submission" if lang == "en" else "繳交的檔案中沒有 .ipynb 筆記本"
        else:
            launcher = _launcher(args, rubric, fallback=True)
            result = grade_path(notebooks[0], rubric, expected_values(rubric, launcher), lang, public_only=False,
                                launcher=launcher)
    except Exception as e:  # whatever happens, Gradescope gets a results.json
        error = f"{type(e).__name__}: {e}"
    write_atomic(out, gradescope.dumps(gradescope.results(result, error, _time.monotonic() - started, lang)))
    if error or result is None or result.status == "error":
        print(f"grader: error: not graded: {error or (result.error if result else '')}", file=sys.stderr)
        return 2  # results.json says why; the exit code says it too
    return 0


def cmd_doctor(args) -> int:
    """Each protection, then real kernels started exactly as grading starts them (sandboxed,
    warm and cold): torch, matplotlib and the rubric's packages imported, a cell run, a value
    read back. Any failure is a ✗ with its cause, and exit 1."""
    from .doctor import kernel_report
    from .kernel.sandbox import protections

    rubric = _rubric(args)
    items = protections(rubric.limits)
    for p in items:
        print(f"{'✓' if p.active else '✗'} {p.name}: {p.detail}")
    failed = not items[0].active
    if failed:
        print("\nThe sandbox cannot start: install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and make sure "
              "user namespaces are allowed (sysctl kernel.unprivileged_userns_clone=1), or grade with --no-sandbox.")
    missing: dict[str, str] = {}
    for warm in (True, False):
        name = "kernel, forked from a pre-warmed server (grade)" if warm else "kernel, started cold (check, grade --cold)"
        try:
            launcher = _launcher(args, rubric, warm=warm)
        except InputError as e:
            print(f"✗ {name}: {e}")
            failed = True
            continue
        try:
            report = kernel_report(launcher, rubric.limits, rubric.packages)
        finally:
            launcher.close()
        print(f"{'✓' if report.ok else '✗'} {name}: {report.detail}")
        failed |= not report.ok
        missing.update(report.missing)
    if rubric.packages:
        if missing:
            failed = True
            print(f"✗ course packages ({rubric.path}: packages): {len(missing)} of {len(rubric.packages)} cannot be "
                  f"imported in a kernel:")
            for mod, why in missing.items():
                print(f"    {mod}: {why}")
        else:
            print(f"✓ course packages: {', '.join(rubric.packages)} import in a kernel")
    if failed:
        print("\nNot ready: what is marked ✗ above fails the same way when grading.")
        return 1
    print("\nEvery protection is active; kernels start and run as grading runs them.")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        args.formats = _formats(args) if hasattr(args, "format") else []
        commands = {"check": cmd_check, "grade": cmd_grade, "validate": cmd_validate, "doctor": cmd_doctor,
                    "gradescope": cmd_gradescope, "gradescope-run": cmd_gradescope_run, "review": cmd_review,
                    "report": cmd_report, "release": cmd_release}
        return commands[args.command](args)
    except InputError as e:
        print(f"grader: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The console script: ``main``, then exit at once. Everything is written and flushed by
    then; skipping the interpreter's teardown (zmq contexts, threads) saves most of a second."""
    try:
        code = main()
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `grader ... | head`: the reader has gone, which is fine
        code = 0
    os._exit(code)
