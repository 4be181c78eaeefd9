"""Decode the recorder's events (kernel/recorder.py) into plain, checked data.

The kernel is untrusted: every field is checked and capped here; a malformed event is dropped,
never a crash of the grader. Events keep tensors as small dicts ({dtype, shape, values, ...});
``tensor()`` rebuilds one in float64 when a check compares values.
"""
from __future__ import annotations

import math
from typing import Any

from .capture import DTYPES

KINDS = ("backward", "grad", "set_grad", "error", "cell_error", "figure", "produced")
MAX_EVENTS_PER_CELL = 400  # the recorder keeps a cell's first 300 and its last 100
MAX_PRODUCED = 100_000
MAX_TEXT = 400
MAX_POINTS = 20_000


class BadEvent(Exception):
    pass


def _text(v: Any, n: int = MAX_TEXT) -> str:
    return v[:n] if isinstance(v, str) else ""


def _number(v: Any) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if v in ("nan", "inf", "-inf"):
        return float(v)
    raise BadEvent("not a number")


def _flat(values: Any, depth: int = 0) -> list[float]:
    if isinstance(values, list):
        if depth > 16:
            raise BadEvent("nesting too deep")
        out: list[float] = []
        for v in values:
            out.extend(_flat(v, depth + 1))
        return out
    return [_number(values)]


def _tensor(p: Any) -> dict | None:
    if p is None:
        return None
    if not isinstance(p, dict):
        raise BadEvent("expected a tensor")
    dtype, shape = p.get("dtype"), p.get("shape")
    if dtype not in DTYPES:
        return {"dtype": _text(dtype, 20), "shape": [], "unsupported": True, "requires_grad": False}
    if not isinstance(shape, list) or len(shape) > 16 or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**40 for s in shape):
        raise BadEvent("bad shape")
    out = {"dtype": dtype, "shape": list(shape), "requires_grad": p.get("requires_grad") is True}
    if "is_leaf" in p:
        out["is_leaf"] = p.get("is_leaf") is True
    if isinstance(p.get("grad_fn"), str):
        out["grad_fn"] = p["grad_fn"][:80]
    if "values" in p and p["values"] is not None:
        flat = _flat(p["values"])
        if len(flat) != math.prod(shape):
            raise BadEvent("values do not match the shape")
        out["flat"] = flat
    else:
        out["truncated"] = True
    return out


def _leaf(p: Any) -> dict:
    t = _tensor(p)
    if t is None:
        raise BadEvent("no leaf")
    t["grad_before"] = _tensor(p.get("grad_before"))
    t["grad"] = _tensor(p.get("grad"))
    return t


def _error(p: dict) -> dict:
    mro = p.get("mro")
    return {"type": _text(p.get("type"), 80),
            "mro": [_text(m, 80) for m in mro[:8]] if isinstance(mro, list) else [],
            "message": _text(p.get("message"))}


def _event(p: Any) -> dict:
    if not isinstance(p, dict) or p.get("kind") not in KINDS:
        raise BadEvent("unknown event")
    kind = p["kind"]
    if kind in ("backward", "grad"):
        ev = {"kind": kind, "api": _text(p.get("api"), 40), "out": _tensor(p.get("out")),
              "gradient": _tensor(p.get("gradient")) if isinstance(p.get("gradient"), dict)
              and "dtype" in p["gradient"] else None,
              "retain_graph": p.get("retain_graph") is True, "create_graph": p.get("create_graph") is True}
        if isinstance(p.get("error"), dict):
            ev["error"] = _error(p["error"])
            ev["leaves"] = []
        else:
            leaves = p.get("leaves")
            ev["leaves"] = [_leaf(x) for x in leaves[:64]] if isinstance(leaves, list) else []
        return ev
    if kind == "set_grad":
        return {"kind": kind, "leaf": _tensor(p.get("leaf")), "value": _tensor(p.get("value"))}
    if kind in ("error", "cell_error"):
        ev = {"kind": kind, **_error(p)}
        if kind == "error":
            ev["function"] = _text(p.get("function"), 80)
        return ev
    if kind == "figure":
        arts = p.get("artists")
        out = []
        for a in arts[:64] if isinstance(arts, list) else []:
            if not isinstance(a, dict):
                continue
            try:
                x, y = _flat(a.get("x") or [])[:MAX_POINTS], _flat(a.get("y") or [])[:MAX_POINTS]
            except BadEvent:
                continue
            out.append({"type": _text(a.get("type"), 20), "axes": a.get("axes") if isinstance(a.get("axes"), int) else 0,
                        "label": _text(a.get("label")), "x": x, "y": y})
        return {"kind": kind, "artists": out}
    raise BadEvent("unknown event")


def decode(payload: Any, cell: int) -> list[dict]:
    """One cell's recorder payload -> its events (each with ``cell``), the gradient values
    autograd produced in it as a last ``produced`` event. Malformed parts are dropped."""
    if not isinstance(payload, dict):
        return []
    out: list[dict] = []
    raw = payload.get("events")
    for p in raw[:MAX_EVENTS_PER_CELL] if isinstance(raw, list) else []:
        try:
            ev = _event(p)
        except (BadEvent, TypeError, ValueError, RecursionError):
            continue
        ev["cell"] = cell
        written = p.get("from") if isinstance(p, dict) else None
        if isinstance(written, list):  # execution counts; execute.py makes them cell indices
            ev["from"] = [n for n in written[:16] if isinstance(n, int) and not isinstance(n, bool)]
        out.append(ev)
    produced = payload.get("produced")
    if isinstance(produced, list) and produced:
        vals = []
        for v in produced[:MAX_PRODUCED]:
            try:
                vals.append(_number(v))
            except BadEvent:
                continue
        out.append({"kind": "produced", "cell": cell, "values": vals})
    dropped = payload.get("dropped")
    if isinstance(dropped, int) and not isinstance(dropped, bool) and dropped > 0:
        out.append({"kind": "dropped", "cell": cell, "count": dropped})
    return out


def tensor(t: dict | None):
    """A float64 ``tensors.Tensor`` of an event tensor, or None when its values did not cross."""
    from . import tensors

    if not t or "flat" not in t:
        return None
    return tensors.tensor(t["flat"]).reshape(t["shape"])


def produced_values(events: list[dict], upto_cell: int | None = None) -> set[float]:
    """Every gradient value autograd produced (backward/grad events, and the per-cell list)
    in cells up to ``upto_cell``, as float64 values (bitwise; NaN left out)."""
    vals: set[float] = set()
    for ev in events:
        if upto_cell is not None and ev.get("cell", 0) > upto_cell:
            continue
        if ev["kind"] == "produced":
            vals.update(v for v in ev["values"] if v == v)
        elif ev["kind"] in ("backward", "grad"):
            for leaf in ev.get("leaves", []):
                g = leaf.get("grad")
                if g and "flat" in g:
                    vals.update(v for v in g["flat"] if v == v)
    return vals
