"""Which launcher starts the kernels: the one place that picks sandboxed or not, cold or warm,
and decides what happens when the sandbox cannot start on this machine."""
from __future__ import annotations

import sys

from ..errors import InputError
from ..model import Limits
from .forkserver import WarmLauncher
from .launch import Launcher
from .sandbox import SandboxLauncher, SandboxUnavailable, probe_sandbox

__all__ = ["SandboxUnavailable", "launcher", "make_launcher"]


def make_launcher(sandbox: bool, limits: Limits, slot: int = 0, warm: bool = False,
                  checked: bool = False) -> Launcher:
    """The one place that picks how kernels start: sandboxed (the default) or, only when asked
    for, a plain local process; each either cold (a new Python per kernel) or warm (forked from
    a pre-warmed server). ``slot`` is the worker number (its own uid in the sandbox)."""
    box = None
    if sandbox:
        if not checked:
            ok, detail = probe_sandbox()
            if not ok:
                raise SandboxUnavailable(detail)
        box = SandboxLauncher(limits=limits, slot=slot)
    if warm:
        return WarmLauncher(limits=limits, sandbox=box)
    return box or Launcher(name="none")


def launcher(limits: Limits, sandbox: bool = True, fallback: bool = False, slot: int = 0, warm: bool = False,
             checked: bool = False) -> Launcher:
    """The policy of the commands: ``sandbox=False`` (``--no-sandbox``) runs kernels unsandboxed;
    otherwise a sandbox that cannot start is a one-line error (exit 2), or, with ``fallback`` (a
    student checking their own notebook on their own machine), a note and an unsandboxed kernel."""
    if not sandbox:
        return make_launcher(False, limits, slot, warm)
    try:
        return make_launcher(True, limits, slot, warm, checked)
    except SandboxUnavailable as e:
        if fallback:
            print(f"grader: note: no sandbox on this machine ({e}); running your notebook unsandboxed",
                  file=sys.stderr)
            return make_launcher(False, limits, slot, warm)
        raise InputError(f"the sandbox cannot start here: {e}; run `grader doctor`, or pass --no-sandbox "
                         f"to grade without it") from None
