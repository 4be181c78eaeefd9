"""Find the cells each rubric anchor names. Works on plain notebook data; runs nothing.

Section anchors: by tag, then by content patterns (``after:`` chains).

Exercise anchors (``exercise:`` in the rubric): by tag, else by **segmenting** the notebook's
exercise area. The engine knows marker *syntax* (headings, list numbers, code comments,
Chinese numerals, the words Exercise/Ex/Q/练习/練習/习题/習題); what each exercise is about
(its key phrases) and how each edition numbers it come from the rubric. The algorithm:

1. **Candidates.** Every cell is scanned for marker lines:
   - tier 1: a line naming an exercise with a word (``### 練習 2``, ``Q4:``, ``习题五``,
     ``# EXP2 ...``, ``**Exercise 3**``) in markdown or in a code comment; or a cell whose first
     paragraph (or leading comment block) restates a question: it matches at least
     ``PHRASE_ALONE`` of one exercise's key phrases (and more than any other exercise's);
   - tier 2: a numbered heading anywhere in a markdown cell (``### 4.``, ``###### 1.为什么``),
     a numbered first line of a markdown cell (``2. It threw an error``, ``1 answer :``) or a
     numbered comment in the leading comment block of a code cell (``###1.``, ``# 3``,
     ``## 2. Running back prop again``);
   - tier 3: a numbered list item further down a markdown cell (counted only when the cell
     opens with a marker of the same list, e.g. ``1. ...`` / ``2. ...`` stubs).
   An "Exercises" / "练习" / "練習" heading without a number is a *boundary*, not a marker.
   A code comment's decoration before the words (``# ==== 第二題 ====``, ``# ---- Q3: ... ----``)
   is no part of it. Before all this, ``split_at_markers`` cuts a code cell that holds several
   exercises (its word markers in comments between top-level statements) into one part each.
2. **What a marker is about.** The marker's question text (its line and paragraph, up to the
   first question mark) is scored against every exercise's phrases (all languages) and the
   phrases of exercises no anchor grades (``editions.*.others``). At least ``PHRASE_WITH_NUMBER``
   hits, more than any other exercise, decide the exercise whatever the number says.
3. **Edition.** Each edition of the rubric scores: its ``signs`` found in the notebook's text,
   numbers of phrase-decided markers that agree (or disagree) with its numbering, restated
   questions it alone has (``others``), marker numbers beyond its count, the notebook's
   language. The best wins (ties: rubric order). Numbers map to anchors through its numbering.
4. **Boundary.** The exercise area starts at the first of: an Exercises heading, a tier-1
   marker, the start of the final non-decreasing run of stated numbers (first number 1 or 2,
   markers in two or more cells). Tier 2 and 3 markers before it are ignored. A non-marker
   heading at or above the level of the Exercises heading ends the area.
5. **Regions.** Walking the area, each accepted marker opens a region (its anchor, an
   exercise no anchor grades, or none for the boundary) that lasts to the next marker; a cell
   with no marker belongs to the open region. A cell with several markers belongs to each,
   and each gets the slice of the cell's text from its marker to the next (``parts``). A
   numbered marker lower than the open region's number is a list inside an answer, not a
   marker. A "question list" cell (three or more short items) only claims its own slices.
6. **Not found.** An anchor with no marker falls back to the cells after the section (the last
   located cell of the last section anchor, in rubric order, before the area) that hold no
   marker of their own, flagged in ``fallback`` so messages can say so; behaviour-based checks
   decide there. Restated questions are recognised only when the text reads like a question (a
   question mark, or a question or instruction word first): an answer that shares the
   question's words is no marker. An exercise the chosen edition does not have is
   ``not_applicable`` when the markers (not headings or language alone) show that edition and
   nothing restates the exercise.
"""
from __future__ import annotations

import functools
import io
import re
import tokenize
from dataclasses import dataclass, field

from .messages import Reason
from .model import Anchor, Edition

PHRASE_ALONE = 3  # distinct key phrases that make a restated question a marker on its own
PHRASE_WITH_NUMBER = 2  # distinct key phrases that override a marker's number
QUESTION_CHARS = 300  # how much text after a marker line is read as the question

_CN = "一二三四五六七八九十"
_NUM = r"(\d{1,2}|[一二三四五六七八九十]{1,3})"
_WORDS = r"(?:练习|練習|习题|習題|作业|作業|题目|題目|问题|問題|exercises?|ex\.?|exp\.?|question|problem|q)"
# a line naming an exercise with a word: "### 練習 2", "**Exercise 3**", "Q4:", "# EXP2", "习题五", "第3题"
_WORD_MARK = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:[*_]{1,2}\s*)?(?:" + _WORDS + r"\s*[-:：.#]?\s*" + _NUM + r"(?![\d.]\d)(?![a-z])"
    r"|第\s*" + _NUM + r"\s*[题題])", re.IGNORECASE)
# a numbered line: "### 4.", "2. It threw", "（3）", "###1.", "4)", "五、"
_NUM_MARK = re.compile(r"^\s*(#{1,6})?\s*(?:[*_]{1,2}\s*)?[(（]?" + _NUM + r"\s*(?:[.．](?!\d)|[、)）:：]|$)")
# a numbered first line followed by words: "1 answer :"
_NUM_WORDS = re.compile(r"^\s*(#{1,6})?\s*(?:[*_]{1,2}\s*)?" + _NUM + r"\s+(?=[A-Za-z\u4e00-\u9fff])")
# "## Exercises", "**练习**", "## 練習題", "### Exercises:"
_BOUNDARY = re.compile(
    r"^\s*(#{1,6}\s*)?(?:[*_]{1,2}\s*)?(?:exercises?|练习|練習|习题|習題|课后练习|課後練習|课后习题|課後習題)(?:题|題)?"
    r"\s*(?:[*_]{1,2})?\s*[:：]?\s*$", re.IGNORECASE)
_HEADING = re.compile(r"^\s*(#{1,6})\s+\S")
# a code comment's decoration before its words: "# ===== 第二題 =====", "# ---- Q3 ----", "# 【练习3】"
_DECOR = re.compile(r"^\s*(?:[=\-~+*]{2,}|[【\[])\s*")
_QUESTION_END = re.compile(r"[?？]")
# a restated question reads like one: a question mark, a question word, or an instruction first
_ASKS = re.compile(r"[?？]|^\W*(\d+\W+)?(why|what|how|when|which|let|plot|draw|re-?design|design|write|use|evaluate"
                   r"|compute|given|after|in the)\b"
                   r"|^\W*(\d+\W+)?(为什么|為什麼|什么|什麼|如何|怎样|怎樣|使|令|设|設|绘制|繪製|画|畫|重新|写出|寫出|给定|給定|使用|在)",
                   re.IGNORECASE)
_ANSWER = re.compile(r"(?:^|[\s:：])(?:答案?|回答|解答|answer|ans\.?|solution)\s*[:：]", re.IGNORECASE)

_SIMPLIFIED = set("这为们个时会对导数计算图说发过还将现题应该样问么运实")
_TRADITIONAL = set("這為們個時會對導數計算圖說發過還將現題應該樣問麼運實")


def _number(s: str) -> int | None:
    if s.isdigit():
        return int(s)
    if s == "十":
        return 10
    if len(s) == 1 and s in _CN:
        return _CN.index(s) + 1
    if len(s) == 2 and s[0] == "十" and s[1] in _CN[:9]:
        return 10 + _CN.index(s[1]) + 1
    if len(s) == 2 and s[1] == "十" and s[0] in _CN[:9]:
        return (_CN.index(s[0]) + 1) * 10
    return None


@dataclass
class Cell:
    index: int
    kind: str  # code | markdown | raw
    source: str
    tags: tuple[str, ...]
    number: int = 0  # the cell's number as handed in (1-based; a part shares its cell's)


def cells_of(nb) -> list[Cell]:
    def number(i: int, meta) -> int:  # the index of the cell a part was cut from, else its own
        j = meta.get(PART_OF, i) if isinstance(meta, dict) else i
        return (j if isinstance(j, int) and not isinstance(j, bool) else i) + 1

    return [Cell(i, c.get("cell_type", "raw"), _text(c.get("source", "")),
                 tuple(str(t) for t in (c.get("metadata", {}).get("tags") or []) if isinstance(t, str)),
                 number(i, c.get("metadata", {})))
            for i, c in enumerate(nb.get("cells", []))]


def _text(src) -> str:
    return "".join(src) if isinstance(src, list) else str(src)


def _comment(line: str) -> str | None:
    """A comment line's words, without the hashes and the decoration before them; None for code."""
    m = re.match(r"^\s*#+\s?(.*)$", line)
    return _DECOR.sub("", m.group(1)) if m else None


PART_OF = "grader_part_of"  # a part's metadata key: the index of the cell it was cut from


def split_at_markers(nb):
    """The notebook with each code cell that holds several exercises cut into parts, one per
    exercise: at a comment line naming an exercise with a word (``# ==== 第二題 ====``,
    ``# ---- Q3: ... ----``, ``# Exercise 4``) that stands between two top-level statements, as
    if the student had started a new cell there. Each part runs as a cell of its own (an error
    in one no longer skips the next exercise's code) and keeps the index of its cell in its
    metadata (``PART_OF``), so that messages name the cell as handed in. Cells with tags (the
    instructor's), cell magics and code that does not parse are left whole. ``nb`` itself is
    not changed; without such a cell it is returned as is."""
    import copy

    cells = nb.get("cells", [])
    cuts = {i: _cut_lines(_text(c.get("source", ""))) for i, c in enumerate(cells)
            if c.get("cell_type") == "code" and not (c.get("metadata", {}).get("tags"))}
    cuts = {i: lines for i, lines in cuts.items() if lines}
    if not cuts:
        return nb
    out = copy.copy(nb)
    out.cells = []
    for i, cell in enumerate(cells):
        if i not in cuts:
            out.cells.append(cell)
            continue
        lines = _text(cell.get("source", "")).splitlines(keepends=True)
        bounds = [0, *cuts[i], len(lines)]
        for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
            if not "".join(lines[a:b]).strip():
                continue
            part = copy.copy(cell)  # (the stored outputs stay with the cell handed in)
            part["source"] = "".join(lines[a:b]).rstrip("\n")
            part["outputs"] = []
            part["metadata"] = copy.deepcopy(cell.get("metadata", {}))
            part["metadata"][PART_OF] = i
            if part.get("id"):
                part["id"] = f"{str(part['id'])[:58]}-{k}"
            out.cells.append(part)
    return out


def _cut_lines(source: str) -> list[int]:
    """0-based lines of ``source`` where a part begins: comment lines at the top level that name
    an exercise with a word, after some code, between top-level statements."""
    from . import pyast

    if source.lstrip().startswith("%%"):
        return []
    lines = source.splitlines()
    marks = [k for k, line in enumerate(lines) if line.startswith("#") and _WORD_MARK.match(_comment(line))]
    if not marks:
        return []
    # IPython's line magics and shell escapes are no Python: blank them (line numbers unchanged)
    plain = "\n".join("pass" if re.match(r"\s*[%!]", ln) else ln for ln in lines)
    try:
        tree = pyast.parse(plain)
    except (SyntaxError, ValueError):
        return []
    inside = set()
    for node in tree.body:
        inside.update(range(node.lineno - 1, (node.end_lineno or node.lineno)))
    first_code = min(inside, default=len(lines))
    cuts = []
    for k in marks:
        start = k
        while start > 0 and re.fullmatch(r"#[#=\-~+*\s]*", lines[start - 1]):
            start -= 1  # a rule line above the marker ("# =====") begins the part with it
        if k not in inside and start > 0 and (first_code < start or marks[0] < start) \
                and (not cuts or start > cuts[-1]):
            cuts.append(start)
    return cuts


# ---- the result ---------------------------------------------------------------------------

@dataclass
class Segmentation:
    found: dict[str, list[int]] = field(default_factory=dict)  # anchor id -> cell indices
    missing: dict[str, Reason] = field(default_factory=dict)  # anchor id -> what was looked for
    fallback: dict[str, Reason] = field(default_factory=dict)  # anchors found only by the fallback
    not_applicable: dict[str, Reason] = field(default_factory=dict)  # exercises the edition lacks
    parts: dict[str, dict[int, str]] = field(default_factory=dict)  # anchor -> cell -> its slice
    edition: str = ""
    exercises_start: int | None = None  # first cell of the exercise area


@dataclass
class _Marker:
    cell: int
    pos: int  # offset of the marker line in the cell's source
    tier: int
    number: int | None = None
    word: bool = False
    level: int | None = None  # heading level, when the marker is a heading
    question: str = ""
    anchor: str | None = None  # decided by phrases or by number
    other: int | None = None  # an exercise no anchor grades (its number)
    by_phrase: bool = False
    listing: bool = False  # an item of a question list

    def __post_init__(self):
        self.stated = self.number is not None  # the student wrote a number (not inferred from phrases)


def locate(anchors: dict[str, Anchor], cells: list[Cell], editions: tuple[Edition, ...] = ()
           ) -> tuple[dict[str, list[int]], dict[str, Reason]]:
    """anchor id -> indices of its cells; and anchor id -> what was looked for, when not found."""
    s = segment(anchors, cells, editions)
    return s.found, s.missing


def segment(anchors: dict[str, Anchor], cells: list[Cell], editions: tuple[Edition, ...] = ()) -> Segmentation:
    out = Segmentation()
    code = [c for c in cells if c.kind == "code"]
    exercise_anchors = {}
    for a in anchors.values():
        if a.scope is not None:
            continue  # below: once every exercise is found
        tagged = [c.index for c in cells if a.tag in c.tags]
        if tagged:
            out.found[a.id] = tagged
            continue
        if a.exercise is not None or a.numbers:
            exercise_anchors[a.id] = a
            continue
        start = 0
        if a.after:
            if a.after not in out.found:
                out.missing[a.id] = _looked_for(a, after=a.after)
                continue
            start = max(i for i in out.found[a.after] if cells[i].kind == "code") if any(
                cells[i].kind == "code" for i in out.found[a.after]) else out.found[a.after][-1]
        if a.patterns:
            hit = next((c.index for c in code if c.index >= start and _matches(a, c.source)), None)
            if hit is not None:
                out.found[a.id] = [hit]
                continue
        out.missing[a.id] = _looked_for(a)
    if exercise_anchors:
        # the section's cells: those of the last section anchor (rubric order) that was found,
        # by tag or pattern (a pattern may also match a cell among the answers: rubric order wins)
        section: list[int] = []
        for aid, a in anchors.items():
            if aid in out.found and aid not in exercise_anchors and (a.patterns or aid in out.found and a.tag):
                section = out.found[aid]
        _segment_exercises(exercise_anchors, cells, editions or _implicit(anchors), section, out)
    exercises = [min(out.found[a.id]) for a in anchors.values()
                 if (a.exercise is not None or a.numbers) and out.found.get(a.id)]
    for a in anchors.values():  # scopes: every cell, or every cell before the first exercise
        if a.scope == "notebook" or (a.scope == "section" and not exercises):
            out.found[a.id] = [c.index for c in cells]
        elif a.scope == "section":
            out.found[a.id] = [c.index for c in cells if c.index < min(exercises)] or [c.index for c in cells]
    return out


def _implicit(anchors: dict[str, Anchor]) -> tuple[Edition, ...]:
    n = max((a.exercise or 0 for a in anchors.values()), default=0)
    return (Edition(id="default", lang="", exercises=n),)


# ---- step 1: candidates --------------------------------------------------------------------

def _lines(source: str):
    pos = 0
    for line in source.splitlines(keepends=True):
        yield pos, line.rstrip("\r\n")
        pos += len(line)


def _question(source: str, pos: int, comment: bool) -> str:
    """The question a marker at ``pos`` states: its paragraph, up to the first question mark."""
    rest = source[pos:pos + QUESTION_CHARS * 2]
    lines = []
    for i, (_, line) in enumerate(_lines(rest)):
        if comment:
            m = re.match(r"^\s*#+\s?(.*)", line)
            if not m:
                break
            line = m.group(1)
        if i and (not line.strip() or _NUM_MARK.match(line) or _WORD_MARK.match(line)):
            break  # a blank line or the next item ends the question
        lines.append(line)
    first = lines[0] if lines else ""
    bare = re.sub(r"[#*_\s\d.、:：()（）]|练习|練習|习题|習題|exercises?|ex\.?|exp|question|problem|q", "", first, flags=re.I)
    if len(bare) < 4:
        # "#### 3." or "###1." alone: what follows is the question only if it reads like one
        if comment:
            follow = " ".join(lines[1:])
        else:
            nxt = re.search(r"\n\s*\n\s*(\S[^\n]*(?:\n(?!\s*\n)[^\n]*)*)", rest)
            follow = " ".join(lines[1:]) + " " + (nxt.group(1).replace("\n", " ") if nxt and len(lines) == 1 else "")
        lines = [first] + ([follow] if _ASKS.search(follow.strip()) else [])
    text = " ".join(lines)[:QUESTION_CHARS]
    m = _QUESTION_END.search(text)
    text = text[: m.end()] if m else text
    m = _ANSWER.search(text)  # "Q1: 答：..." — the answer is no part of the question
    return text[: m.start()] if m else text


def _candidates(cell: Cell) -> tuple[list[_Marker], list[tuple[int, int | None]]]:
    """Marker lines of a cell, and its Exercises boundaries (offset, heading level)."""
    marks: list[_Marker] = []
    bounds: list[tuple[int, int | None]] = []
    if cell.kind == "markdown":
        first = True
        for pos, line in _lines(cell.source):
            if not line.strip():
                continue
            b = _BOUNDARY.match(line)
            if b:
                bounds.append((pos, len(b.group(1).strip()) if b.group(1) else None))
                first = False
                continue
            heading = _HEADING.match(line)
            level = len(heading.group(1)) if heading else None
            m = _WORD_MARK.match(line)
            if m:
                marks.append(_Marker(cell.index, pos, 1, _number(m.group(1) or m.group(2)), True, level,
                                     _question(cell.source, pos, False)))
            else:
                m = _NUM_MARK.match(line) or (_NUM_WORDS.match(line) if first else None)
                if m and _number(m.group(2)) is not None:
                    tier = 2 if (m.group(1) or first) else 3
                    marks.append(_Marker(cell.index, pos, tier, _number(m.group(2)), False,
                                         len(m.group(1)) if m.group(1) else None, _question(cell.source, pos, False)))
                elif first:
                    marks.append(_Marker(cell.index, pos, 0, question=_question(cell.source, pos, False)))
            first = False
    elif cell.kind == "code":
        leading, first = True, True
        for pos, line in _lines(cell.source):
            if not line.strip():
                continue
            body = _comment(line)
            if body is None:
                leading = False
                continue
            m = _WORD_MARK.match(body)
            if m:
                marks.append(_Marker(cell.index, pos, 1, _number(m.group(1) or m.group(2)), True,
                                     question=_question(cell.source, pos, True)))
            elif leading and first:
                m = _NUM_MARK.match(body) or _NUM_WORDS.match(body)
                if m and _number(m.group(2)) is not None:
                    marks.append(_Marker(cell.index, pos, 2, _number(m.group(2)), question=_question(cell.source, pos, True)))
                else:
                    marks.append(_Marker(cell.index, pos, 0, question=_question(cell.source, pos, True)))
            first = False
    return marks, bounds


# ---- step 2: phrases ---------------------------------------------------------------------

def _hits(phrases: dict[str, tuple[str, ...]], text: str) -> int:
    """Distinct phrases matched, in the language whose list matches most."""
    return max((sum(1 for p in ps if re.search(p, text, re.IGNORECASE)) for ps in phrases.values()), default=0)


def _after_marker(text: str) -> str:
    """The text after a marker's own words and number ("Q1: ", "### 練習 2", "3."), to read
    whether it asks a question."""
    m = _WORD_MARK.match(text) or _NUM_MARK.match(text)
    return text[m.end():].lstrip(" \t:：.．、)）*_") if m else text


def _about(m: _Marker, anchors: dict[str, Anchor], others: dict[int, dict[str, tuple[str, ...]]]) -> tuple[str | int | None, int]:
    """The exercise (anchor id, or the number of an exercise no anchor grades) a marker's
    question text restates, and how many phrases say so; (None, 0) when it is unclear."""
    scores: dict[str | int, int] = {aid: _hits(dict(a.phrases), m.question) for aid, a in anchors.items()}
    for n, ph in others.items():
        scores[n] = _hits(ph, m.question)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] == 0 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None, 0
    return ranked[0]


# ---- step 3: edition ----------------------------------------------------------------------

def _all(patterns, text: str) -> bool:
    return all(re.search(p, text, re.MULTILINE) for p in patterns)


def _language(cells: list[Cell]) -> str:
    text = "".join(c.source for c in cells if c.kind == "markdown") + "".join(
        line for c in cells if c.kind == "code" for line in re.findall(r"#.*", c.source))
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if cjk * 3 < latin or cjk == 0:
        return "en"
    simp = sum(1 for ch in text if ch in _SIMPLIFIED)
    trad = sum(1 for ch in text if ch in _TRADITIONAL)
    return "zh-TW" if trad > simp else "zh-CN"


def _choose_edition(editions, anchors, marks, cells) -> tuple[Edition, float]:
    """The edition that best explains the notebook, and the evidence for it from its exercise
    markers alone (numbers, restated questions, answers' code): section headings and language
    pick an edition, but only marker evidence lets an exercise be declared absent from it."""
    text = "\n".join(c.source for c in cells if c.kind == "markdown")
    lang = _language(cells)
    numbered = sorted((m for m in marks if not m.by_phrase and m.number is not None and m.tier in (1, 2)),
                      key=lambda m: (m.cell, m.pos))
    hinted = []
    for k, m in enumerate(numbered):
        stop = numbered[k + 1].cell if k + 1 < len(numbered) else len(cells)
        hinted.append((m, "\n".join(c.source for c in cells[m.cell:max(stop, m.cell + 1)] if c.kind == "code")))
    best, best_score, best_evidence = editions[0], None, 0.0
    for e in editions:
        signs = 1.0 * sum(1 for s in e.signs if re.search(s, text, re.IGNORECASE | re.MULTILINE))
        evidence = 0.0
        for m in marks:
            if not m.by_phrase or m.number is None:
                continue
            if m.anchor is not None:
                n = anchors[m.anchor].number_in(e.id)
                evidence += 2.0 if n == m.number else -2.0
            elif m.other is not None:
                evidence += 2.0 if m.other in dict(e.others) and m.other == m.number else -1.0
        for m in marks:
            if m.by_phrase and m.number is None and m.other is not None:
                evidence += 2.0 if m.other in dict(e.others) else -2.0
            if m.by_phrase and m.anchor is not None and anchors[m.anchor].number_in(e.id) is None:
                evidence -= 2.0
        for m, code in hinted:  # a numbered answer whose code looks like one exercise's
            mine = next((aid for aid, a in anchors.items() if a.number_in(e.id) == m.number), None)
            if mine is not None and anchors[mine].code and _all(anchors[mine].code, code):
                evidence += 1.5
            elif any(a.code and _all(a.code, code) for aid, a in anchors.items() if aid != mine) and (
                    mine is None or not anchors[mine].code or not _all(anchors[mine].code, code)):
                evidence -= 1.5
        numbered = [m.number for m in marks if m.tier in (1, 2) and m.number is not None and m.number <= 20]
        if numbered and max(numbered) > e.exercises and e.exercises:
            evidence -= 4.0
        score = signs + evidence + (1.0 if e.lang == lang else 0.5 if e.lang[:2] == lang[:2] else 0.0)
        if best_score is None or score > best_score:
            best, best_score, best_evidence = e, score, evidence
    return best, best_evidence


# ---- steps 4-6 ----------------------------------------------------------------------------

def _segment_exercises(anchors: dict[str, Anchor], cells: list[Cell], editions: tuple[Edition, ...],
                       section: list[int], out: Segmentation) -> None:
    marks: list[_Marker] = []
    bounds: list[tuple[int, int, int | None]] = []  # (cell, offset, level)
    for c in cells:
        ms, bs = _candidates(c)
        marks += ms
        bounds += [(c.index, p, lv) for p, lv in bs]
    others_all: dict[int, dict[str, tuple[str, ...]]] = {}
    for e in editions:
        for n, ph in e.others:
            others_all.setdefault(n, {}).update({f"{e.id}:{k}": v for k, v in ph})
    _renumber_lists(marks, cells)
    # what each marker restates (phrases beat numbers)
    kept = []
    for m in marks:
        what, hits = _about(m, anchors, others_all)
        need = PHRASE_ALONE
        if m.tier in (1, 2) and m.number is not None:
            # overriding a stated number takes more than confirming it (in some edition)
            could_be = {a.number_in(e.id) for a in anchors.values() for e in editions} if isinstance(what, str) else {what}
            if isinstance(what, str):
                could_be = {anchors[what].number_in(e.id) for e in editions} | {anchors[what].exercise}
            need = PHRASE_WITH_NUMBER if m.number in could_be else PHRASE_ALONE
            if m.number not in could_be and not _ASKS.search(_after_marker(m.question)):
                what = None  # an answer after its number ("Q1: 算二阶导数时…"): its words do not renumber it
        if m.tier not in (1, 2) and not _ASKS.search(m.question):
            what = None  # an answer that shares the question's words is still an answer
        if what is not None and hits >= need:
            m.by_phrase = True
            if isinstance(what, str):
                m.anchor = what
            else:
                m.other = what
            m.tier = 1
        if m.tier:
            kept.append(m)
    marks = kept
    edition, evidence = _choose_edition(editions, anchors, marks, cells)
    out.edition = edition.id
    by_number = {a.number_in(edition.id): aid for aid, a in anchors.items() if a.number_in(edition.id) is not None}
    other_numbers = {n for n, _ in edition.others}
    for m in marks:
        if m.by_phrase:
            if m.other is not None and m.number is None:
                m.number = m.other
            elif m.anchor is not None:
                m.number = anchors[m.anchor].number_in(edition.id) or m.number
            continue
        if m.number in by_number:
            m.anchor = by_number[m.number]
        elif m.number in other_numbers:
            m.other = m.number
    _mark_question_lists(marks, cells)

    # step 4: the boundary
    starts = [b[0] for b in bounds] + [m.cell for m in marks if m.tier == 1]
    run = _final_run(sorted((m for m in marks if m.stated and not m.listing),
                            key=lambda m: (m.cell, m.pos)))
    if run is not None:
        starts.append(run)
    if starts:
        start = min(starts)
        first_bound = next((b for b in bounds if b[0] == start), None)
        level = first_bound[2] if first_bound else None
    else:
        start, level = None, None
    out.exercises_start = start

    claimed: dict[str, list[int]] = {}
    listed: dict[str, list[int]] = {}  # cells where only the list of questions names the exercise
    strong: set[int] = set()  # cells that hold a marker of their own
    area: list[int] = []
    if start is not None:
        current: tuple | None = None  # ("a", anchor) | ("o", number) | None
        current_number = 0
        for c in cells[start:]:
            if c.index > start and c.kind == "markdown" and _ends_area(c.source, level):
                break
            area.append(c.index)
            if any(b[0] == c.index for b in bounds) and not re.sub(
                    r"(?m)^.*$", lambda ln: "" if _BOUNDARY.match(ln.group(0)) else ln.group(0), c.source).strip():
                strong.add(c.index)  # an Exercises heading alone is nobody's answer
            mine = sorted((m for m in marks if m.cell == c.index), key=lambda m: m.pos)
            accepted = []
            for m in mine:
                number = m.number or 0
                if m.tier == 1 or m.listing:
                    ok = True
                elif m.tier == 2:
                    ok = number >= current_number
                else:  # a list item: only in a list that opens the cell
                    opener = accepted[0] if accepted else None
                    ok = (opener is not None and opener.number is not None and not opener.by_phrase
                          and not c.source[: opener.pos].strip() and number >= current_number)
                if ok:
                    accepted.append(m)
                    if not m.listing and m.number:
                        current_number = m.number
            if not accepted:
                if current is not None and current[0] == "a":
                    claimed.setdefault(current[1], []).append(c.index)
                continue
            strong.add(c.index)
            head = c.source[: accepted[0].pos]
            if head.strip() and current is not None and current[0] == "a":
                claimed.setdefault(current[1], []).append(c.index)
                out.parts.setdefault(current[1], {})[c.index] = head
            listing = all(m.listing for m in accepted)
            for k, m in enumerate(accepted):
                end = accepted[k + 1].pos if k + 1 < len(accepted) else len(c.source)
                if m.anchor is not None:
                    into = listed if m.listing else claimed
                    if c.index not in into.setdefault(m.anchor, []):
                        into[m.anchor].append(c.index)
                    prev = out.parts.setdefault(m.anchor, {}).get(c.index, "")
                    out.parts[m.anchor][c.index] = prev + c.source[m.pos:end]
            if listing:
                current, current_number = None, 0
                continue
            last = [m for m in accepted if not m.listing][-1]
            current = ("a", last.anchor) if last.anchor else ("o", last.other) if last.other is not None else None
    # whole-cell claims need no slice
    for aid, parts in out.parts.items():
        for i in list(parts):
            if parts[i] == cells[i].source:
                del parts[i]
    out.parts = {aid: p for aid, p in out.parts.items() if p}

    # the section ends at its last located cell before the exercises (a section anchor may
    # wrongly match a cell among the answers: that does not move the end)
    section_end = max((i for i in section if start is None or i < start), default=-1)
    after = section_end if start is None else start - 1
    end = area[-1] if area else len(cells) - 1
    pool = [c.index for c in cells if after < c.index <= end and c.index not in strong
            and (c.kind == "code" or c.source.strip())]
    lacks = [aid for aid, a in anchors.items() if a.number_in(edition.id) is None]
    for aid, a in anchors.items():
        if claimed.get(aid):
            out.found[aid] = sorted(set(claimed[aid] + listed.get(aid, [])))
            continue
        if listed.get(aid) and not pool:
            out.found[aid] = sorted(listed[aid])
            continue
        if aid in lacks and evidence > 0:
            out.not_applicable[aid] = Reason("locate.not_in_edition", edition=edition.title or edition.id)
            continue
        if pool:
            out.found[aid] = sorted(set(pool + listed.get(aid, [])))
            where = Reason("locate.after_heading") if start is not None else Reason("locate.after_section")
            out.fallback[aid] = Reason("locate.fallback", where=where)
            continue
        out.missing[aid] = _looked_for(a, edition=edition.id)


def _final_run(marks: list[_Marker]) -> int | None:
    """Cell where the final non-decreasing run of numbered markers starts (two or more cells)."""
    if not marks:
        return None
    i = len(marks) - 1
    while i > 0 and (marks[i - 1].number or 0) <= (marks[i].number or 0):
        i -= 1
    run = marks[i:]
    if len({m.cell for m in run}) < 2 or (run[0].number or 0) > 2:
        return None
    return run[0].cell


def _mark_question_lists(marks: list[_Marker], cells: list[Cell]) -> None:
    """Three or more short numbered items in one markdown cell, one right after the other, are
    the list of questions: they claim their own text but open no region."""
    by_cell: dict[int, list[_Marker]] = {}
    for m in marks:
        by_cell.setdefault(m.cell, []).append(m)
    for i, ms in by_cell.items():
        if cells[i].kind != "markdown" or len(ms) < 3:
            continue
        ms.sort(key=lambda m: m.pos)
        src = cells[i].source
        gaps = [src[a.pos:b.pos] for a, b in zip(ms, ms[1:])]
        if all(len(g) <= 2 * QUESTION_CHARS and not re.search(r"\n\s*\n", g.strip()) for g in gaps):
            if not src[: ms[0].pos].strip() or _BOUNDARY.match(src[: ms[0].pos].strip().splitlines()[-1]):
                for m in ms:
                    m.listing = True


def _renumber_lists(marks: list[_Marker], cells: list[Cell]) -> None:
    """Markdown numbers every item of a list "1." (d2l writes them so): number them by position."""
    by_cell: dict[int, list[_Marker]] = {}
    for m in marks:
        if cells[m.cell].kind == "markdown" and m.number is not None and not m.word:
            by_cell.setdefault(m.cell, []).append(m)
    for ms in by_cell.values():
        ms.sort(key=lambda m: m.pos)
        if len(ms) >= 2 and len({m.number for m in ms}) == 1:
            for k, m in enumerate(ms):
                m.number = (ms[0].number or 1) + k


def _ends_area(source: str, level: int | None) -> bool:
    """A heading that is no exercise marker, at or above the Exercises heading's level."""
    if level is None:
        return False
    for _, line in _lines(source):
        if not line.strip():
            continue
        h = _HEADING.match(line)
        return bool(h) and len(h.group(1)) <= level and not (_WORD_MARK.match(line) or _NUM_MARK.match(line)
                                                              or _BOUNDARY.match(line))
    return False


def _matches(a: Anchor, source: str) -> bool:
    return all(re.search(p, source, re.MULTILINE) for p in a.patterns) and not any(
        re.search(p, source, re.MULTILINE) for p in a.exclude)


def _looked_for(a: Anchor, after: str | None = None, edition: str = "") -> Reason:
    looked = [Reason("locate.tagged", tag=repr(a.tag))]
    if a.patterns:
        looked.append(Reason("locate.pattern", patterns=[f"`{p}`" for p in a.patterns]))
    n = a.number_in(edition) if edition else a.exercise
    if a.exercise is not None or a.numbers:
        looked.append(Reason("locate.exercise", n=n) if n else Reason("locate.question_text"))
    if after:
        return Reason("locate.not_found_after", looked=looked, after=after)
    return Reason("locate.not_found", looked=looked)


def prose(source: str, kind: str) -> str:
    """The prose of a cell: a markdown cell whole; a code cell's comments and string literals."""
    return source if kind != "code" else _code_prose(source)


@functools.lru_cache(maxsize=2048)  # every check of an anchor asks again for the same cells
def _code_prose(source: str) -> str:
    parts = []
    last_comment = -2
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                body = tok.string.lstrip("#").strip()
                if tok.start[0] == last_comment + 1 and parts and body:  # a comment wrapped over lines
                    parts[-1] += ("" if re.match(r"[\u4e00-\u9fff]", body) and re.search(r"[\u4e00-\u9fff]$", parts[-1])
                                  else " ") + body
                else:
                    parts.append(body)
                last_comment = tok.start[0]
            elif tok.type == tokenize.STRING:
                parts.append(re.sub(r"^[rbuf]*('''|\"\"\"|'|\")|('''|\"\"\"|'|\")$", "", tok.string, flags=re.I))
    except (tokenize.TokenError, IndentationError, SyntaxError):  # not Python: comments and quotes by line
        parts = []
        for line in source.splitlines():
            parts += [m.group(2) for m in re.finditer(r"([\"'])(.*?)(?:\1|$)", line.split("#", 1)[0])]
            parts += [line.split("#", 1)[1]] if "#" in line else []
    return "\n".join(p for p in parts if p.strip())
