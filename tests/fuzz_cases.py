"""Real repository files to damage, one damage at a time, and the check of what each reader returns.

Shared by ``tests/test_fuzz_readers.py`` (bounded, in CI) and ``benchmarks/fuzz_readers.py``
(long runs, each case in a child process so that a SIGSEGV or SIGBUS is counted, not fatal).

A *damage* is one of: ``("flip", offset, mask)`` XORs the bytes at ``offset`` with ``mask``
(1-8 bytes), ``("zero", offset, n)`` zeroes ``n`` bytes (a lost sector), ``("cut", offset, 0)``
truncates the file there.  A check returns ``"exact"`` (the reader returned what was written),
``"error"`` (it raised the typed error of its contract) or ``"wrong"`` (a wrong value: a bug);
any other exception propagates (also a bug).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from aimcol.errors import FormatError
from aimcol.format.index_file import IndexFileError, read_index_file, write_index_file
from aimcol.format.index_tables import ManifestRecord, build_tables
from aimcol.format.local_storage import LocalStorage
from aimcol.format.manifest import new_manifest, pack_manifest, unpack_manifest
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.segments import (
    POINT_SCHEMA,
    LiveSegmentWriter,
    SealedSegmentReader,
    parse_live_segment,
    points_batch,
    write_sealed_segment,
)
from aimcol.format.storage import ObjectStat

SEQS = 3
BATCH_ROWS = 200  # per sequence
BATCHES = 4


@dataclass(repr=False)
class FuzzFiles:
    live_bytes: bytes
    live_table: pa.Table
    sealed_bytes: bytes
    sealed_entry: dict
    sealed_want: dict  # seq id -> {column: np.ndarray}
    manifest_bytes: bytes
    manifest: dict
    index_bytes: bytes
    index_tables: tuple

    def __repr__(self) -> str:  # hypothesis prints the fixture with a failing case: keep it short
        return f"<FuzzFiles live {len(self.live_bytes)} B, sealed {len(self.sealed_bytes)} B>"


def _batch(b: int) -> pa.RecordBatch:
    rng = np.random.default_rng(b)
    n = BATCH_ROWS * SEQS
    seq = np.repeat(np.arange(SEQS, dtype=np.uint32), BATCH_ROWS)
    step = np.tile(np.arange(b * BATCH_ROWS, (b + 1) * BATCH_ROWS), SEQS)
    value = rng.standard_normal(n)
    epoch = pa.array(np.where(step % 7 == 0, -1, step // 50), mask=step % 7 == 0, type=pa.int64())
    return points_batch(seq, step, value, epoch, np.full(n, 1.7e9 + b))


def make_files(folder: str) -> FuzzFiles:
    """One of each file, written by aimcol's own writers into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    storage = LocalStorage(folder)
    live_path = os.path.join(folder, "live-000001.arrows")
    writer = LiveSegmentWriter(storage, "live-000001.arrows")
    for b in range(BATCHES):
        writer.append(_batch(b))
    writer.close()
    live_bytes = open(live_path, "rb").read()
    live_table = pa.Table.from_batches([_batch(b) for b in range(BATCHES)])

    sealed_path = os.path.join(folder, "seg-000002.arrow")
    sealed = write_sealed_segment(storage, "seg-000002.arrow", live_table, "seg-000002.arrow", {"run": "f" * 24})
    entry = sealed.to_manifest()
    sealed_bytes = open(sealed_path, "rb").read()
    reader = SealedSegmentReader(storage, "seg-000002.arrow", entry)
    want = {sid: reader.read_rows(start, stop) for sid, start, stop in entry["ranges"]}

    manifest = new_manifest("a" * 24, experiment="fuzz")
    manifest["params"] = {"lr": 0.001, "layers": [64, 64], "name": "résumé", "nested": {"x": {"y": True}}}
    manifest["tags"] = ["a", "b"]
    manifest["sequences"] = [
        {"id": i, "name": f"m{i}", "context": {"subset": "train", "i": i}, "dtype": "float", "count": 800}
        for i in range(SEQS)
    ]
    manifest["segments"] = [entry]
    manifest["next_segment"] = 3
    manifest_bytes = pack_manifest(manifest)
    manifest = unpack_manifest(manifest_bytes)

    records = [
        ManifestRecord(
            dict(manifest, hash=f"{i:024x}", params={"lr": i * 0.1, "k": str(i)}), ObjectStat(i, 10, 1, 1), time.time()
        )
        for i in range(5)
    ]
    runs, seqs = build_tables(records)
    layout = RepoLayout(os.path.join(folder, "repo"))
    write_index_file(layout, runs, seqs)
    index_bytes = open(layout.local_path("index/runs.aimcolidx"), "rb").read()
    tables = read_index_file(layout)
    return FuzzFiles(live_bytes, live_table, sealed_bytes, entry, want, manifest_bytes, manifest, index_bytes, tables)


def apply_damage(data: bytes, damage: tuple) -> bytes:
    kind, offset, arg = damage
    out = bytearray(data)
    if kind == "flip":
        for i, m in enumerate(arg):
            if offset + i < len(out):
                out[offset + i] ^= m or 0x01
    elif kind == "zero":
        out[offset : offset + arg] = bytes(len(out[offset : offset + arg]))
    elif kind == "cut":
        del out[offset:]
    else:
        raise ValueError(kind)
    return bytes(out)


def check_live(files: FuzzFiles, bad: bytes) -> str:
    """The live reader never raises: it returns whole original batches, in order."""
    got = parse_live_segment(bad)
    if got.num_rows == 0:
        return "exact" if bad == files.live_bytes and files.live_table.num_rows == 0 else "error"
    steps = got.column("step").to_numpy()
    ids = steps // BATCH_ROWS
    rows = BATCH_ROWS * SEQS
    if len(ids) % rows or not np.all(ids[::rows][1:] > ids[::rows][:-1]):
        return "wrong"
    batches = [int(b) for b in ids[::rows]]
    want = pa.Table.from_batches([_batch(b) for b in batches if 0 <= b < BATCHES])
    if len(want) != got.num_rows or not got.equals(want):
        return "wrong"
    return "exact" if len(batches) == BATCHES else "error"  # batches left out: a reported gap


def read_sealed(files: FuzzFiles, bad: bytes, path: str) -> list[dict]:
    """Every sequence read by the direct reader, then by the pyarrow fallback, then ``read_all``."""
    with open(path, "wb") as fh:
        fh.write(bad)
    entry = files.sealed_entry
    storage, key = LocalStorage(os.path.dirname(path)), os.path.basename(path)
    direct = SealedSegmentReader(storage, key, entry)
    reads = [{sid: direct.read_rows(start, stop) for sid, start, stop in entry["ranges"]}]
    fallback = SealedSegmentReader(storage, key, entry)
    fallback._direct = False
    reads.append({sid: fallback.read_rows(start, stop) for sid, start, stop in entry["ranges"]})
    table = SealedSegmentReader(storage, key, entry).read_all()
    reads.append({"all": {name: table.column(name).to_numpy(zero_copy_only=False) for name in POINT_SCHEMA.names}})
    return reads


def check_sealed(files: FuzzFiles, bad: bytes, folder: str) -> str:
    try:
        reads = read_sealed(files, bad, os.path.join(folder, "seg-000002.arrow"))
    except FormatError:
        return "error"
    for read in reads[:2]:
        for sid, columns in files.sealed_want.items():
            for name, values in columns.items():
                if not np.array_equal(read[sid][name], values, equal_nan=True):
                    return "wrong"
    whole = reads[2]["all"]
    if len(whole["step"]) != files.sealed_entry["rows"]:
        return "wrong"
    for sid, start, stop in files.sealed_entry["ranges"]:
        for name in ("seq", "step", "value", "time"):
            if not np.array_equal(whole[name][start:stop], files.sealed_want[sid][name]):
                return "wrong"
    return "exact"


def check_manifest(files: FuzzFiles, bad: bytes) -> str:
    try:
        got = unpack_manifest(bad, "manifest.msgpack")
    except FormatError:
        return "error"
    return "exact" if got == files.manifest else "wrong"


def check_index(files: FuzzFiles, bad: bytes, folder: str) -> str:
    layout = RepoLayout(os.path.join(folder, "repo"))
    path = layout.local_path("index/runs.aimcolidx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(bad)
    try:
        runs, seqs = read_index_file(layout)
    except IndexFileError:
        return "error"
    want_runs, want_seqs = files.index_tables
    return "exact" if runs.equals(want_runs) and seqs.equals(want_seqs) else "wrong"
