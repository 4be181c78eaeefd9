"""The command line: parses the flags and dispatches to the command's module in
``grader/commands/`` (``grader check`` a student, ``grader grade`` a class, ``grader validate``, ...)."""
from __future__ import annotations

import argparse
import os
import sys

from .commands import check, doctor, grade, gradescope, release, report, review, validate
from .errors import InputError
from .formats import output
from .model import Limits


def default_jobs() -> int:
    """One worker more than the cores this process may use: a worker waits while its kernel
    and the grader hand each cell back and forth and while a kernel is reaped and the next one
    forked, and the extra worker fills those gaps (measured: 200 notebooks on 2 cores, 52 s with
    2 workers and 20% of the CPU idle, 46-49 s with 3 and 7% idle; each worker adds a fork
    server of about 270 MiB)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores) + 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise InputError(f"{self.prog}: {message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="grader", description="Grade Jupyter notebooks on PyTorch autograd.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(sp, rubric=True):
        if rubric:
            sp.add_argument("--rubric", help="rubric YAML, or a bundled assignment by name (d2l-autograd, d2l-linreg; default d2l-autograd)")
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
    g.add_argument("-j", "--jobs", type=int, default=default_jobs(), metavar="N",
                   help="notebooks graded at once, each worker with its own kernels (default: the cores "
                        "this process may use, plus one)")
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
    rl.add_argument("--rubric", help="rubric YAML, or a bundled assignment by name (default d2l-autograd)")

    rp = sub.add_parser("report", help="write DIR/report.html, the class report of a graded folder")
    rp.add_argument("dir", help="the --out folder of grader grade")
    rp.add_argument("--rubric", help="the rubric it was graded with (default: the bundled one)")
    rp.add_argument("--lang", help="zh-CN, zh-TW, en or one the rubric's messages add")

    rv = sub.add_parser("review", help="list the answers awaiting manual review in a graded folder")
    rv.add_argument("dir", help="the --out folder of grader grade")

    z = sub.add_parser("gradescope", help="build a Gradescope autograder zip")
    z.add_argument("zip", help="the zip file to write")
    z.add_argument("--rubric", help="rubric YAML, or a bundled assignment by name (d2l-autograd, d2l-linreg; default d2l-autograd)")

    zr = sub.add_parser("gradescope-run", help=argparse.SUPPRESS)  # what run_autograder calls
    zr.add_argument("--root", default="/autograder")
    zr.add_argument("--rubric")

    d = sub.add_parser("doctor", help="show which protections are active on this machine")
    d.add_argument("--rubric", help="rubric whose limits to show")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        args.formats = output.wanted(args.junit, args.format) if hasattr(args, "format") else []
        commands = {"check": check.run, "grade": grade.run, "validate": validate.run, "doctor": doctor.run,
                    "gradescope": gradescope.build, "gradescope-run": gradescope.run_inside, "review": review.run,
                    "report": report.run, "release": release.run}
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
