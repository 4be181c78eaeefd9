"""Typed reasons, and the one catalogue that words them per language.

A check (and the judge, the locator, the executor) says *why* with a ``Reason``: a code and
plain parameters, e.g. ``Reason("value.shape", name="x.grad", got="(3,)", expected="(4,)")``.
The catalogue maps each code to a template per language: ``en.yaml``, ``zh-TW.yaml`` and
``zh-CN.yaml`` in this folder (zh-CN was made once from zh-TW by ``tools/make_zh_cn.py`` and is
data from then on: correct it by hand). Check-kind plug-ins add their own codes (a kind's
``messages``), and a rubric may add a language or reword codes (its ``messages`` key). A
language without a wording for a code falls back to English.

Templates are ``str.format`` strings over the reason's parameters. A parameter may be plain
data (text, numbers), a ``Text`` (rubric wording in every language), another ``Reason``
(rendered in the same language) or a list of those; a list is joined by the format spec,
written literally after the colon: ``{lines:, }`` joins with ", ", ``{names:、}`` with "、",
``{notes:}`` concatenates.

Console output (errors, ``doctor``, progress) is not a check result and keeps ``i18n.say``.
"""
from __future__ import annotations

import functools
import string
from pathlib import Path
from typing import Any, Mapping

BUILTIN = ("zh-CN", "zh-TW", "en")
FALLBACK = "en"
HERE = Path(__file__).parent

# codes of "the cells of this check were not found" (formats treat them as skipped)
NOT_FOUND = frozenset({"locate.not_found", "locate.not_found_after"})


class Reason:
    """Why a check came out as it did: a catalogue code and its parameters (plain data)."""

    __slots__ = ("code", "params")

    def __init__(self, code: str, /, **params: Any):
        self.code = code
        self.params = params

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reason) and (self.code, self.params) == (other.code, other.params)

    def __repr__(self) -> str:
        return f"Reason({self.code!r}, {self.params!r})"

    def __getstate__(self):
        return (self.code, self.params)

    def __setstate__(self, state):
        self.code, self.params = state

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the result JSON: nested reasons as {code, params}, Text as {lang: text}."""
        return {"code": self.code, "params": {k: _plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Reason":
        return cls(d["code"], **{k: _unplain(v) for k, v in (d.get("params") or {}).items()})

    def codes(self) -> set[str]:
        """This reason's code and those of every reason nested in its parameters."""
        out = {self.code}
        for v in self.params.values():
            for item in (v if isinstance(v, (list, tuple)) else [v]):
                if isinstance(item, Reason):
                    out |= item.codes()
        return out


def _plain(v: Any) -> Any:
    from ..model import Text

    if isinstance(v, Reason):
        return v.to_dict()
    if isinstance(v, Text):
        return {"zh-TW": v.zh, "en": v.en, **({"zh-CN": v.cn} if v.cn is not None else {})}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _unplain(v: Any) -> Any:
    from ..model import Text

    if isinstance(v, dict) and "code" in v:
        return Reason.from_dict(v)
    if isinstance(v, dict) and "en" in v:
        return Text(v.get("zh-TW", v["en"]), v["en"], v.get("zh-CN"))
    if isinstance(v, list):
        return [_unplain(x) for x in v]
    return v


def as_reason(message: "Reason | str | None") -> Reason | None:
    """A plug-in's plain-text message becomes the ``text`` reason (worded as given)."""
    if message is None or isinstance(message, Reason):
        return message
    return Reason("text", text=str(message)) if str(message) else None


# ---- the catalogue --------------------------------------------------------------------------

# code -> template, per language, from check-kind plug-ins (a kind's ``messages``)
PLUGIN: dict[str, dict[str, str]] = {}


@functools.lru_cache(maxsize=None)
def builtin(lang: str) -> dict[str, str]:
    """The built-in catalogue of one language ({} for a language not built in)."""
    import yaml

    path = HERE / f"{lang}.yaml"
    if lang not in BUILTIN or not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in data.items()}


def known_codes() -> set[str]:
    """Every code a reason may have: the English catalogue and the plug-ins' codes."""
    return set(builtin(FALLBACK)) | set(PLUGIN.get(FALLBACK, {}))


def template(code: str, lang: str, overrides: Mapping[str, Mapping[str, str]] | None = None) -> str | None:
    """The wording of ``code`` in ``lang``: the rubric's, a plug-in's, the built-in one, else English."""
    for lg in (lang, FALLBACK) if lang != FALLBACK else (FALLBACK,):
        for source in ((overrides or {}).get(lg, {}), PLUGIN.get(lg, {}), builtin(lg)):
            if code in source:
                return source[code]
    return None


def placeholders(tmpl: str) -> set[str]:
    """The parameter names a template uses (ValueError for a malformed template)."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(tmpl):
        if field is not None:
            if not field.isidentifier():
                raise ValueError(f"{{{field}}} is not a parameter name")
            names.add(field)
    return names


def add_plugin_messages(kind: str, messages: Mapping[str, Mapping[str, str]]) -> None:
    """Codes a check-kind plug-in ships (``{lang: {code: template}}``): each code starts with
    ``<kind>.``, English is required, and every language's template uses the English one's
    parameters. ValueError says what is wrong."""
    en = dict(messages.get(FALLBACK, {}))
    for lang, table in messages.items():
        for code, tmpl in table.items():
            if not str(code).startswith(f"{kind}."):
                raise ValueError(f"message code {code!r} does not start with {kind + '.'!r}")
            if code not in en:
                raise ValueError(f"message code {code!r} ({lang}) has no English wording")
            if placeholders(str(tmpl)) != placeholders(en[code]):
                raise ValueError(f"message {code!r} ({lang}) uses other parameters than its English wording")
    for lang, table in messages.items():
        PLUGIN.setdefault(lang, {}).update({str(k): str(v) for k, v in table.items()})


class _Formatter(string.Formatter):
    def __init__(self, lang: str, overrides):
        self.lang, self.overrides = lang, overrides

    def show(self, v: Any) -> str:
        from ..model import Text

        if isinstance(v, Reason):
            return render(v, self.lang, self.overrides)
        if isinstance(v, Text):
            return v.get(self.lang)
        return "" if v is None else str(v)

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, (list, tuple)):
            return format_spec.join(self.show(v) for v in value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return format(value, format_spec)
        return format(self.show(value), format_spec)


def render(reason: "Reason | dict | None", lang: str, overrides: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The reason worded in ``lang`` (a rubric's ``messages`` first, then plug-ins, built-in, English)."""
    if reason is None:
        return ""
    if isinstance(reason, dict):
        reason = Reason.from_dict(reason)
    tmpl = template(reason.code, lang, overrides)
    if tmpl is None:  # a code nobody words (a plug-in removed since): say what is known
        return f"{reason.code} {reason.params}" if reason.params else reason.code
    return _Formatter(lang, overrides).vformat(tmpl, (), reason.params)
