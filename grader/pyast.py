"""``ast.parse`` for the grader process, safe when worker threads parse at the same time.

CPython 3.11 keeps the AST converter's recursion depth in interpreter-wide state (CPython issue
106905): two threads converting syntax trees at once can make one of them raise a spurious
``SystemError: AST constructor recursion depth mismatch``. Judging threads parse cells and rubric
expressions, so that was a wrong grade now and then (a correct answer's static check failing).
Every parse in the grader process goes through this one lock; a parse takes microseconds."""
from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, mode: str = "exec") -> ast.AST:
    with _LOCK:
        return ast.parse(source, mode=mode)
