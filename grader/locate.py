"""Find the cells each rubric anchor names: by tag first, then by content patterns, then by
the exercise heading the cells sit under. Works on plain notebook data; runs nothing."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .model import Anchor, Text

# "### 練習 2", "**練習 3**", "Exercise 2", "#### 4.", "练习 5", "Ex. 1", "習題 2", "2. 在運行..." (after a 練習 heading)
_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?:練習|练习|習題|习题|Exercise|Ex\.?)\s*(\d+)(?!\d)", re.IGNORECASE)
_NUMBER_HEADING = re.compile(r"^\s*#{1,6}\s*(?:\*\*)?\s*(\d+)\s*[.、)．]")


def exercise_number(markdown: str) -> int | None:
    """The exercise a markdown cell opens (its last exercise heading line), or None.
    A cell may hold "## 練習" and "### 練習 1" together."""
    number = None
    for line in markdown.splitlines():
        m = _HEADING.match(line) or _NUMBER_HEADING.match(line)
        if m:
            number = int(m.group(1))
    return number


@dataclass
class Cell:
    index: int
    kind: str  # code | markdown | raw
    source: str
    tags: tuple[str, ...]


def cells_of(nb) -> list[Cell]:
    return [Cell(i, c.get("cell_type", "raw"), _text(c.get("source", "")),
                 tuple(str(t) for t in (c.get("metadata", {}).get("tags") or []) if isinstance(t, str)))
            for i, c in enumerate(nb.get("cells", []))]


def _text(src) -> str:
    return "".join(src) if isinstance(src, list) else str(src)


def exercise_regions(cells: list[Cell]) -> dict[int, list[int]]:
    """Exercise number -> indices of the cells under its heading, up to the next exercise heading
    (or a heading of the same or a higher level that is not an exercise)."""
    regions: dict[int, list[int]] = {}
    current: int | None = None
    for c in cells:
        if c.kind == "markdown":
            n = exercise_number(c.source)
            if n is not None:
                current = n
                regions.setdefault(n, [])
                regions[n].append(c.index)
                continue
        if current is not None:
            regions[current].append(c.index)
    return regions


def locate(anchors: dict[str, Anchor], cells: list[Cell]) -> tuple[dict[str, list[int]], dict[str, Text]]:
    """anchor id -> indices of its cells; and anchor id -> what was looked for, when not found."""
    found: dict[str, list[int]] = {}
    missing: dict[str, Text] = {}
    regions = exercise_regions(cells)
    code = [c for c in cells if c.kind == "code"]
    for a in anchors.values():
        tagged = [c.index for c in cells if a.tag in c.tags]
        if tagged:
            found[a.id] = tagged
            continue
        start = 0
        if a.after:
            if a.after not in found:
                missing[a.id] = _looked_for(a, Text(f"（因為找不到它前面的 {a.after}）", f" (because {a.after}, which it follows, was not found)"))
                continue
            start = max(i for i in found[a.after] if cells[i].kind == "code") if any(
                cells[i].kind == "code" for i in found[a.after]) else found[a.after][-1]
        if a.patterns:
            hit = next((c.index for c in code if c.index >= start and _matches(a, c.source)), None)
            if hit is not None:
                found[a.id] = [hit]
                continue
        if a.exercise is not None and regions.get(a.exercise):
            found[a.id] = regions[a.exercise]
            continue
        missing[a.id] = _looked_for(a)
    return found, missing


def _matches(a: Anchor, source: str) -> bool:
    return all(re.search(p, source, re.MULTILINE) for p in a.patterns) and not any(
        re.search(p, source, re.MULTILINE) for p in a.exclude)


def _looked_for(a: Anchor, extra: Text = Text("", "")) -> Text:
    zh, en = [f"標籤 {a.tag!r} 的儲存格"], [f"a cell tagged {a.tag!r}"]
    if a.patterns:
        zh.append("符合 " + " 與 ".join(f"`{p}`" for p in a.patterns) + " 的程式碼儲存格")
        en.append("a code cell matching " + " and ".join(f"`{p}`" for p in a.patterns))
    if a.exercise is not None:
        zh.append(f"標題為「練習 {a.exercise}」之下的儲存格")
        en.append(f"cells under an 'Exercise {a.exercise}' / '練習 {a.exercise}' heading")
    return Text("找不到這題的儲存格：找過" + "、".join(zh) + extra.zh,
                "could not find the cells for this: looked for " + ", ".join(en) + extra.en)
