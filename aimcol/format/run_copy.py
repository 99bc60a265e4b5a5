"""Copying a run from one repository to another (``aimcol sync``), whatever their storages.

Sealed segments are immutable, self-describing Arrow IPC files: they are copied byte for
byte under their own names.  A live segment (a local run that crashed, or one copied
while open) is not copied as a stream: its complete batches become one sealed segment in
the destination, so an object store never holds a stream it could not append to.  The
destination's manifest is then committed under the destination's claim on the run, and
segment files it no longer names are deleted.  The files of object sequences
(``objects.log``, object deltas, blob segments, the sealed object segment) are copied whole
when their size differs; copied into an object store, the blob segments are named in the
manifest (``object_blobs``) as the objects written there are (:mod:`aimcol.format.object_deltas`).

Copying is idempotent: the destination run records which source manifest it was made
from (``synced_from``: the source's identity of that manifest and a digest of its bytes),
and a run whose source has not changed since is skipped without reading its segments.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from aimcol.format import manifest as manifest_io
from aimcol.format.object_deltas import BLOBS_KEY, blob_numbers
from aimcol.format.object_segments import object_files
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.run_store import _sequence_metadata
from aimcol.format.segments import parse_live_segment, write_sealed_segment

COPY_CHUNK_BYTES = 64 * 1024 * 1024
"""Segments are copied in one read and one write up to this size (they are rarely larger)."""


@dataclass
class CopyResult:
    """What :func:`copy_run` did with one run."""

    run_hash: str
    action: str  # "copied", "updated", "unchanged", "skipped-active"
    files: int = 0
    bytes: int = 0


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def copy_run(src: RepoLayout, dst: RepoLayout, run_hash: str, *, include_active: bool = False) -> CopyResult:
    """Make ``dst``'s copy of run ``run_hash`` equal to ``src``'s (see the module docstring).

    A run a live writer holds in ``src`` is skipped (``skipped-active``) unless
    ``include_active``; its copy would show as crashed.  Raises ``RunLockedError`` when a
    live writer holds the run in ``dst``, ``FileNotFoundError`` when ``src`` has no such run.
    """
    src_storage, dst_storage = src.storage, dst.storage
    if not include_active and src_storage.run_claimed(run_hash):
        return CopyResult(run_hash, "skipped-active")
    raw = src_storage.read(src.manifest_key(run_hash))
    manifest = manifest_io.unpack_manifest(raw, f"{src.root}/{src.manifest_key(run_hash)}")
    origin = {"uri": src.root, "digest": _digest(raw)}
    existing = _read_or_none(dst, run_hash)
    if existing is not None and (existing.get("synced_from") == origin or _same_run(existing, manifest)):
        return CopyResult(run_hash, "unchanged")
    dst_storage.make_prefix(dst.run_prefix(run_hash))
    claim = dst_storage.claim_run(run_hash)
    try:
        present = set(dst_storage.list_children(dst.run_prefix(run_hash)))
        result = CopyResult(run_hash, "copied" if existing is None else "updated")
        for entry in manifest["segments"]:
            if entry["file"] in present:
                continue  # immutable: the same name holds the same bytes
            data = src_storage.read(src.segment_key(run_hash, entry["file"]))
            with dst_storage.write_immutable(dst.segment_key(run_hash, entry["file"])) as sink:
                sink.write(data)
            result.files += 1
            result.bytes += len(data)
        _copy_object_files(src, dst, run_hash, manifest, present, result)
        if manifest.get("object_sequences") and not dst_storage.supports_append:
            # the blob segments become named (object_blobs): the destination's writers keep them
            manifest[BLOBS_KEY] = sorted(
                set(manifest.get(BLOBS_KEY) or []) | set(blob_numbers(object_files(src_storage, run_hash, manifest)))
            )
        if manifest.get("live"):
            _seal_live_copy(src, dst, run_hash, manifest, result)
        manifest["live"] = None
        manifest["live_rows"] = 0
        manifest["synced_from"] = origin
        dst_storage.replace(dst.manifest_key(run_hash), manifest_io.pack_manifest(manifest), durable=True, claim=claim)
        named = {e["file"] for e in manifest["segments"]}
        for name in present:
            if name.startswith(("seg-", "live-")) and name not in named:
                dst_storage.delete(dst.segment_key(run_hash, name))
    finally:
        claim.release()
    return result


def _copy_object_files(
    src: RepoLayout, dst: RepoLayout, run_hash: str, manifest: dict[str, Any], present: set[str], result: CopyResult
) -> None:
    """``objects.log``, blob segments and the sealed object segment: appended files, so each
    is replaced whole when its size changed (the claim on the destination run is held)."""
    for name in object_files(src.storage, run_hash, manifest):
        key = src.segment_key(run_hash, name)
        if name in present and dst.storage.stat(dst.segment_key(run_hash, name)).size == src.storage.stat(key).size:
            continue
        data = src.storage.read(key)
        dst.storage.replace(dst.segment_key(run_hash, name), data, durable=True)
        result.files += 1
        result.bytes += len(data)


def _seal_live_copy(
    src: RepoLayout, dst: RepoLayout, run_hash: str, manifest: dict[str, Any], result: CopyResult
) -> None:
    """The complete batches of ``src``'s live segment as a sealed segment in ``dst``."""
    live = manifest["live"]
    try:
        data = src.storage.read(src.segment_key(run_hash, live))
    except FileNotFoundError:
        return
    table = parse_live_segment(data)
    known = len(manifest["sequences"])
    if table.num_rows:
        import pyarrow.compute as pc

        table = table.filter(pc.less(table.column("seq"), known))
    if not table.num_rows:
        return
    number = manifest["next_segment"]
    manifest["next_segment"] = number + 1
    name = f"seg-{number:06d}.arrow"
    sealed = write_sealed_segment(
        dst.storage, dst.segment_key(run_hash, name), table, name, _sequence_metadata(manifest)
    )
    manifest["segments"].append(sealed.to_manifest())
    result.files += 1


_BOOKKEEPING = ("synced_from", "live", "live_rows", BLOBS_KEY)


def _same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same run content, ignoring where it was synced from (so a copy synced back is a no-op)."""
    if a.get("live") or b.get("live"):
        return False

    def strip(m: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in m.items() if k not in _BOOKKEEPING}

    return strip(a) == strip(b)


def _read_or_none(layout: RepoLayout, run_hash: str) -> dict[str, Any] | None:
    try:
        return manifest_io.read_manifest(layout, run_hash)
    except FileNotFoundError:
        return None
