"""Stage 1: read a YAML rubric into plain data, validating every key on the way.

Every error is one line naming the file, the line and the key (``RubricError``).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from .checks import REGISTRY
from .checks.base import Param
from .errors import RubricError
from .i18n import LANGS
from .model import VISIBILITIES, Anchor, CheckSpec, Edition, Limits, Question, Rubric, Text

DEFAULT_ASSIGNMENT = "d2l-autograd"


def bundled_assignments() -> list[str]:
    """The assignments shipped inside the package (``grader/assignments/NAME/rubric.yaml``)."""
    from importlib.resources import files

    root = files("grader") / "assignments"
    try:
        return sorted(d.name for d in root.iterdir() if d.is_dir() and (d / "rubric.yaml").is_file())
    except (FileNotFoundError, NotADirectoryError):
        return []


def bundled(name: str = DEFAULT_ASSIGNMENT) -> Path:
    """The rubric of a bundled assignment, found through the installed package's data (after an
    editable, ``pip install .`` or wheel install alike, from any working folder)."""
    from importlib.resources import files

    if not ID_RE.match(name or ""):
        raise RubricError(f"no bundled assignment {name!r} (bundled: {', '.join(bundled_assignments()) or 'none'})")
    path = files("grader") / "assignments" / name / "rubric.yaml"
    if not path.is_file():
        raise RubricError(f"no bundled assignment {name!r} (bundled: {', '.join(bundled_assignments()) or 'none'})")
    return Path(str(path))


def assignment_of(notebook: str | Path) -> str | None:
    """The assignment a notebook made by ``grader release`` names in its metadata, if any."""
    import json

    try:
        meta = json.loads(Path(notebook).read_text(encoding="utf-8")).get("metadata", {})
        name = meta.get("grader", {}).get("assignment")
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return None
    return name if isinstance(name, str) and name else None


def for_notebook(notebook: str | Path) -> Path:
    """The bundled rubric for a notebook: the assignment its metadata names (a released
    template), else the default one."""
    name = assignment_of(notebook)
    if name is None:
        return bundled()
    if name not in bundled_assignments():
        raise RubricError(f"the notebook is for assignment {name!r}, which this grader does not bundle "
                          f"(bundled: {', '.join(bundled_assignments()) or 'none'}): pass --rubric", str(notebook))
    return bundled(name)
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DEFAULT_RUBRIC = Path(__file__).resolve().parent / "assignments" / DEFAULT_ASSIGNMENT / "rubric.yaml"


class _Map(dict):
    """A mapping that remembers the line of each key (1-based)."""

    line: int = 0
    lines: dict[str, int]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser where installed
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    m = _Map()
    m.line = node.start_mark.line + 1
    m.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in m:
            raise RubricError(f"duplicate key {key!r}", loader.name, key_node.start_mark.line + 1)
        m[key] = loader.construct_object(value_node, deep=True)
        m.lines[key] = key_node.start_mark.line + 1
    return m


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    def __init__(self, path: str):
        self.path = path

    def fail(self, line: int, key: str, message: str) -> None:
        raise RubricError(message, self.path, line, key)

    def mapping(self, value: Any, line: int, key: str, allowed: dict[str, Any]) -> _Map:
        if not isinstance(value, _Map):
            self.fail(line, key, f"expected a mapping, got {_tname(value)}")
        for k in value:
            if k not in allowed:
                self.fail(value.lines[k], f"{key}.{k}" if key else str(k),
                          f"unknown key (allowed: {', '.join(allowed)})")
        return value

    def get(self, m: _Map, name: str, key: str, types: Any, required: bool = False,
            default: Any = None, choices: tuple | None = None) -> Any:
        full = f"{key}.{name}" if key else name
        if name not in m:
            if required:
                self.fail(m.line, full, "missing required key")
            return default
        value, line = m[name], m.lines[name]
        if types is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, types) and not (isinstance(value, bool) and types in (int, float, (int, float)))
        if not ok:
            names = {int: "integer", float: "number", str: "string", bool: "true/false", list: "list",
                     dict: "mapping", _Map: "mapping"}
            want = " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in (types if isinstance(types, tuple) else (types,))))
            self.fail(line, full, f"expected {want}, got {_tname(value)}")
        if choices is not None and value not in choices:
            self.fail(line, full, f"{value!r} is not one of {', '.join(map(str, choices))}")
        return value

    def text(self, m: _Map, name: str, key: str, required: bool = False) -> Text | None:
        if name not in m:
            if required:
                self.fail(m.line, f"{key}.{name}", "missing required key")
            return None
        full = f"{key}.{name}"
        t = self.mapping(m[name], m.lines[name], full, {"zh-TW": 1, "en": 1, "zh-CN": 1})
        zh = self.get(t, "zh-TW", full, str, required=True)
        en = self.get(t, "en", full, str, required=True)
        return Text(zh, en, self.get(t, "zh-CN", full, str))


def _tname(v: Any) -> str:
    return {dict: "mapping", _Map: "mapping", list: "list", str: "string", bool: "boolean",
            int: "integer", float: "number", type(None): "nothing"}.get(type(v), type(v).__name__)


def load(path: str | Path | None = None) -> Rubric:
    from .plugins import load_check_kinds

    load_check_kinds()  # kinds other packages add (entry points "grader.checks")
    path = Path(path) if path else bundled()
    if not path.exists() and str(path) in bundled_assignments():  # `--rubric d2l-linreg`
        path = bundled(str(path))
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RubricError("rubric file not found", shown) from None
    except OSError as e:
        raise RubricError(f"cannot read rubric ({e.strerror})", shown) from None
    try:
        text = raw.decode("utf-8")
        loader = _Loader(text)
        loader.name = shown
        try:
            doc = loader.get_single_data()
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        raise RubricError("rubric is not UTF-8 text", shown) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise RubricError(f"not valid YAML: {problem}", shown, mark.line + 1 if mark else None) from None
    return _build(doc, path, shown, hashlib.sha256(raw).hexdigest())


def _build(doc: Any, path: Path, shown: str, digest: str) -> Rubric:
    r = _Reader(shown)
    top = r.mapping(doc, 1, "", {"assignment": 1, "lang": 1, "seed": 1, "reference": 1, "notebook": 1, "packages": 1,
                                 "limits": 1, "editions": 1, "cells": 1, "questions": 1, "messages": 1})
    assignment = r.get(top, "assignment", "", str, required=True)
    messages = _messages(r, top)
    lang = r.get(top, "lang", "", str, default="zh-TW", choices=tuple(dict.fromkeys(LANGS + tuple(messages))))
    notebook = r.get(top, "notebook", "", str, default="")
    if notebook and (Path(notebook).name != notebook or not notebook.endswith(".ipynb")):
        r.fail(top.lines["notebook"], "notebook", f"expected a file name ending in .ipynb, got {notebook!r}")
    seed = r.get(top, "seed", "", int, default=0)
    ref = r.get(top, "reference", "", str, required=True)
    reference = (path.parent / ref).resolve()
    if not reference.is_file():
        r.fail(top.lines["reference"], "reference", f"reference notebook not found: {reference}")

    limits = Limits()
    if "limits" in top:
        lm = r.mapping(top["limits"], top.lines["limits"], "limits",
                       {k: 1 for k in Limits.__dataclass_fields__})
        values = {}
        for k in Limits.__dataclass_fields__:
            v = r.get(lm, k, "limits", float)
            if v is not None:
                if v < 0 or v == 0 and k != "restarts":
                    r.fail(lm.lines[k], f"limits.{k}", "must be positive" if k != "restarts" else "cannot be negative")
                values[k] = v
        limits = Limits(**values)

    packages = _packages(r, top)
    editions = _editions(r, top)
    anchors = _anchors(r, top, editions)
    questions = _questions(r, top, anchors)
    return Rubric(path=shown, assignment=assignment, lang=lang, seed=seed, reference=str(reference),
                  limits=limits, anchors=anchors, questions=tuple(questions), digest=digest,
                  editions=tuple(editions.values()), packages=packages,
                  notebook=notebook or Path(reference).name, messages=messages)


def _any(value: Any) -> dict:
    """Every key allowed (a mapping whose keys are data: languages, codes)."""
    return value if isinstance(value, _Map) else {}


LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _messages(r: _Reader, top: _Map) -> dict[str, dict[str, str]]:
    """``messages: {lang: {code: template}}``: the rubric's own wording of result messages, or a
    language of its own (codes it leaves out are worded in English). Each code must exist and
    each template may use only that code's parameters."""
    from . import messages as M

    if "messages" not in top:
        return {}
    m = r.mapping(top["messages"], top.lines["messages"], "messages", _any(top["messages"]))
    known = M.known_codes()
    out: dict[str, dict[str, str]] = {}
    for lang in m:
        if not isinstance(lang, str) or not LANG_RE.match(lang):
            r.fail(m.lines[lang], f"messages.{lang}", "expected a language tag such as ja, fr or zh-HK")
        table = r.mapping(m[lang], m.lines[lang], f"messages.{lang}", _any(m[lang]))
        out[lang] = {}
        for code in table:
            key = f"messages.{lang}.{code}"
            if code not in known:
                r.fail(table.lines[code], key, "unknown message code (the codes are in grader/messages/en.yaml)")
            tmpl = r.get(table, code, f"messages.{lang}", str)
            try:
                names = M.placeholders(tmpl)
            except ValueError as e:
                r.fail(table.lines[code], key, f"malformed template: {e}")
            allowed = M.placeholders(M.template(code, "en"))
            if names - allowed:
                r.fail(table.lines[code], key, f"unknown placeholder {{{sorted(names - allowed)[0]}}} "
                                               f"(this code has: {', '.join('{' + n + '}' for n in sorted(allowed)) or 'none'})")
            out[lang][code] = tmpl
    return out


MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _packages(r: _Reader, top: _Map) -> tuple[str, ...]:
    """``packages:``: the modules students' notebooks may import (importable names, e.g.
    ``d2l.torch``, ``PIL``), which ``grader doctor`` imports in a real kernel."""
    items = r.get(top, "packages", "", list, default=[])
    seen: list[str] = []
    for item in items:
        if not isinstance(item, str) or not MODULE_RE.match(item):
            r.fail(top.lines["packages"], "packages", f"{item!r} is not a module name (e.g. pandas, d2l.torch)")
        if item in seen:
            r.fail(top.lines["packages"], "packages", f"{item} is listed twice")
        seen.append(item)
    return tuple(seen)


def _regexes(r: _Reader, m: _Map, name: str, key: str) -> tuple[str, ...]:
    value = r.get(m, name, key, (list, str), default=[])
    items = [value] if isinstance(value, str) else value
    for item in items:
        if not isinstance(item, str):
            r.fail(m.lines[name], f"{key}.{name}", f"expected a list of strings, got {_tname(item)}")
        try:
            re.compile(item)
        except re.error as e:
            r.fail(m.lines[name], f"{key}.{name}", f"bad regular expression {item!r}: {e}")
    return tuple(items)


PHRASE_LANGS = ("zh-CN", "zh-TW", "en")


def _phrases(r: _Reader, value, line: int, key: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    m = r.mapping(value, line, key, {k: 1 for k in PHRASE_LANGS})
    out = []
    for lang in m:
        items = r.get(m, lang, key, list)
        for item in items:
            if not isinstance(item, str) or not item.strip():
                r.fail(m.lines[lang], f"{key}.{lang}", "expected a list of non-empty strings (regexes)")
            try:
                re.compile(item)
            except re.error as e:
                r.fail(m.lines[lang], f"{key}.{lang}", f"bad regular expression {item!r}: {e}")
        if len(items) < 2:
            r.fail(m.lines[lang], f"{key}.{lang}", "give at least two key phrases per language")
        out.append((lang, tuple(items)))
    if not out:
        r.fail(line, key, f"give key phrases in at least one of {', '.join(PHRASE_LANGS)}")
    return tuple(out)


def _editions(r: _Reader, top: _Map) -> dict[str, Edition]:
    if "editions" not in top:
        return {}
    eds = r.mapping(top["editions"], top.lines["editions"], "editions", {k: 1 for k in top["editions"]} if isinstance(top["editions"], dict) else {})
    out: dict[str, Edition] = {}
    for eid in eds:
        key = f"editions.{eid}"
        if not isinstance(eid, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", eid):
            r.fail(eds.lines[eid], key, "edition ids are letters, digits, '.', '-' and '_'")
        m = r.mapping(eds[eid], eds.lines[eid], key, {"lang": 1, "exercises": 1, "title": 1, "signs": 1, "others": 1})
        lang = r.get(m, "lang", key, str, required=True, choices=PHRASE_LANGS)
        count = r.get(m, "exercises", key, int, required=True)
        if count < 1:
            r.fail(m.lines["exercises"], f"{key}.exercises", "must be at least 1")
        others = []
        if "others" in m:
            om = r.mapping(m["others"], m.lines["others"], f"{key}.others", {k: 1 for k in m["others"]} if isinstance(m["others"], dict) else {})
            for n in om:
                if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= count:
                    r.fail(om.lines[n], f"{key}.others.{n}", f"expected an exercise number from 1 to {count}")
                others.append((n, _phrases(r, om[n], om.lines[n], f"{key}.others.{n}")))
        out[eid] = Edition(id=eid, lang=lang, exercises=count, title=r.get(m, "title", key, str, default=""),
                           signs=_regexes(r, m, "signs", key), others=tuple(others))
    if not out:
        r.fail(top.lines["editions"], "editions", "list at least one edition")
    return out


def _exercise(r: _Reader, m: _Map, key: str, editions: dict[str, Edition]):
    """``exercise: N`` or ``exercise: {number: N | {edition: N, ...}, phrases: {lang: [...]}}``."""
    if "exercise" not in m:
        return None, (), (), ()
    value, line = m["exercise"], m.lines["exercise"]
    full = f"{key}.exercise"
    code = ()
    if isinstance(value, int) and not isinstance(value, bool):
        number, numbers, phrases = value, (), ()
    else:
        em = r.mapping(value, line, full, {"number": 1, "phrases": 1, "code": 1})
        code = _regexes(r, em, "code", full)
        raw = r.get(em, "number", full, (int, _Map), required=True)
        phrases = _phrases(r, em["phrases"], em.lines["phrases"], f"{full}.phrases") if "phrases" in em else ()
        if isinstance(raw, int):
            number, numbers = raw, tuple((e, raw) for e in editions)
        else:
            numbers = []
            for eid in raw:
                if eid not in editions:
                    r.fail(raw.lines[eid], f"{full}.number.{eid}", f"unknown edition {eid!r} (defined: {', '.join(editions) or 'none'})")
                n = r.get(raw, eid, f"{full}.number", int)
                numbers.append((eid, n))
            numbers = tuple(numbers)
            if not numbers:
                r.fail(em.lines["number"], f"{full}.number", "give the exercise's number in at least one edition")
            number = numbers[0][1]
        if not editions and numbers and not isinstance(raw, int):
            r.fail(em.lines["number"], f"{full}.number", "numbers per edition need a top-level 'editions' list")
    for eid, n in numbers:
        e = editions[eid]
        if not 1 <= n <= e.exercises:
            r.fail(line, full, f"exercise {n} is not in {eid} (it has {e.exercises})")
        if n in dict(e.others):
            r.fail(line, full, f"exercise {n} of {eid} is also listed in editions.{eid}.others")
    if not editions and (number is None or number < 1):
        r.fail(line, full, "exercise numbers start at 1")
    return number, numbers, phrases, code


def _anchors(r: _Reader, top: _Map, editions: dict[str, Edition] | None = None) -> dict[str, Anchor]:
    editions = editions or {}
    cells = r.get(top, "cells", "", _Map, required=True)
    out: dict[str, Anchor] = {}
    taken: dict[tuple[str, int], str] = {}
    for aid, spec in cells.items():
        key = f"cells.{aid}"
        line = cells.lines[aid]
        if not isinstance(aid, str) or not ID_RE.match(aid):
            r.fail(line, key, "anchor ids are lower-case letters, digits, '-' and '_'")
        m = r.mapping(spec, line, key, {"tag": 1, "patterns": 1, "exclude": 1, "after": 1, "exercise": 1,
                                        "free_choice": 1, "scope": 1})
        scope = r.get(m, "scope", key, str)
        if scope is not None:
            if scope not in ("notebook", "section"):
                r.fail(m.lines["scope"], f"{key}.scope", f"scope is 'notebook' or 'section', not {scope!r}")
            if len(m) != 1:
                r.fail(line, key, "an anchor with 'scope' takes no other key")
            out[aid] = Anchor(id=aid, tag=None, scope=scope, line=line)
            continue
        after = r.get(m, "after", key, str)
        if after is not None and after not in out:
            r.fail(m.lines["after"], f"{key}.after", f"unknown cell anchor {after!r} (anchors must be defined before use)")
        exercise, numbers, phrases, code = _exercise(r, m, key, editions)
        for eid, n in numbers or ((e, exercise) for e in editions if exercise is not None):
            if (eid, n) in taken:
                r.fail(m.lines["exercise"], f"{key}.exercise", f"{eid} exercise {n} is already {taken[(eid, n)]}")
            taken[(eid, n)] = aid
        patterns = _regexes(r, m, "patterns", key)
        if exercise is None and not patterns and "tag" not in m:
            r.fail(line, key, "an anchor needs 'tag', 'patterns' or 'exercise'")
        out[aid] = Anchor(id=aid, tag=r.get(m, "tag", key, str, default=aid), patterns=patterns,
                          exclude=_regexes(r, m, "exclude", key), after=after, exercise=exercise,
                          line=line, numbers=numbers, phrases=phrases, code=code,
                          free_choice=bool(r.get(m, "free_choice", key, bool, default=False)))
    return out


CHECK_KEYS = {"name": 1, "kind": 1, "cell": 1, "points": 1, "visibility": 1, "feedback": 1}


def _questions(r: _Reader, top: _Map, anchors: dict[str, Anchor]) -> list[Question]:
    qs = r.get(top, "questions", "", list, required=True)
    out: list[Question] = []
    seen: set[str] = set()
    for i, qm in enumerate(qs):
        key = f"questions[{i}]"
        q = r.mapping(qm, top.lines["questions"], key, {"id": 1, "title": 1, "points": 1, "checks": 1})
        qid = r.get(q, "id", key, str, required=True)
        if not ID_RE.match(qid) or qid in seen:
            r.fail(q.lines["id"], f"{key}.id", f"question id {qid!r} is invalid or repeated")
        seen.add(qid)
        key = f"questions[{qid}]"
        title = r.text(q, "title", key, required=True)
        points = r.get(q, "points", key, float, required=True)
        checks = []
        names: set[str] = set()
        for j, cm in enumerate(r.get(q, "checks", key, list, required=True)):
            checks.append(_check(r, cm, q.lines["checks"], f"{key}.checks[{j}]", anchors, names))
        total = sum(c.points for c in checks)
        if abs(total - points) > 1e-9:
            r.fail(q.lines["points"], f"{key}.points",
                   f"question is worth {points:g} but its checks add up to {total:g}")
        out.append(Question(id=qid, title=title, points=points, checks=tuple(checks)))
    return out


def _check(r: _Reader, cm: Any, line: int, key: str, anchors: dict[str, Anchor], names: set[str]) -> CheckSpec:
    if not isinstance(cm, _Map):
        r.fail(line, key, f"expected a mapping, got {_tname(cm)}")
    if isinstance(cm.get("name"), str) and ID_RE.match(cm["name"]) and cm["name"] not in names:
        key = f"{key[: key.rindex('[')]}[{cm['name']}]"
    kind_name = r.get(cm, "kind", key, str, required=True)
    kind = REGISTRY.get(kind_name)
    if kind is None:
        r.fail(cm.lines["kind"], f"{key}.kind", f"unknown check kind {kind_name!r} (known: {', '.join(sorted(REGISTRY))})")
    allowed = dict(CHECK_KEYS, **{k: 1 for k in kind.params})
    r.mapping(cm, line, key, allowed)
    name = r.get(cm, "name", key, str, required=True)
    if not ID_RE.match(name) or name in names:
        r.fail(cm.lines["name"], f"{key}.name", f"check name {name!r} is invalid or repeated in this question")
    names.add(name)
    cell = r.get(cm, "cell", key, str, required=True)
    if cell not in anchors:
        r.fail(cm.lines["cell"], f"{key}.cell", f"unknown cell anchor {cell!r} (defined: {', '.join(anchors)})")
    points = r.get(cm, "points", key, float, required=True)
    if points < 0:
        r.fail(cm.lines["points"], f"{key}.points", "points cannot be negative")
    visibility = r.get(cm, "visibility", key, str, default="public", choices=VISIBILITIES)
    feedback = r.text(cm, "feedback", key)
    params: dict[str, Any] = {}
    for pname, p in kind.params.items():
        params[pname] = _param(r, cm, pname, key, p)

    def fail(pkey: str, message: str) -> None:
        r.fail(cm.lines.get(pkey, cm.line), f"{key}.{pkey}", message)

    kind.validate(params, fail)
    return CheckSpec(name=name, kind=kind_name, cell=cell, points=points, visibility=visibility,
                     feedback=feedback, params=params, line=cm.line)


def _param(r: _Reader, cm: _Map, name: str, key: str, p: Param) -> Any:
    value = r.get(cm, name, key, p.type, required=p.required, default=p.default, choices=p.choices)
    return _plain(value)


def _plain(v: Any) -> Any:
    """Strip line bookkeeping so params are plain dicts/lists."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v
