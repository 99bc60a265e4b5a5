"""Torn and damaged files: a live segment cut anywhere, garbage after it, corrupt manifests,
a newer format (DESIGN §3–4).

The live segment comes from a real writer process killed before it closed its run, so it
is byte for byte what aimcol writes.  Batch boundaries are found with pyarrow's own IPC
message reader, not with the reader under test.
"""

from __future__ import annotations

import os
import shutil

import msgpack
import numpy as np
import pyarrow as pa
import pytest
from robust_writer import Proc, expected_value, key_str, read_prefixes, sequence_keys

from aimcol import FormatError, FormatVersionError, Repo, Run
from aimcol.format.local_storage import LocalStorage
from aimcol.format.manifest import read_manifest
from aimcol.format.segments import read_live_segment as _read_live_segment

NAMES = 2
BATCHES = 6  # one iteration (one point per sequence, 4 points) per batch


def read_live_segment(path: str):
    """The live-segment reader on a file of the filesystem."""
    return _read_live_segment(LocalStorage(os.path.dirname(path)), os.path.basename(path))


@pytest.fixture(scope="module")
def killed_writer(tmp_path_factory):
    """A run whose writer flushed ``BATCHES`` batches into its live segment and was killed -9.

    Returns ``(pristine copy of the project folder, run hash, live file name)``; tests copy it.
    """
    base = tmp_path_factory.mktemp("torn")
    repo = str(base / "project")
    proc = Proc(
        "writer",
        {
            "repo": repo,
            "names": NAMES,
            "iterations": BATCHES,
            "flush_every": 1,
            "flush_points": 10**6,
            "seal_rows": 10**6,
            "close": False,
            "hold": True,
        },
        str(base / "writer.err"),
    )
    proc.wait_for(lambda line: line == "C")
    assert proc.last_flushed() == BATCHES
    proc.kill()
    manifest = read_manifest(Repo(repo).layout, proc.run_hash)
    assert manifest["live"] and manifest["segments"] == []
    return repo, proc.run_hash, manifest["live"]


@pytest.fixture
def project(killed_writer, tmp_path):
    """A fresh copy of the killed writer's project: ``(repo, run hash, live file path, live bytes)``."""
    pristine, run_hash, live_name = killed_writer
    repo = str(tmp_path / "project")
    shutil.copytree(pristine, repo)
    live_path = Repo(repo).layout.segment_path(run_hash, live_name)
    with open(live_path, "rb") as fh:
        data = fh.read()
    return repo, run_hash, live_path, data


def message_ends(data: bytes) -> list[int]:
    """Byte offset after each IPC message of a complete stream (schema first, then batches)."""
    source = pa.BufferReader(pa.py_buffer(data))
    reader = pa.ipc.MessageReader.open_stream(source)
    ends = []
    while True:
        try:
            reader.read_next_message()
        except StopIteration:
            break
        ends.append(source.tell())
    return ends


def full_table(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def test_the_live_segment_holds_the_workload(project):
    repo, run_hash, _, data = project
    ends = message_ends(data)
    assert len(ends) == 1 + BATCHES  # the schema message, then one message per batch
    assert ends[-1] == len(data)  # the writer died before writing an end-of-stream marker
    table = full_table(data)
    assert table.num_rows == BATCHES * 2 * NAMES
    run = Repo(repo).get_run(run_hash)
    assert read_prefixes(run, NAMES) == {key_str(k): BATCHES for k in sequence_keys(NAMES)}


def test_every_truncation_reads_the_complete_batches_before_it(project, tmp_path):
    """``read_live_segment`` on the file cut at every byte of the schema, the first and the last
    batch, and around every batch boundary: exactly the batches wholly before the cut."""
    _, _, _, data = project
    ends = message_ends(data)
    whole = full_table(data)
    rows_per_batch = whole.num_rows // BATCHES
    cut_path = str(tmp_path / "cut.arrows")
    cuts = set(range(0, ends[1] + 1)) | set(range(ends[-2], len(data) + 1))
    cuts |= {end + d for end in ends for d in (-2, -1, 0, 1, 2) if 0 <= end + d <= len(data)}
    for cut in sorted(cuts):
        with open(cut_path, "wb") as fh:
            fh.write(data[:cut])
        complete = sum(1 for end in ends[1:] if end <= cut)
        got = read_live_segment(cut_path)
        assert got.schema.equals(whole.schema)
        assert got.equals(whole.slice(0, complete * rows_per_batch)), f"cut at byte {cut} of {len(data)}"


def test_sdk_reads_a_run_whose_live_file_is_cut_in_its_last_batch(project):
    """Every cut inside the last batch: the run reads as the first ``BATCHES - 1`` iterations."""
    repo, run_hash, live_path, data = project
    ends = message_ends(data)
    for cut in range(ends[-2], ends[-1] + 1):
        with open(live_path, "wb") as fh:
            fh.write(data[:cut])
        run = Repo(repo).get_run(run_hash)
        want = BATCHES if cut == ends[-1] else BATCHES - 1
        # the manifest counted the last batch before the file was cut: its stats may say more
        lengths = read_prefixes(run, NAMES, check_stats=False)
        assert lengths == {key_str(k): want for k in sequence_keys(NAMES)}, f"cut at {cut}"
        assert run.active is False and run.crashed is True


@pytest.mark.parametrize("where", ["inside the last batch", "at the last batch's start"])
def test_resume_after_a_cut_drops_the_torn_batch_and_continues_without_a_gap(project, where):
    repo, run_hash, live_path, data = project
    ends = message_ends(data)
    cut = (ends[-2] + ends[-1]) // 2 if where == "inside the last batch" else ends[-2]
    with open(live_path, "wb") as fh:
        fh.write(data[:cut])
    _resume_and_extend(repo, run_hash, have=BATCHES - 1)


def _resume_and_extend(repo: str, run_hash: str, have: int, more: int = 3) -> None:
    """Resume (auto-steps continue at ``have``), add ``more`` iterations, close; check the result."""
    run = Run(run_hash, repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
    manifest = read_manifest(run.repo.layout, run_hash)
    assert manifest["live"] is None
    assert not [n for n in os.listdir(run.repo.layout.run_dir(run_hash)) if n.startswith("live-")]
    for seq in manifest["sequences"]:
        assert seq["last_step"] == have - 1, seq
    for j in range(more):
        for name, subset in sequence_keys(NAMES):
            run.track(expected_value(name, subset, have + j), name=name, context={"subset": subset})
    run.close()
    assert read_prefixes(Repo(repo).get_run(run_hash), NAMES) == {key_str(k): have + more for k in sequence_keys(NAMES)}


GARBAGE = (
    [b"\x00" * n for n in (1, 3, 4, 7, 8, 9, 16, 64, 4096)]
    + [b"\xff\xff\xff\xff", b"\xff\xff\xff\xff\x00\x00\x00\x00", b"\xff\xff\xff\xff\x10\x00\x00\x00"]
    + [
        np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
        for seed, size in enumerate([1, 2, 5, 8, 13, 100, 333, 1000, 5000] * 30)
    ]
)


def test_garbage_after_complete_batches_reads_as_the_complete_batches(project, tmp_path):
    _, _, _, data = project
    whole = full_table(data)
    path = str(tmp_path / "garbage.arrows")
    for tail in GARBAGE:
        with open(path, "wb") as fh:
            fh.write(data + tail)
        assert read_live_segment(path).equals(whole), tail[:16]


@pytest.mark.parametrize("tail", [b"\x00" * 8, b"\x00" * 4096, GARBAGE[-1]], ids=["8 zeros", "4096 zeros", "random"])
def test_sdk_and_resume_with_garbage_after_the_last_batch(project, tail):
    repo, run_hash, live_path, data = project
    with open(live_path, "ab") as fh:
        fh.write(tail)
    run = Repo(repo).get_run(run_hash)
    assert read_prefixes(run, NAMES) == {key_str(k): BATCHES for k in sequence_keys(NAMES)}
    _resume_and_extend(repo, run_hash, have=BATCHES)


def _corruptions(good: bytes) -> list[tuple[str, bytes]]:
    cases = [(f"truncated to {n} bytes", good[:n]) for n in range(len(good))]
    rng = np.random.default_rng(7)
    cases += [
        (f"random bytes #{i}", rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8).tobytes())
        for i in range(200)
    ]
    manifest = msgpack.unpackb(good, raw=False)
    cases += [
        ("a list, not a map", msgpack.packb([1, 2, 3])),
        ("an int", msgpack.packb(7)),
        ("no sequences", msgpack.packb({k: v for k, v in manifest.items() if k != "sequences"})),
        ("format is a str", msgpack.packb({**manifest, "format": "1"})),
        ("format is None", msgpack.packb({**manifest, "format": None})),
        ("sequences is an int", msgpack.packb({**manifest, "sequences": 5})),
        ("a sequence without a name", msgpack.packb({**manifest, "sequences": [{"id": 0}]})),
        ("segments hold a str", msgpack.packb({**manifest, "segments": ["seg-000001.arrow"]})),
        ("params is a list", msgpack.packb({**manifest, "params": []})),
        ("a map with a list key", b"\x81\x91\x01\x02"),
        ("a map with a map key", b"\x81\x81\x01\x02\x03"),
        ("invalid utf-8 in a str", b"\x81\xa1\xff\x01"),
    ]
    return cases


def test_a_corrupt_manifest_raises_format_error_naming_the_file(project):
    repo, run_hash, _, _ = project
    path = Repo(repo).layout.manifest_path(run_hash)
    with open(path, "rb") as fh:
        good = fh.read()
    for what, data in _corruptions(good):
        with open(path, "wb") as fh:
            fh.write(data)
        with pytest.raises(FormatError) as read_error:
            Run(run_hash, repo=repo, read_only=True)
        assert path in str(read_error.value), what
        assert not isinstance(read_error.value, FormatVersionError), what
    # a writer refuses it the same way and leaves the run unlocked
    with pytest.raises(FormatError, match="manifest.msgpack"):
        Run(run_hash, repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
    assert not Repo(repo).layout.storage.run_claimed(run_hash)
    with open(path, "wb") as fh:
        fh.write(good)
    assert Repo(repo).get_run(run_hash) is not None


def test_a_newer_manifest_version_raises_format_version_error(project):
    repo, run_hash, _, _ = project
    path = Repo(repo).layout.manifest_path(run_hash)
    manifest = read_manifest(Repo(repo).layout, run_hash)
    with open(path, "wb") as fh:
        fh.write(msgpack.packb({**manifest, "format": 99}, use_bin_type=True))
    with pytest.raises(FormatVersionError, match="upgrade aimcol") as error:
        Repo(repo).get_run(run_hash)
    assert path in str(error.value)


def test_a_newer_format_major_raises_format_version_error(project):
    repo, _, _, _ = project
    layout = Repo(repo).layout
    with open(layout.format_path, "rb") as fh:
        info = msgpack.unpackb(fh.read())
    assert info["format"] == "aimcol" and isinstance(info["major"], int)
    with open(layout.format_path, "wb") as fh:
        fh.write(msgpack.packb({**info, "major": info["major"] + 1, "minor": 0}))
    for open_repo in (
        lambda: Repo(repo),
        lambda: Repo(repo, init=True),
        lambda: Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False),
    ):
        with pytest.raises(FormatVersionError, match=f"format {info['major'] + 1}.0.*upgrade aimcol"):
            open_repo()
    # a newer minor is readable (additions only)
    with open(layout.format_path, "wb") as fh:
        fh.write(msgpack.packb({**info, "minor": info.get("minor", 0) + 5}))
    assert len(list(Repo(repo).iter_runs())) == 1


def test_a_corrupt_format_file_raises_format_error_naming_it(project):
    repo, _, _, _ = project
    layout = Repo(repo).layout
    for data in (b"", b"\xc1", msgpack.packb({"format": "other", "major": 1}), msgpack.packb([1])):
        with open(layout.format_path, "wb") as fh:
            fh.write(data)
        with pytest.raises(FormatError, match="FORMAT"):
            Repo(repo)


def test_a_zero_filled_tail_of_the_last_batch_is_not_read_as_data(project, tmp_path):
    _, _, _, data = project
    ends = message_ends(data)
    whole = full_table(data)
    path = str(tmp_path / "holes.arrows")
    cut = ends[-1] - 8  # the last batch's buffers lost: the file has its full length, zeros at the end
    with open(path, "wb") as fh:
        fh.write(data[:cut] + b"\x00" * (len(data) - cut))
    got = read_live_segment(path)
    assert got.equals(whole.slice(0, whole.num_rows - whole.num_rows // BATCHES)) or got.equals(whole)
