"""Any of: passes when one of several checks, each judged on what the code did (recorded
events), passes. For an exercise that can be answered more than one right way, e.g. "the
second backward ran on the same graph": it raised the freed-graph error, or retain_graph
kept the graph for it."""
from __future__ import annotations

import dataclasses

from ..model import Text
from .base import REGISTRY, CheckKind, Context, Param, Reason, Verdict, failed, register


@register
class AnyOf(CheckKind):
    kind = "any_of"
    uses_events = True
    summary = Text("幾個條件之一成立", "one of several checks passes")
    params = {
        "of": Param(list, required=True,
                    doc="the alternatives: each a mapping with a kind judged on recorded events and that kind's keys"),
    }

    def validate(self, params, fail):
        subs = []
        if not params["of"]:
            fail("of", "give at least one alternative")
        for i, sub in enumerate(params["of"], 1):
            if not isinstance(sub, dict) or not isinstance(sub.get("kind"), str):
                fail("of", f"alternative {i}: expected a mapping with a kind")
            kind = REGISTRY.get(sub["kind"])
            if kind is None or not kind.uses_events or kind.needs_reference or isinstance(kind, AnyOf):
                fail("of", f"alternative {i}: {sub['kind']!r} is not a kind judged on recorded events alone")
            unknown = sorted(set(sub) - {"kind"} - set(kind.params))
            if unknown:
                fail("of", f"alternative {i}: unknown key {unknown[0]!r} for kind {sub['kind']}")
            values = {}
            for name, p in kind.params.items():
                if name not in sub:
                    if p.required:
                        fail("of", f"alternative {i}: missing required key {name!r}")
                    values[name] = p.default
                elif not isinstance(sub[name], p.type) or isinstance(sub[name], bool) and p.type in (int, float):
                    fail("of", f"alternative {i}: {name} has the wrong type")
                elif p.choices and sub[name] not in p.choices:
                    fail("of", f"alternative {i}: {name} must be one of {', '.join(map(str, p.choices))}")
                else:
                    values[name] = sub[name]
            kind.validate(values, lambda key, message, i=i: fail("of", f"alternative {i}: {key}: {message}"))
            subs.append({"kind": sub["kind"], "params": values})
        params["of"] = subs

    def judge(self, ctx: Context) -> Verdict:
        reasons, pending = [], None
        for sub in ctx.p("of"):
            spec = dataclasses.replace(ctx.spec, kind=sub["kind"], params=sub["params"])
            v = REGISTRY[sub["kind"]].judge(dataclasses.replace(ctx, spec=spec))
            if v.status == "pass":
                return v
            if v.status == "manual" and v.fraction > 0 and (pending is None or v.fraction > pending.fraction):
                pending = v  # credited pending review (an error reported in writing), unless one passes
            if v.reason is not None:
                reasons.append(v.reason)
        return pending or failed(Reason("any_of.none", reasons=reasons))
