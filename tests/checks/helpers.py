"""Build check contexts from real payloads (encoded by the kernel-side encoder itself)."""
from __future__ import annotations

from grader.kernel import probe
from grader.checks import REGISTRY, Context, Region
from grader.model import CellRun, CheckSpec


def enc(value):
    return probe.encode(value)


def spec(kind: str, visibility: str = "public", **params) -> CheckSpec:
    full = {k: p.default for k, p in REGISTRY[kind].params.items()}
    full.update(params)
    errors = []
    REGISTRY[kind].validate(full, lambda key, msg: errors.append((key, msg)))
    assert not errors, errors
    return CheckSpec(name="c", kind=kind, cell="a", points=1, visibility=visibility, feedback=None, params=full)


def judge(kind: str, got=None, expected=None, code=(), markdown=(), runs=(), lang="en",
          visibility="public", **params):
    s = spec(kind, visibility, **params)
    region = Region(code=list(code), markdown=list(markdown), runs=list(runs))
    return REGISTRY[kind].judge(Context(spec=s, lang=lang, region=region, got=got or {}, expected=expected))


def run(index=0, status="ok", ename="", evalue="", stream="", source=""):
    return CellRun(index, source, status, ename, evalue, stream)


def invalid(kind: str, **params) -> list:
    full = {k: p.default for k, p in REGISTRY[kind].params.items()}
    full.update(params)
    errors = []
    REGISTRY[kind].validate(full, lambda key, msg: errors.append((key, msg)))
    return errors
