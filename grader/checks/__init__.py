"""The registry of check kinds. Each kind is one module; importing it registers it."""
from .base import REGISTRY, CheckKind, Context, Param, Reason, Region, Verdict, register
from . import (any_of, exception, figure, function, gradient, numgrad, paths, relation, static,  # noqa: F401
               tensor_value, written)

__all__ = ["REGISTRY", "CheckKind", "Context", "Param", "Reason", "Region", "Verdict", "register"]
