"""The write path where a storage cannot append (object stores): immutable delta segments.

S3, GCS and Azure have no append, and an Arrow IPC *stream* is not what pyarrow.dataset
or Polars scan anyway.  So where :attr:`Storage.supports_append` is false a run's writer
(:class:`DeltaRunWriterStore`) never has a live segment.  Each flush:

1. uploads the buffered points as one small immutable segment — a *delta*, written exactly
   like a sealed segment (an Arrow IPC file, rows sorted by (seq, step), zstd) with one
   ``PUT`` — named ``seg-<n>-g<generation>.arrow``;
2. commits the next manifest version naming it (the fenced, create-only-if-absent commit of
   :class:`~aimcol.format.object_storage.ObjectStorage`).

Readers need nothing new: a delta is listed in the manifest's ``segments`` like any sealed
file (with ``"delta": true``), and the format's rule "the row in the later file wins"
already orders re-tracked steps.  Compaction rewrites the deltas into one sealed segment
when they reach ``seal_rows`` rows or :data:`MAX_DELTAS` files, and on close:

1. upload the sealed segment ``seg-<n>-g<generation>.arrow`` (the merged deltas);
2. commit a manifest naming it in their place;
3. delete the deltas.

A ``kill -9`` between any two steps leaves objects that no manifest names (an uploaded
delta or sealed file before its commit; deltas after the compaction commit): readers never
see them, and the next writer of the run (or ``aimcol repair``) deletes them.  At most the
points of the flush in flight are lost.  Object names carry the writer's generation, so a
stalled old writer that wakes up can never overwrite an object its successor committed; its
next commit fails (fencing) and it stops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from aimcol.format.run_store import RunWriterStore, _sequence_metadata
from aimcol.format.segments import SealedSegmentReader, points_batch, write_sealed_segment
from aimcol.format.sequence_stats import fold_batch

MAX_DELTAS = 64
"""Compact once a run has this many delta segments (bounds the objects a reader opens)."""

DELTA_KEY = "delta"
"""Manifest segment-entry flag of a delta segment (readers ignore it: a delta reads as a sealed file)."""


def segment_object_name(number: int, generation: int) -> str:
    """``seg-<n>-g<generation>.arrow``: sorts by ``n``; no two writers of a run share a name."""
    return f"seg-{number:06d}-g{generation}.arrow"


class DeltaRunWriterStore(RunWriterStore):
    """:class:`RunWriterStore` for storages without appends: one delta segment per flush.

    Chosen by :class:`RunWriterStore` itself for such a storage.  Not thread-safe (the SDK
    serialises calls).  The deltas written by this writer since the last compaction stay in
    memory (they are small: at most ``seal_rows`` rows) so compaction downloads only the
    deltas of a previous writer.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        self._delta_tables: dict[str, pa.Table] = {}
        super().__init__(*args, **kwargs)  # resuming: _recover() drops objects no manifest names

    def _recover(self) -> None:
        """Delete objects no manifest names (a dead writer's deltas) and abort its unfinished
        multipart uploads (segments over 64 MB), then compact the deltas it left."""
        super()._recover()
        self.storage.abort_stale_uploads(self.layout.run_prefix(self.run_hash), self.lock.generation)

    def _next_name(self) -> str:
        number = self.manifest["next_segment"]
        self.manifest["next_segment"] = number + 1
        return segment_object_name(number, self.lock.generation)

    def _deltas(self) -> list[dict[str, Any]]:
        return [entry for entry in self.manifest["segments"] if entry.get(DELTA_KEY)]

    # -- flush: append_batch() uploads the delta, publish() commits the manifest ----------------
    def append_batch(
        self, seq: ArrayLike, step: ArrayLike, value: ArrayLike, epoch: ArrayLike | pa.Array | None, times: ArrayLike
    ) -> None:
        """Upload one delta segment with these points (or raise with nothing named by the
        manifest); :meth:`publish` commits the manifest that names it."""
        seq = np.asarray(seq, dtype=np.uint32)
        step = np.asarray(step, dtype=np.int64)
        value = np.asarray(value, dtype=np.float64)
        table = pa.Table.from_batches([points_batch(seq, step, value, epoch, times)])
        number = self.manifest["next_segment"]
        name = segment_object_name(number, self.lock.generation)
        entry = self._upload(name, table)  # a failed upload leaves the manifest as it was
        entry[DELTA_KEY] = True
        self.manifest["next_segment"] = number + 1
        self.manifest["segments"].append(entry)
        self._delta_tables[name] = table
        fold_batch(self._stats, seq, step, value)
        self.manifest_unpublished = True

    def publish(self) -> None:
        """Commit the manifest (compacting first when the deltas reached ``seal_rows`` rows or
        :data:`MAX_DELTAS` files)."""
        deltas = self._deltas()
        if len(deltas) >= MAX_DELTAS or sum(e["rows"] for e in deltas) >= self.seal_rows:
            self._compact()
        else:
            self.write_manifest()

    def _upload(self, name: str, table: pa.Table) -> dict[str, Any]:
        sealed = write_sealed_segment(
            self.storage,
            self.layout.segment_key(self.run_hash, name),
            table,
            name,
            _sequence_metadata(self.manifest),
        )
        return sealed.to_manifest()

    # -- compaction --------------------------------------------------------------------------
    def seal(self, *, fsync_manifest: bool = True) -> None:
        """Compact the deltas into one sealed segment (on close, and when they pile up)."""
        if self._deltas():
            self._compact(fsync=fsync_manifest)

    def _delta_table(self, entry: dict[str, Any]) -> pa.Table:
        cached = self._delta_tables.get(entry["file"])
        if cached is not None:
            return cached
        key = self.layout.segment_key(self.run_hash, entry["file"])
        return SealedSegmentReader(self.storage, key, entry).read_all()

    def _compact(self, *, fsync: bool = False) -> None:
        deltas = self._deltas()
        table = pa.concat_tables([self._delta_table(e).replace_schema_metadata(None) for e in deltas])
        kept = [e for e in self.manifest["segments"] if not e.get(DELTA_KEY)]
        if table.num_rows:
            name = self._next_name()
            kept.append(self._upload(name, table))
        self.manifest["segments"] = kept
        self.write_manifest(fsync=fsync)
        for entry in deltas:  # now unnamed: a kill here leaves them for the next writer to delete
            self.storage.delete(self.layout.segment_key(self.run_hash, entry["file"]))
        self._delta_tables = {}
