"""The change journal ``index/changes``: one line ``<run hash>\\n`` per manifest replacement.

Writers append a run hash after every manifest write; the run index reads only the lines
added since its last refresh, so a warm query stats the runs that changed instead of every
manifest.  Kept apart from the index so the write path does not import the query-side
modules.  Only on storages that support appends; elsewhere the index does full scans.
"""

from __future__ import annotations

from aimcol.format.repo_layout import RepoLayout

JOURNAL_FILE = "changes"

JOURNAL_MAX_DELTA = 1 << 20
"""Read at most this many new journal bytes; more means a full scan is as cheap."""

JOURNAL_ROTATE_BYTES = 8 << 20
"""A reader that just stat'ed everything empties a journal larger than this."""

UPKEEP_BYTES = 64 << 10
"""Each time the journal grows past a multiple of this (about 450 runs written), the writer
whose line crossed it has the journal folded into the run index file
(:func:`fold_into_index`), so the index on disk is never much more than this far behind and
a new reader of 100,000 runs re-reads a few hundred manifests instead of building the index
from all of them."""

JournalState = tuple[int, int]
"""``(identity, size)`` of the journal: a new identity means it was rotated (emptied)."""


def journal_key() -> str:
    return RepoLayout.index_key(JOURNAL_FILE)


def note_manifest_changed(layout: RepoLayout, run_hash: str) -> None:
    """Tell readers that ``run_hash``'s manifest was replaced; call it right *after* the replace.

    One append of a short line: cheap enough for every flush.  Readers then stat only the
    runs named since their last look (plus open runs) instead of every manifest.  Best
    effort: a lost line only delays a reader until its next full scan.
    """
    storage = layout.storage
    if not storage.supports_append:
        return  # an object store logs a run's changes itself (Storage.change_log)
    line = (run_hash + "\n").encode()
    try:
        storage.append(journal_key(), line)
        size = storage.stat(journal_key()).size
    except OSError:
        return
    if size // UPKEEP_BYTES != (size - len(line)) // UPKEEP_BYTES:
        fold_into_index(layout)


def fold_into_index(layout: RepoLayout) -> None:
    """Have the run index file brought up to date with the manifests, by the background
    builder (:mod:`aimcol.format.index_builder`), not in this process.

    A fold holds the whole index in memory (100,000 runs x 10 metrics: ~1 GB in the process
    that does it) and takes seconds: a training process pays neither.  At most one builder
    runs per repository; a fold asked for while one is at work is covered by the next
    boundary.  Best effort and safe to kill at any moment: the index is a cache.
    """
    from aimcol.format.index_builder import start_background_build  # the write path imports it only here

    try:
        start_background_build(layout)
    except Exception:  # noqa: BLE001 - a cache's upkeep must never fail a write
        pass


def journal_state(layout: RepoLayout) -> JournalState | None:
    """The journal's identity and size now, or ``None`` where there is none."""
    if layout.storage.change_log is not None:
        return layout.storage.change_log.state()
    if not layout.storage.supports_append:
        return None
    try:
        st = layout.storage.stat(journal_key())
    except OSError:
        return None
    return st.identity, st.size


def journal_names(layout: RepoLayout, start: int, stop: int) -> tuple[set[str], int]:
    """Run hashes named in ``[start, stop)`` of the journal, and the offset after the last whole line."""
    if layout.storage.change_log is not None:
        return layout.storage.change_log.names_since(start, stop)
    try:
        data = layout.storage.read_range(journal_key(), start, stop - start)
    except OSError:
        return set(), start
    end = data.rfind(b"\n") + 1
    names = set()
    for raw in data[:end].split(b"\n"):
        try:
            name = raw.decode("ascii")
        except UnicodeDecodeError:
            continue  # a torn or interleaved line (NFS): the next full scan covers it
        if name and name.isalnum():
            names.add(name)
    return names, start + end


def rotate_journal(layout: RepoLayout) -> JournalState | None:
    """Empty the journal (a new object: readers see a new identity and do a full scan)."""
    if layout.storage.change_log is not None:
        return layout.storage.change_log.state()  # a log of objects is never rewritten
    try:
        layout.storage.replace(journal_key(), b"")
    except OSError:
        return None
    return journal_state(layout)
