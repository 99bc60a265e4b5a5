"""The conformance suite of :class:`~aimcol.format.storage.Storage`: one class each backend subclasses.

Subclass :class:`StorageTests` in a test module and override the ``storage`` fixture to
return a fresh, empty repository root of your backend; every test below then runs on it::

    class TestLocalStorage(StorageTests):
        @pytest.fixture
        def storage(self, tmp_path):
            return LocalStorage(str(tmp_path / ".aimcol"))

A backend without appends (``supports_append = False``) skips the appendable-object tests;
one whose claims can lapse while their holder still runs (leases) sets
``claims_can_lapse = True`` and implements :meth:`StorageTests.lapse` so that fencing of a
stalled writer is tested too.  Imports pytest: use it from tests only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from aimcol.errors import ClaimLostError, ObjectExistsError, ObjectNotFoundError, RunLockedError
from aimcol.format.storage import Claim, ObjectStat, Storage

RUN = "0123456789abcdef01234567"
APPEND_RACE_RECORDS = 16384
"""Records (4 KB each, 64 MB in all) the racing appender writes at most while a reader reads."""
OTHER_RUN = "fedcba9876543210fedcba98"


class StorageTests:
    """Every contract of the storage interface, on the backend the ``storage`` fixture builds."""

    claims_can_lapse = False
    """True for backends whose claim lapses while its holder lives (a lease past its TTL)."""

    @pytest.fixture
    def storage(self) -> Storage:
        raise NotImplementedError("override the `storage` fixture: a fresh, empty repository root")

    def lapse(self, storage: Storage, claim: Claim) -> None:
        """Make ``claim`` lapse as if its holder stalled past its TTL (lease backends only)."""
        raise NotImplementedError

    @staticmethod
    def _run(storage: Storage, run_hash: str = RUN) -> str:
        storage.make_prefix("runs")
        storage.make_prefix(f"runs/{run_hash}")
        return run_hash

    # -- small mutable objects ---------------------------------------------------------------------
    def test_replace_then_read(self, storage: Storage) -> None:
        storage.replace("runs/a/manifest.msgpack", b"one")
        assert storage.read("runs/a/manifest.msgpack") == b"one"
        storage.replace("runs/a/manifest.msgpack", b"second version", durable=True)
        assert storage.read("runs/a/manifest.msgpack") == b"second version"
        assert storage.exists("runs/a/manifest.msgpack")

    def test_replace_parts_writes_the_parts_one_after_the_other(self, storage: Storage) -> None:
        made: list[int] = []

        def parts() -> Iterator[bytes | memoryview]:  # produced while they are written
            for i in range(5):
                made.append(i)
                yield bytes([i]) * (1000 + i) if i % 2 else memoryview(bytes([i]) * 7)

        storage.replace("index/runs.aimcolidx", b"old")
        storage.replace_parts("index/runs.aimcolidx", parts())
        assert made == [0, 1, 2, 3, 4]
        assert storage.read("index/runs.aimcolidx") == b"".join(
            bytes([i]) * (1000 + i) if i % 2 else bytes([i]) * 7 for i in range(5)
        )

    def test_a_replace_parts_that_fails_leaves_the_old_object(self, storage: Storage) -> None:
        storage.replace("index/runs.aimcolidx", b"old version")

        def parts() -> Iterator[bytes]:
            yield b"new"
            raise RuntimeError("the writer failed half-way")

        with pytest.raises(RuntimeError):
            storage.replace_parts("index/runs.aimcolidx", parts())
        assert storage.read("index/runs.aimcolidx") == b"old version"
        assert storage.list_children("index") == ["runs.aimcolidx"]  # no partial object left visible

    def test_a_missing_object_raises_object_not_found(self, storage: Storage) -> None:
        for call in (
            lambda: storage.read("nothing/here"),
            lambda: storage.read_versioned("nothing/here"),
            lambda: storage.stat("nothing/here"),
            lambda: storage.read_range("nothing/here", 0, 10),
            lambda: storage.read_tail("nothing/here", 10),
            lambda: storage.open_input("nothing/here"),
        ):
            with pytest.raises(ObjectNotFoundError) as error:
                call()
            assert isinstance(error.value, FileNotFoundError)
            assert "nothing/here" in str(error.value)
        assert not storage.exists("nothing/here")
        assert storage.read_or_none("nothing/here") is None

    def test_readers_see_the_old_or_the_new_bytes_never_a_mix(self, storage: Storage) -> None:
        size = 1 << 18
        versions = [bytes([v]) * size for v in range(4)]
        storage.replace("index/runs.aimcolidx", versions[0])
        stop = threading.Event()
        seen: list[bytes] = []

        def write() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                storage.replace("index/runs.aimcolidx", versions[i % 4])

        writer = threading.Thread(target=write)
        writer.start()
        try:
            for _ in range(200):
                seen.append(storage.read("index/runs.aimcolidx"))
        finally:
            stop.set()
            writer.join()
        for data in seen:
            assert data in versions

    def test_read_versioned_gives_the_stat_of_the_bytes_read(self, storage: Storage) -> None:
        storage.replace("runs/a/manifest.msgpack", b"12345")
        data, st = storage.read_versioned("runs/a/manifest.msgpack")
        assert data == b"12345"
        assert isinstance(st, ObjectStat) and st.size == 5
        assert tuple(st) == tuple(storage.stat("runs/a/manifest.msgpack"))
        storage.replace("runs/a/manifest.msgpack", b"1234567")
        assert tuple(storage.stat("runs/a/manifest.msgpack")) != tuple(st)  # a replacement changes the fingerprint
        assert all(isinstance(v, int) and -(2**63) <= v < 2**63 for v in st)

    def test_stat_many_gives_none_for_missing_objects(self, storage: Storage) -> None:
        storage.replace("runs/a/manifest.msgpack", b"aa")
        storage.replace("runs/c/manifest.msgpack", b"cccc")
        stats = storage.stat_many(["runs/a/manifest.msgpack", "runs/b/manifest.msgpack", "runs/c/manifest.msgpack"])
        assert [None if s is None else s.size for s in stats] == [2, None, 4]
        assert storage.stat_many([]) == []

    def test_create_only_if_absent(self, storage: Storage) -> None:
        storage.create("FORMAT", b"first")
        with pytest.raises(ObjectExistsError) as error:
            storage.create("FORMAT", b"second")
        assert isinstance(error.value, FileExistsError)
        assert storage.read("FORMAT") == b"first"

    def test_of_racing_creators_exactly_one_wins(self, storage: Storage) -> None:
        outcomes: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def create(i: int) -> None:
            start.wait()
            try:
                storage.create("runs/x/claim", f"writer {i}".encode())
                result = f"won {i}"
            except ObjectExistsError:
                result = "lost"
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [o for o in outcomes if o != "lost"]
        assert len(winners) == 1, outcomes
        assert storage.read("runs/x/claim") == f"writer {winners[0].split()[1]}".encode()

    def test_delete(self, storage: Storage) -> None:
        storage.replace("runs/a/seg-000001.arrow", b"x")
        assert storage.delete("runs/a/seg-000001.arrow") is True
        assert storage.delete("runs/a/seg-000001.arrow") is False
        assert not storage.exists("runs/a/seg-000001.arrow")

    def test_list_children(self, storage: Storage) -> None:
        assert storage.list_children("runs") == []
        storage.replace("runs/a/manifest.msgpack", b"a")
        storage.replace("runs/b/manifest.msgpack", b"b")
        storage.replace("runs/b/seg-000001.arrow", b"b")
        assert sorted(storage.list_children("runs")) == ["a", "b"]
        assert sorted(storage.list_children("runs/b")) == ["manifest.msgpack", "seg-000001.arrow"]
        assert not any(storage.is_temporary(n) for n in storage.list_children("runs/b"))
        stamp = storage.listing_stamp("runs")
        assert stamp is None or isinstance(stamp, int)

    def test_make_prefix_exclusive(self, storage: Storage) -> None:
        storage.make_prefix("runs")
        storage.make_prefix("runs")  # not exclusive: idempotent
        storage.make_prefix("runs/r1", exclusive=True)
        storage.replace("runs/r1/manifest.msgpack", b"m")
        with pytest.raises(ObjectExistsError):
            storage.make_prefix("runs/r1", exclusive=True)
        assert storage.exists("")

    # -- appendable objects ----------------------------------------------------------------------
    def _needs_append(self, storage: Storage) -> None:
        if not storage.supports_append:
            pytest.skip("this backend has no appendable objects")

    def test_appends_are_read_back_as_a_growing_prefix(self, storage: Storage) -> None:
        self._needs_append(storage)
        self._run(storage)
        key = f"runs/{RUN}/live-000001.arrows"
        sink = storage.open_appender(key, truncate=True)
        written = b""
        try:
            for i in range(20):
                chunk = bytes([i]) * (i * 100 + 1)
                sink.write(chunk)
                written += chunk
                assert storage.read_appended(key) == written  # every returned write is visible
            assert storage.read_appended(key, known_size=len(written)) is None  # unchanged
            assert storage.read_appended(key, known_size=len(written) - 1) == written
        finally:
            sink.close()
        assert sink.closed

    def test_a_reader_never_sees_bytes_that_were_not_written(self, storage: Storage) -> None:
        self._needs_append(storage)
        self._run(storage)
        key = f"runs/{RUN}/live-000001.arrows"
        record = bytes(range(256)) * 16
        sink = storage.open_appender(key, truncate=True)
        stop = threading.Event()

        def append() -> None:
            for _ in range(APPEND_RACE_RECORDS):  # bounded: unbounded, it wrote 15-19 GB per run
                if stop.is_set():
                    return
                sink.write(record)

        writer = threading.Thread(target=append)
        writer.start()
        try:
            for _ in range(100):
                data = storage.read_appended(key)
                assert data is not None
                whole = len(data) - len(data) % len(record)
                assert data[:whole] == record * (whole // len(record))
                assert data[whole:] == record[: len(data) - whole]  # a torn record is a prefix of it
        finally:
            stop.set()
            writer.join()
            sink.close()

    def test_append_and_truncate(self, storage: Storage) -> None:
        self._needs_append(storage)
        storage.make_prefix("index")
        storage.append("index/changes", b"aaa\n")
        storage.append("index/changes", b"bbb\n")
        assert storage.read_appended("index/changes") == b"aaa\nbbb\n"
        assert storage.read_range("index/changes", 4, 100) == b"bbb\n"
        identity = storage.stat("index/changes").identity
        storage.append("index/changes", b"ccc\n")
        assert storage.stat("index/changes").identity == identity  # appends keep the identity
        storage.replace("index/changes", b"")
        assert storage.read("index/changes") == b""
        sink = storage.open_appender("index/changes", truncate=False)
        sink.write(b"x")
        sink.close()
        assert storage.read("index/changes") == b"x"
        sink = storage.open_appender("index/changes", truncate=True)
        sink.close()
        assert storage.read("index/changes") == b""

    # -- immutable objects and ranged reads ----------------------------------------------------------
    def test_immutable_objects_appear_whole_on_success_only(self, storage: Storage) -> None:
        payload = bytes(range(256)) * 1000
        with storage.write_immutable("runs/a/seg-000001.arrow") as sink:
            sink.write(payload[:1000])
            assert not storage.exists("runs/a/seg-000001.arrow")
            sink.write(payload[1000:])
        assert storage.read("runs/a/seg-000001.arrow") == payload
        with pytest.raises(RuntimeError, match="boom"):
            with storage.write_immutable("runs/a/seg-000002.arrow") as sink:
                sink.write(b"half")
                raise RuntimeError("boom")
        assert not storage.exists("runs/a/seg-000002.arrow")
        assert not [n for n in storage.list_children("runs/a") if n != "seg-000001.arrow"]

    def test_ranged_and_tail_reads(self, storage: Storage) -> None:
        payload = bytes(range(256)) * 64
        with storage.write_immutable("runs/a/seg-000001.arrow") as sink:
            sink.write(payload)
        key = "runs/a/seg-000001.arrow"
        for offset, length in [(0, 10), (100, 1000), (len(payload) - 5, 5), (len(payload) - 5, 50), (7, 0)]:
            assert storage.read_range(key, offset, length) == payload[offset : offset + length]
        assert storage.read_range(key, len(payload) + 10, 10) == b""
        assert storage.read_tail(key, 10) == (payload[-10:], len(payload))
        assert storage.read_tail(key, 10 * len(payload)) == (payload, len(payload))

    def test_open_input_reads_an_arrow_file(self, storage: Storage) -> None:
        table = pa.table({"x": pa.array([1, 2, 3], pa.int64())})
        with storage.write_immutable("runs/a/seg-000001.arrow") as sink:
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        source = storage.open_input("runs/a/seg-000001.arrow")
        try:
            assert pa.ipc.open_file(source).read_all().equals(table)
        finally:
            source.close()

    # -- claims ------------------------------------------------------------------------------------
    def test_a_claim_excludes_a_second_claimant(self, storage: Storage) -> None:
        run = self._run(storage)
        assert not storage.run_claimed(run)
        claim = storage.claim_run(run)
        try:
            assert claim.held and claim.run_hash == run and claim.generation >= 1
            assert storage.run_claimed(run)
            holder: dict[str, Any] = storage.claim_holder(run) or {}
            assert holder.get("generation") == claim.generation and "pid" in holder and "host" in holder
            with pytest.raises(RunLockedError) as refused:
                storage.claim_run(run)
            assert str(holder["pid"]) in str(refused.value)
            claim.check()
            claim.renew()
        finally:
            claim.release()
        assert not claim.held
        assert not storage.run_claimed(run)
        claim.release()  # idempotent

    def test_claims_on_different_runs_are_independent(self, storage: Storage) -> None:
        first = storage.claim_run(self._run(storage, RUN))
        second = storage.claim_run(self._run(storage, OTHER_RUN))
        first.release()
        second.release()

    def test_a_released_claim_is_fenced(self, storage: Storage) -> None:
        run = self._run(storage)
        key = f"runs/{run}/manifest.msgpack"
        claim = storage.claim_run(run)
        storage.replace(key, b"by the first writer", claim=claim)
        claim.release()
        with pytest.raises(ClaimLostError):
            storage.replace(key, b"too late", claim=claim)
        with pytest.raises(ClaimLostError):
            claim.check()
        with pytest.raises(ClaimLostError):
            claim.renew()
        assert storage.read(key) == b"by the first writer"

    def test_each_new_claim_has_a_larger_generation(self, storage: Storage) -> None:
        run = self._run(storage)
        key = f"runs/{run}/manifest.msgpack"
        first = storage.claim_run(run)
        first.release()
        second = storage.claim_run(run)
        try:
            assert second.generation > first.generation
            storage.replace(key, b"by the second writer", claim=second)
            with pytest.raises(ClaimLostError):
                storage.replace(key, b"by the first writer", claim=first)
            assert storage.read(key) == b"by the second writer"
        finally:
            second.release()

    def test_a_lapsed_claim_is_taken_over_and_fenced(self, storage: Storage) -> None:
        if not self.claims_can_lapse:
            pytest.skip("claims of this backend cannot lapse while their holder lives")
        run = self._run(storage)
        key = f"runs/{run}/manifest.msgpack"
        stalled = storage.claim_run(run)
        self.lapse(storage, stalled)
        successor = storage.claim_run(run)
        try:
            assert successor.generation > stalled.generation
            storage.replace(key, b"successor", claim=successor)
            with pytest.raises(ClaimLostError):
                storage.replace(key, b"stalled writer", claim=stalled)
            assert storage.read(key) == b"successor"
        finally:
            successor.release()

    # -- runs ----------------------------------------------------------------------------------------
    def test_delete_run(self, storage: Storage) -> None:
        run = self._run(storage)
        storage.replace(f"runs/{run}/manifest.msgpack", b"m")
        with storage.write_immutable(f"runs/{run}/seg-000001.arrow") as sink:
            sink.write(b"s")
        claim = storage.claim_run(run)
        with pytest.raises(RunLockedError):
            storage.delete_run(run)
        assert storage.read(f"runs/{run}/manifest.msgpack") == b"m"
        claim.release()
        assert storage.delete_run(run) is True
        assert run not in storage.list_children("runs")
        assert not storage.exists(f"runs/{run}/manifest.msgpack")
        assert not storage.exists(f"runs/{run}/seg-000001.arrow")
        assert storage.delete_run(run) is False
