"""Sealed segments read directly (``aimcol.format.ipc_file``) give what pyarrow's reader gives,
and files laid out otherwise fall back to pyarrow."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from aimcol.format import segments
from aimcol.format.ipc_file import IpcFileBatches, IpcLayoutError
from aimcol.format.local_storage import LocalStorage
from aimcol.format.segments import POINT_SCHEMA, SealedSegmentReader, points_batch, write_sealed_segment


def _at(path: str) -> tuple[LocalStorage, str]:
    """The storage of a file's folder and the file's key in it."""
    return LocalStorage(os.path.dirname(path)), os.path.basename(path)


def _points(n_seqs: int, steps: int, epochs: bool) -> pa.Table:
    seq = np.repeat(np.arange(n_seqs, dtype=np.uint32), steps)
    step = np.tile(np.arange(steps, dtype=np.int64), n_seqs)
    value = np.sin(step * 0.01) + seq
    epoch = pa.array([None if (i % 7 == 3) else i // 100 for i in range(len(seq))], pa.int64()) if epochs else None
    return pa.Table.from_batches([points_batch(seq, step, value, epoch, step * 0.5 + 1.7e9)])


def _sealed(tmp_path, table: pa.Table, monkeypatch, batch_rows: int = 65536):
    monkeypatch.setattr(segments, "SEALED_BATCH_ROWS", batch_rows)
    path = str(tmp_path / "seg-000001.arrow")
    entry = write_sealed_segment(
        LocalStorage(str(tmp_path)), "seg-000001.arrow", table, "seg-000001.arrow", {"run": "x", "sequences": {}}
    ).to_manifest()
    return path, entry


def _expected(path: str) -> pa.Table:
    return pa.ipc.open_file(path).read_all().replace_schema_metadata(None)


def _assert_columns(got: dict, table: pa.Table, columns) -> None:
    """``got`` (NumPy columns) holds ``columns`` of ``table``; nulls as NaN."""
    assert list(got) == list(columns)
    for name in columns:
        col = table.column(name)
        want = (
            col.to_numpy()
            if col.null_count == 0
            else np.array([np.nan if v is None else v for v in col.to_pylist()], dtype=np.float64)
        )
        np.testing.assert_array_equal(got[name], want, err_msg=name)
        assert got[name].dtype == want.dtype or not len(want), name


@pytest.mark.parametrize("epochs", [False, True])
def test_direct_reads_equal_pyarrow_for_every_range_and_column_set(tmp_path, monkeypatch, epochs):
    path, entry = _sealed(tmp_path, _points(3, 250, epochs), monkeypatch, batch_rows=100)  # several batches a sequence
    expected = _expected(path)
    reader = SealedSegmentReader(*_at(path), entry)
    for start, stop in [(0, 250), (250, 500), (120, 380), (0, 750), (749, 750), (99, 101), (5, 5)]:
        for columns in [("step", "value"), ("step", "epoch"), POINT_SCHEMA.names]:
            _assert_columns(reader.read_rows(start, stop, columns), expected.slice(start, stop - start), columns)
    assert isinstance(reader._direct, IpcFileBatches)  # read directly, not through the fallback
    pyarrow_reader = SealedSegmentReader(*_at(path), entry)
    pyarrow_reader._direct = False
    for start, stop in [(120, 380), (0, 750)]:
        direct = reader.read_rows(start, stop)
        for name, values in pyarrow_reader.read_rows(start, stop).items():
            np.testing.assert_array_equal(values, direct[name])
            assert values.dtype == direct[name].dtype


def test_uncompressed_files_read_directly(tmp_path):
    path = str(tmp_path / "plain.arrow")
    table = _points(2, 10, True).replace_schema_metadata(None)
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, POINT_SCHEMA) as writer:
        writer.write_table(table)
    length, [(step, no_nulls), (epoch, valid)] = IpcFileBatches(*_at(path)).read_columns(
        0, [1, 3], [np.dtype(np.int64), np.dtype(np.int64)]
    )
    assert length == 20 and no_nulls is None
    np.testing.assert_array_equal(step, table.column("step").to_numpy())
    assert valid.tolist() == [v is not None for v in table.column("epoch").to_pylist()]
    assert epoch[valid.astype(bool)].tolist() == [v for v in table.column("epoch").to_pylist() if v is not None]


def test_other_layouts_fall_back_to_pyarrow(tmp_path):
    path = str(tmp_path / "lz4.arrow")
    table = _points(1, 10, False).replace_schema_metadata(None)
    with (
        pa.OSFile(path, "wb") as sink,
        pa.ipc.new_file(sink, POINT_SCHEMA, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer,
    ):
        writer.write_table(table)
    with pytest.raises(IpcLayoutError):
        IpcFileBatches(*_at(path)).read_columns(0, [1], [np.dtype(np.int64)])
    reader = SealedSegmentReader(*_at(path), {"batches": [10]})
    _assert_columns(reader.read_rows(2, 8, ("step", "value")), table.slice(2, 6), ("step", "value"))
    assert reader._direct is False

    stream = str(tmp_path / "stream.arrows")  # not a file at all: no footer
    with pa.OSFile(stream, "wb") as sink, pa.ipc.new_stream(sink, POINT_SCHEMA) as writer:
        writer.write_table(table)
    with pytest.raises(IpcLayoutError):
        IpcFileBatches(*_at(stream))
