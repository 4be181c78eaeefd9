"""The kernel side: how a student's kernel starts and what runs inside it.

- ``launch``: the ``Launcher`` interface and a plain local kernel (its command and environment);
- ``sandbox``: the bubblewrap sandbox around each kernel, and the protections ``grader doctor`` shows;
- ``forkserver`` and ``zygote``: kernels forked from a pre-warmed server per worker (the zygote's
  source runs as its own process, never imported);
- ``factory``: the one place that picks a launcher, and what happens when the sandbox cannot start;
- ``probe`` and ``recorder``: code that runs *inside* the kernel. They are never imported by the
  grader: their source text is sent to the kernel (``grader.execute``), so they import nothing
  of the grader's.

This package imports nothing else of the grader but plain-data modules (``grader.model`` for
``Limits``, ``grader.errors`` for the one-line error): ``tests/test_layout.py`` checks it.
"""
