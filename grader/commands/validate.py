"""``grader validate [RUBRIC]``: the rubric loads and the reference scores full marks (exit 1 if
not); with ``--mutants``, wrong variants of the reference are graded and the kill rate reported."""
from __future__ import annotations

from pathlib import Path

from . import options


def run(args) -> int:
    from ..grade import START_ERROR, KernelUnavailable, expected_values, grade_path
    from ..report import student_report

    rubric = options.rubric(args)
    lang = options.lang(args, rubric)
    launcher = options.launcher(args, rubric)
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
        from ..doctor import kernel_report

        report = kernel_report(launcher, rubric.limits, rubric.packages)
        if report.missing:
            print(f"{rubric.path}: packages: {len(report.missing)} of {len(rubric.packages)} cannot be imported in a "
                  f"kernel here (students' notebooks that import them will fail): "
                  + "; ".join(f"{m} ({why})" for m, why in report.missing.items()))
    if not args.mutants:
        return 0
    return mutation_test(args, rubric, expected, lang)


def mutation_test(args, rubric, expected, lang) -> int:
    from .. import mutants
    from ..grade import read_notebook

    launcher = options.launcher(args, rubric, warm=True)
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
