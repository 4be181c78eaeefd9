"""grader: grades Jupyter notebooks on PyTorch autograd, safely, with feedback that teaches."""

__version__ = "0.1.0"
