"""Sealed segments carry checksums (issue 9 #2): a damaged byte is an error naming the file,
never a wrong step or value, in the direct reader, in the pyarrow fallback and in ``aimcol check``.

Every byte of a real sealed file is flipped in turn and every sequence read back by a fresh
reader: each read is exactly what was tracked, or a typed error.
"""

from __future__ import annotations

import glob
import os
import shutil

import msgpack
import numpy as np
import pyarrow as pa
import pytest
from damage_tools import aimcol_cli, closed_run, flip, manifest_of, sequences_of

from aimcol import Repo
from aimcol.errors import ChecksumError, FormatError
from aimcol.format.local_storage import LocalStorage
from aimcol.format.segments import SealedSegmentReader


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    """A finished run of three sequences in one sealed file, and what each sequence holds."""
    project = str(tmp_path_factory.mktemp("sealed") / "project")
    run_hash = closed_run(project, names=3, steps=2000)
    want = sequences_of(project, run_hash)
    (seg,) = glob.glob(os.path.join(project, ".aimcol", "runs", run_hash, "seg-*.arrow"))
    return project, run_hash, seg, want


def _outcome(project, run_hash, want, seg_name) -> str:
    try:
        got = sequences_of(project, run_hash)
    except FormatError as exc:
        assert seg_name in str(exc)  # the error names the file
        return "error"
    if got.keys() != want.keys():
        return "wrong"
    for name, (steps, values) in want.items():
        if not (np.array_equal(got[name][0], steps) and np.array_equal(got[name][1], values, equal_nan=True)):
            return "wrong"
    return "exact"


def test_every_flipped_byte_of_a_sealed_file_is_detected_or_harmless(sealed, tmp_path):
    project, run_hash, seg, want = sealed
    size = os.path.getsize(seg)
    copy = str(tmp_path / "project")
    shutil.copytree(project, copy)
    target = seg.replace(project, copy)
    outcomes = {"exact": 0, "error": 0, "wrong": 0}
    wrong_at = []
    for offset in range(0, size, max(1, size // 1500)):
        shutil.copyfile(seg, target)
        flip(target, offset)
        outcome = _outcome(copy, run_hash, want, os.path.basename(seg))
        outcomes[outcome] += 1
        if outcome == "wrong":
            wrong_at.append(offset)
    assert not wrong_at, f"wrong values, no error, after flipping bytes {wrong_at[:10]} of {size}: {outcomes}"
    assert outcomes["error"] > outcomes["exact"]  # most bytes matter; all of those are caught


def test_the_pyarrow_fallback_checks_the_file_too(sealed, tmp_path):
    """A file the direct reader does not take is read by pyarrow, from verified bytes only."""
    project, run_hash, seg, _ = sealed
    entry = manifest_of(project, run_hash)["segments"][0]
    damaged = str(tmp_path / os.path.basename(seg))
    shutil.copyfile(seg, damaged)
    flip(damaged, os.path.getsize(seg) // 2)
    storage = LocalStorage(str(tmp_path))
    reader = SealedSegmentReader(storage, os.path.basename(seg), entry)
    reader._direct = False  # as after a layout it does not understand
    with pytest.raises(ChecksumError, match=os.path.basename(seg)):
        reader.read_rows(0, entry["rows"], ("step", "value"))
    with pytest.raises(ChecksumError, match=os.path.basename(seg)):
        SealedSegmentReader(storage, os.path.basename(seg), entry).read_all()
    intact = SealedSegmentReader(LocalStorage(os.path.dirname(seg)), os.path.basename(seg), entry)
    intact._direct = False
    assert len(intact.read_rows(0, entry["rows"], ("step",))["step"]) == entry["rows"]


def test_check_reports_a_damaged_sealed_file(sealed, tmp_path):
    project, run_hash, seg, _ = sealed
    copy = str(tmp_path / "project")
    shutil.copytree(project, copy)
    code, out, err = aimcol_cli("check", "--repo", copy)
    assert code == 0, out + err
    flip(seg.replace(project, copy), os.path.getsize(seg) // 3)
    code, out, err = aimcol_cli("check", "--repo", copy)
    assert code == 1 and "Traceback" not in err
    assert f"{run_hash}: ERROR" in out and os.path.basename(seg) in out and "checksum" in out


def test_sealed_files_written_before_checksums_still_read(sealed, tmp_path):
    """A repository of today's (pre-checksum) layout: no checksum keys in the segment entries,
    a manifest without its checksum entry.  It reads exactly, and check finds nothing wrong."""
    project, run_hash, seg, want = sealed
    copy = str(tmp_path / "project")
    shutil.copytree(project, copy)
    path = Repo(copy).layout.manifest_path(run_hash)  # written by hand below, as before checksums
    manifest = manifest_of(copy, run_hash)
    for entry in manifest["segments"]:
        for key in ("size", "crc32", "batch_crc32"):
            del entry[key]
    with open(path, "wb") as fh:
        fh.write(msgpack.packb(manifest, use_bin_type=True))  # as the writer packed it before
    assert _outcome(copy, run_hash, want, os.path.basename(seg)) == "exact"
    code, out, _ = aimcol_cli("check", "--repo", copy)
    assert code == 0, out


def test_the_checksums_leave_a_plain_arrow_file(sealed):
    """Nothing is added to the file: pyarrow reads it as before, with the same schema metadata."""
    project, run_hash, seg, want = sealed
    table = pa.ipc.open_file(seg).read_all()
    assert table.num_rows == sum(len(s) for s, _ in want.values())
    assert set(table.schema.metadata) == {b"aimcol"}
    entry = manifest_of(project, run_hash)["segments"][0]
    assert entry["size"] == os.path.getsize(seg) and len(entry["batch_crc32"]) == len(entry["batches"])
