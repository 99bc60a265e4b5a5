"""The background build of a run index: ``python -m aimcol.format.index_builder <repository>``.

A reader that finds many manifests to read (no index file yet) answers from what it read
within :data:`~aimcol.format.run_index.FIRST_ANSWER_SECONDS` and starts this process, which
reads the rest and saves the index file (every few seconds, so later readers start from its
progress).  Only one builder runs per repository: it holds the advisory lock
``index/build.lock`` (:meth:`Storage.try_lock`) while it works.  Killing it at any moment is
safe: the index is a cache, each save replaces the file atomically, and the next reader
starts a new builder that resumes from the last save.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from aimcol.format.repo_layout import RepoLayout, open_repo

BUILD_LOCK = "build.lock"


def _lock_key() -> str:
    return RepoLayout.index_key(BUILD_LOCK)


def builder_running(layout: RepoLayout) -> bool:
    """Whether a builder holds the repository's build lock now (never on object stores)."""
    release = layout.storage.try_lock(_lock_key())
    if release is None:
        return True
    release()
    return False


def start_background_build(layout: RepoLayout) -> subprocess.Popen[bytes] | None:
    """Start a detached builder for ``layout`` unless one holds the lock; the process or None.

    Best effort: a reader goes on with its partial answer whatever happens here.
    """
    if layout.storage.uri.startswith("memory://"):
        return None  # another process cannot see this process's memory: its readers finish the build
    if builder_running(layout):
        return None  # the builder takes the lock itself (of two racing starters, one exits at once)
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aimcol.format.index_builder", layout.root],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not killed with the reader's terminal (Ctrl-C of `aimcol runs ls`)
            close_fds=True,
            env=env,
        )
    except OSError:
        return None
    threading.Thread(target=proc.wait, name="aimcol-index-builder-reaper", daemon=True).start()
    return proc


def build(root: str) -> bool:
    """Finish the index of the repository at ``root``; False if another builder holds the lock."""
    from aimcol.format.run_index import RunIndex

    layout = open_repo(root)
    release = layout.storage.try_lock(_lock_key())
    if release is None:
        return False
    try:
        RunIndex(layout).refresh(wait=True)
    finally:
        release()
    return True


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m aimcol.format.index_builder REPOSITORY")
    build(sys.argv[1])
