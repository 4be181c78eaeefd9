"""Written answer: points for each key idea the prose mentions (zh-TW, zh-CN or English
wording), and the answer is marked ``manual`` so an instructor can confirm or override."""
from __future__ import annotations

import re

from ..model import Text
from .base import CheckKind, Context, Param, Verdict, register


# what a released template holds where the answer goes (see release.py)
PLACEHOLDER = r"你的答案|\(youranswer\)|YOURANSWERHERE"


@register
class WrittenAnswer(CheckKind):
    kind = "written"
    summary = Text("文字回答的關鍵概念（待人工複核）", "key ideas of a written answer (pending manual review)")
    params = {
        "ideas": Param(list, required=True,
                       doc="list of {id, points, zh-TW, en, patterns: [regex, ...]}; an idea counts when any pattern matches"),
        "min_chars": Param(int, default=10, doc="shorter answers count as not attempted"),
        "ignore": Param(list, default=[], doc="regexes removed from the text first (e.g. the question itself)"),
    }

    def validate(self, params, fail):
        for p in params["ignore"]:
            try:
                re.compile(str(p))
            except re.error as e:
                fail("ignore", f"bad regular expression {p!r}: {e}")
        if not params["ideas"]:
            fail("ideas", "give at least one key idea")
        for idea in params["ideas"]:
            if not isinstance(idea, dict) or set(idea) - {"id", "points", "zh-TW", "en", "patterns"}:
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
        t = ctx.t
        text = "\n".join(ctx.region.markdown + [_comments(c) for c in ctx.region.code])
        for pattern in ctx.p("ignore"):
            text = re.sub(pattern, "", text)
        ideas = ctx.p("ideas")
        total = sum(i["points"] for i in ideas)
        bare = re.sub(r"\s|#|\*|練習\s*\d|Exercise\s*\d", "", text)
        bare = re.sub(PLACEHOLDER, "", bare)
        if not bare:
            return Verdict("fail", 0.0, t("沒有找到文字回答", "no written answer found"))
        if len(bare) < ctx.p("min_chars"):
            return Verdict("manual", 0.0, t(f"回答太短（{len(bare)} 個字），自動給 0 分，待老師複核",
                                            f"the answer is very short ({len(bare)} characters): 0 points for now, awaiting the instructor's review"))
        found, missing = [], []
        for idea in ideas:
            hit = any(re.search(p, text, re.IGNORECASE) for p in idea["patterns"])
            (found if hit else missing).append(idea)
        score = sum(i["points"] for i in found) / total
        parts = []
        if found:
            parts.append(t("提到的關鍵概念：", "key ideas found: ") + "；".join(i[ctx.lang] for i in found))
        if missing:
            parts.append(t("沒有提到：", "not mentioned: ") + "；".join(i[ctx.lang] for i in missing))
        parts.append(t("（自動給分，待老師複核）", "(provisional score, awaiting the instructor's review)"))
        return Verdict("manual", score, " ".join(parts))


def _comments(code: str) -> str:
    return "\n".join(line.split("#", 1)[1] for line in code.splitlines() if "#" in line)
