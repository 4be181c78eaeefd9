"""``grader release``: the student notebook, made from the instructor's reference.

Solution regions are marked in the reference: ``### BEGIN SOLUTION`` / ``### END SOLUTION``
lines in code cells, ``<!-- BEGIN SOLUTION -->`` / ``<!-- END SOLUTION -->`` in markdown
answers. Each region becomes a placeholder (``raise NotImplementedError()`` / "你的答案"); cells keep
their ids and the tags the rubric finds them by; outputs are cleared; the notebook's metadata
names the assignment and carries a hash of the released content."""
from __future__ import annotations

import copy
import hashlib
import json
import re

from .errors import InputError

CODE_BEGIN, CODE_END = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$"), re.compile(r"^\s*### END SOLUTION\s*$")
MD_BEGIN, MD_END = re.compile(r"^\s*<!--\s*BEGIN SOLUTION\s*-->\s*$"), re.compile(r"^\s*<!--\s*END SOLUTION\s*-->\s*$")
CODE_PLACEHOLDER = ["# 你的答案 (your answer)", "raise NotImplementedError()"]
MD_PLACEHOLDER = "你的答案 (your answer)"


def _strip(source: str, begin: re.Pattern, end: re.Pattern, placeholder: list[str], where: str) -> tuple[str, int]:
    out, inside, regions = [], False, 0
    for number, line in enumerate(source.splitlines(), 1):
        m = begin.match(line)
        if m and not inside:
            inside, regions = True, regions + 1
            out += [m.group(1) + p if m.groups() else p for p in placeholder]
            continue
        if inside and end.match(line):
            inside = False
            continue
        if begin.match(line) or end.match(line):
            raise InputError(f"unbalanced solution marker at line {number}", where)
        if not inside:
            out.append(line)
    if inside:
        raise InputError("a solution region is never closed", where)
    return "\n".join(out), regions


def release(reference: dict, assignment: str, source_name: str) -> dict:
    nb = copy.deepcopy(reference)
    regions = 0
    for i, cell in enumerate(nb.get("cells", [])):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        where = f"{source_name}: cell {i + 1}"
        if cell.get("cell_type") == "code":
            cell["source"], n = _strip(src, CODE_BEGIN, CODE_END, CODE_PLACEHOLDER, where)
            cell["outputs"], cell["execution_count"] = [], None
        elif cell.get("cell_type") == "markdown":
            cell["source"], n = _strip(src, MD_BEGIN, MD_END, [MD_PLACEHOLDER], where)
        else:
            n = 0
        regions += n
    if not regions:
        raise InputError("no solution regions (### BEGIN SOLUTION / ### END SOLUTION) in the reference", source_name)
    content = json.dumps([(c.get("id"), c.get("cell_type"), c.get("source")) for c in nb["cells"]], ensure_ascii=False)
    nb.setdefault("metadata", {})["grader"] = {
        "assignment": assignment, "released_sha256": hashlib.sha256(content.encode()).hexdigest()}
    return nb
