"""JUnit XML: one <testsuite> per submission, one <testcase> per check.

A wrong answer is a <failure>, a crash or timeout an <error>, a check awaiting manual review
or whose cells were not there at all <skipped>; a passed check has no child (pytest's
junitxml and the common junit-10.xsd)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from ..messages import NOT_FOUND
from ..model import CheckResult, SubmissionResult


def _kind(check: CheckResult) -> str | None:
    """Decided by the check's status and its reason's code, never by the wording."""
    if check.status == "pass":
        return None
    if check.status in ("error", "timeout"):
        return "error"
    if check.status == "manual" or (check.reason or {}).get("code") in NOT_FOUND:
        return "skipped"
    return "failure"


def render(results: list[SubmissionResult]) -> str:
    root = ET.Element("testsuites", name="grader")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=r.submission, time=f"{r.seconds:.3f}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if r.status == "error":
            case = ET.SubElement(suite, "testcase", classname=r.submission, name="notebook", time="0")
            ET.SubElement(case, "error", message=(r.error or "")[:500]).text = r.error or ""
            counts["tests"] += 1
            counts["errors"] += 1
        for q in r.questions:
            for c in q.checks:
                case = ET.SubElement(suite, "testcase", classname=f"{r.submission}.{q.id}", name=c.name, time="0")
                counts["tests"] += 1
                kind = _kind(c)
                if kind:
                    text = f"{c.status}: {c.score:g}/{c.max_score:g} {c.message}".strip()
                    ET.SubElement(case, kind, message=text[:500]).text = text
                    counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[kind]] += 1
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        if k != "skipped":  # junit-10.xsd allows no "skipped" on <testsuites> (it does on <testsuite>)
            root.set(k, str(v))
    root.set("time", f"{sum(r.seconds for r in results):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
