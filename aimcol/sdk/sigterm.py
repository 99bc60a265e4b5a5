"""SIGTERM flushes the runs this process writes to object stores.

Schedulers stop jobs with SIGTERM (slurm at the time limit or on preemption, Kubernetes on
eviction) and follow with SIGKILL seconds later.  Python's default action for SIGTERM runs
no ``atexit`` handler, so the points buffered since the last flush — up to ``flush_seconds``
(10 s on object stores) of training — would be lost.  The handler installed here waits
for the tracked objects still queued for the run's writer thread (images being encoded),
uploads them (one delta per run and a manifest commit), compacts, and hands the run's lease back
without stamping an end time: the run shows as crashed at once (not after the lease TTL)
and ``Run(hash)`` resumes it.  Then the process dies of SIGTERM as it would have.

Installed only from the main thread and only where SIGTERM still has its default action,
so an application's (or a framework's) own handler is never replaced.
"""

from __future__ import annotations

import os
import signal
import threading

_installed = False
LOCK_PATIENCE_S = 5.0
"""How long the handler waits for a flush in progress (on another thread) to finish."""


def flush_runs_on_sigterm() -> bool:
    """Install the handler if possible; True when it is installed (now or before)."""
    global _installed
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    _installed = True
    return True


def _on_sigterm(signum, frame) -> None:
    from aimcol.sdk.run import _OPEN_RUNS

    for run in list(_OPEN_RUNS):
        buffer = getattr(run, "_buffer", None)
        if buffer is None or buffer.closed:
            continue
        try:  # tracked images still queued (or being encoded) first: the flush uploads them
            run._objects.drain()
        except Exception:
            pass  # a write error: the values written so far go up with the flush
        if not buffer.lock.acquire(timeout=LOCK_PATIENCE_S):
            continue
        try:
            buffer.flush_locked()
            buffer.store.release_as_found()
            buffer.closed = True
        except Exception:
            pass  # a failed upload: nothing more can be saved in the seconds left
        finally:
            buffer.lock.release()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
