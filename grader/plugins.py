"""Plug-ins: check kinds and output formats that a course adds without forking the grader.

A package declares them as entry points, and the grader loads them the first time a rubric is
read or a format is asked for:

    [project.entry-points."grader.checks"]
    my_kind = "my_course.checks:MyKind"        # a CheckKind subclass (its ``kind`` is its name)

    [project.entry-points."grader.formats"]
    tsv = "my_course.formats:Tsv"              # a Format subclass

The built-in kinds (grader/checks/) and formats (grader/formats/) sit behind the same two
interfaces. A plug-in that cannot be loaded is bad input: a one-line error naming it.
"""
from __future__ import annotations

from importlib.metadata import entry_points

from .errors import InputError
from .formats.base import FORMATS, Format, register_format  # noqa: F401  (Format: the plug-ins' interface)

CHECK_GROUP = "grader.checks"
FORMAT_GROUP = "grader.formats"
_loaded: set[str] = set()


def _load(group: str):
    if group in _loaded:
        return []
    _loaded.add(group)
    out = []
    for ep in entry_points(group=group):
        try:
            out.append((ep, ep.load()))
        except Exception as e:  # a broken plug-in: say which, stop
            raise InputError(f"plug-in {ep.name} = {ep.value} ({group}) cannot be loaded: "
                             f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    return out


def load_check_kinds() -> None:
    from .checks.base import REGISTRY, CheckKind, register

    for ep, obj in _load(CHECK_GROUP):
        if not (isinstance(obj, type) and issubclass(obj, CheckKind) and obj.kind):
            raise InputError(f"plug-in {ep.name} = {ep.value} ({CHECK_GROUP}) is not a CheckKind subclass with a kind")
        if obj.kind in REGISTRY and type(REGISTRY[obj.kind]) is not obj:
            raise InputError(f"plug-in {ep.name} = {ep.value} ({CHECK_GROUP}): kind {obj.kind!r} is already defined")
        try:
            register(obj)
        except ValueError as e:  # its own message codes are malformed
            raise InputError(f"plug-in {ep.name} = {ep.value} ({CHECK_GROUP}): {e}") from None


def get_format(name: str) -> Format:
    from .formats import builtin  # noqa: F401  (registers the built-in formats)

    for ep, obj in _load(FORMAT_GROUP):
        if not (isinstance(obj, type) and issubclass(obj, Format) and obj.name):
            raise InputError(f"plug-in {ep.name} = {ep.value} ({FORMAT_GROUP}) is not a Format subclass with a name")
        register_format(obj)
    if name not in FORMATS:
        raise InputError(f"--format {name}: no such format (known: {', '.join(sorted(FORMATS))})")
    return FORMATS[name]
