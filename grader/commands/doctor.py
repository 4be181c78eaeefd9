"""``grader doctor``: each protection, then real kernels started exactly as grading starts them."""
from __future__ import annotations

from ..errors import InputError
from . import options


def run(args) -> int:
    """Each protection, then real kernels started exactly as grading starts them (sandboxed,
    warm and cold): torch, matplotlib and the rubric's packages imported, a cell run, a value
    read back. Any failure is a ✗ with its cause, and exit 1."""
    from ..doctor import kernel_report
    from ..kernel.sandbox import protections

    rubric = options.rubric(args)
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
            launcher = options.launcher(args, rubric, warm=warm)
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
