"""Image encoding in a helper process, so that it never holds the training thread's GIL.

Pillow's PNG encoder compresses while holding the GIL (its ``encode()`` into memory does not
release it), so an image encoded by a thread of the training process stalls the training
thread for as long as the compression takes.  A tracked ``Image`` of pixels is therefore
encoded by one helper process per Python process (:mod:`aimcol.sdk.objects.encoder_worker`,
the same Pillow, so the same bytes): the run's object writer thread sends it the pixels
through a pipe and waits for the encoded bytes with the GIL released.

The helper starts on the first encode (``sys.executable``, in its own session so that a
Ctrl-C of the terminal leaves it to finish what the closing run still queues), serves every
run of the process one image at a time, and ends when its input closes: at exit, or when the
parent dies.  Whenever it cannot serve (no interpreter, it died, its reply is an error, or
``AIMCOL_ENCODER_PROCESS=0``), :meth:`EncoderProcess.encode` returns ``None`` and the caller
encodes in its own thread instead: slower for the training thread, the same bytes.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import struct
import subprocess
import sys
import threading
from typing import Any

from aimcol.sdk.objects.encoder_worker import HELLO

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

WORKER_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "encoder_worker.py")
_BOOT = (  # the folder it runs in is no import source (sys is built in: nothing is imported before)
    "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
    "import runpy; runpy.run_path(sys.argv[1], run_name='__main__')"
)
START_TIMEOUT_S = 60.0
"""How long the helper has to say ``HELLO``: a ``sys.executable`` that is not a Python running
it (an embedding application) is found out then, not by a hang."""


class EncoderProcess:
    """The helper process and the pipe to it; one request at a time (callers queue on a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._pid = 0  # the process that started the helper (a forked child starts its own)
        self._failed = False
        self._closed = False

    def encode(self, header: dict[str, Any], data) -> bytes | None:
        """The encoded bytes of the image ``header`` and ``data`` describe, or ``None`` when the
        helper cannot encode it (the caller encodes it itself)."""
        if os.environ.get("AIMCOL_ENCODER_PROCESS", "1") == "0" or not hasattr(os, "writev"):
            return None  # turned off, or no writev/readv (Windows)
        try:
            head = json.dumps(header).encode()
        except (TypeError, ValueError):  # save() parameters JSON cannot carry: encoded by the caller
            return None
        view = memoryview(data).cast("B")
        with self._lock:
            proc = self._process()
            if proc is None:
                return None
            try:
                assert proc.stdin is not None and proc.stdout is not None
                _write_all(
                    proc.stdin.fileno(), [struct.pack("<I", len(head)), head, struct.pack("<Q", view.nbytes), view]
                )
                reply = _read_exact(proc.stdout.fileno(), 9)
                status, length = struct.unpack("<BQ", reply)
                payload = _read_exact(proc.stdout.fileno(), length)
            except (OSError, EOFError, ValueError) as exc:
                self._give_up(f"it failed ({exc!r})")
                return None
        return bytes(payload) if status == 0 else None  # an error: the caller's own encoding raises it

    def _process(self) -> subprocess.Popen | None:
        if self._pid != os.getpid():  # first use, or in a forked child: the parent's helper is not ours
            self._proc, self._pid, self._failed = None, os.getpid(), False
        if self._failed or self._closed:
            return None
        if self._proc is not None:
            if self._proc.poll() is None:
                return self._proc
            self._give_up(f"it exited with status {self._proc.returncode}")
            return None
        if not sys.executable:
            self._failed = True
            return None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, WORKER_PATH],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,
                bufsize=0,
            )
        except OSError as exc:
            self._give_up(f"it could not start ({exc!r})")
            return None
        for stream in (self._proc.stdin, self._proc.stdout):
            _widen_pipe(stream.fileno())
        try:
            ready, _, _ = select.select([self._proc.stdout], [], [], START_TIMEOUT_S)
            hello = _read_exact(self._proc.stdout.fileno(), len(HELLO)) if ready else b""
        except (OSError, EOFError) as exc:
            hello = repr(exc).encode()
        if hello != HELLO:
            self._proc.kill()
            self._give_up(f"it did not start as an encoder ({bytes(hello)[:60]!r})")
            return None
        return self._proc

    def _give_up(self, why: str) -> None:
        logger.warning("aimcol: the image encoder process stopped serving: %s; images are encoded in-process", why)
        self._failed = True
        self.close()

    def close(self) -> None:
        """End the helper (its input closed, then waited for a moment)."""
        proc, self._proc = self._proc, None
        if proc is None or self._pid != os.getpid():
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def after_fork_in_child(self) -> None:
        """In a forked child: the parent's helper, pipes and lock (maybe held by a thread that
        does not exist here) are not this process's; the next encode starts a helper of its own."""
        self._lock = threading.Lock()
        self._proc, self._pid, self._failed = None, os.getpid(), False

    def close_at_exit(self) -> None:
        """At exit: end the helper; runs still closing after this encode in-process."""
        with self._lock:
            self._closed = True
            self.close()


PIPE_BYTES = 1024 * 1024
"""Pipe capacity asked for (Linux): a request and a reply pass in one system call each, so the
writer thread takes the GIL back a few times per image, not once per 64 kB."""


def _widen_pipe(fd: int) -> None:
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if setpipe is not None:
        try:
            fcntl.fcntl(fd, setpipe, PIPE_BYTES)
        except OSError:  # above /proc/sys/fs/pipe-max-size: the default size works, in more calls
            pass


def _write_all(fd: int, parts: list) -> None:
    views = [memoryview(p).cast("B") for p in parts]
    while views:
        sent = os.writev(fd, views)
        while views and sent >= views[0].nbytes:
            sent -= views[0].nbytes
            views.pop(0)
        if views and sent:
            views[0] = views[0][sent:]


def _read_exact(fd: int, n: int) -> bytearray:
    data = bytearray(n)
    view, got = memoryview(data), 0
    while got < n:
        read = os.readv(fd, [view[got:]])
        if read == 0:
            raise EOFError("the encoder process closed its output")
        got += read
    return data


ENCODER = EncoderProcess()
"""The process's one encoder helper."""

atexit.register(ENCODER.close_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=ENCODER.after_fork_in_child)
