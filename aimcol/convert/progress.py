"""Progress of a conversion: a one-line bar on a terminal, plain lines otherwise (CI logs, pipes).

The bar shows runs done/total, points written, the point rate and an ETA.  The ETA is by
bytes read when the source knows its runs' sizes (TensorBoard, W&B), else by runs.
"""

from __future__ import annotations

import sys
import time


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60:02d}:{seconds % 60:02d}"
    )


class Progress:
    """Reports to ``stream`` (default stderr); ``bar=None`` picks a bar when ``stream`` is a terminal."""

    WIDTH = 24

    def __init__(self, total_runs: int, total_bytes: int = 0, stream=None, bar: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self.total_runs, self.total_bytes = total_runs, total_bytes
        self.runs = self.points = self.bytes = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.points / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        elapsed = time.perf_counter() - self.start
        if self.total_bytes and self.bytes:
            done = self.bytes / self.total_bytes
        elif self.total_runs and self.runs:
            done = self.runs / self.total_runs
        else:
            return None
        return elapsed * (1 - done) / done if done > 0 else None

    def line(self) -> str:
        frac = self.runs / self.total_runs if self.total_runs else 1.0
        if self.total_bytes:
            frac = min(1.0, self.bytes / self.total_bytes)
        filled = int(frac * self.WIDTH)
        return (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] runs {self.runs}/{self.total_runs} "
            f"points {self.points:,} ({self.rate():,.0f}/s) ETA {_eta(self.eta())}"
        )

    def run_done(self, name: str, points: int, size: int, status: str) -> None:
        """One source run finished (``status``: imported, already imported, skipped …)."""
        self.runs += 1
        self.points += points
        self.bytes += size
        if self.bar:
            self._draw()
        else:
            print(f"{self.runs}/{self.total_runs} {name}: {status} ({points:,} points)", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        """A line that must stay visible (a skipped run), above the bar."""
        if self.bar:
            self.stream.write("\r\x1b[2K")
        print(message, file=self.stream, flush=True)
        if self.bar:
            self._draw()

    def _draw(self) -> None:
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()

    def finish(self) -> None:
        if self.bar:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
