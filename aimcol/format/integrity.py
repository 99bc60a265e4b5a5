"""Checksums that let every reader tell intact bytes from damaged ones (CRC-32, zlib's).

Where each one lives (``FORMAT.md`` states the guarantees):

- **Sealed segments**: the manifest entry of a sealed file carries ``crc32`` (the whole
  file) and ``batch_crc32`` (one per record batch: its footer block, i.e. offset, metadata
  length and body length, then the bytes of the batch's message).  The sealed file itself
  stays a plain Arrow IPC file.  A reader of one batch checks that batch; a reader of the
  whole file checks the whole file, before Arrow parses any of it.
- **Manifests**: the msgpack map ends with the key ``crc32`` whose value, eight hex digits,
  is the CRC of every byte before that key.  An older aimcol reads it as an unknown key.
- **The run index**: its header holds the CRC of everything after the header.
- **Live segments**: each batch's custom metadata ``aimcol.crc32`` (``segments.py``).

CRC-32 costs about 1.5 ns per byte here (zlib); a sealed batch is checked on the
compressed bytes, about 9 bytes per point.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import Any

import msgpack

from aimcol.errors import ChecksumError

crc32 = zlib.crc32

# ---- manifests: a msgpack map whose last entry is {"crc32": "<8 hex digits>"} ------------------------

MAP_CRC_KEY = "crc32"
_MAP_TAIL = msgpack.packb(MAP_CRC_KEY) + b"\xa8"  # the key (a 5-byte fixstr), then an 8-byte fixstr
_MAP_TAIL_LEN = len(_MAP_TAIL) + 8
_HEX = frozenset(b"0123456789abcdef")


def pack_checked_map(mapping: dict[str, Any]) -> bytes:
    """``mapping`` as a msgpack map whose last entry is ``"crc32": "<8 hex digits>"``: the CRC of
    every byte before those digits (the checksum entry's own key and markers included)."""
    body = {k: v for k, v in mapping.items() if k != MAP_CRC_KEY}
    body[MAP_CRC_KEY] = "00000000"
    data = bytearray(msgpack.packb(body, use_bin_type=True))
    data[-8:] = b"%08x" % crc32(memoryview(data)[:-8])
    return bytes(data)


def map_checksum_matches(data: bytes) -> bool | None:
    """Whether packed bytes end with a checksum entry that matches them; None when they carry
    none (written before checksums; or the damage hit the digits themselves, so the rest is
    intact).  The entry is recognised by its layout (a 5-byte key, an 8-byte string), so a
    damaged key or marker inside it is a mismatch, not a missing checksum."""
    if len(data) < _MAP_TAIL_LEN or data[-_MAP_TAIL_LEN] != _MAP_TAIL[0] or data[-9] != _MAP_TAIL[-1]:
        return None
    digits = data[-8:]
    if not _HEX.issuperset(digits):
        return None
    return crc32(memoryview(data)[:-8]) == int(digits, 16)


def strip_map_checksum(mapping: dict[str, Any]) -> dict[str, Any]:
    """The unpacked map without its checksum entry (callers never see it)."""
    mapping.pop(MAP_CRC_KEY, None)
    return mapping


# ---- sealed segments: one CRC per record batch, one for the whole file -----------------------------

_BLOCK = struct.Struct("<qiq")


def block_checksum(offset: int, meta_len: int, body_len: int, message: bytes | memoryview) -> int:
    """CRC of one record batch of an Arrow IPC file: its footer block, then its message bytes.

    The block is included so that a damaged footer pointing at other bytes, or splitting the
    same bytes differently into metadata and body, does not match either.
    """
    return crc32(message, crc32(_BLOCK.pack(offset, meta_len, body_len)))


def sealed_checksums(data: bytes | memoryview, blocks: Iterable[tuple[int, int, int]]) -> dict[str, Any]:
    """The manifest keys that let readers verify a sealed file: ``size``, ``crc32``, ``batch_crc32``."""
    view = memoryview(data)
    return {
        "size": len(view),
        "crc32": crc32(view),
        "batch_crc32": [block_checksum(o, m, b, view[o : o + m + b]) for o, m, b in blocks],
    }


def check_file_checksum(path: str, data: bytes | memoryview, entry: dict[str, Any]) -> None:
    """Raise :class:`ChecksumError` if ``data`` (the whole sealed file) does not match ``entry``'s
    ``crc32``; a file sealed before checksums (no key) passes unchecked."""
    want = entry.get("crc32")
    if want is None:
        return
    if len(data) != entry.get("size", len(data)) or crc32(data) != want:
        raise ChecksumError(f"{path}: sealed segment does not match its checksum (the file is damaged)")
