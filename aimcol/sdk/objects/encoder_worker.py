"""The image encoder process's loop: pixels in on stdin, Pillow's encoded bytes out on stdout.

Run by :mod:`aimcol.sdk.objects.encoder_process` as a plain file (``runpy.run_path``), so
it imports neither aimcol nor anything beside the standard library, NumPy and Pillow.

A request is ``<I`` header length, the JSON header, ``<Q`` data length and the pixels; the
header says how to rebuild the image the parent would have encoded: ``{"kind": "array",
"dtype", "shape"}`` (``PIL.Image.fromarray`` of those bytes) or ``{"kind": "raw", "mode",
"size"}`` (``PIL.Image.frombytes``), and ``"params"`` for ``save()``.  The reply is ``<BQ``
(0: the encoded bytes follow; 1: an error message follows) and the payload.  Before the
first request it writes ``HELLO`` (the parent knows then that it runs).  The loop ends
at end of input: when the parent closes the pipe or dies.
"""

from __future__ import annotations

import json
import signal
import struct
import sys
from io import BytesIO


def _read_exact(stream, n: int) -> bytes | None:
    data = stream.read(n)
    return data if data is not None and len(data) == n else None


def _image(header: dict, data: bytes):
    from PIL import Image

    if header["kind"] == "array":
        import numpy as np

        array = np.frombuffer(data, dtype=np.dtype(header["dtype"])).reshape(header["shape"])
        return Image.fromarray(array)
    return Image.frombytes(header["mode"], tuple(header["size"]), data)


HELLO = b"aimcol-encoder 1\n"


def serve(stdin, stdout) -> None:
    stdout.write(HELLO)
    stdout.flush()
    while True:
        head = _read_exact(stdin, 4)
        if head is None:
            return
        header = json.loads(_read_exact(stdin, struct.unpack("<I", head)[0]) or b"null")
        size = _read_exact(stdin, 8)
        data = _read_exact(stdin, struct.unpack("<Q", size)[0]) if size is not None else None
        if header is None or data is None:
            return
        try:
            container = BytesIO()
            _image(header, data).save(container, **header["params"])
            status, payload = 0, container.getvalue()
        except Exception as exc:  # noqa: BLE001 - the parent raises it for that value
            status, payload = 1, f"{type(exc).__name__}: {exc}".encode()
        stdout.write(struct.pack("<BQ", status, len(payload)))
        stdout.write(payload)
        stdout.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which still needs us to close
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:  # the parent is gone
        pass
