"""Capture of the process's stdout/stderr lines into the run folder (``terminal.log``).

The streams are wrapped (not replaced at the file-descriptor level): what Python code
prints still reaches the terminal unchanged, and a copy of each line is appended to the
run's log.  ``stop()`` restores the original streams, also when other code wrapped them
after us (then our wrapper just stops copying).
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aimcol.format.storage import Appender, Storage


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
    def __init__(self, storage: Storage, key: str):
        self.storage = storage
        self.key = key
        self.enabled = False
        self._lock = threading.Lock()
        self._sink: Appender | None = None
        self._saved = None

    def start(self) -> None:
        if not self.storage.supports_append:
            return  # an object store has no appends: no capture there (yet)
        self._sink = self.storage.open_appender(self.key)
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _TeeStream(sys.stdout, self)
        sys.stderr = _TeeStream(sys.stderr, self)
        self.enabled = True

    def append(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            if self._sink is not None:
                self._sink.write(text.encode("utf-8", "replace"))

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
            if self._sink is not None:
                self._sink.close()
                self._sink = None


def read_terminal_logs(storage: Storage, key: str) -> list[str]:
    try:
        data = storage.read_appended(key) if storage.supports_append else storage.read(key)
    except FileNotFoundError:
        return []
    return (data or b"").decode("utf-8", "replace").splitlines()
