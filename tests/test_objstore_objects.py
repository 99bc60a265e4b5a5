"""Texts, images & co. on object-store repositories: immutable object deltas committed with
the manifest (``aimcol/format/object_deltas.py``), on ``memory://`` and a moto S3 server.

Round trips (exact bytes back), queries, resumed runs, compaction, ``aimcol check`` and
repair of orphaned deltas, ``aimcol sync`` both ways, and real writer processes killed
with SIGKILL: what a reader sees afterwards is a clean prefix of what was tracked, holding
at least every step flushed before the kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("obstore", reason="object stores need aimcol[remote]")

from aimcol import Distribution, Image, Repo, Run, Text  # noqa: E402
from aimcol.format import object_deltas  # noqa: E402
from aimcol.format.manifest import read_manifest  # noqa: E402
from aimcol.sdk.sync import sync_repos  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@pytest.fixture(params=["memory", "s3"])
def location(request):
    return request.getfixturevalue("memory_uri" if request.param == "memory" else "s3_uri")


def _pixels(step: int) -> np.ndarray:
    return (np.arange(12 * 10 * 3, dtype=np.uint32).reshape(12, 10, 3) * (step + 1) % 251).astype(np.uint8)


def _files(repo: Repo, run_hash: str) -> list[str]:
    return sorted(key.rpartition("/")[2] for key, _ in repo.layout.storage.list_keys(f"runs/{run_hash}"))


def _write(location: str, steps: int, *, run_hash: str | None = None, first: int = 0) -> str:
    run = Run(run_hash=run_hash, repo=location, system_tracking_interval=None, capture_terminal_logs=False)
    for i in range(first, first + steps):
        run.track(Text(f"text {i}"), name="sample", step=i, context={"subset": "val"})
        run.track(Image(_pixels(i), caption=f"c{i}"), name="pic", step=i)
        run.track(Distribution(samples=np.arange(i + 3, dtype=float)), name="hist", step=i)
        if i % 3 == 2:
            run.flush()  # several deltas
    run.close()
    return run.hash


def _check_points(repo: Repo, run_hash: str, steps: range) -> None:
    run = repo.get_run(run_hash)
    texts = run.get_object_sequence("sample", {"subset": "val"})
    assert texts.indices_list() == list(steps)
    assert [t.data for t in texts.values_list()] == [f"text {i}" for i in steps]
    images = run.get_object_sequence("pic")
    assert images.indices_list() == list(steps)
    for i, image in zip(steps, images.values_list()):
        assert image.caption == f"c{i}"
        assert np.array_equal(np.asarray(image.to_pil_image()), _pixels(i))
    hist = run.get_object_sequence("hist")
    assert [int(sum(h.weights)) for h in hist.values_list()] == [i + 3 for i in steps]


def test_objects_round_trip_and_query(location):
    run_hash = _write(location, 7)
    repo = Repo(location)
    _check_points(repo, run_hash, range(7))
    files = _files(repo, run_hash)
    manifest = read_manifest(repo.layout, run_hash)
    assert len(manifest["object_deltas"]) == 1  # compacted at close
    assert [n for n in files if object_deltas.DELTA_NAME.fullmatch(n)] == [manifest["object_deltas"][0]["file"]]
    assert sorted(f"blobs-{n:06d}.arrows" for n in manifest["object_blobs"]) == [
        n for n in files if n.startswith("blobs-")
    ]
    assert "objects.log" not in files
    texts = list(repo.query_texts("texts.name == 'sample' and texts.context.subset == 'val'"))
    assert len(texts) == 1 and [t.data for t in texts[0].values_list()] == [f"text {i}" for i in range(7)]
    images = list(repo.query_images("images.name == 'pic'"))
    assert len(images) == 1 and len(images[0]) == 7
    assert repo.query_images("images.name == 'pic'").to_arrow().num_rows == 7
    from aimcol.format.run_store import check_run

    assert check_run(repo.layout, run_hash) == []


def test_resumed_run_appends_deltas_after_its_own(location):
    run_hash = _write(location, 4)
    _write(location, 3, run_hash=run_hash, first=4)
    repo = Repo(location)
    _check_points(repo, run_hash, range(7))
    assert len(read_manifest(repo.layout, run_hash)["object_deltas"]) == 1


def test_live_reader_sees_flushed_objects_and_the_writer_its_own(memory_uri):
    run = Run(repo=memory_uri, system_tracking_interval=None, capture_terminal_logs=False, flush_seconds=3600)
    run.track(Text("a"), name="t", step=0)
    reader = Repo(memory_uri)
    assert reader.get_run(run.hash).get_object_sequence("t").indices_list() == []  # not flushed yet
    assert [t.data for t in run.get_object_sequence("t").values_list()] == ["a"]  # the writer flushes to read
    assert [t.data for t in Repo(memory_uri).get_run(run.hash).get_object_sequence("t").values_list()] == ["a"]
    run.close()


def test_many_flushes_are_compacted(memory_uri, monkeypatch):
    monkeypatch.setattr(object_deltas, "MAX_OBJECT_DELTAS", 3)
    run = Run(repo=memory_uri, system_tracking_interval=None, capture_terminal_logs=False, flush_seconds=3600)
    repo = Repo(memory_uri)
    for i in range(10):
        run.track(Text(str(i)), name="t", step=i)
        run.flush()
        assert len(read_manifest(repo.layout, run.hash)["object_deltas"]) < 3
        assert len([n for n in _files(repo, run.hash) if n.endswith(".log")]) < 3
    assert [t.data for t in repo.get_run(run.hash).get_object_sequence("t").values_list()] == [
        str(i) for i in range(10)
    ]
    run.close()


def test_orphaned_deltas_are_never_read_and_repair_deletes_them(location):
    run_hash = _write(location, 3)
    repo = Repo(location)
    storage = repo.layout.storage
    # what a writer killed between its uploads and its commit leaves: a delta and a blob segment
    orphan_log = f"runs/{run_hash}/" + object_deltas.delta_name(90, 7)
    orphan_blob = f"runs/{run_hash}/blobs-000091.arrows"
    storage.create(orphan_log, b"\x00" * 20)
    storage.create(orphan_blob, b"not a blob segment")
    _check_points(repo, run_hash, range(3))
    from aimcol.format.run_store import run_needs_repair

    problems = run_needs_repair(repo.layout, run_hash, read_manifest(repo.layout, run_hash))
    assert any("objects-000090-g7.log" in p and "blobs-000091.arrows" in p for p in problems), problems
    from aimcol.sdk.repo_maintenance import repair_repo

    repair_repo(repo)
    files = _files(repo, run_hash)
    assert "objects-000090-g7.log" not in files and "blobs-000091.arrows" not in files
    _check_points(repo, run_hash, range(3))


def test_a_damaged_delta_ends_the_readable_log_and_check_names_it(memory_uri):
    run_hash = _write(memory_uri, 3)
    repo = Repo(memory_uri)
    entry = read_manifest(repo.layout, run_hash)["object_deltas"][0]
    key = f"runs/{run_hash}/{entry['file']}"
    repo.layout.storage.delete(key)
    run = repo.get_run(run_hash)
    assert run.get_object_sequence("sample", {"subset": "val"}).indices_list() == []
    from aimcol.format.run_store import check_run

    assert any("missing object delta" in p for p in check_run(repo.layout, run_hash))


def test_sync_copies_objects_both_ways(tmp_path, location):
    local = str(tmp_path / "local")
    run_hash = _write(local, 5)
    sync_repos(local, location)
    _check_points(Repo(location), run_hash, range(5))
    # resumed in the bucket: deltas follow the synced objects.log, and the synced blob segments stay
    _write(location, 2, run_hash=run_hash, first=5)
    _check_points(Repo(location), run_hash, range(7))
    back = str(tmp_path / "back")
    sync_repos(location, back)
    _check_points(Repo(back), run_hash, range(7))
    # and written on again locally: it keeps to deltas (nothing appended before them)
    _write(back, 1, run_hash=run_hash, first=7)
    _check_points(Repo(back), run_hash, range(8))
    # a run written in the bucket, synced down
    remote_hash = _write(location, 4)
    sync_repos(location, back)
    _check_points(Repo(back), remote_hash, range(4))


# -- real processes killed with SIGKILL ------------------------------------------------------------

_WORKER = r"""
import os, signal, sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])
from test_objstore_objects import _pixels
from aimcol import Image, Run, Text
run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False, flush_seconds=float(sys.argv[2]))
print(run.hash, flush=True)
i = 0
while True:
    run.track(Text(f"text {i}"), name="sample", step=i, context={"subset": "val"})
    run.track(Image(_pixels(i), caption=f"c{i}"), name="pic", step=i)
    if i % 4 == 3:
        run.flush()
        print(i, flush=True)  # flushed: must survive the kill
    if i == int(sys.argv[4]):
        os.kill(os.getpid(), signal.SIGKILL)
    i += 1
    time.sleep(0.002)
"""


def _start(location: str, flush_seconds: float, kill_at: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, location, str(flush_seconds), HERE, str(kill_at)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _prefix(repo: Repo, run_hash: str) -> int:
    """How many steps the run holds, checking they are a clean prefix of what was tracked."""
    run = repo.get_run(run_hash)
    texts = run.get_object_sequence("sample", {"subset": "val"})
    images = run.get_object_sequence("pic")
    n = len(texts)
    assert texts.indices_list() == list(range(n))
    assert [t.data for t in texts.values_list()] == [f"text {i}" for i in range(n)]
    m = len(images)
    assert images.indices_list() == list(range(m)) and m in (n, n - 1, n + 1)
    for i, image in zip(range(m), images.values_list()):
        assert np.array_equal(np.asarray(image.to_pil_image()), _pixels(i))
    return n


TTL = 2.0


@pytest.fixture
def short_lease(s3_uri, monkeypatch):
    """An S3 location (memory:// lives in one process) whose leases expire soon after a kill."""
    monkeypatch.setenv("AIMCOL_LEASE_TTL", str(TTL))
    return s3_uri


def test_kill_9_after_a_flush_keeps_the_flushed_steps(short_lease):
    location = short_lease
    proc = _start(location, 3600.0, kill_at=13)  # flushed through step 11; steps 12, 13 buffered
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    lines = out.split()
    run_hash = lines[0]
    repo = Repo(location)
    assert _prefix(repo, run_hash) == 12
    time.sleep(TTL + 0.5)  # the dead writer's lease expires
    _write(location, 2, run_hash=run_hash, first=12)  # the next writer resumes at the prefix
    assert _prefix(repo, run_hash) == 14


def test_kill_9_at_random_moments_leaves_a_clean_prefix_and_repair_cleans_up(short_lease):
    s3_uri = short_lease
    from aimcol.sdk.repo_maintenance import repair_repo

    rng = np.random.default_rng(7)
    for delay in rng.uniform(0.3, 1.5, size=3):
        proc = _start(s3_uri, 0.05, kill_at=10**9)
        run_hash = proc.stdout.readline().strip()
        flushed = -1
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            line = proc.stdout.readline().strip()
            if line:
                flushed = int(line)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        repo = Repo(s3_uri)
        n = _prefix(repo, run_hash)
        assert n >= flushed + 1
        time.sleep(TTL + 0.5)
        repair_repo(repo)
        manifest = read_manifest(repo.layout, run_hash)
        named = object_deltas.named_files(manifest)
        files = _files(repo, run_hash)
        assert [f for f in files if (f.endswith(".log") or f.startswith("blobs-")) and f not in named] == []
        assert _prefix(repo, run_hash) == n


def test_a_reader_holding_a_manifest_from_before_a_compaction_reads_every_point(memory_uri):
    """Compaction deletes the deltas a reader's older manifest names: it reads the newest one."""
    import copy

    from aimcol.format.object_segments import read_run_columns

    run = Run(repo=memory_uri, system_tracking_interval=None, capture_terminal_logs=False, flush_seconds=3600)
    for i in range(3):
        run.track(Text(str(i)), name="t", step=i)
        run.flush()
    repo = Repo(memory_uri)
    before = copy.deepcopy(read_manifest(repo.layout, run.hash))
    assert len(before["object_deltas"]) == 3
    run.close()  # compacts: the three deltas are deleted
    assert len(read_manifest(repo.layout, run.hash)["object_deltas"]) == 1
    columns = read_run_columns(repo.layout.storage, run.hash, before)
    assert columns[0][0] == [0, 1, 2] and [v["data"] for v in columns[0][3]] == ["0", "1", "2"]


_KILLED_BEFORE_COMMIT = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[2])
from test_objstore_objects import _pixels
from aimcol import Image, Run, Text
import aimcol.format.run_store as run_store
run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False, flush_seconds=3600)
print(run.hash, flush=True)
for i in range(6):
    run.track(Text(f"text {i}"), name="sample", step=i, context={"subset": "val"})
    run.track(Image(_pixels(i), caption=f"c{i}"), name="pic", step=i)
    if i == 3:
        run.flush()  # steps 0-3 committed
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
run_store.manifest_io.write_manifest = die  # killed after the uploads of the next flush, before its commit
run.flush()
"""


def test_kill_9_between_the_uploads_and_the_commit(short_lease):
    """The worst moment: steps 4 and 5 are uploaded (a delta and a blob segment) but no
    manifest names them.  Readers see steps 0-3; check names the leftovers; repair deletes them."""
    from aimcol.format.run_store import run_needs_repair
    from aimcol.sdk.repo_maintenance import repair_repo

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_BEFORE_COMMIT, short_lease, HERE],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_hash = proc.stdout.split()[0]
    repo = Repo(short_lease)
    assert _prefix(repo, run_hash) == 4
    manifest = read_manifest(repo.layout, run_hash)
    named = object_deltas.named_files(manifest)
    leftovers = [f for f in _files(repo, run_hash) if (f.endswith(".log") or f.startswith("blobs-")) and f not in named]
    assert any(f.endswith(".log") for f in leftovers) and any(f.startswith("blobs-") for f in leftovers), leftovers
    time.sleep(TTL + 0.5)
    problems = run_needs_repair(repo.layout, run_hash, manifest)
    assert all(any(f in p for p in problems) for f in leftovers), problems
    repair_repo(repo)
    assert not set(leftovers) & set(_files(repo, run_hash))
    assert _prefix(repo, run_hash) == 4
    _write(short_lease, 2, run_hash=run_hash, first=4)
    assert _prefix(repo, run_hash) == 6


def test_a_damaged_blob_segment_raises_checksum_error_naming_it(memory_uri):
    """Blobs of an object store are read a whole segment at a time: still checked one by one."""
    from aimcol.errors import ChecksumError

    run_hash = _write(memory_uri, 3)
    repo = Repo(memory_uri)
    refs = [image._ref for image in repo.get_run(run_hash).get_object_sequence("pic").values_list()]
    number, offset, length, _ = refs[-1]  # the last image's file (flush timing decides which it is)
    key = f"runs/{run_hash}/blobs-{number:06d}.arrows"
    data = bytearray(repo.layout.storage.read(key))
    data[offset + length // 2] ^= 0xFF  # inside the last image's bytes
    repo.layout.storage.delete(key)
    repo.layout.storage.create(key, bytes(data))
    images = Repo(memory_uri).get_run(run_hash).get_object_sequence("pic").values_list()
    assert all(image.data for image in images[:-1])  # the others are intact, in that file or another
    with pytest.raises(ChecksumError, match=f"blobs-{number:06d}.arrows"):
        images[-1].data  # noqa: B018 (reading it raises)
