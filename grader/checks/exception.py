"""Expected exception: code in the anchor's cells raised an exception of a given type whose
message matches, whether the notebook caught it (``try/except``, then ``print(e)``) or not.

Judged on the recorder's events: exceptions raised by torch functions (``backward`` included)
at the moment they are raised, and every uncaught cell error. A message only printed as text
was never raised, so it does not count."""
from __future__ import annotations

import re

from ..model import Text
from .base import CheckKind, Context, Param, Verdict, failed, passed, register


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
        t, want, pattern = ctx.t, ctx.p("raises"), ctx.p("match")
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
            return failed(t(f"輸出裡有這個錯誤訊息，但沒有任何程式碼真的引發 {want}：只印出文字不算，要讓程式碼執行到出錯（可以用 try/except 接住再印出）",
                            f"the error message is in the output, but no code actually raised {want}: printing the text "
                            f"does not count; run the code that fails (you may catch it with try/except and print it)"))
        if raised:
            err = raised[0]
            if err["type"] != want and want not in err["mro"]:
                return failed(t(f"引發的是 {err['type']}: {err['message'][:200]}，預期 {want}",
                                f"raised {err['type']}: {err['message'][:200]}, expected {want}"))
            return failed(t(f"引發了 {err['type']}，但訊息不是預期的：{err['message'][:200]}",
                            f"raised {err['type']}, but not the expected message: {err['message'][:200]}"))
        return failed(t(f"這些儲存格沒有引發預期的 {want}（不論有沒有被接住），所以看不到題目要觀察的錯誤",
                        f"no code in these cells raised the expected {want} (caught or not), so the error the "
                        f"exercise asks about is never shown"))
