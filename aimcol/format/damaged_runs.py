"""Runs left out of listings and queries because their files are damaged, reported once each.

A damaged run must neither break the others nor vanish without a word: whoever skips it
(the run index, ``Repo.iter_runs``) reports it here, and a :class:`DamagedRunWarning`
names it the first time (and again if the reason changes) in this process.
"""

from __future__ import annotations

import threading
import warnings

from aimcol.errors import DamagedRunWarning

_REPORTED: dict[tuple[str, str], str] = {}
_LOCK = threading.Lock()


def report_damaged_run(repo_root: str, run_hash: str, reason: str, stacklevel: int = 3) -> None:
    """Warn that ``run_hash`` of the repository at ``repo_root`` is skipped, once per reason."""
    with _LOCK:
        if _REPORTED.get((repo_root, run_hash)) == reason:
            return
        _REPORTED[(repo_root, run_hash)] = reason
    warnings.warn(
        f"run {run_hash} is damaged and left out: {reason} (`aimcol check` reports it)",
        DamagedRunWarning,
        stacklevel=stacklevel,
    )


def damaged_runs(repo_root: str) -> dict[str, str]:
    """The runs of a repository reported as damaged by this process so far, with the reason."""
    with _LOCK:
        return {h: r for (root, h), r in _REPORTED.items() if root == repo_root}


def forget_damaged_run(repo_root: str, run_hash: str) -> None:
    """The run reads again (repaired, or deleted): report it anew if it breaks again."""
    with _LOCK:
        _REPORTED.pop((repo_root, run_hash), None)
