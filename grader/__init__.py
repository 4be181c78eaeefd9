"""grader: grades Jupyter notebooks on PyTorch autograd, safely, with feedback that teaches."""

__version__ = "0.1.0"


def check(question=None, path=None, lang=None, rubric=None, timeout=600):
    """In a notebook: ``from grader import check; check("ex2-backward-twice")``. See selfcheck.py."""
    from .selfcheck import check as _check

    return _check(question, path=path, lang=lang, rubric=rubric, timeout=timeout)
