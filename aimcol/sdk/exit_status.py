"""How the process that wrote a run ended, for the run's manifest (``exit_status``).

A run still open at interpreter exit is closed by its atexit finaliser, which cannot see
why the interpreter is exiting.  ``sys.excepthook`` can: Python calls it for an uncaught
exception (``KeyboardInterrupt`` included) before the atexit handlers run.  The hook is
chained (the previous hook still prints the traceback) and installed once, when the first
writing run is opened, never at import.

Values stored in the manifest:

- ``"finished"``: closed by ``close()``/``with`` without an exception, or at a normal exit
- ``"failed"``: the script ended with an uncaught exception (``exit_error`` says which)
- ``"interrupted"``: the script ended with ``KeyboardInterrupt`` (Ctrl-C)

A run whose writer was killed (kill -9, OOM, power loss) has none: it is "crashed", told
from a live run by its lock (see ``RunReaderStore.active``).
"""

from __future__ import annotations

import sys
import threading

FINISHED = "finished"
FAILED = "failed"
INTERRUPTED = "interrupted"
KNOWN_EXIT_STATUSES = (FINISHED, FAILED, INTERRUPTED)

_lock = threading.Lock()
_installed = False
_uncaught: tuple[str, str | None] | None = None


def status_for(exc_type, exc: BaseException | None) -> tuple[str, str | None]:
    """``(exit_status, exit_error)`` for an exception that ended the run (``None``: none did)."""
    if exc_type is None:
        return FINISHED, None
    if issubclass(exc_type, KeyboardInterrupt):
        return INTERRUPTED, "KeyboardInterrupt"
    text = f"{exc_type.__name__}: {exc}" if exc is not None and str(exc) else exc_type.__name__
    return FAILED, text.splitlines()[0][:500] if text else exc_type.__name__


def process_exit_status() -> tuple[str, str | None]:
    """What the process's ending says so far: an uncaught exception seen by the hook, or finished."""
    return _uncaught or (FINISHED, None)


def install_excepthook() -> None:
    """Chain a ``sys.excepthook`` that remembers an uncaught exception (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = sys.excepthook

        def remember_uncaught(exc_type, exc, tb):
            global _uncaught
            _uncaught = status_for(exc_type, exc)
            previous(exc_type, exc, tb)

        sys.excepthook = remember_uncaught
        _installed = True
