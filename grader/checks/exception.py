"""Expected exception: a snippet run in the student's namespace, or the anchored cells' own
output, raises a given exception type whose message matches a pattern."""
from __future__ import annotations

import re

from ..model import Text
from .base import CheckKind, Context, Param, Verdict, failed, passed, register


@register
class ExpectedException(CheckKind):
    kind = "exception"
    summary = Text("引發預期的例外", "raises the expected exception")
    params = {
        "raises": Param(str, required=True, doc="exception type name, e.g. RuntimeError (subclasses count)"),
        "match": Param(str, default="", doc="regular expression searched in the exception message"),
        "snippet": Param(str, doc="code run in a copy of the student's namespace; without it, the cells' own outputs are used"),
        "accept_printed": Param(bool, default=True,
                                doc="from cell outputs: a caught exception whose message the cell printed also counts"),
    }

    def validate(self, params, fail):
        try:
            re.compile(params["match"])
        except re.error as e:
            fail("match", f"bad regular expression: {e}")
        if params["snippet"] is not None:
            try:
                compile(params["snippet"], "<snippet>", "exec")
            except SyntaxError as e:
                fail("snippet", f"snippet is not valid Python: {e.msg} (line {e.lineno})")

    def requests(self, spec, region):
        if spec.params["snippet"] is None:
            return {}
        return {"snippet": ("post", {"op": "snippet", "code": spec.params["snippet"]})}

    def judge(self, ctx: Context) -> Verdict:
        t, want, pattern = ctx.t, ctx.p("raises"), ctx.p("match")
        if ctx.p("snippet") is not None:
            r = ctx.got["snippet"]
            if r.get("type") == "no_exception":
                return failed(t(f"預期會引發 {want}，但沒有任何例外", f"expected {want} to be raised, but nothing was raised"))
            if r.get("type") != "raised":
                return failed(t("無法執行檢查程式碼", "the check's code could not run"))
            mro = [str(m) for m in r.get("mro", [])]
            return self._judge_one(ctx, str(r.get("ename")), mro, str(r.get("evalue", "")))
        raised = [c for c in ctx.region.runs if c.status == "error"]
        for c in raised:
            if c.ename == want and re.search(pattern, c.evalue):
                return passed()
        if ctx.p("accept_printed") and pattern:
            printed = "\n".join(c.stream for c in ctx.region.runs)
            if re.search(pattern, printed) and want in printed:
                return passed()
        if raised:
            c = raised[0]
            return self._judge_one(ctx, c.ename, [c.ename], c.evalue)
        return failed(t(f"這些儲存格沒有引發（或印出）預期的 {want}，所以看不到題目要觀察的錯誤",
                        f"these cells neither raised nor printed the expected {want}, so the error the exercise asks about is never shown"))

    def _judge_one(self, ctx: Context, ename: str, mro: list[str], evalue: str) -> Verdict:
        t, want, pattern = ctx.t, ctx.p("raises"), ctx.p("match")
        if want not in mro and ename != want:
            return failed(t(f"引發的是 {ename}: {evalue[:200]}，預期 {want}",
                            f"raised {ename}: {evalue[:200]}, expected {want}"))
        if pattern and not re.search(pattern, evalue):
            return failed(t(f"引發了 {ename}，但訊息不是預期的：{evalue[:200]}",
                            f"raised {ename}, but not the expected message: {evalue[:200]}"))
        return passed()
