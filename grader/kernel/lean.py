"""Kernel side: run at the start of every process the grader starts a kernel from (a cold kernel,
``check``'s early kernel, a fork server), around ipykernel's imports. Never imported by the
grader: its source is put before those processes' own start scripts (launch.KERNEL_BOOT and
KERNEL_EARLY, forkserver.ZYGOTE_SOURCE).

IPython's ``__init__`` imports its terminal (``IPython.embed``: prompt_toolkit and the terminal
shell, about 60 ms of CPU) and its completer imports jedi (about 40 ms), in every kernel, and a
kernel the grader drives never embeds a terminal and is never asked to complete. While ipykernel
imports, ``IPython.terminal.embed`` is a stand-in whose ``embed`` imports the real one when
called, and ``import jedi`` fails as if jedi were not installed (the completer then works
without it); afterwards both names are gone from ``sys.modules``, so the notebook's own
``import jedi`` or ``from IPython.terminal.embed import embed`` import the real modules."""


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
        sys.modules.setdefault("jedi", None)
        return
    if getattr(sys.modules.get(name), "lean", False):
        del sys.modules[name]
    if "jedi" in sys.modules and sys.modules["jedi"] is None:
        del sys.modules["jedi"]
