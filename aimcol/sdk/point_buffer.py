"""Points tracked but not yet written, and the background thread that writes them.

``track()`` only appends to typed in-memory columns (``PyColumns`` here, or the C
``_fastpath.Columns``); ``PointBuffer`` turns the buffered rows into one Arrow record batch
per flush and hands it to the run's ``RunWriterStore``; ``BackgroundFlusher`` decides when,
so the training thread does no I/O and no sealing.

The contract every flush keeps: rows leave the buffer only after the store has written
them.  A failed write (disk full, a vanished mount) leaves them buffered for the next flush,
and the store leaves its live segment at its last good batch, so once space is back a later
flush or ``close()`` writes them all.
"""

from __future__ import annotations

import threading
import time
from array import array

import numpy as np

from aimcol.format.arrow_numpy import to_arrow
from aimcol.format.run_store import RunWriterStore
from aimcol.sdk.exit_status import FINISHED, process_exit_status

NO_EPOCH = -(2**63)
"""Sentinel for "no epoch" in the epoch column buffer (written as null)."""

COLUMN_TYPECODES = (("seq", "I"), ("step", "q"), ("value", "d"), ("epoch", "q"), ("time", "d"))
"""The five buffered columns and their ``array`` typecodes (the order of ``take()``)."""

BACKLOG_FACTOR = 4
"""track() flushes inline once the background flusher is this many flushes behind."""

POLL_SECONDS = 0.05
"""How often the flusher looks at the buffer: bounds it to what track() adds in this time."""


class PyColumns:
    """Unflushed points as five typed ``array.array`` columns: the pure-Python counterpart
    of ``_fastpath.Columns`` (same ``take``/``drop``/``trigger``/``len`` protocol).

    Lock-free for the one producer thread (the thread that created the run): ``track()``
    appends to the columns in a fixed order, ``time`` last, and a flush (under the buffer's
    lock) takes the first ``n = len(time)`` rows of every column and drops them once they
    are written.  Both are single C calls under the GIL, so the rows stay aligned without a
    lock on the hot path.  Other threads append under the buffer's lock to ``side``.
    """

    def __init__(self, trigger: int):
        self.seq = array("I")
        self.step = array("q")
        self.value = array("d")
        self.epoch = array("q")
        self.time = array("d")
        self.columns = (self.seq, self.step, self.value, self.epoch, self.time)
        self.side: list[tuple] = []
        self.trigger = trigger
        self.closed = False

    def __len__(self) -> int:
        return len(self.time) + len(self.side)

    def take(self) -> tuple[tuple[int, int], list]:
        """``(token, columns)``: copies of the buffered rows, ``token`` for :meth:`drop`."""
        n, s = len(self.time), len(self.side)
        # col[:n] copies in one C call; a NumPy view of the live array would export its
        # buffer and make the training thread's next append fail with BufferError
        cols = [col[:n] for col in self.columns]
        if s:
            cols = [col + array(col.typecode, extra) for col, extra in zip(cols, zip(*self.side[:s]))]
        return (n, s), cols

    def drop(self, token: tuple[int, int]) -> None:
        n, s = token
        for col in self.columns:
            del col[:n]
        del self.side[:s]

    def repair_torn_row(self) -> None:
        """After an append failed half-way: drop the partial row (columns before ``time``)."""
        n = len(self.time)
        for col in self.columns:
            del col[n:]


class PointBuffer:
    """Points not yet flushed (``rows``: C or pure-Python columns), plus their writer.

    ``track()`` never writes: at ``flush_points`` buffered rows it wakes the background
    flusher (``request_flush``), which also polls every ``POLL_SECONDS`` for rows older than
    ``flush_seconds``.  If the flusher falls ``BACKLOG_FACTOR`` flushes behind, track()
    flushes inline, which bounds memory.  A failed background flush keeps its rows and
    empties ``fast_lookup`` (the run's name -> sequence table that the hot path scans), so
    that the next ``track()`` takes the slow path, which raises the error once.
    Kept apart from ``Run`` so the GC/atexit finaliser need not hold the Run.
    """

    def __init__(self, store: RunWriterStore, flush_points: int, flush_seconds: float, fastpath, fast_lookup: dict):
        self.store = store
        self.lock = threading.Lock()
        self.fast_lookup = fast_lookup
        self.rows = PyColumns(flush_points) if fastpath is None else fastpath.Columns(fast_lookup, flush_points)
        self.flush_points = flush_points
        self.flush_seconds = flush_seconds
        self.last_flush = time.time()
        self.wake = threading.Event()
        self.error: BaseException | None = None
        self.closed = False

    def raise_pending_error(self) -> None:
        """Re-raise, once, the error of a failed background flush (from track()'s slow path)."""
        error, self.error = self.error, None
        if error is not None:
            raise error

    def request_flush(self) -> None:
        """From track() at ``trigger`` rows: wake the flusher, or flush inline if it lags."""
        if len(self.rows) >= self.flush_points * BACKLOG_FACTOR:
            self.flush()
            return
        self.rows.trigger = self.flush_points * BACKLOG_FACTOR
        self.wake.set()

    def due(self) -> bool:
        """Whether the flusher should write now: ``flush_points`` rows, or rows (or a manifest
        change left to it by the bulk path) older than ``flush_seconds``."""
        n = len(self.rows)
        if n >= self.flush_points:
            return True
        waiting = n > 0 or self.store.has_unpublished()
        return waiting and time.time() - self.last_flush >= self.flush_seconds

    def flush_locked(self) -> None:
        """Write buffered points as one batch.  Caller holds ``self.lock``.

        Rows leave the buffer only once they are in the live segment, so an I/O error loses
        nothing; a manifest write that fails after that is retried by the next flush.
        """
        try:
            token, cols = self.rows.take()
            arrays = [np.frombuffer(col, dtype=np.dtype(code)) for (_, code), col in zip(COLUMN_TYPECODES, cols)]
            seq, step, value, epoch, times = arrays
            if len(seq):
                no_epoch = epoch == NO_EPOCH
                epochs = None if no_epoch.all() else to_arrow(epoch, ~no_epoch)
                self.store.append_batch(seq, step, value, epochs, times)
            self.rows.drop(token)
            if len(seq) or self.store.has_unpublished():
                self.store.publish()
        finally:
            self.last_flush = time.time()
            self.rows.trigger = self.flush_points

    def flush(self) -> None:
        with self.lock:
            if not self.closed:
                self.flush_locked()

    def close(
        self, exit_status: str | None = FINISHED, exit_error: str | None = None, end_time: float | None = None
    ) -> None:
        """Write what is buffered, record how the run ended, seal and release the run.

        ``end_time`` (Unix seconds) defaults to now; ``exit_status`` ``None`` releases the run
        without an end (an imported run whose source never ended reads as crashed).

        If a write fails (disk full), the buffer stays open with its rows, the run keeps its
        lock and the error propagates: a later ``close()`` retries.
        """
        with self.lock:
            if self.closed:
                return
            self.rows.closed = True
            manifest = self.store.manifest
            try:
                self.flush_locked()
                manifest["exit_status"], manifest["exit_error"] = exit_status, exit_error
                if exit_status is None:
                    self.store.release_as_found()
                else:
                    self.store.close(end_time=end_time)
            except BaseException:
                manifest["exit_status"] = manifest["exit_error"] = None
                self.rows.closed = False
                raise
            self.closed = True


class BackgroundFlusher(threading.Thread):
    """Writes the buffer when it holds ``flush_points`` rows or its oldest row is
    ``flush_seconds`` old, so the training thread never does I/O."""

    def __init__(self, buffer: PointBuffer, edits=None):
        super().__init__(name="aimcol-flusher", daemon=True)
        self._buffer = buffer
        self._edits = edits  # run_edits.EditFolder: polled for other processes' property edits
        self._stop_event = threading.Event()

    def run(self) -> None:
        buffer = self._buffer
        poll = min(POLL_SECONDS, buffer.flush_seconds / 2)
        while True:
            buffer.wake.wait(poll)
            buffer.wake.clear()
            if self._stop_event.is_set():
                return
            if buffer.error is None and buffer.due():
                try:
                    buffer.flush()
                except Exception as exc:
                    buffer.error = exc
                    buffer.fast_lookup.clear()  # the next track() takes the slow path and raises it
            if self._edits is not None:
                try:
                    self._edits.poll()
                except Exception:
                    pass  # an edit that cannot be folded now is folded at the next poll or close

    def stop(self) -> None:
        self._stop_event.set()
        self._buffer.wake.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=30)


def stop_helpers_and_close(
    buffer: PointBuffer,
    helpers: list,
    ended_by: tuple[str | None, str | None] | None = None,
    end_time: float | None = None,
) -> None:
    """Run at close, GC or interpreter exit: stop the run's helper threads, flush, seal,
    release the lock.  ``ended_by``: ``(exit_status, exit_error)``; by default what the
    process's ending says (an uncaught exception makes the run failed or interrupted).
    ``end_time``: see :meth:`PointBuffer.close`."""
    for helper in helpers:
        try:
            helper.stop()
        except Exception:
            pass
    buffer.close(*(ended_by or process_exit_status()), end_time=end_time)
