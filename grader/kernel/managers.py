"""The grader's jupyter_client classes: the one kernel spec every launcher serves, the kernel
managers of sandboxed and forked kernels, and the provisioners of a kernel started early
(``Launcher.prestart``) and of a forked one.

Apart from the launchers (launch.py, sandbox.py, forkserver.py), which import this module when
they make their first kernel manager: choosing a launcher, and starting ``check``'s kernel
early, then need none of jupyter_client's imports (60 ms, on the way to that kernel).
"""
from __future__ import annotations

import asyncio
import json
import os

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from . import KERNEL_NAME


class SpecManager(KernelSpecManager):
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


class OwnedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs as another uid (``owner``, sandboxed as root)."""

    owner: int | None = None

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.owner is not None:  # the kernel's own uid must read its connection file
            os.chown(self.connection_file, self.owner, self.owner)


class EarlyProvisioner(LocalProvisioner):
    """Adopts the process ``Launcher.prestart`` started instead of starting one: once the kernel
    manager has written the connection file, the process is told where it is (and, unsandboxed,
    the folder to work in, and what the notebook has it import: ``km.imports``). A process that
    has died meanwhile fails the start as a cold one would, with its own error output to quote."""

    async def launch_kernel(self, cmd, **kwargs):
        km = self.parent
        process, km.early = km.early, None
        go = json.dumps({"connection_file": km.connection_file, "cwd": kwargs.get("cwd"),
                         "imports": list(getattr(km, "imports", ()))}) + "\n"
        try:
            process.stdin.write(go.encode())
            process.stdin.close()
        except OSError:
            pass
        self.process, self.pid, self.cwd = process, process.pid, kwargs.get("cwd")
        try:
            self.pgid = os.getpgid(process.pid)
        except OSError:
            self.pgid = None
        return self.connection_info


class ForkProvisioner(LocalProvisioner):
    """Starts the kernel by asking the worker's zygote to fork one."""

    async def launch_kernel(self, cmd, **kwargs):
        km = self.parent
        pid = km.prespawned or km.spawn()
        self.process = km.zygote.process(pid)
        self.pid, self.pgid, self.cwd = self.process.pid, None, None
        return self.connection_info

    async def wait(self):
        if self.process:
            while await self.poll() is None:
                await asyncio.sleep(0.005)
            self.process = None
        return 0


class ForkKernelManager(OwnedKernelManager):
    zygote = None  # the forkserver.Zygote that forks this manager's kernel
    kernel_cwd: str | None = None
    prespawned: int | None = None  # the kernel was forked ahead of time, while the last one was judged

    def spawn(self) -> int:
        """Ask the zygote to fork this manager's kernel; its init's pid."""
        return self.zygote.spawn(self.connection_file, self.kernel_cwd)
