"""Written answer: points for each key idea the prose mentions (zh-TW, zh-CN or English
wording), and the answer is marked ``manual`` so an instructor can confirm or override.

The prose is the region's markdown, and the comments and string literals of its code (an answer
written as ``# ...`` or ``print("...")`` counts). With ``about``, an idea counts only in a
sentence that is about the question's topic, or next to one (``about_window`` sentences either
side): a pasted paragraph that mentions memory in another context earns nothing. Every answer,
found or not, is ``manual``: it is always listed by ``grader review``."""
from __future__ import annotations

import re

from ..locate import prose
from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, register

# what a released template holds where the answer goes (see release.py)
PLACEHOLDER = r"你的答案|\(youranswer\)|YOURANSWERHERE"
# sentence ends: Chinese and English punctuation, line breaks
_SENTENCE = re.compile(r"(?<=[。！？；!?;])|(?<=\.)\s+|\n\s*\n|\n(?=\s*(?:[-*+]|\d+[.)、]|#+)\s)")
_CJK = "\u4e00-\u9fff，。；：、（）"


def _sentences(text: str) -> list[str]:
    """Sentences; a line break inside one (wrapped text) is a space, or nothing between CJK."""
    out = []
    for s in _SENTENCE.split(text):
        if s and s.strip():
            s = re.sub(rf"(?<=[{_CJK}])\s*\n\s*(?=[{_CJK}])", "", s.strip())
            out.append(re.sub(r"\s*\n\s*", " ", s))
    return out


@register
class WrittenAnswer(CheckKind):
    kind = "written"
    reads_source = True
    review = True
    summary = Text("文字回答的關鍵概念（待人工複核）", "key ideas of a written answer (pending manual review)")
    params = {
        "ideas": Param(list, required=True,
                       doc="list of {id, points, zh-TW, en, patterns: [regex, ...]}; an idea counts when any pattern matches"),
        "min_chars": Param(int, default=10, doc="shorter answers count as not attempted"),
        "ignore": Param(list, default=[], doc="regexes removed from the text first (e.g. the question itself)"),
        "about": Param(list, default=[], doc="regexes of the question's topic: ideas count only in sentences near one"),
        "drop_questions": Param(bool, default=True, doc="leave out sentences that end with a question mark (the question restated)"),
        "about_window": Param(int, default=1, doc="sentences either side of a topic sentence that count"),
    }

    def validate(self, params, fail):
        for key in ("ignore", "about"):
            for p in params[key]:
                try:
                    re.compile(str(p))
                except re.error as e:
                    fail(key, f"bad regular expression {p!r}: {e}")
        if params["about_window"] < 0:
            fail("about_window", "cannot be negative")
        if not params["ideas"]:
            fail("ideas", "give at least one key idea")
        for idea in params["ideas"]:
            if not isinstance(idea, dict) or set(idea) - {"id", "points", "zh-TW", "zh-CN", "en", "patterns"}:
                fail("ideas", "each idea is a mapping with id, points, zh-TW, en, patterns")
            for k in ("id", "zh-TW", "en"):
                if not isinstance(idea.get(k), str):
                    fail("ideas", f"idea {idea.get('id', '?')}: {k} must be a string")
            if not isinstance(idea.get("points"), (int, float)) or isinstance(idea.get("points"), bool) or idea["points"] <= 0:
                fail("ideas", f"idea {idea.get('id')}: points must be a positive number")
            pats = idea.get("patterns")
            if not isinstance(pats, list) or not pats:
                fail("ideas", f"idea {idea.get('id')}: patterns must be a non-empty list")
            for p in pats:
                try:
                    re.compile(str(p))
                except re.error as e:
                    fail("ideas", f"idea {idea.get('id')}: bad regular expression {p!r}: {e}")

    def judge(self, ctx: Context) -> Verdict:
        texts = ctx.region.prose or (list(ctx.region.markdown) + [prose(c, "code") for c in ctx.region.code])
        sentences = _sentences("\n\n".join(texts))  # a cell ends its last sentence
        # the question restated is no answer, but it says what the sentence after it is about
        asked = [ctx.p("drop_questions") and bool(re.search(r"[?？]\s*$", x)) for x in sentences]
        for pattern in ctx.p("ignore"):
            sentences = [re.sub(pattern, "", x, flags=re.IGNORECASE) for x in sentences]
        sentences = [re.sub(PLACEHOLDER, "", x) for x in sentences]
        text = "\n".join(x for x, q in zip(sentences, asked) if not q)
        ideas = ctx.p("ideas")
        total = sum(i["points"] for i in ideas)
        bare = re.sub(r"\s|#|\*|練習\s*\d|练习\s*\d|Exercise\s*\d|<!--.*?-->", "", text)
        if not bare:
            return Verdict("manual", 0.0, Reason("written.none"))
        if len(bare) < ctx.p("min_chars"):
            return Verdict("manual", 0.0, Reason("written.short", count=len(bare)))
        relevant = _on_topic(sentences, asked, ctx.p("about"), ctx.p("about_window"))
        found, missing = [], []
        for idea in ideas:
            hit = any(re.search(p, relevant, re.IGNORECASE) for p in idea["patterns"])
            (found if hit else missing).append(idea)
        score = sum(i["points"] for i in found) / total
        parts = []
        if found:
            parts.append(Reason("written.found", ideas=[_name(i) for i in found]))
        if missing:
            parts.append(Reason("written.missing", ideas=[_name(i) for i in missing]))
        if ctx.p("about") and not relevant.strip():
            parts.append(Reason("written.off_topic"))
        parts.append(Reason("written.provisional"))
        return Verdict("manual", score, Reason("written.summary", parts=parts))


def _name(idea: dict) -> Text:
    """An idea's name in every language (the rubric's wording)."""
    return Text(idea["zh-TW"], idea["en"], idea.get("zh-CN"))


def _on_topic(sentences: list[str], asked: list[bool], about: list[str], window: int) -> str:
    """The answer's sentences within ``window`` of a sentence about the topic (all of them without
    ``about``). A question restated counts as such a sentence, though it is no answer itself."""
    keep = range(len(sentences))
    if about:
        hot = [i for i, s in enumerate(sentences) if any(re.search(p, s, re.IGNORECASE) for p in about)]
        keep = sorted({j for i in hot for j in range(i - window, i + window + 1) if 0 <= j < len(sentences)})
    return "\n".join(sentences[j] for j in keep if not asked[j])
