"""Check kinds and output formats from another installed package, by entry points only."""
from __future__ import annotations

import json
import os

from .conftest import ROOT, run_cli

REFERENCE = ROOT / "grader" / "assignments" / "d2l-autograd" / "reference.ipynb"

PLUGIN = '''
from grader.checks.base import CheckKind, Param, Reason, failed, passed
from grader.model import Text
from grader.plugins import Format


class CountsCells(CheckKind):
    kind = "counts_cells"
    summary = Text("數儲存格", "counts cells")
    params = {"at_least": Param(int, required=True)}
    messages = {"en": {"counts_cells.too_few": "only {count} code cells"},
                "zh-TW": {"counts_cells.too_few": "只有 {count} 個程式碼儲存格"}}

    def judge(self, ctx):
        n = len(ctx.region.code)
        return passed() if n >= ctx.p("at_least") else failed(Reason("counts_cells.too_few", count=n))


class Tsv(Format):
    name = "tsv"
    help = "submission, score"

    def render(self, results, rubric, lang):
        return "".join(f"{r.submission}\\t{r.score:g}\\n" for r in results)
'''

RUBRIC = f'''assignment: plugin-demo
reference: {REFERENCE}
cells:
  everything: {{tag: ex4}}
questions:
  - id: cells
    title: {{zh-TW: 儲存格, en: cells}}
    points: 10
    checks:
      - name: enough
        kind: counts_cells
        cell: everything
        at_least: 1
        points: 10
'''
# the plug-in's own message code, worded by the plug-in (zh-TW) and reworded by a rubric (en)
TOO_FEW = RUBRIC.replace("at_least: 1", "at_least: 1000") + '''messages:
  en:
    counts_cells.too_few: "{count} code cells are too few"
'''


def _install(tmp_path):
    site = tmp_path / "site"
    (site / "demo_plugin").mkdir(parents=True)
    (site / "demo_plugin" / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    dist = site / "demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 0.1\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[grader.checks]\ncounts_cells = demo_plugin:CountsCells\n\n[grader.formats]\ntsv = demo_plugin:Tsv\n",
        encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}


def test_a_kind_and_a_format_from_entry_points(tmp_path):
    env = _install(tmp_path)
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(RUBRIC, encoding="utf-8")
    assert run_cli("validate", str(rubric), "--no-sandbox", env=env).returncode == 0
    out = tmp_path / "out"
    proc = run_cli("grade", str(REFERENCE), "--rubric", str(rubric), "--out", str(out), "--no-sandbox",
                   "--format", f"tsv={tmp_path / 'scores.tsv'}", "--format", f"json={tmp_path / 'all.json'}", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "scores.tsv").read_text() == "reference\t10\n"
    assert json.loads((tmp_path / "all.json").read_text())[0]["score"] == 10
    rubric.write_text(TOO_FEW, encoding="utf-8")
    for lang, wording in (("en", "{} code cells are too few"), ("zh-TW", "只有 {} 個程式碼儲存格")):
        proc = run_cli("check", str(REFERENCE), "--rubric", str(rubric), "--no-sandbox", "--json", "--lang", lang, env=env)
        check = json.loads(proc.stdout)["questions"][0]["checks"][0]
        assert check["status"] == "fail" and check["reason"]["code"] == "counts_cells.too_few", proc.stdout
        assert check["message"] == wording.format(check["reason"]["params"]["count"])


def test_unknown_format_and_broken_plugin_are_one_line_errors(tmp_path):
    proc = run_cli("check", str(REFERENCE), "--format", "nope=x.txt")
    assert proc.returncode == 2 and "no such format" in proc.stderr and proc.stderr.count("\n") == 1
    env = _install(tmp_path)
    (tmp_path / "site" / "demo_plugin" / "__init__.py").write_text("raise ImportError('broken on purpose')\n")
    proc = run_cli("validate", "--no-sandbox", env=env)
    assert proc.returncode == 2 and "demo_plugin:CountsCells" in proc.stderr and "broken on purpose" in proc.stderr
    assert proc.stderr.count("\n") == 1
