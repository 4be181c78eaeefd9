"""``grader release -o DIR``: the student notebook made from the reference (solutions removed)."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from . import options


def run(args) -> int:
    from ..release import release
    from ..report import write_atomic

    rubric = options.rubric(args)
    ref = Path(args.reference or rubric.reference)
    try:
        data = json.loads(ref.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such notebook", str(ref)) from None
    except (ValueError, UnicodeDecodeError):
        raise InputError("not a notebook: not valid JSON", str(ref)) from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / rubric.notebook
    write_atomic(target, json.dumps(release(data, rubric.assignment, str(ref)), ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {target}")
    return 0
