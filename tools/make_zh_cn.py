"""Make grader/messages/zh-CN.yaml from zh-TW.yaml, once, with the grader's own Traditional ->
Simplified conversion (OpenCC tw2sp after the domain glossary in grader/i18n.py).

The result is committed and is data from then on: correct its wording by hand. Re-running
this tool overwrites those corrections, so it refuses to unless given --force (or the file is
missing); with --check it only lists the codes zh-CN lacks or words with other placeholders.

    python3 tools/make_zh_cn.py [--force | --check]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import messages  # noqa: E402
from grader.i18n import simplified  # noqa: E402

HEADER = ("# 检查结果消息（简体中文）：代码 -> 模板。Check-result messages in Simplified Chinese; see en.yaml.\n"
          "# Made once from zh-TW.yaml by tools/make_zh_cn.py (OpenCC tw2sp + the glossary in grader/i18n.py);\n"
          "# since then hand-corrected data: edit the wording here.\n")


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, data: str):
    quote = data != data.strip() or ":" in data or data[:1] in "{'\"(!*&?|>%@`-[#"
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"' if quote else None)


_Dumper.add_representer(str, _str)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="overwrite an existing zh-CN.yaml")
    ap.add_argument("--check", action="store_true", help="only report codes zh-CN lacks or words differently")
    args = ap.parse_args()
    src = messages.HERE / "zh-TW.yaml"
    dst = messages.HERE / "zh-CN.yaml"
    tw = yaml.safe_load(src.read_text(encoding="utf-8"))
    if args.check:
        cn = yaml.safe_load(dst.read_text(encoding="utf-8")) if dst.is_file() else {}
        bad = [c for c in tw if c not in cn or messages.placeholders(cn[c]) != messages.placeholders(tw[c])]
        print("\n".join(bad) or "zh-CN words every zh-TW code")
        return 1 if bad else 0
    if dst.is_file() and not args.force:
        print(f"{dst} exists (hand-corrected data): use --force to overwrite it", file=sys.stderr)
        return 2
    cn = {code: simplified(text) for code, text in tw.items()}
    for code, text in cn.items():  # the conversion must leave the placeholders alone
        if messages.placeholders(text) != messages.placeholders(tw[code]):
            print(f"{code}: the conversion changed a placeholder: {text!r}", file=sys.stderr)
            return 1
    dst.write_text(HEADER + yaml.dump(cn, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10**6),
                   encoding="utf-8")
    print(f"wrote {dst} ({len(cn)} codes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
