"""What several commands read from their flags: the rubric (``--rubric``, ``--limit``,
``--cell-timeout``) and how kernels start (``--no-sandbox``)."""
from __future__ import annotations

import dataclasses

from ..errors import InputError
from ..model import Limits, Rubric


def rubric(args) -> Rubric:
    from ..rubric import load

    path = getattr(args, "rubric", None) or getattr(args, "rubric_path", None)
    if path is None and args.command == "check":  # a released notebook names its assignment
        from ..rubric import for_notebook

        path = for_notebook(args.notebook)
    rubric = load(path)
    changes: dict[str, float] = {}
    for item in getattr(args, "limit", []) or []:
        key, sep, value = item.partition("=")
        if not sep or key not in Limits.__dataclass_fields__:
            raise InputError(f"--limit {item}: expected KEY=VALUE with KEY one of {', '.join(Limits.__dataclass_fields__)}")
        try:
            changes[key] = float(value)
        except ValueError:
            raise InputError(f"--limit {item}: {value!r} is not a number") from None
    if getattr(args, "cell_timeout", None) is not None:
        changes["cell_timeout"] = args.cell_timeout
    for key, value in changes.items():
        if value < 0 or value == 0 and key != "restarts":
            raise InputError(f"--{'cell-timeout' if key == 'cell_timeout' else 'limit ' + key} must be positive")
    if changes:
        rubric = dataclasses.replace(rubric, limits=dataclasses.replace(rubric.limits, **changes))
    return rubric


def lang(args, rubric: Rubric) -> str:
    """--lang, else the rubric's: a built-in language or one the rubric's ``messages`` add."""
    if args.lang and args.lang not in rubric.languages():
        raise InputError(f"--lang {args.lang}: not a language of this rubric (known: {', '.join(rubric.languages())})")
    return args.lang or rubric.lang


def launcher(args, rubric: Rubric, fallback: bool = False, slot: int = 0, warm: bool = False, checked: bool = False):
    """The launcher for this command's kernels (the policy: grader.kernel.factory.launcher)."""
    from ..kernel.factory import launcher as choose

    return choose(rubric.limits, not getattr(args, "no_sandbox", False), fallback, slot, warm, checked)
