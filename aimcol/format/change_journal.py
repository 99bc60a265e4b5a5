"""The change journal ``index/changes``: one line per manifest replacement.

Writers append a run hash after every manifest write; the run index reads only the lines
added since its last refresh, so a warm query stats the runs that changed instead of every
manifest.  Kept apart from ``run_index`` so the write path does not import the query-side
modules (pyarrow.compute).
"""

from __future__ import annotations

import os

from aimcol.format.repo_layout import RepoLayout

JOURNAL_FILE = "changes"


def note_manifest_changed(layout: RepoLayout, run_hash: str) -> None:
    """Tell readers that ``run_hash``'s manifest was replaced; call it right *after* the replace.

    One ``O_APPEND`` write of a short line: cheap enough for every flush.  Readers then stat
    only the runs named since their last look (plus open runs) instead of every manifest.
    Best effort: a lost line only delays a reader until its next full scan.
    """
    path = os.path.join(layout.index_dir, JOURNAL_FILE)
    line = (run_hash + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, line)
    except OSError:
        pass
    finally:
        os.close(fd)
