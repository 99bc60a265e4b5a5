"""Where each object of a repository lives (its keys), and the ``FORMAT`` object that versions them.

Keys are relative to the repository root (the ``.aimcol`` folder, or a prefix in a bucket)
and are read and written only through the repository's :class:`~aimcol.format.storage.Storage`::

    FORMAT                              format name and version (msgpack)
    runs/<hash>/manifest.msgpack        run metadata, params, sequence table, segment list
    runs/<hash>/live-<n>.arrows         Arrow IPC stream: the open segment, one batch per flush
    runs/<hash>/seg-<n>.arrow           Arrow IPC file: sealed, sorted by (seq, step), zstd
    runs/<hash>/lock                    the writer's claim (an flock locally)
    runs/<hash>/terminal.log            captured stdout/stderr of the writer
    index/runs.aimcolidx                the run index (a rebuildable cache of all manifests)
    index/changes                       the change journal (run hashes whose manifest changed)

``FORMAT`` is a msgpack map ``{"format": "aimcol", "major": 1, "minor": 1}`` (1.1 added blob
segments for images, audio and figures; 1.0 repositories read unchanged).  A reader
refuses a newer major version with :class:`FormatVersionError`; a newer minor is readable
(additions only).
"""

from __future__ import annotations

import os
from typing import Any

import msgpack

from aimcol.errors import (
    DamagedRunError,
    FormatError,
    FormatVersionError,
    ObjectExistsError,
    ReadOnlyRepoError,
    RepoNotFoundError,
    UnsupportedStorageError,
)
from aimcol.format.segment_names import check_run_name, is_plain_name, is_run_name
from aimcol.format.storage import Storage, is_local_location, storage_for

REPO_DIRNAME = ".aimcol"
FORMAT_NAME = "aimcol"
FORMAT_MAJOR = 1
FORMAT_MINOR = 1

FORMAT_KEY = "FORMAT"
RUNS_PREFIX = "runs"
INDEX_PREFIX = "index"
MANIFEST_NAME = "manifest.msgpack"
TERMINAL_LOG_NAME = "terminal.log"


class RepoLayout:
    """The keys of one repository's objects, and the storage that holds them.

    ``root`` names the repository (the ``.aimcol`` folder's absolute path, or a URI); build
    it from a location (``RepoLayout("/p/.aimcol")``) or from a :class:`Storage`.
    """

    def __init__(self, root: str | Storage):
        self.storage: Storage = storage_for(root) if isinstance(root, str) else root
        self.root: str = self.storage.uri

    # Every key below is built from names checked to be plain names (segment_names.py): a
    # damaged manifest or index can never make the format read or delete outside a run.
    @staticmethod
    def run_prefix(run_hash: str) -> str:
        return f"{RUNS_PREFIX}/{check_run_name(run_hash)}"

    @staticmethod
    def manifest_key(run_hash: str) -> str:
        return f"{RUNS_PREFIX}/{check_run_name(run_hash)}/{MANIFEST_NAME}"

    @staticmethod
    def segment_key(run_hash: str, file_name: str) -> str:
        if not is_plain_name(file_name):  # manifests are held to segment names; listings give plain names
            raise DamagedRunError(f"run {run_hash}: {file_name!r} is not a file name inside the run's folder")
        return f"{RUNS_PREFIX}/{check_run_name(run_hash)}/{file_name}"

    @staticmethod
    def terminal_log_key(run_hash: str) -> str:
        return f"{RUNS_PREFIX}/{check_run_name(run_hash)}/{TERMINAL_LOG_NAME}"

    @staticmethod
    def index_key(file_name: str) -> str:
        return f"{INDEX_PREFIX}/{file_name}"

    def list_run_hashes(self) -> list[str]:
        """Every run folder (one without a manifest is a run being born or being deleted)."""
        return [name for name in self.storage.list_children(RUNS_PREFIX) if is_run_name(name)]

    def has_run(self, run_hash: str) -> bool:
        """True when the run has a manifest."""
        return self.storage.exists(self.manifest_key(run_hash))

    def __repr__(self) -> str:
        return f"RepoLayout({self.root!r})"

    # -- local paths: for tests and tools that hand a file to another program ---------------------
    # The format never uses these: every byte it reads or writes goes through ``storage``.
    def local_path(self, key: str = "") -> str:
        """The filesystem path of ``key``; :class:`UnsupportedStorageError` for a remote repository."""
        root = self.storage.local_root
        if root is None:
            raise UnsupportedStorageError(f"{self.root} is not on a local filesystem: it has no file paths")
        return os.path.join(root, *key.split("/")) if key else root

    @property
    def runs_dir(self) -> str:
        return self.local_path(RUNS_PREFIX)

    @property
    def index_dir(self) -> str:
        return self.local_path(INDEX_PREFIX)

    @property
    def format_path(self) -> str:
        return self.local_path(FORMAT_KEY)

    def run_dir(self, run_hash: str) -> str:
        return self.local_path(self.run_prefix(run_hash))

    def manifest_path(self, run_hash: str) -> str:
        return self.local_path(self.manifest_key(run_hash))

    def segment_path(self, run_hash: str, file_name: str) -> str:
        return self.local_path(self.segment_key(run_hash, file_name))

    def lock_path(self, run_hash: str) -> str:
        return self.local_path(f"{self.run_prefix(run_hash)}/lock")


def resolve_repo_root(path: str) -> str:
    """Map a user location (the project folder or the ``.aimcol`` folder itself) to the
    ``.aimcol`` folder; a URI (``s3://…``) names the repository root itself and is kept."""
    if not is_local_location(path):
        return path
    if path.startswith("file://"):
        path = path[len("file://") :]
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.basename(path) == REPO_DIRNAME:
        return path
    return os.path.join(path, REPO_DIRNAME)


def find_repo_upwards(start: str) -> str | None:
    """The nearest ``.aimcol`` folder in ``start`` or one of its parents, else ``None``.

    Local filesystems only: this is how a location is *chosen*, before any storage exists."""
    current = os.path.abspath(start)
    while True:
        candidate = os.path.join(current, REPO_DIRNAME)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def init_repo(root: str | Storage) -> RepoLayout:
    """Create the repository (prefixes and ``FORMAT``) if missing; safe to race with other processes."""
    layout = RepoLayout(root)
    storage = layout.storage
    storage.make_prefix(RUNS_PREFIX)
    storage.make_prefix(INDEX_PREFIX)
    if not storage.exists(FORMAT_KEY):
        payload = {"format": FORMAT_NAME, "major": FORMAT_MAJOR, "minor": FORMAT_MINOR}
        try:
            storage.create(FORMAT_KEY, msgpack.packb(payload))
        except ObjectExistsError:
            pass  # another process initialised it first
    check_format(layout)
    return layout


def open_repo(root: str | Storage) -> RepoLayout:
    """Open an existing repository, checking its ``FORMAT``; raise ``RepoNotFoundError`` if absent."""
    layout = RepoLayout(root)
    if not layout.storage.exists(FORMAT_KEY):
        if not layout.storage.exists(""):
            raise RepoNotFoundError(f"no aimcol repository at {layout.root} (run `aimcol init` there)")
        # A repository whose FORMAT was never written (crash during init): finish the init.
        try:
            return init_repo(layout.storage)
        except (ObjectExistsError, RepoNotFoundError):
            raise
        except OSError as exc:
            raise ReadOnlyRepoError(
                f"{layout.root} has no FORMAT file (its `aimcol init` was interrupted) and it cannot be "
                f"written ({exc.strerror or exc}): open it once where it is writable, or run `aimcol init` there"
            ) from None
    check_format(layout)
    return layout


def check_format(layout: RepoLayout) -> dict[str, Any]:
    """The ``FORMAT`` map; :class:`FormatError` if unreadable or foreign, :class:`FormatVersionError` if too new."""
    where = f"{layout.root}/{FORMAT_KEY}"
    try:
        info = msgpack.unpackb(layout.storage.read(FORMAT_KEY))
    except (OSError, ValueError, msgpack.UnpackException) as exc:
        raise FormatError(f"{where}: unreadable FORMAT file ({exc})") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT_NAME:
        raise FormatError(f"{where}: not an aimcol repository (FORMAT is {info!r})")
    major = info.get("major")
    if not isinstance(major, int) or major > FORMAT_MAJOR:
        raise FormatVersionError(
            f"{layout.root} uses aimcol format {major}.{info.get('minor')}, newer than this "
            f"aimcol understands ({FORMAT_MAJOR}.{FORMAT_MINOR}); upgrade aimcol"
        )
    return info
