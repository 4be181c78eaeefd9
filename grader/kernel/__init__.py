"""The kernel side: how a student's kernel starts and what runs inside it.

- ``launch``: the ``Launcher`` interface and a plain local kernel (its command and environment);
- ``sandbox``: the bubblewrap sandbox around each kernel, and the protections ``grader doctor`` shows;
- ``forkserver`` and ``zygote``: kernels forked from a pre-warmed server per worker (the zygote's
  source runs as its own process, never imported);
- ``factory``: the one place that picks a launcher, and what happens when the sandbox cannot start;
- ``managers``: the grader's jupyter_client classes (kernel spec, managers, provisioners), which
  the launchers import when they make their first kernel manager;
- ``extensions``: the check kinds' own kernel code (e.g. grader/checks/_trace_kernel.py), run in the
  probe's namespace: which file defines which probe operation;
- ``probe`` and ``recorder``: code that runs *inside* the kernel. They are never imported by the
  grader: their source text is sent to the kernel (``grader.execute``), so they import nothing
  of the grader's.

This package imports nothing else of the grader but plain-data modules (``grader.model`` for
``Limits``, ``grader.errors`` for the one-line error): ``tests/test_layout.py`` checks it.
"""
import re as _re
from pathlib import Path as _Path

KERNEL_NAME = "grader-python3"  # the one kernel spec the launchers serve (managers.SpecManager)

# What a notebook of this course imports: every kernel imports them before any student code,
# without cyclic garbage collection (probe.setup, launch.KERNEL_EARLY); a zygote's kernels have
# them already (zygote.preload, which has the ones below too).
WARM_IMPORTS = ("numpy", "torch", "matplotlib.figure")
# What torch imports the first time ``backward`` or ``autograd.grad`` is given a gradient tensor
# (sympy, 0.2 s): a cold kernel imports it with the others when the notebook's text suggests such
# a call. Only a hint: a call it misses makes the import in the student's cell, as without the grader.
GRADIENT_IMPORTS = ("torch.fx.experimental.symbolic_shapes",)
_GRADIENT_CALL = _re.compile(r"\.backward\(\s*(?![)\s]|(?:retain_graph|create_graph|inputs)\s*=)"
                             r"|autograd\.(?:backward|grad)\(|grad_outputs|gradient\s*=")


_COMMENT = _re.compile(r"#.*")  # (the book's own cell mentions such a call in a comment)


def imports_for(sources) -> tuple[str, ...]:
    """What a cold kernel imports before the code ``sources`` (a notebook's code cells) runs."""
    calls = any(_GRADIENT_CALL.search(_COMMENT.sub("", s)) for s in sources)
    return WARM_IMPORTS + (GRADIENT_IMPORTS if calls else ())

# The kernel-side modules, by the name they live under in a kernel: (file name shown in
# tracebacks, source). The set-up cell defines them in a cold kernel; a zygote defines them
# once before it forks, so a warm kernel's set-up only calls them.
KERNEL_MODULES = {
    name: (filename, (_Path(__file__).parent / file).read_text(encoding="utf-8"))
    for name, filename, file in (("__grader_probe__", "<grader probe>", "probe.py"),
                                 ("__grader_recorder__", "<grader recorder>", "recorder.py"))
}
