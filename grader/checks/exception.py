"""Expected exception: code in the anchor's cells raised an exception of a given type whose
message matches, whether the notebook caught it (``try/except``, then ``print(e)``) or not.

Judged on the recorder's events: exceptions raised by torch functions (``backward`` included)
at the moment they are raised, and every uncaught cell error. A message only printed as text
was never raised, so it does not count."""
from __future__ import annotations

import re

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
    }

    def validate(self, params, fail):
        try:
            re.compile(params["match"])
        except re.error as e:
            fail("match", f"bad regular expression: {e}")

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
        printed = "\n".join(r.stream for r in ctx.region.runs)
        if pattern and re.search(pattern, printed):
            return failed(Reason("exception.printed_only", want=want))
        if raised:
            err = raised[0]
            if err["type"] != want and want not in err["mro"]:
                return failed(Reason("exception.wrong_type", type=err["type"], message=err["message"][:200], want=want))
            return failed(Reason("exception.wrong_message", type=err["type"], message=err["message"][:200]))
        return failed(Reason("exception.none", want=want))
