"""Capture of the process's stdout/stderr lines into the run folder (``terminal.log``).

The streams are wrapped (not replaced at the file-descriptor level): what Python code
prints still reaches the terminal unchanged, and a copy of each line is appended to the
run's log.  ``stop()`` restores the original streams, also when other code wrapped them
after us (then our wrapper just stops copying).
"""

from __future__ import annotations

import os
import sys
import threading

LOG_NAME = "terminal.log"


class _TeeStream:
    def __init__(self, original, capture: TerminalLogCapture):
        self._original = original
        self._capture = capture

    def write(self, text):
        written = self._original.write(text)
        if self._capture.enabled:
            self._capture.append(text)
        return written

    def flush(self):
        return self._original.flush()

    def __getattr__(self, name):
        return getattr(self._original, name)


class TerminalLogCapture:
    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, LOG_NAME)
        self.enabled = False
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._saved = None

    def start(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _TeeStream(sys.stdout, self)
        sys.stderr = _TeeStream(sys.stderr, self)
        self.enabled = True

    def append(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            if self._fd is not None:
                os.write(self._fd, text.encode("utf-8", "replace"))

    def disown_after_fork(self) -> None:
        """In a forked child: stop copying into the parent's log (its lock may be held)."""
        self.enabled = False
        self._lock = threading.Lock()

    def stop(self) -> None:
        self.enabled = False
        if self._saved is not None:
            out, err = self._saved
            if isinstance(sys.stdout, _TeeStream) and sys.stdout._capture is self:
                sys.stdout = out
            if isinstance(sys.stderr, _TeeStream) and sys.stderr._capture is self:
                sys.stderr = err
            self._saved = None
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read_terminal_logs(run_dir: str) -> list[str]:
    try:
        with open(os.path.join(run_dir, LOG_NAME), encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        return []
