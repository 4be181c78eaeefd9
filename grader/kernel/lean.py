"""Kernel side: run at the start of every process the grader starts a kernel from (a cold kernel,
``check``'s early kernel, a fork server), around ipykernel's imports. Never imported by the
grader: its source is put before those processes' own start scripts (launch.KERNEL_BOOT and
KERNEL_EARLY, forkserver.ZYGOTE_SOURCE).

IPython's ``__init__`` imports its terminal (``IPython.embed``: prompt_toolkit and the terminal
shell, about 60 ms of CPU), its completer imports jedi (about 40 ms) and ipykernel's debugger
imports debugpy and the pydevd it bundles (about 30 ms), in every kernel; a kernel the grader
drives never embeds a terminal and is never asked to complete or to debug. While ipykernel
imports, ``IPython.terminal.embed`` is a stand-in whose ``embed`` imports the real one when
called, and ``import jedi`` and ``import debugpy`` fail as if they were not installed (the
completer then works without jedi, and the kernel starts without a debugger, as it does where
debugpy is missing); afterwards those names are gone from ``sys.modules``, so the notebook's own
``import jedi``, ``import debugpy`` or ``from IPython.terminal.embed import embed`` import the
real modules."""

ABSENT = ("jedi", "debugpy")  # read as not installed while ipykernel imports


def lean_ipython(begin):
    import sys

    name = "IPython.terminal.embed"
    if begin:
        import types

        stand_in = types.ModuleType(name)

        def embed(*args, **kwargs):
            from IPython.terminal.embed import embed as real  # (the stand-in is gone by now)

            return real(*args, **kwargs)

        stand_in.embed, stand_in.lean = embed, True
        sys.modules.setdefault(name, stand_in)
        for absent in ABSENT:
            sys.modules.setdefault(absent, None)
        return
    if getattr(sys.modules.get(name), "lean", False):
        del sys.modules[name]
    for absent in ABSENT:
        if absent in sys.modules and sys.modules[absent] is None:
            del sys.modules[absent]
