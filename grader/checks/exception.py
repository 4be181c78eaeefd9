"""Expected exception: code in the anchor's cells raised an exception of a given type whose
message matches, whether the notebook caught it (``try/except``, then ``print(e)``) or not.

Judged on the recorder's events: exceptions raised by torch functions (``backward`` included)
at the moment they are raised, and every uncaught cell error. A message only printed as text
was never raised, so it does not count.

With ``reported``, an exercise that asks what happens may also be answered in writing: when no
code raised the error, the anchor's markdown reporting it (the message pasted from a run, or
what it means, in the rubric's patterns) earns the points pending an instructor's review
(``manual``). A report found only in the code's comments or strings, or in what it printed (the
failing line commented out with its error beside it, a message printed by hand), earns the share
``reported_in_code`` (none by default), also pending review. Only the exercise's own answer is
read for a report: not cells located for it by no marker of their own (the fallback)."""
from __future__ import annotations

import re

from ..locate import prose
from ..model import Text
from .base import CheckKind, Context, Param, Reason, Verdict, failed, passed, register


@register
class ExpectedException(CheckKind):
    kind = "exception"
    uses_events = True
    summary = Text("引發預期的例外", "raises the expected exception")
    params = {
        "raises": Param(str, required=True, doc="exception type name, e.g. RuntimeError (subclasses count)"),
        "match": Param(str, default="", doc="regular expression searched in the exception message"),
        "reported": Param(list, default=[], doc="regexes (or lists of them): the anchor's markdown reporting this "
                                                "error (its message pasted, or what it means) counts, pending review, "
                                                "when no code raised it"),
        "reported_in_code": Param(float, default=0.0, doc="the share of the points for a report found only in the "
                                                          "code's comments, strings or printed output (0 to 1)"),
    }

    def validate(self, params, fail):
        try:
            re.compile(params["match"])
        except re.error as e:
            fail("match", f"bad regular expression: {e}")
        if not 0.0 <= params["reported_in_code"] <= 1.0:
            fail("reported_in_code", "must be between 0 and 1")
        # one level of nesting is flattened: a rubric may name a list with a YAML anchor and reuse it
        params["reported"] = [q for p in params["reported"] for q in (p if isinstance(p, list) else [p])]
        for p in params["reported"]:
            try:
                re.compile(str(p))
            except re.error as e:
                fail("reported", f"bad regular expression {p!r}: {e}")

    def judge(self, ctx: Context) -> Verdict:
        want, pattern = ctx.p("raises"), ctx.p("match")
        raised = []
        for ev in ctx.events:
            err = ev.get("error") if ev["kind"] in ("backward", "grad") else ev if ev["kind"] in ("error", "cell_error") else None
            if err:
                raised.append(err)
        for err in raised:
            if (err["type"] == want or want in err["mro"]) and re.search(pattern, err["message"]):
                return passed()
        # a written report counts only in the exercise's own answer, never in cells found for it by
        # no marker (the fallback: every unclaimed cell after the section, other answers' prose too)
        patterns = [] if ctx.region.fallback else ctx.p("reported")
        printed = "\n".join(r.stream for r in ctx.region.runs)
        if patterns:
            report = _reported(ctx.region.markdown, patterns)
            if report:
                return Verdict("manual", 1.0, Reason("exception.reported", want=want, quote=report))
            share = ctx.p("reported_in_code")
            report = _reported([prose(c, "code") for c in ctx.region.code] + [printed], patterns) if share else ""
            if report:
                return Verdict("manual", share, Reason("exception.reported_in_code", want=want, quote=report))
        if pattern and re.search(pattern, printed):
            return failed(Reason("exception.printed_only", want=want))
        if raised:
            err = raised[0]
            if err["type"] != want and want not in err["mro"]:
                return failed(Reason("exception.wrong_type", type=err["type"], message=err["message"][:200], want=want))
            return failed(Reason("exception.wrong_message", type=err["type"], message=err["message"][:200]))
        return failed(Reason("exception.none", want=want))


def _reported(texts: list[str], patterns: list[str]) -> str:
    """The first passage of the texts that matches a pattern (backquotes, whitespace and line
    breaks as one space, so a pasted message wrapped over lines or fenced still matches), or ""."""
    text = re.sub(r"\s+", " ", re.sub(r"`+", " ", "\n".join(texts)))
    for p in patterns:
        m = re.search(p, text, re.IGNORECASE)
        if m:
            start = max(0, m.start() - 20)
            return ("…" if start else "") + text[start:m.end() + 20].strip() + ("…" if m.end() + 20 < len(text) else "")
    return ""
