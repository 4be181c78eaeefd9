"""Progress of a batch: a live bar on a terminal, plain periodic lines otherwise, a summary."""
from __future__ import annotations

import statistics
import sys
import time
from typing import TextIO

from .model import SubmissionResult


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stderr, every: float = 10.0):
        self.total, self.stream, self.every = total, stream, every
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.done = self.kept = self.errors = self.timeouts = 0
        self.seconds: list[float] = []
        self._last = 0.0

    def update(self, r: SubmissionResult, kept: bool) -> None:
        self.done += 1
        if kept:
            self.kept += 1
        else:
            self.seconds.append(r.seconds)
        if r.status == "error":
            self.errors += 1
            self._line(f"{r.submission}: could not be graded: {r.error}")
        if any(q.status == "timeout" for q in r.questions):
            self.timeouts += 1
        now = time.monotonic()
        if self.tty:
            self._bar(now)
        elif now - self._last >= self.every or self.done == self.total:
            self._last = now
            self.stream.write(self._status(now) + "\n")
            self.stream.flush()

    def _status(self, now: float) -> str:
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        return f"{self.done}/{self.total} graded, {rate:.1f}/s, ETA {eta:.0f} s"

    def _bar(self, now: float) -> None:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self._status(now)}   ")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()

    def _line(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 70 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()

    def summary(self) -> str:
        wall = time.monotonic() - self.started
        median = statistics.median(self.seconds) if self.seconds else 0.0
        graded = self.done - self.errors
        errored = f"{self.errors} could not be graded"
        return (f"{errored + ', ' if self.errors else ''}{graded} graded ({self.kept} unchanged, kept)"
                f"{'' if self.errors else ', ' + errored}, {self.timeouts} with timeouts; "
                f"wall time {wall:.1f} s, median {median:.2f} s per notebook")
