"""WAV bytes from and to NumPy arrays (``Audio(array, rate=...)``, ``Audio.to_numpy()``).

PCM for integer arrays (uint8, int16, int32), IEEE float for float32/float64; one column
per channel (``frames`` or ``frames × channels``).  The standard library's ``wave`` module
writes only PCM, so the RIFF header is written here.
"""

from __future__ import annotations

import struct
from io import BytesIO

import numpy as np

_PCM, _FLOAT = 1, 3
_KINDS = {("u", 1): _PCM, ("i", 2): _PCM, ("i", 4): _PCM, ("f", 4): _FLOAT, ("f", 8): _FLOAT}


def write(rate: int, data: np.ndarray) -> bytes:
    """The WAV file of ``data`` sampled at ``rate`` Hz; ``ValueError`` for other dtypes or shapes."""
    data = np.asarray(data)
    tag = _KINDS.get((data.dtype.kind, data.dtype.itemsize))
    if tag is None:
        raise ValueError(f"WAV audio from an array of dtype {data.dtype}: use uint8, int16, int32, float32 or float64")
    if data.ndim not in (1, 2) or data.size == 0 and data.ndim == 0:
        raise ValueError(f"WAV audio from an array of shape {data.shape}: use (frames,) or (frames, channels)")
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not 0 < rate < 2**32:
        raise ValueError(f"audio rate must be a positive int, got {rate!r}")
    channels = 1 if data.ndim == 1 else data.shape[1]
    width = data.dtype.itemsize
    body = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes()
    fmt = struct.pack("<HHIIHH", tag, channels, int(rate), int(rate) * channels * width, channels * width, width * 8)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body
    if len(body) % 2:
        chunks += b"\0"
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def read(source: bytes | BytesIO) -> tuple[int, np.ndarray]:
    """``(rate, samples)`` of a WAV file written by :func:`write` or any PCM/float WAV."""
    raw = source.getvalue() if isinstance(source, BytesIO) else bytes(source)
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError("not a WAV file (no RIFF/WAVE header)")
    pos, fmt, body = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        chunk = raw[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", chunk)
        elif cid == b"data":
            body = chunk
        pos += 8 + size + (size % 2)
    if fmt is None or body is None:
        raise ValueError("WAV file without fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    kind = "f" if tag == _FLOAT else ("u" if bits == 8 else "i")
    samples = np.frombuffer(body, dtype=np.dtype(f"<{kind}{bits // 8}"))
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    return rate, samples


def duration(data: bytes) -> float | None:
    """Seconds of audio in a WAV file's bytes; None when they are not a readable WAV."""
    try:
        rate, samples = read(data)
    except (ValueError, struct.error):
        return None
    return len(samples) / rate if rate else None
