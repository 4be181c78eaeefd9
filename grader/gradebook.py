"""The gradebook: an SQLite file in --out with one row per submission and one per check,
written by the grader alone, one transaction per submission (a killed batch loses nothing that
was finished). The CSV is exported from it."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from pathlib import Path

from .model import Rubric, SubmissionResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    submission TEXT PRIMARY KEY, status TEXT NOT NULL, error TEXT, score REAL NOT NULL,
    max_score REAL NOT NULL, notebook_sha256 TEXT NOT NULL, rubric_sha256 TEXT NOT NULL,
    seconds REAL, sandbox TEXT, graded_at REAL NOT NULL, result_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checks (
    submission TEXT NOT NULL, question TEXT NOT NULL, check_name TEXT NOT NULL, status TEXT NOT NULL,
    score REAL NOT NULL, max_score REAL NOT NULL, message TEXT, visibility TEXT NOT NULL,
    notebook_sha256 TEXT NOT NULL, rubric_sha256 TEXT NOT NULL,
    PRIMARY KEY (submission, question, check_name));
"""


class Gradebook:
    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=30)
        self.db.executescript(SCHEMA)

    def previous(self, name: str) -> SubmissionResult | None:
        row = self.db.execute("SELECT result_json FROM submissions WHERE submission = ?", (name,)).fetchone()
        if row is None:
            return None
        try:
            return SubmissionResult.from_dict(json.loads(row[0]))
        except (ValueError, KeyError, TypeError):
            return None

    def record(self, r: SubmissionResult) -> None:
        with self.db:  # one transaction: the submission and all its checks, or nothing
            self.db.execute("DELETE FROM checks WHERE submission = ?", (r.submission,))
            self.db.execute(
                "INSERT OR REPLACE INTO submissions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (r.submission, r.status, r.error, r.score, r.max_score, r.notebook_sha256, r.rubric_sha256,
                 r.seconds, r.sandbox, time.time(), json.dumps(r.to_dict(), ensure_ascii=False)))
            self.db.executemany(
                "INSERT INTO checks VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(r.submission, q.id, c.name, c.status, c.score, c.max_score, c.message, c.visibility,
                  r.notebook_sha256, r.rubric_sha256) for q in r.questions for c in q.checks])

    def csv(self, rubric: Rubric, names: list[str], adjust=None) -> str:
        """One row per submission (in ``names`` order), a column per question, the total;
        ``adjust`` (e.g. the instructor's overrides) is applied to each result first."""
        qids = [q.id for q in rubric.questions]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["submission", *qids, "total", "max_score", "status", "reviewed"])
        for name in names:
            r = self.previous(name)
            if r is None:
                continue
            shown = adjust(r) if adjust else r
            scores = {q.id: q.score for q in shown.questions}
            reviewed = "yes" if shown is not r else ""
            w.writerow([name, *(_fmt(scores[q]) if q in scores else "" for q in qids), _fmt(shown.score),
                        _fmt(shown.max_score), shown.status, reviewed])
        return buf.getvalue()

    def close(self) -> None:
        self.db.close()


def _fmt(x: float) -> str:
    return f"{round(x, 4):g}"


def stored_results(path: Path) -> list[SubmissionResult]:
    """Every submission's result in an existing gradebook, by submission name (the machine's
    grades: overrides are applied by the caller)."""
    db = sqlite3.connect(str(path))
    rows = db.execute("SELECT result_json FROM submissions ORDER BY submission").fetchall()
    db.close()
    return [SubmissionResult.from_dict(json.loads(r[0])) for r in rows]


def awaiting_review(path: Path) -> list[tuple[str, str, str, float, float, str]]:
    """(submission, question, check, score, max_score, message) of each check awaiting manual
    review in an existing gradebook, in that order."""
    db = sqlite3.connect(str(path))
    rows = db.execute("SELECT submission, question, check_name, score, max_score, message FROM checks "
                      "WHERE status = 'manual' ORDER BY submission, question, check_name").fetchall()
    db.close()
    return rows
