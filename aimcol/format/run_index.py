"""The run index of one repository: every run's manifest flattened into two Arrow tables
(:mod:`aimcol.format.index_tables`), cached in one object (:mod:`aimcol.format.index_file`)
and kept fresh with the change journal (:mod:`aimcol.format.change_journal`).

A refresh re-reads only manifests whose fingerprint changed, plus "racy" ones.  Which
manifests to stat: all of them (a *full scan*), or — where writers keep the change journal
and a full scan is recent — only those named in the journal since, the open ones and new
run folders.  Whether a run is *active* is never cached: it depends on who holds the run's
claim now.
"""

from __future__ import annotations

import functools
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import msgpack
import numpy as np
import pyarrow as pa

from aimcol.errors import FormatError
from aimcol.format import index_tables
from aimcol.format import manifest as manifest_io
from aimcol.format.arrow_gather import (
    binary_items,
    keep_rows,
    string_offsets,
    strings_equal,
    strings_equal_gathered,
    strings_equal_scalar,
    take,
    take_table,
)
from aimcol.format.arrow_numpy import empty_table, to_numpy, valid_mask
from aimcol.format.change_journal import (
    JOURNAL_MAX_DELTA,
    JOURNAL_ROTATE_BYTES,
    JournalState,
    journal_names,
    journal_state,
    rotate_journal,
)
from aimcol.format.damaged_runs import report_damaged_run
from aimcol.format.index_file import (
    IndexFileError,
    SequencesPart,
    index_key,
    read_index_runs,
    sequence_batches,
    write_index_file,
)
from aimcol.format.index_tables import (
    ManifestRecord,
    build_tables,
    concat_tables,
    decode_locations,
    drop_empty_path_columns,
    path_column,
)
from aimcol.format.last_point import last_point_time
from aimcol.format.param_tree import Path
from aimcol.format.repo_layout import RUNS_PREFIX, RepoLayout
from aimcol.format.segment_names import RUN_NAME_BYTES

PERSIST_MIN_CHANGES = 16
"""Rewrite the index file when a refresh re-read at least this many manifests (or runs came
or went); fewer re-reads are cheaper to repeat than the rewrite (live runs change every
second)."""

FULL_SCAN_SECONDS = 30.0
"""Even with a journal, stat every manifest at least this often (a lost line costs at most this)."""

FULL_SCAN_SHARE = 0.02
"""...but spend at most this share of the time on full scans: with 100,000 runs a full scan
stats 100,000 manifests (seconds on a loaded machine), so the interval grows to 50 times the
last full scan's duration.  Only a lost journal line (a failed append) waits that long."""


BUILD_CHUNK = 2048
"""Manifests read and turned into table rows at a time (bounds a build's memory)..."""

BUILD_CHUNK_SEQUENCES = 65_536
"""...and at most about this many sequences at a time: a run of 1,500 metrics (W10) has
1,500 sequence rows, so 2,048 such manifests would hold 3 million rows as Python objects."""

FIRST_CHUNK = 16
"""The first chunk of a re-read, before the number of sequences per run is known."""

PROGRESS_SECONDS = 2.0
"""A long (re)build writes what it has at least this often, so a killed build is resumed."""


FIRST_ANSWER_SECONDS = 0.75
"""A refresh that has many manifests to read (a repository without an index file: copied in,
written before the index existed, or its index deleted) reads them for at most about this
long, then answers from the runs read so far; :attr:`IndexSnapshot.pending` counts the rest,
and a background process (:mod:`aimcol.format.index_builder`) reads them, saving its progress
as it goes.  At ~4,000 manifests a second, 100,000 runs take ~25 s to index: no reader waits
for that.  ``refresh(wait=True)`` (``Repo.wait_for_index()``) waits for all of it."""

PARTIAL_SCAN_RUNS = 4096
"""A reader of a repository whose index is missing or partial, with more runs than this to
read, reads them without stat'ing every manifest first (:meth:`RunIndex._partial_scan`)."""

PENDING_REFRESH_SECONDS = 5.0
"""While runs are pending (a background build is under way), a refresh within this long of
the last one answers from the same snapshot: each refresh would stat every manifest (100,000
runs: a second) only to learn that the builder is not done yet.  After it, the refresh
reloads what the builder has saved."""

BUDGET_CHUNK = 128
"""Manifests read at a time under a time budget (so the budget is overrun by little)."""

SLOW_FULL_SCAN_SECONDS = 0.25

READER_SAVE_MAX_SEQUENCES = 250_000
"""A reader (a query, ``runs ls``, the TUI) saves the index it brought up to date only while the
index has at most this many sequences; a bigger one takes seconds to save (100,000 runs x 10
sequences: ~2.5 s, the whole file rewritten), which the reader leaves to the background builder
instead of making its user wait (issue 12: no reader waits more than 2 s)."""
"""A full scan this slow is recorded in the index file even when it found nothing new."""


def _one_chunk(table: pa.Table) -> pa.Table:
    """Many appended chunks joined into one (queries convert columns to NumPy once each)."""
    if table.num_rows and table.column(0).num_chunks > 1:
        return table.combine_chunks()
    return table


def _sequence_owners(runs: pa.Table, seqs: pa.Table) -> np.ndarray:
    """For each row of ``seqs``, the row of its run in ``runs`` (-1 if none).

    The tables are built run by run, so a run's ``n_seq`` sequences follow each other in
    run order; that layout is checked with one vectorised string comparison, and a dict
    maps the hashes only if it does not hold.
    """
    if seqs.num_rows == 0:
        return np.zeros(0, dtype=np.int64)
    owners = np.repeat(np.arange(runs.num_rows, dtype=np.int64), to_numpy(runs.column("n_seq"), 0).astype(np.int64))
    run_col = seqs.column("run")
    if len(owners) == seqs.num_rows and strings_equal(run_col, take(runs.column("hash"), owners)).all():
        return owners
    row_of = {h: i for i, h in enumerate(runs.column("hash").to_pylist())}
    return np.fromiter((row_of.get(h, -1) for h in run_col.to_pylist()), dtype=np.int64, count=seqs.num_rows)


class StoredSequences:
    """A snapshot's sequences table still in the index file (:class:`SequencesPart`): read a
    record batch at a time, or whole by ``load`` (which reads them from the manifests instead
    where the part is damaged)."""

    def __init__(self, part: SequencesPart, load: Callable[[], pa.Table]):
        self.part = part
        self.load = load
        self.num_rows = part.num_rows
        self.schema = part.schema


class IndexSnapshot:
    """Consistent runs and sequences tables at one moment.

    ``seqs`` may be a :class:`StoredSequences` (the index file's sequences part, read only
    when a query first needs it, and then a batch at a time by :meth:`narrow_sequences`);
    ``seq_run`` maps each sequence row to its run row (computed when not given).  Treat the
    tables as read-only.
    """

    def __init__(
        self,
        runs: pa.Table,
        seqs: pa.Table | StoredSequences,
        layout: RepoLayout,
        pending: int = 0,
        seq_run: np.ndarray | None = None,
    ):
        self.runs = runs
        self._seqs = seqs
        self.layout = layout
        self.pending = pending
        """Runs with a manifest that these tables leave out: the index is still being built."""
        if seq_run is not None:
            self.seq_run = seq_run

    @functools.cached_property
    def seqs(self) -> pa.Table:
        """The whole sequences table (W10: 2.25 million rows); a query reads it a batch at a
        time instead (:meth:`narrow_sequences`)."""
        return self._seqs if isinstance(self._seqs, pa.Table) else self._seqs.load()

    @functools.cached_property
    def seq_run(self) -> np.ndarray:
        return _sequence_owners(self.runs, self.seqs)

    @property
    def _seqs_loaded(self) -> pa.Table | None:
        if "seqs" in self.__dict__:
            return self.__dict__["seqs"]
        return self._seqs if isinstance(self._seqs, pa.Table) else None

    @property
    def seqs_schema(self) -> pa.Schema:
        """The sequences table's schema, without reading the table."""
        loaded = self._seqs_loaded
        return loaded.schema if loaded is not None else self._seqs.schema

    # -- reading the sequences a batch at a time ---------------------------------------------------
    def narrow_sequences(
        self, pick: Callable[[IndexSnapshot], np.ndarray], columns: Sequence[str] | None = None
    ) -> IndexSnapshot:
        """This snapshot with only the sequence rows ``pick`` selects (and only ``columns`` of
        them, where given: ``pick`` still sees every column).

        ``pick`` gets this snapshot narrowed to one record batch of sequence rows at a time
        (:data:`SEQ_BATCH_ROWS`; the same runs) and returns a bool mask over that batch's
        rows.  The sequences are read from the index file one batch at a time, so memory is
        the rows kept plus one batch.  A damaged batch is reported as for :attr:`seqs`, and
        the rows are then picked from the sequences read from the manifests.
        """
        try:
            return self._narrowed(pick, columns, self._seqs_loaded)
        except IndexFileError:
            return self._narrowed(pick, columns, self.seqs)  # the whole table: re-read from the manifests

    def sequences_named(self, names: Iterable[str]) -> IndexSnapshot:
        """:meth:`narrow_sequences` to the sequences with one of these names."""
        wanted = list(dict.fromkeys(names))

        def named(part: IndexSnapshot) -> np.ndarray:
            column = part.seqs.column("name")
            mask = np.zeros(part.n_seqs, dtype=bool)
            for name in wanted:
                mask |= strings_equal_scalar(column, name)
            return mask

        return self.narrow_sequences(named)

    def _narrowed(
        self, pick: Callable[[IndexSnapshot], np.ndarray], columns: Sequence[str] | None, table: pa.Table | None
    ) -> IndexSnapshot:
        if table is not None:
            batches: Iterator[pa.RecordBatch] = sequence_batches(table)
        else:
            assert isinstance(self._seqs, StoredSequences)
            batches = self._seqs.part.batches()
        tables: list[pa.Table] = []
        owners: list[np.ndarray] = []
        start = 0
        for batch in batches:
            part = pa.Table.from_batches([batch])
            owner = self._batch_owners(part, start)
            start += batch.num_rows
            keep = pick(IndexSnapshot(self.runs, part, self.layout, self.pending, owner))
            if columns is not None:
                part = part.select([c for c in columns if c in part.column_names])
            if keep.all():
                tables.append(part)
                owners.append(owner)
            elif keep.any():
                rows = np.flatnonzero(keep)
                tables.append(take_table(part, rows))
                owners.append(owner[rows])
        if not tables:
            schema = table.schema if table is not None else self.seqs_schema
            if columns is not None:
                schema = pa.schema([f for f in schema if f.name in columns])
            return IndexSnapshot(self.runs, empty_table(schema), self.layout, self.pending, np.zeros(0, np.int64))
        # joined into one chunk: a copy of the rows kept, so the batches' messages (every
        # column, `loc` too, where fewer were asked for) are not held by the answer
        picked = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        return IndexSnapshot(self.runs, _one_chunk(picked), self.layout, self.pending, np.concatenate(owners))

    def _batch_owners(self, batch: pa.Table, start: int) -> np.ndarray:
        """:attr:`seq_run` of the rows ``start ..`` of the sequences table held in ``batch``."""
        owners = self._owners_in_run_order
        if owners is not None and start + batch.num_rows <= len(owners):
            guess = owners[start : start + batch.num_rows]
            if strings_equal_gathered(batch.column("run"), self.runs.column("hash"), guess).all():
                return guess
        row_of = self._row_of_hash
        return np.fromiter((row_of.get(h, -1) for h in batch.column("run").to_pylist()), np.int64, batch.num_rows)

    @functools.cached_property
    def _owners_in_run_order(self) -> np.ndarray | None:
        """Sequence rows' runs where the tables are laid out run by run (see :func:`_sequence_owners`)."""
        n_seq = to_numpy(self.runs.column("n_seq"), 0).astype(np.int64)
        if int(n_seq.sum()) != self.n_seqs:
            return None
        return np.repeat(np.arange(self.runs.num_rows, dtype=np.int64), n_seq)

    @functools.cached_property
    def _row_of_hash(self) -> dict[str, int]:
        return {h: i for i, h in enumerate(self.runs.column("hash").to_pylist())}

    @classmethod
    def from_tables(cls, runs: pa.Table, seqs: pa.Table, layout: RepoLayout) -> IndexSnapshot:
        return cls(runs, seqs, layout)

    @property
    def n_runs(self) -> int:
        return int(self.runs.num_rows)

    @property
    def n_seqs(self) -> int:
        loaded = self._seqs_loaded
        return int(loaded.num_rows if loaded is not None else self._seqs.num_rows)

    def active(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Whether a writer holds each run now (rows of the runs table; all by default).

        Runs with an ``end_time`` were closed and are not active; the lock is tried only
        for the others (running or crashed), so this is cheap with many finished runs.
        """
        end = self.runs.column("end_time")
        open_mask = ~valid_mask(end)
        if rows is not None:
            open_mask = open_mask[rows]
        out = np.zeros(len(open_mask), dtype=bool)
        hashes = self.runs.column("hash")
        claimed = self.layout.storage.run_claimed
        for i in np.flatnonzero(open_mask):
            row = int(rows[i]) if rows is not None else int(i)
            out[i] = claimed(hashes[row].as_py())
        return out

    def last_points(self, rows: np.ndarray) -> np.ndarray:
        """Unix time of the newest point of these runs (rows of the runs table): the end of a
        crashed run (:mod:`aimcol.format.last_point`).  From the index; only a manifest written
        before ``last_point_time`` existed costs a read of the manifest and its newest segment."""
        rows = np.asarray(rows, dtype=np.int64)
        created = to_numpy(self.runs.column("creation_time"), 0.0)[rows]
        recorded = to_numpy(self.runs.column("last_point_time"), np.nan)[rows]
        out: np.ndarray = np.fmax(created, recorded)
        missing = np.flatnonzero(np.isnan(recorded))
        hashes = self.runs.column("hash")
        for i in missing:
            try:
                manifest = manifest_io.read_manifest(self.layout, hashes[int(rows[i])].as_py())
            except (OSError, FormatError):
                continue  # gone or damaged since indexed: it ends at its creation
            out[i] = last_point_time(self.layout, manifest)
        return out

    def path_columns(self, table: str, path: Path) -> dict[str, pa.ChunkedArray]:
        """The ``k``/``n``/``i``/``s`` columns of a param (``table="runs"``) or context path."""
        t, names = (self.runs, self._runs_columns) if table == "runs" else (self.seqs, self._seqs_columns)
        base = path_column("p" if table == "runs" else "c", path)
        out = {}
        for suffix in ("k", "n", "i", "s"):
            name = f"{base}#{suffix}"
            if name in names:
                out[suffix] = t.column(name)
        return out

    @functools.cached_property
    def _runs_columns(self) -> frozenset[str]:
        return frozenset(self.runs.column_names)  # column_names builds a list per call

    @functools.cached_property
    def _seqs_columns(self) -> frozenset[str]:
        return frozenset(self.seqs.column_names)

    def truncated_rows(self, table: str) -> np.ndarray | None:
        """Rows whose rarest paths have no typed columns (see :func:`_path_columns`), or None."""
        name = ("p" if table == "runs" else "c") + "#truncated"
        if name not in (self.runs.column_names if table == "runs" else self.seqs_schema.names):
            return None  # (the sequences table is not read for this)
        t = self.runs if table == "runs" else self.seqs
        flags = to_numpy(t.column(name), False)
        return flags if flags.any() else None

    def params_of(self, rows: np.ndarray) -> list[dict[str, Any]]:
        blobs = binary_items(self.runs.column("params"), rows)
        return [msgpack.unpackb(b, raw=False, strict_map_key=False) for b in blobs]

    def contexts_of(self, rows: np.ndarray) -> list[dict[str, Any]]:
        blobs = binary_items(self.seqs.column("context_mp"), rows)
        return [msgpack.unpackb(b, raw=False, strict_map_key=False) for b in blobs]

    def sequence_locations(self, rows: np.ndarray) -> list[list[list[Any]] | None]:
        """Where the points of these sequence rows are in their runs' sealed files (the parts of
        :func:`~aimcol.format.segments.sequence_locations`); None where the index does not know
        (the run had a live segment).  Holds only while :meth:`manifest_unchanged` says so."""
        if "loc" not in self._seqs_columns:
            return [None] * len(rows)
        return [decode_locations(blob) for blob in binary_items(self.seqs.column("loc"), rows)]

    @functools.cached_property
    def _fingerprints(self) -> tuple[np.ndarray, np.ndarray]:
        prints = np.stack(
            [to_numpy(self.runs.column(c), 0) for c in ("m_ino", "m_size", "m_mtime_ns", "m_ctime_ns")], axis=1
        )
        return prints, to_numpy(self.runs.column("racy"), True)

    def manifest_unchanged(self, run_row: int) -> bool:
        """The run's manifest is, now, the one its row was read from (same fingerprint, and not
        modified so recently then that a second write could share it): what the index says
        about the run holds.  One ``stat``; False for a run deleted since."""
        run_hash = self.runs.column("hash")[run_row].as_py()
        return manifest_matches(self.layout, run_hash, self.manifest_fingerprints(np.array([run_row]))[0])

    def manifest_fingerprints(self, run_rows: np.ndarray) -> np.ndarray:
        """The fingerprints (n x 4 int64) of the manifests these runs' rows were read from, to
        check later, elsewhere (:func:`manifest_matches`); a row of -1 where the manifest was
        racy when read (never to be trusted)."""
        prints, racy = self._fingerprints
        out: np.ndarray = prints[run_rows].astype(np.int64)
        out[racy[run_rows]] = -1
        return out


def manifest_matches(layout: RepoLayout, run_hash: str, fingerprint: Sequence[int]) -> bool:
    """The run's manifest is now the one ``fingerprint`` (from
    :meth:`IndexSnapshot.manifest_fingerprints`) was taken of: one ``stat``; False for a run
    deleted since, or a racy fingerprint."""
    if fingerprint[0] == -1:
        return False
    try:
        stat = layout.storage.stat(layout.manifest_key(run_hash))
    except FileNotFoundError:
        return False
    return tuple(int(v) for v in fingerprint) == tuple(stat)


def _stat_manifests(layout: RepoLayout, names: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Hashes of runs with a manifest and their fingerprints (n × 4 int64).

    ``names``: only these run folders (default: every folder in ``runs/``).
    """
    if names is None:
        names = layout.list_run_hashes()
    stats = layout.storage.stat_many([layout.manifest_key(name) for name in names])
    hashes = []
    prints: list[int] = []
    add = prints.extend
    for name, st in zip(names, stats):  # 10,000 runs: keep the loop lean
        if st is not None:
            hashes.append(name)
            add(st)
    return hashes, np.array(prints, dtype=np.int64).reshape(-1, 4)


def _read_records(layout: RepoLayout, hashes: list[str]) -> list[ManifestRecord]:
    """Read manifests with the fingerprint of exactly the object read (a run gone meanwhile is skipped)."""
    records = []
    for run_hash in hashes:
        try:
            manifest, st = manifest_io.read_manifest_versioned(layout, run_hash)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except FormatError as exc:  # queries go on without it, and say so
            report_damaged_run(layout.root, run_hash, str(exc))
            continue
        now = time.time()
        if manifest.get("hash") != run_hash:  # a copied run folder: the folder name is what opens it
            manifest = dict(manifest, hash=run_hash)
        records.append(ManifestRecord(manifest, st, now))
    return records


_RUN_NAME_TABLE = np.zeros(256, dtype=np.bool_)
_RUN_NAME_TABLE[list(RUN_NAME_BYTES)] = True


def _all_run_names(column: pa.ChunkedArray) -> bool:
    """:func:`is_run_name` of every row of a string column, vectorised (100,000 hashes: one
    regular-expression match each cost 0.18 s of a listing)."""
    for chunk in column.chunks:
        if chunk.null_count:
            return False
        offsets, data = string_offsets(chunk)
        lengths = np.diff(offsets)
        if len(lengths) and (lengths.min() < 1 or lengths.max() > 128):
            return False
        if not _RUN_NAME_TABLE[data[offsets[0] : offsets[-1]]].all():
            return False
    return True


def _builder_running(layout: RepoLayout) -> bool:
    from aimcol.format.index_builder import builder_running

    return builder_running(layout)


class RunIndex:
    """The index of one repository, kept in memory between queries of this process.

    Freshness: a *full scan* stats every manifest (``runs/`` listing plus one ``stat`` per
    run).  When writers keep the change journal (:func:`note_manifest_changed`), a refresh
    within :data:`FULL_SCAN_SECONDS` of a full scan stats only the runs named in the journal
    since, the runs that are open or recently written, and new/removed run folders.

    Thread-safe: refreshes are serialised; snapshots are immutable.
    """

    def __init__(self, layout: RepoLayout):
        self.layout = layout
        self._lock = threading.Lock()
        self._runs: pa.Table | None = None
        self._seqs: pa.Table | SequencesPart | None = None  # a part of the index file until first needed
        self._row_map: dict[str, int] | None = {}
        self._hashes: list[str] = []
        self._snap: IndexSnapshot | None = None
        self._journal: tuple[int, int] | None = None  # (inode, bytes consumed) the tables reflect
        self._full_scan_at = 0.0
        self._full_scan_s = 0.0  # how long the last full scan took
        self._runs_dir_mtime: int | None = None
        self._pending = 0  # runs the tables leave out (a refresh ran out of time)
        self._builder_started = -1e9  # monotonic time this process last started a background build
        self._pending_since = 0.0  # monotonic time of the refresh that left runs pending
        self.stats = {"loaded": 0, "rebuilt": 0, "reread": 0, "persisted": 0, "full_scans": 0}

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> bool:
        """Load the index file; False (the caller rebuilds it) when it is missing, old or damaged.

        A damaged file is reported with a ``RuntimeWarning``: the cache is rebuilt from the
        manifests, which hold everything it held.
        """
        try:
            runs, seqs = read_index_runs(self.layout)
        except IndexFileError as exc:
            if exc.damaged:
                self._warn_damaged(str(exc))
            return False
        meta = runs.schema.metadata or {}
        try:
            self._journal = (int(meta[b"journal_ino"]), int(meta[b"journal_offset"]))
            self._full_scan_at = float(meta[b"full_scan_at"])
            self._full_scan_s = float(meta.get(b"full_scan_s", b"0"))
            stamp = meta.get(b"runs_dir_stamp")  # the run folders the tables reflect: no re-listing
            self._runs_dir_mtime = int(stamp) if stamp else None
        except (KeyError, ValueError):
            self._journal, self._full_scan_at, self._full_scan_s = None, 0.0, 0.0
        try:
            self._set(runs, seqs)
            if not _all_run_names(runs.column("hash")):
                raise ValueError("a run hash that is not a plain name")
        except (pa.ArrowException, ValueError, TypeError, KeyError, IndexError, SystemError) as exc:
            self._runs = self._seqs = self._snap = None
            self._warn_damaged(str(exc))
            return False
        self.stats["loaded"] += 1
        return True

    def _warn_damaged(self, reason: str) -> None:
        self.stats["damaged"] = self.stats.get("damaged", 0) + 1
        warnings.warn(
            f"{self.layout.root}/{index_key()}: damaged run index ({reason}); rebuilt from the run manifests",
            RuntimeWarning,
            stacklevel=4,
        )

    def _seqs_table(self) -> pa.Table:
        """The sequences table, read from the index file now if it was not yet.  Raises
        :class:`IndexFileError` when that part is damaged (``refresh`` then rebuilds)."""
        if isinstance(self._seqs, SequencesPart):
            self._seqs = self._seqs.load()
        assert self._seqs is not None
        return self._seqs

    def _seqs_for_snapshot(self, part: SequencesPart, runs: pa.Table) -> StoredSequences:
        """A snapshot's sequences part not yet read; where it is damaged, :meth:`StoredSequences.load`
        reports it and reads the sequences of the snapshot's runs from their manifests instead."""

        def load() -> pa.Table:
            try:
                return part.load()
            except IndexFileError as exc:
                self._warn_damaged(str(exc))
                hashes = runs.column("hash").to_pylist()
                seqs = build_tables([])[1]
                for start in range(0, len(hashes), BUILD_CHUNK):
                    records = _read_records(self.layout, hashes[start : start + BUILD_CHUNK])
                    seqs = concat_tables(seqs, build_tables(records)[1])
                with self._lock:
                    if self._seqs is part and self._runs is runs:  # heal the file (the index has not moved on)
                        self._seqs = seqs
                        self._persist()
                return seqs

        return StoredSequences(part, load)

    def _set(self, runs: pa.Table, seqs: pa.Table | SequencesPart, added: list[str] | None = None) -> None:
        """New tables; ``added``: they are the old ones plus these runs appended (no re-mapping)."""
        self._snap = None
        self._runs = runs
        self._seqs = seqs
        if added is not None and len(self._hashes) + len(added) == runs.num_rows:
            base = len(self._hashes)
            self._hashes.extend(added)
            if self._row_map is not None:
                self._row_map.update(zip(added, range(base, base + len(added))))
            return
        self._hashes = runs.column("hash").to_pylist()
        self._row_map = None  # made when first needed: a listing that finds nothing changed never does

    def _rows_of(self, hashes: list[str]) -> np.ndarray:
        """The row of each run (-1: not indexed).  A few runs (the usual refresh: the runs not
        yet closed) are looked up in the list of hashes, without making the map of all of them
        (100,000 runs: ~50 ms)."""
        if self._row_map is None and len(hashes) <= 16:
            return np.array([self._position(h) for h in hashes], dtype=np.int64)
        row_of = self._row_of
        return np.fromiter((row_of.get(h, -1) for h in hashes), dtype=np.int64, count=len(hashes))

    def _position(self, run_hash: str) -> int:
        try:
            return self._hashes.index(run_hash)
        except ValueError:
            return -1

    @property
    def _row_of(self) -> dict[str, int]:
        """Each indexed run's row number."""
        if self._row_map is None:
            self._row_map = {h: i for i, h in enumerate(self._hashes)}
        return self._row_map

    # -- refreshing ----------------------------------------------------------------------------
    def refresh(self, *, wait: bool = False) -> IndexSnapshot:
        """Bring the index up to date with the manifests on disk and return a snapshot.

        Reads manifests for at most about :data:`FIRST_ANSWER_SECONDS` (at least one chunk),
        then answers with what it read (the snapshot's ``pending`` counts the runs left out)
        and leaves the rest to a background build.  ``wait=True``: reads everything first.
        """
        with self._lock:
            deadline = None if wait else time.monotonic() + FIRST_ANSWER_SECONDS
            if self._pending and not wait:
                if time.monotonic() - self._pending_since < PENDING_REFRESH_SECONDS and self._snap is not None:
                    return self._snap  # a build is under way: a full scan a query would add nothing
                self._runs = None  # take up what the builder has saved since
            if self._runs is None and not self._load():
                self._scan(deadline, rebuild=True)
                return self._snapshot()
            journal = journal_state(self.layout)
            try:
                if journal is not None and self._journal_usable(journal):
                    self._journal_scan(journal, deadline)
                elif (
                    not wait
                    and journal is not None
                    and self._full_scan_s > SLOW_FULL_SCAN_SECONDS
                    and self._full_scan_at > 0  # 0: a partial build, whose missing runs only a full scan finds
                    and self._journal_usable(journal, any_age=True)
                ):
                    # the periodic full scan is due, and it is slow here (100,000 runs: seconds):
                    # the background builder does it; this reader reads the journal meanwhile
                    self._journal_scan(journal, deadline)
                    self._start_background_build()
                else:
                    self._scan(deadline)
            except IndexFileError as exc:  # the sequences part, read only now, is damaged
                self._warn_damaged(str(exc))
                self._full_scan(deadline, rebuild=True)
            return self._snapshot()

    def rebuild(self) -> IndexSnapshot:
        """Re-read every manifest and rewrite the index file."""
        with self._lock:
            self._full_scan(None, rebuild=True)
            return self._snapshot()

    def _journal_usable(self, journal: JournalState, any_age: bool = False) -> bool:
        """Whether the journal since the tables were made names every change (``any_age``:
        leaving aside how long ago the last full scan was)."""
        return (
            self._journal is not None
            and journal[0] == self._journal[0]
            and self._journal[1] <= journal[1] <= self._journal[1] + JOURNAL_MAX_DELTA
            and (any_age or time.time() - self._full_scan_at < self._full_scan_interval())
        )

    def _full_scan_interval(self) -> float:
        """:data:`FULL_SCAN_SECONDS`, longer where full scans are slow (:data:`FULL_SCAN_SHARE`)."""
        if self._full_scan_s <= SLOW_FULL_SCAN_SECONDS:
            return FULL_SCAN_SECONDS
        return max(FULL_SCAN_SECONDS, self._full_scan_s / FULL_SCAN_SHARE)

    def _scan(self, deadline: float | None, rebuild: bool = False) -> None:
        """A full scan, or, for a reader of a repository whose index is missing or partial
        with many runs to read, :meth:`_partial_scan` (stat'ing 100,000 manifests first
        took 1-5 s on a loaded machine, before a single one was read)."""
        if deadline is not None and (rebuild or self._full_scan_at == 0.0):
            present = self.layout.list_run_hashes()
            known = {} if rebuild else self._row_of
            missing = [h for h in present if h not in known]
            if len(missing) > PARTIAL_SCAN_RUNS:
                self._partial_scan(deadline, rebuild, present, missing)
                return
        self._full_scan(deadline, rebuild)

    def _partial_scan(self, deadline: float, rebuild: bool, present: list[str], missing: list[str]) -> None:
        """Read the manifests of runs the tables lack, a chunk at a time (stat, then read),
        until ``deadline``; the rest stays pending for the background builder, whose full
        scan also re-checks the rows kept here without a stat."""
        runs_dir = self._runs_dir_state()
        if rebuild:
            self._set(*build_tables([]))
            self.stats["rebuilt"] += 1
        gone = set(self._row_of).difference(present)
        if gone:
            keep = np.ones(len(self._hashes), dtype=np.bool_)
            keep[[self._row_of[h] for h in gone]] = False
            self._keep(keep)
        self._full_scan_at = 0.0  # not a full scan: the next refresh (or the builder) does one
        self._snap = None
        self._pending_since = time.monotonic()
        start = 0
        if not _builder_running(self.layout):  # else it is reading them: answer from what it saved
            while start < len(missing) and (not start or time.monotonic() < deadline):
                chunk = missing[start : start + BUDGET_CHUNK]
                names, _ = _stat_manifests(self.layout, chunk)
                records = _read_records(self.layout, names)
                self.stats["reread"] += len(records)
                self._replace(names, records)
                start += len(chunk)
            self._persist(partial=True)
        self._pending = len(missing) - start
        self._runs_dir_mtime = runs_dir
        if self._pending:
            self._start_background_build()

    def _full_scan(self, deadline: float | None, rebuild: bool = False) -> None:
        started = time.time()
        persisted = self.stats["persisted"]
        journal = journal_state(self.layout)  # before the scan: later lines are re-read later
        self._runs_dir_mtime = self._runs_dir_state()
        hashes, prints = _stat_manifests(self.layout)
        self.stats["full_scans"] += 1
        self._journal = journal
        self._full_scan_at = started
        self._full_scan_s = time.time() - started
        if rebuild:
            self._set(*build_tables([]))
            self.stats["rebuilt"] += 1
        self._update(hashes, prints, None, deadline)
        if self._pending:
            return  # saved as a partial build; the background build finishes it
        if self.stats["persisted"] == persisted and (rebuild or self._full_scan_s > SLOW_FULL_SCAN_SECONDS):
            if rebuild or not self._builder_saves(deadline):
                self._persist()  # an empty repository still gets its file; a slow scan is not repeated by the next process
        if journal is not None and journal[1] > JOURNAL_ROTATE_BYTES:
            self._journal = rotate_journal(self.layout)  # readers see a new identity: full scan

    def _runs_dir_state(self) -> int | None:
        return self.layout.storage.listing_stamp(RUNS_PREFIX)

    def _journal_scan(self, journal: JournalState, deadline: float | None) -> None:
        """Stat only what may have changed since the tables were made (see the class doc)."""
        assert self._journal is not None and self._runs is not None
        names, consumed = journal_names(self.layout, self._journal[1], journal[1])
        gone: set[str] = set()
        runs_mtime = self._runs_dir_state()
        if (
            runs_mtime != self._runs_dir_mtime
            or runs_mtime is None
            or time.time() - runs_mtime / 1e9 < index_tables.RACY_SECONDS
        ):
            # run folders came or went (or may have, within one timestamp tick)
            present = set(self.layout.list_run_hashes())
            self._runs_dir_mtime = runs_mtime
            names |= present.difference(self._row_of)
            gone = set(self._row_of).difference(present)
        runs = self._runs
        unsettled = ~valid_mask(runs.column("end_time")) | to_numpy(runs.column("racy"), False)
        names.update(self._hashes[i] for i in np.flatnonzero(unsettled))
        names -= gone
        hashes, prints = _stat_manifests(self.layout, sorted(names))
        gone |= names.difference(hashes)  # named, but its manifest is gone
        self._update(hashes, prints, gone, deadline)
        self._journal = (journal[0], consumed)

    def _update(self, hashes: list[str], prints: np.ndarray, gone: set[str] | None, deadline: float | None) -> None:
        """Re-read the manifests whose fingerprint changed; drop runs that are gone.

        ``gone=None``: ``hashes`` lists every run, so a run not in it is gone.  Manifests are
        read :data:`BUILD_CHUNK` at a time (memory: the tables plus one chunk of manifests),
        and a long re-read saves its progress every :data:`PROGRESS_SECONDS` (or more
        seldom where saving is slow), so a build of 100,000 runs killed half-way is resumed,
        not redone.  Past ``deadline`` (after the first chunk) the rest is left pending: the
        tables are saved as a partial build and a background build is started.
        """
        self._pending = 0
        runs = self._runs
        assert runs is not None and self._seqs is not None
        if not hashes and not gone and gone is not None:
            return  # nothing to look at (a journal scan that found no change)
        rows = self._rows_of(hashes)
        known = rows >= 0
        changed = ~known
        if known.any():
            kr = rows[known]
            cached = np.stack(
                [to_numpy(runs.column(c), 0)[kr] for c in ("m_ino", "m_size", "m_mtime_ns", "m_ctime_ns")], axis=1
            )
            racy = to_numpy(runs.column("racy"), False)[kr]
            changed[known] = (cached != prints[known]).any(axis=1) | racy
        if gone is None:
            keep = np.zeros(runs.num_rows, dtype=np.bool_)
            keep[rows[known]] = True
        else:
            keep = np.ones(runs.num_rows, dtype=np.bool_)
            for r in self._rows_of(list(gone)):
                if r >= 0:
                    keep[r] = False
        n_gone = int(runs.num_rows - keep.sum())
        order = np.flatnonzero(changed)
        # newest manifests first: a partial answer shows the recent runs
        order = order[np.argsort(-prints[order, 2], kind="stable")]
        todo = [hashes[i] for i in order]
        if not todo and n_gone == 0:
            return
        new_runs = bool((~known).any())
        racy_then = int(to_numpy(runs.column("racy"), False).sum())
        if n_gone:
            self._keep(keep)
        if deadline is not None and len(todo) > BUDGET_CHUNK and _builder_running(self.layout):
            self._pending = len(todo)  # a background build is reading them: answer from what it saved
            self._full_scan_at = 0.0
            self._snap = None
            self._pending_since = time.monotonic()
            return
        reread = 0
        saved = time.monotonic()
        save_every = PROGRESS_SECONDS
        step = BUILD_CHUNK if deadline is None else min(BUILD_CHUNK, BUDGET_CHUNK)
        size = min(step, FIRST_CHUNK)  # a probe: how many sequences a run has here
        start = 0
        while start < len(todo):
            if deadline is not None and start and time.monotonic() >= deadline:
                if self._builder_saves(deadline):
                    self._pending = len(todo) - start  # read and saved by the builder
                    break
                persisted = self.stats["persisted"]
                self._persist(partial=True)
                if self.stats["persisted"] > persisted:
                    self._pending = len(todo) - start
                    break
                deadline = None  # a read-only repository: nobody could save progress, so read it all
            chunk = todo[start : start + size]
            records = _read_records(self.layout, chunk)
            reread += len(records)
            per_run = sum(len(r.manifest.get("sequences") or ()) for r in records) / max(len(records), 1)
            self._replace(chunk, records)
            del records
            start += len(chunk)
            size = max(1, min(step, int(BUILD_CHUNK_SEQUENCES / max(per_run, 1.0))))
            if start < len(todo) and time.monotonic() - saved >= save_every:
                began = time.monotonic()
                self._persist(partial=True)
                saved = time.monotonic()
                save_every = max(PROGRESS_SECONDS, 4 * (saved - began))  # saving stays a fifth of the work
        self.stats["reread"] += reread
        if self._pending:
            self._full_scan_at = 0.0  # the next refresh stats every manifest again and reads the rest
            self._snap = None
            self._pending_since = time.monotonic()
            self._start_background_build()
        elif n_gone > 0 or reread >= PERSIST_MIN_CHANGES or new_runs or self._fewer_racy(racy_then):
            if not self._builder_saves(deadline):
                self._persist()

    def _builder_saves(self, deadline: float | None) -> bool:
        """A reader (``deadline``) of an index that takes seconds to save
        (:data:`READER_SAVE_MAX_SEQUENCES`) leaves saving it to the background builder: True
        if it did (one runs, or was started)."""
        if deadline is None:
            return False
        assert self._runs is not None
        if int(to_numpy(self._runs.column("n_seq"), 0).sum()) <= READER_SAVE_MAX_SEQUENCES:
            return False
        return self._saved_by_builder()

    def _saved_by_builder(self) -> bool:
        """Leave saving the index to the background builder (which re-reads what this reader
        read and saves it): True if one is running or was started."""
        if _builder_running(self.layout):
            return True
        from aimcol.format.index_builder import start_background_build

        if start_background_build(self.layout) is None:
            return False  # cannot start one (a read-only repository, memory://): save here
        self._builder_started = time.monotonic()
        return True

    def _fewer_racy(self, before: int) -> bool:
        """Rows saved as racy are re-read by every new process until a save clears them: save
        once they settled (a few small re-reads would otherwise never be written back)."""
        assert self._runs is not None
        return int(to_numpy(self._runs.column("racy"), False).sum()) < before

    def _start_background_build(self) -> None:
        """Have a background process read the pending manifests (at most one start a minute
        from this process; the builder itself makes sure only one runs per repository)."""
        if time.monotonic() - self._builder_started < 60.0:
            return
        self._builder_started = time.monotonic()
        from aimcol.format.index_builder import start_background_build

        start_background_build(self.layout)

    def _keep(self, keep: np.ndarray) -> None:
        """Keep only the runs (and their sequences) where ``keep`` is True."""
        assert self._runs is not None
        seqs = self._seqs_table()
        owner = _sequence_owners(self._runs, seqs)
        self._set(keep_rows(self._runs, keep), keep_rows(seqs, (owner >= 0) & keep[owner]))

    def _replace(self, names: list[str], records: list[ManifestRecord]) -> None:
        """Swap the rows of runs ``names`` for these freshly read manifests (a run not read: dropped)."""
        stale = [self._row_of[h] for h in names if h in self._row_of]
        if stale:
            assert self._runs is not None  # rows to drop exist only once the tables do
            keep = np.ones(self._runs.num_rows, dtype=np.bool_)
            keep[stale] = False
            self._keep(keep)
        new_runs, new_seqs = build_tables(records)
        if new_runs.num_rows == 0:
            return
        added = new_runs.column("hash").to_pylist()
        self._set(concat_tables(self._runs, new_runs), concat_tables(self._seqs_table(), new_seqs), added=added)

    def _persist(self, partial: bool = False) -> None:
        """Write the index file.  ``partial``: a build in progress; the next reader that loads it
        stats every manifest (a full scan) and reads only the ones still missing or changed."""
        self._runs = _one_chunk(self._runs)
        # the sequences stay in the chunks they were appended in (a build of W10: 2.25 million
        # rows): joining them would hold the table twice; the file is written a batch at a time
        self._snap = None
        runs = drop_empty_path_columns(self._runs)
        seqs = drop_empty_path_columns(self._seqs_table())
        meta = {
            b"full_scan_at": repr(0.0 if partial else self._full_scan_at).encode(),
            b"full_scan_s": repr(self._full_scan_s).encode(),
        }
        if self._runs_dir_mtime is not None and not partial:
            meta[b"runs_dir_stamp"] = str(self._runs_dir_mtime).encode()
        if self._journal is not None:
            meta[b"journal_ino"] = str(self._journal[0]).encode()
            meta[b"journal_offset"] = str(self._journal[1]).encode()
        try:
            write_index_file(self.layout, runs.replace_schema_metadata(meta), seqs)
            self.stats["persisted"] += 1
        except OSError:
            pass  # a read-only repository still answers queries, from memory

    def _snapshot(self) -> IndexSnapshot:
        if self._snap is not None:
            return self._snap
        assert self._runs is not None and self._seqs is not None  # set by the first refresh
        if self._runs.num_rows and self._runs.column(0).num_chunks > 4:
            self._runs = _one_chunk(self._runs)
            if isinstance(self._seqs, pa.Table):
                self._seqs = _one_chunk(self._seqs)
        if isinstance(self._seqs, SequencesPart):
            seqs: pa.Table | StoredSequences = self._seqs_for_snapshot(self._seqs, self._runs)
        else:
            seqs = self._seqs
        self._snap = IndexSnapshot(self._runs, seqs, self.layout, self._pending)
        return self._snap


_INDEXES: dict[str, RunIndex] = {}
_INDEXES_LOCK = threading.Lock()


def run_index(layout: RepoLayout) -> RunIndex:
    """The process-wide :class:`RunIndex` of a repository (one per ``.aimcol`` folder)."""
    with _INDEXES_LOCK:
        index = _INDEXES.get(layout.root)
        if index is None:
            index = _INDEXES[layout.root] = RunIndex(layout)
        return index


def forget_indexes() -> None:
    """Drop the in-memory indexes (tests; a process that wants a cold start)."""
    with _INDEXES_LOCK:
        _INDEXES.clear()
