"""The run store's reader and writer on edge cases of their own (the rest is tested through the SDK)."""

from __future__ import annotations

import numpy as np
import pytest

from aimcol.errors import FormatError
from aimcol.format.index_file import IndexFileError
from aimcol.format.repo_layout import init_repo
from aimcol.format.run_store import RunReaderStore, RunWriterStore

RUN = "00112233445566778899aabb"


def _writer_with_live_points(tmp_path) -> RunWriterStore:
    layout = init_repo(str(tmp_path / ".aimcol"))
    writer = RunWriterStore(layout, RUN, create=True)
    seq = writer.add_sequence("loss", {}, "float")
    writer.append_points(np.full(3, seq), np.arange(3), np.ones(3), None, np.zeros(3))
    return writer


def test_a_live_segment_that_stays_missing_raises_format_error_naming_it(tmp_path):
    """The manifest names a live segment that is gone and stays gone (removed by hand): the
    reader re-reads the manifest a few times, then says so — it used to end its retries in an
    ``UnboundLocalError``."""
    writer = _writer_with_live_points(tmp_path)
    try:
        live = writer.manifest["live"]
        assert writer.storage.delete(writer.layout.segment_key(RUN, live))
        reader = RunReaderStore(writer.layout, RUN)
        with pytest.raises(FormatError, match=f"{live}.*missing"):
            reader.read_sequence(0)
        with pytest.raises(FormatError, match=f"{live}.*missing"):
            reader.read_all_points()
    finally:
        writer.lock.release()


def test_a_reader_reads_the_live_points(tmp_path):
    writer = _writer_with_live_points(tmp_path)
    try:
        reader = RunReaderStore(writer.layout, RUN)
        assert reader.read_sequence(0)["step"].tolist() == [0, 1, 2]
        assert reader.read_all_points().num_rows == 3
        assert reader.active
    finally:
        writer.close()
    assert not RunReaderStore(writer.layout, RUN).active


def test_format_layer_errors_are_format_errors():
    """Callers that catch the format's errors catch these too (both sat outside the hierarchy)."""
    from aimcol.format.ipc_file import IpcLayoutError

    assert issubclass(IndexFileError, FormatError)
    assert issubclass(IpcLayoutError, FormatError)
