"""Paths inside a repository and the ``FORMAT`` file that versions them.

``FORMAT`` is a msgpack map ``{"format": "aimcol", "major": 1, "minor": 0}``.  A reader
refuses a newer major version with :class:`FormatVersionError`; a newer minor is readable
(additions only).
"""

from __future__ import annotations

import os

import msgpack

from aimcol.errors import DamagedRunError, FormatError, FormatVersionError, ReadOnlyRepoError, RepoNotFoundError
from aimcol.format.atomic_file import atomic_write
from aimcol.format.segment_names import check_run_name, is_run_name, is_segment_name

REPO_DIRNAME = ".aimcol"
FORMAT_NAME = "aimcol"
FORMAT_MAJOR = 1
FORMAT_MINOR = 0


class RepoLayout:
    """Where each file of a repository lives.  ``root`` is the ``.aimcol`` folder itself."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.runs_dir = os.path.join(self.root, "runs")
        self.index_dir = os.path.join(self.root, "index")
        self.format_path = os.path.join(self.root, "FORMAT")

    # Every path below is built from a name that was checked to be a plain name
    # (segment_names.py): a damaged manifest or index can never point outside the run.
    def run_dir(self, run_hash: str) -> str:
        return os.path.join(self.runs_dir, check_run_name(run_hash))

    def manifest_path(self, run_hash: str) -> str:
        return os.path.join(self.runs_dir, check_run_name(run_hash), "manifest.msgpack")

    def lock_path(self, run_hash: str) -> str:
        return os.path.join(self.runs_dir, check_run_name(run_hash), "lock")

    def segment_path(self, run_hash: str, file_name: str) -> str:
        if not is_segment_name(file_name):
            raise DamagedRunError(f"run {run_hash}: {file_name!r} is not a segment file name")
        return os.path.join(self.runs_dir, check_run_name(run_hash), file_name)

    def list_run_hashes(self) -> list[str]:
        """Every run folder that holds a manifest (a folder without one is a run being born)."""
        try:
            entries = os.scandir(self.runs_dir)
        except FileNotFoundError:
            return []
        with entries:
            return [e.name for e in entries if is_run_name(e.name) and e.is_dir()]


def resolve_repo_root(path: str) -> str:
    """Map a user path (the project folder or the ``.aimcol`` folder itself) to the ``.aimcol`` folder."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.basename(path) == REPO_DIRNAME:
        return path
    return os.path.join(path, REPO_DIRNAME)


def find_repo_upwards(start: str) -> str | None:
    """The nearest ``.aimcol`` folder in ``start`` or one of its parents, else ``None``."""
    current = os.path.abspath(start)
    while True:
        candidate = os.path.join(current, REPO_DIRNAME)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def init_repo(root: str) -> RepoLayout:
    """Create the repository folders and ``FORMAT`` if missing; safe to race with other processes."""
    layout = RepoLayout(root)
    os.makedirs(layout.runs_dir, exist_ok=True)
    os.makedirs(layout.index_dir, exist_ok=True)
    if not os.path.exists(layout.format_path):
        payload = {"format": FORMAT_NAME, "major": FORMAT_MAJOR, "minor": FORMAT_MINOR}
        atomic_write(layout.format_path, msgpack.packb(payload))
    check_format(layout)
    return layout


def open_repo(root: str) -> RepoLayout:
    """Open an existing repository, checking its ``FORMAT``; raise ``RepoNotFoundError`` if absent."""
    layout = RepoLayout(root)
    if not os.path.isdir(layout.root):
        raise RepoNotFoundError(f"no aimcol repository at {layout.root} (run `aimcol init` there)")
    if not os.path.exists(layout.format_path):
        # A repository whose FORMAT was never written (crash during init): finish the init.
        try:
            return init_repo(root)
        except OSError as exc:
            raise ReadOnlyRepoError(
                f"{layout.root} has no FORMAT file (its `aimcol init` was interrupted) and it cannot be "
                f"written ({exc.strerror}): open it once where it is writable, or run `aimcol init` there"
            ) from None
    check_format(layout)
    return layout


def check_format(layout: RepoLayout) -> dict:
    try:
        with open(layout.format_path, "rb") as fh:
            info = msgpack.unpackb(fh.read())
    except (OSError, ValueError, msgpack.UnpackException) as exc:
        raise FormatError(f"{layout.format_path}: unreadable FORMAT file ({exc})") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT_NAME:
        raise FormatError(f"{layout.format_path}: not an aimcol repository (FORMAT is {info!r})")
    major = info.get("major")
    if not isinstance(major, int) or major > FORMAT_MAJOR:
        raise FormatVersionError(
            f"{layout.root} uses aimcol format {major}.{info.get('minor')}, newer than this "
            f"aimcol understands ({FORMAT_MAJOR}.{FORMAT_MINOR}); upgrade aimcol"
        )
    return info
