"""The languages the grader speaks, and the wording of console messages and rubric texts.

Check results are worded by the message catalogue (``grader/messages/``: typed reasons, one
file per language). What is left here words everything else: errors, ``doctor``, progress,
report headings, and the rubric's own texts (titles, hints). Those are written twice, in
Traditional Chinese and English (``say(lang, zh, en)`` or a ``Text``). Simplified Chinese (zh-CN, what most d2l-zh readers read) is made from the Traditional
text by OpenCC's Taiwan-to-mainland conversion (phrases and vocabulary, e.g. 記憶體 -> 内存),
after a small glossary of this domain's words that the general dictionary gets wrong; a
rubric may also give an explicit ``zh-CN`` wording, which then wins.
"""
from __future__ import annotations

import functools

LANGS = ("zh-CN", "zh-TW", "en")
DEFAULT = "zh-TW"

# Domain words OpenCC's tw2sp gets wrong or leaves Taiwanese: replaced before conversion.
GLOSSARY = {
    "儲存格": "單元格",  # a notebook cell (tw2sp would give 保存格)
    "筆記本": "筆記本",
    "核心（kernel）": "內核（kernel）",
    "繳交": "提交",
    "程式碼": "代碼",
    "函式": "函數",
    "純量": "標量",
    "印出": "打印出",
}


@functools.lru_cache(maxsize=1)
def _converter():
    import opencc

    return opencc.OpenCC("tw2sp")


@functools.lru_cache(maxsize=4096)
def simplified(text: str) -> str:
    """Traditional (Taiwan) Chinese -> Simplified (mainland) Chinese."""
    for tw, word in GLOSSARY.items():
        text = text.replace(tw, word)
    return _converter().convert(text)


def is_chinese(lang: str) -> bool:
    return lang.startswith("zh")


def say(lang: str, zh: str, en: str, cn: str | None = None) -> str:
    """The wording of one message in ``lang`` (zh-TW ``zh``, en ``en``, zh-CN ``cn`` or converted;
    any other language, e.g. one a rubric's ``messages`` adds: English)."""
    if lang == "zh-CN":
        return cn if cn is not None else simplified(zh)
    if is_chinese(lang):
        return zh
    return en
