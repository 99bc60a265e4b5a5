"""Damaged live segments of crashed runs (issue 9 #5, #6).

A damaged header ends nothing but the damaged part: reading, resuming, ``runs close`` and
``repair`` all work and read only intact batches.  A damaged batch costs that batch only:
the batches after it are kept (their checksums vouch for them) and the gap is reported.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pyarrow as pa
import pytest
from damage_tools import aimcol_cli, crashed_run, expected_points, flip, manifest_of, sequences_of

from aimcol import Repo, Run
from aimcol.format.segments import parse_live_segment

BATCHES, ROWS = 10, 1000


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A crashed run: ten flushed batches of 1,000 points of ``m0`` in its live segment."""
    project = str(tmp_path_factory.mktemp("live") / "project")
    run_hash = crashed_run(project, batches=BATCHES, rows=ROWS)
    live = manifest_of(project, run_hash)["live"]
    return project, run_hash, os.path.join(project, ".aimcol", "runs", run_hash, live)


@pytest.fixture
def project(pristine, tmp_path):
    src, run_hash, live = pristine
    dst = str(tmp_path / "project")
    shutil.copytree(src, dst)
    return dst, run_hash, live.replace(src, dst)


def message_spans(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of each IPC message (schema, then batches), found by pyarrow's reader."""
    source = pa.BufferReader(pa.py_buffer(data))
    reader = pa.ipc.MessageReader.open_stream(source)
    spans, start = [], 0
    while True:
        try:
            reader.read_next_message()
        except StopIteration:
            return spans
        spans.append((start, source.tell()))
        start = source.tell()


def _value_offset(data: bytes, batch: int) -> int:
    """A byte inside the ``value`` column of batch ``batch`` (its last 8 KB are value/epoch/time)."""
    start, end = message_spans(data)[1 + batch]
    return start + (end - start) // 2


def test_repair_keeps_the_batches_after_a_damaged_one_and_reports_the_gap(project):
    repo, run_hash, live = project
    with open(live, "rb") as fh:
        data = fh.read()
    flip(live, _value_offset(data, 1))
    steps, values = expected_points(BATCHES, ROWS, skip_batches={1})
    got = sequences_of(repo, run_hash)["m0"]  # a reader skips the damaged batch too
    assert np.array_equal(got[0], steps) and np.array_equal(got[1], values)

    code, out, err = aimcol_cli("repair", "--repo", repo)
    assert code == 0 and "Traceback" not in err, err
    assert "batch 1" in out and "checksum" in out, out  # the gap is reported
    manifest = manifest_of(repo, run_hash)
    assert manifest["live"] is None and sum(s["rows"] for s in manifest["segments"]) == (BATCHES - 1) * ROWS
    got = sequences_of(repo, run_hash)["m0"]
    assert np.array_equal(got[0], steps) and np.array_equal(got[1], values)


def _schema_end(data: bytes) -> int:
    return message_spans(data)[0][1]


def test_every_flip_in_the_headers_leaves_a_readable_resumable_repairable_run(pristine, tmp_path):
    """Each byte of the schema message and of the first batch's header, flipped: the scan never
    raises, and what it returns is whole intact batches, in order."""
    _, _, live = pristine
    with open(live, "rb") as fh:
        data = fh.read()
    whole = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    spans = message_spans(data)
    first_batch_header = range(spans[1][0], spans[1][0] + 400)
    for offset in [*range(_schema_end(data)), *first_batch_header]:
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        got = parse_live_segment(bytes(damaged))  # never raises
        assert got.num_rows % ROWS == 0, offset
        steps = got.column("step").to_numpy()
        batches = sorted({int(s) // ROWS for s in steps})
        want = pa.concat_tables([whole.slice(b * ROWS, ROWS) for b in batches]) if batches else whole.slice(0, 0)
        assert got.equals(want), f"flip at {offset}: not whole intact batches"
        assert got.num_rows >= (BATCHES - 1) * ROWS, f"flip at {offset} lost more than one batch"


@pytest.mark.parametrize("where", ["schema", "batch_header"])
def test_resume_close_and_repair_work_on_a_damaged_header(project, where):
    repo, run_hash, live = project
    with open(live, "rb") as fh:
        data = fh.read()
    # a type id in the schema, or the first batch's metadata: what raised Arrow errors before
    offset = _schema_end(data) - 40 if where == "schema" else message_spans(data)[1][0] + 40
    flip(live, offset)
    code, out, err = aimcol_cli("runs", "close", run_hash, "--repo", repo)
    assert code == 0 and "Traceback" not in err, err
    got = sequences_of(repo, run_hash)["m0"]
    assert len(got[0]) >= (BATCHES - 1) * ROWS
    run = Run(run_hash, repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
    run.track_array(np.array([1.0]), name="m0", steps=np.array([BATCHES * ROWS]))
    run.close()
    assert sequences_of(repo, run_hash)["m0"][0][-1] == BATCHES * ROWS


def test_repair_goes_on_after_a_run_it_cannot_repair(tmp_path):
    """One crashed run whose live file is not even a file, one ordinary crashed run: repair
    reports the first by name and repairs the second."""
    repo = str(tmp_path / "project")
    broken = crashed_run(repo, batches=2, rows=10)
    fine = crashed_run(repo, batches=2, rows=10)
    live = os.path.join(repo, ".aimcol", "runs", broken, manifest_of(repo, broken)["live"])
    os.unlink(live)
    os.mkfifo(live)
    code, out, err = aimcol_cli("repair", "--repo", repo)
    assert "Traceback" not in err, err
    assert f"{broken}: ERROR" in out and f"{fine}: repaired" in out, out
    assert manifest_of(repo, fine)["live"] is None
    assert len(Repo(repo).get_run(fine).get_metric("m0", {}).values.sparse_numpy()[0]) == 20
