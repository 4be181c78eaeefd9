"""Where a kernel is started: the one place that decides *how* a student's kernel process is
launched (command, environment, working directory).

The executor asks a ``Launcher`` for a jupyter_client kernel manager and never builds one
itself, so a sandboxed launch (a command wrapped in a sandbox tool) or a pre-warmed one (a
fork server) is a different ``Launcher`` with the same interface, not a change to execution.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager

KERNEL_NAME = "grader-python3"

# Variables a student's kernel gets on top of a minimal environment: deterministic, quiet,
# single-threaded (workers run side by side), figures kept off-screen.
KERNEL_ENV = {
    "MPLBACKEND": "agg",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    "JUPYTER_PLATFORM_DIRS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "GRADER_INSIDE": "1",  # grader.check() in a notebook being graded does nothing
}
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
              "LD_LIBRARY_PATH", "VIRTUAL_ENV", "SYSTEMROOT")


def kernel_env(extra: dict[str, str] | None = None, sandboxed: bool = False) -> dict[str, str]:
    """The kernel's whole environment: no grader secrets or tokens leak through os.environ."""
    if sandboxed:
        env = {"PATH": os.pathsep.join([os.path.dirname(os.path.realpath(sys.executable)), "/usr/bin", "/bin"]),
               "HOME": "/work", "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp/.mpl", "LANG": "C.UTF-8"}
        env.update({k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ})
    else:
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(KERNEL_ENV)
    env.update(extra or {})
    return env


class _SpecManager(KernelSpecManager):
    """Serves one in-memory kernel spec: this Python's ipykernel, whatever is installed in
    the user's Jupyter paths."""

    argv: list[str] = []
    env: dict[str, str] = {}
    interrupt_mode = "signal"
    metadata: dict = {}

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if kernel_name != KERNEL_NAME:
            raise NoSuchKernel(kernel_name)
        return KernelSpec(argv=list(self.argv), env=dict(self.env), display_name="grader",
                          language="python", interrupt_mode=self.interrupt_mode, metadata=dict(self.metadata))


@dataclass
class Launcher:
    """Starts a plain local ipykernel in its own process (no sandbox)."""

    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)
    name: str = "local"

    def argv(self) -> list[str]:
        return [self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                "--HistoryManager.enabled=False", "--IPKernelApp.log_level=CRITICAL"]

    def kernel_manager(self) -> AsyncKernelManager:
        ksm = _SpecManager()
        ksm.argv = self.argv()
        ksm.env = kernel_env(self.extra_env)
        km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
        return km

    def start_kwargs(self, cwd: str) -> dict:
        """Options for ``start_kernel`` (the working directory and the environment)."""
        return {"cwd": cwd, "env": kernel_env(self.extra_env)}

    def release(self, km) -> None:
        """Called once the kernel is gone: remove anything made for it."""

    def close(self) -> None:
        """Called once no more kernels will be started."""

    def describe(self) -> str:
        return "no sandbox: the kernel runs as you, with your files and network"
