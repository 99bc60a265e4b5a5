"""``Repo``: a repository folder (``.aimcol``) of runs, written by many processes at once.

There is no repository-wide lock: each run has its own folder, manifest and writer lock,
so N processes create and write runs concurrently.  Listing runs is a directory scan;
queries go through the run index (``aimcol/format/run_index.py``), a cache rebuilt from
the manifests.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

from aimcol.errors import FormatError, MissingRunError, ReadOnlyRepoError, RunLockedError
from aimcol.format import manifest as manifest_io
from aimcol.format.repo_layout import (
    REPO_DIRNAME,
    RepoLayout,
    find_repo_upwards,
    init_repo,
    open_repo,
    resolve_repo_root,
)
from aimcol.sdk.types import QueryReportMode


class Repo:
    """A repository.  ``Repo(path)`` accepts the project folder or the ``.aimcol`` folder.

    ``read_only=True`` opens it for reading only: creating, resuming, editing, deleting,
    copying into or moving out of it raise :class:`ReadOnlyRepoError`.  (Aim's ``Repo``
    takes the argument but raises ``NotImplementedError`` for any value but ``None``.)
    """

    def __init__(self, path: str = ".", *, read_only: bool | None = None, init: bool = False):
        if read_only is not None and not isinstance(read_only, bool):
            raise TypeError(f"read_only must be a bool or None, got {type(read_only).__name__}")
        if read_only and init:
            raise ValueError("Repo(init=True) cannot be read_only")
        root = resolve_repo_root(path)
        self.layout: RepoLayout = init_repo(root) if init else open_repo(root)
        self.read_only: bool | None = read_only

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_path(cls, path: str, read_only: bool | None = None, init: bool = False) -> Repo:
        return cls(path, read_only=read_only, init=init)

    @classmethod
    def default_repo(cls, init: bool = True) -> Repo:
        """The nearest ``.aimcol`` in the working directory or above, else a new one in cwd."""
        found = find_repo_upwards(os.getcwd())
        if found is not None:
            return cls(found)
        return cls(os.getcwd(), init=init)

    @classmethod
    def _resolve(cls, repo, *, init: bool) -> Repo:
        if isinstance(repo, Repo):
            return repo
        if repo is None:
            return cls.default_repo(init=init)
        if isinstance(repo, (str, os.PathLike)):
            return cls(os.fspath(repo), init=init)
        raise TypeError(f"repo must be a path or a Repo, got {type(repo).__name__}")

    @property
    def path(self) -> str:
        """The ``.aimcol`` folder."""
        return self.layout.root

    @property
    def root_path(self) -> str:
        """The folder that holds ``.aimcol``."""
        return os.path.dirname(self.layout.root)

    def __repr__(self) -> str:
        return f"<aimcol.Repo {self.path}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Repo) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- runs ----------------------------------------------------------------------------------
    def run_hashes(self) -> list[str]:
        """Hashes of every run with a manifest, in no particular order."""
        return [h for h in self.layout.list_run_hashes() if self.layout.has_run(h)]

    def _open_run(self, run_hash: str):
        from aimcol.sdk.run import Run

        return Run(run_hash, repo=self, read_only=True)

    def iter_runs(self) -> Iterator:
        """Every run, read-only, newest first.

        A run deleted meanwhile is skipped; so is one whose manifest is damaged, with a
        ``RuntimeWarning`` naming the file (``aimcol check`` lists them), as queries do.
        """
        runs = []
        for run_hash in self.run_hashes():
            try:
                runs.append(self._open_run(run_hash))
            except (MissingRunError, FileNotFoundError):
                continue
            except FormatError as exc:
                warnings.warn(f"skipping run {run_hash}: {exc}", RuntimeWarning, stacklevel=2)
        runs.sort(key=lambda r: r.creation_time, reverse=True)
        return iter(runs)

    def get_run(self, run_hash: str):
        """The run, read-only, or ``None`` if there is no such run (as Aim)."""
        try:
            return self._open_run(run_hash)
        except MissingRunError:
            return None

    def total_runs_count(self) -> int:
        return len(self.run_hashes())

    def delete_run(self, run_hash: str) -> bool:
        """Remove a run's folder; refuses a run a live process is writing.  ``False`` if absent."""
        self._check_writable(f"delete run {run_hash}")
        return self.layout.storage.delete_run(run_hash)

    def set_archived(self, run_hash: str, archived: bool = True) -> None:
        """Archive (or unarchive) a run, keeping its end time (a crashed run stays crashed).

        Works on a run a live process is writing too: the writer folds the change in
        (see :mod:`aimcol.sdk.run_edits`).  Raises :class:`MissingRunError` for an unknown run.
        """
        from aimcol.sdk.run_edits import edit_run

        self._check_writable(f"archive run {run_hash}")
        edit_run(self.layout, run_hash, [("set", "archived", bool(archived))])

    def delete_runs(self, run_hashes) -> tuple[bool, list[str]]:
        """Delete several runs; ``(all deleted, hashes not deleted)`` as Aim."""
        remaining = []
        for run_hash in run_hashes:
            try:
                if not self.delete_run(run_hash):
                    remaining.append(run_hash)
            except RunLockedError:
                remaining.append(run_hash)
        return not remaining, remaining

    # -- repository-wide summaries -----------------------------------------------------------
    def _manifests(self) -> Iterator[dict]:
        """Every run's manifest, after flushing what this process tracked into the repository."""
        from aimcol.sdk.run import flush_open_runs

        flush_open_runs(self.path)
        for run_hash in self.run_hashes():
            try:
                yield manifest_io.read_manifest(self.layout, run_hash)
            except FileNotFoundError:
                continue

    def collect_sequence_info(self, sequence_types=("metric",)) -> dict:
        """``{"metric": {name: [context, ...]}}`` over all runs, each context once."""
        from aimcol.sdk.tracking_values import freeze

        if isinstance(sequence_types, str):
            sequence_types = (sequence_types,)
        found: dict[str, dict] = {}
        for manifest in self._manifests():
            for seq in manifest["sequences"]:
                found.setdefault(seq["name"], {}).setdefault(freeze(seq["context"]), seq["context"])
        metrics = {name: list(contexts.values()) for name, contexts in sorted(found.items())}
        return {kind: metrics if kind == "metric" else {} for kind in sequence_types}

    def collect_params_info(self) -> dict:
        """The union of all runs' param trees, leaves replaced by ``{"__example_type__": type}``."""
        merged: dict = {}

        def merge(into: dict, tree: dict) -> None:
            for key, value in tree.items():
                if isinstance(value, dict) and value:
                    node = into.setdefault(key, {})
                    if "__example_type__" in node:
                        node.clear()
                    merge(node, value)
                elif key not in into:
                    into[key] = {"__example_type__": str(type(value))}

        for manifest in self._manifests():
            merge(merged, manifest["params"])
        return merged

    # -- queries (AimQL) ----------------------------------------------------------------------
    def query_runs(
        self,
        query: str = "",
        paginated: bool = False,
        offset: str | None = None,
        report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR,
    ):
        """Runs matching an AimQL expression, newest first.

        ``offset``: the hash of a run of this result; the result then starts after it (Aim's
        "hash of Run to skip to"; an offset that is not in the result raises ``ValueError``).
        ``paginated``: Aim's flag that ``offset`` is a page boundary; here, as in Aim, it
        changes nothing else (the result is lazy already) and must be a bool.
        ``report_mode``: see :class:`~aimcol.sdk.types.QueryReportMode`.
        """
        from aimcol.sdk.query_results import query_runs

        if not isinstance(paginated, bool):
            raise TypeError(f"paginated must be a bool, got {type(paginated).__name__}")
        return query_runs(self, query, offset=offset, report_mode=report_mode)

    def query_metrics(self, query: str = "", report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR):
        """Metric sequences matching an AimQL expression, newest run first."""
        from aimcol.sdk.query_results import query_metrics

        return query_metrics(self, query, report_mode=report_mode)

    def query_images(self, query: str = "", report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR):
        """Image sequences matching an AimQL expression over ``images`` and ``run`` (``images.name``,
        ``images.context.subset`` …), newest run first: an ``ObjectCollection`` (``aimcol.sdk.object_queries``)."""
        return self._query_objects("images", query, report_mode)

    def query_texts(self, query: str = "", report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR):
        """Text sequences matching an AimQL expression over ``texts`` and ``run``."""
        return self._query_objects("texts", query, report_mode)

    def query_distributions(self, query: str = "", report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR):
        """Distribution sequences matching an AimQL expression over ``distributions`` and ``run``."""
        return self._query_objects("distributions", query, report_mode)

    def query_audios(self, query: str = "", report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR):
        """Audio sequences matching an AimQL expression over ``audios`` and ``run``."""
        return self._query_objects("audios", query, report_mode)

    def query_figure_objects(self, query: str = "", report_mode: QueryReportMode = QueryReportMode.PROGRESS_BAR):
        """Figure sequences matching an AimQL expression over ``figures`` and ``run`` (Aim's name)."""
        return self._query_objects("figures", query, report_mode)

    def _query_objects(self, kind: str, query: str, report_mode: QueryReportMode):
        from aimcol.sdk.object_queries import query_objects

        return query_objects(self, kind, query, report_mode)

    def runs_table(self, query: str = "", *, metrics=None):
        """One Arrow row per matching run: properties plus params flattened to dotted columns.

        ``metrics=["loss", "accuracy.max"]`` adds ``loss.last``/``loss.min``/``loss.max`` and
        ``accuracy.max`` columns (one set per context: ``loss:val.last``).  The schema is
        documented in ``aimcol.sdk.tables``.  Built from the run index, so it is fast for
        10,000+ runs (the TUI's runs screen).
        """
        from aimcol.sdk.query_results import runs_table

        return runs_table(self, query, metrics)

    def wait_for_index(self) -> int:
        """Finish the run index in this process and return how many runs it holds.

        Queries never wait more than about a second for the index: on a repository that has
        none yet (copied in, or its index deleted), they answer from the runs indexed so far
        with an ``IndexIncompleteWarning`` while a background process indexes the rest.
        Call this first where a script needs every run in its first answer.
        """
        from aimcol.sdk.query_results import wait_for_index

        return wait_for_index(self)

    def sequences_table(self, query: str = "", columns: list[str] | None = None):
        """One Arrow row per matching metric sequence: run hash, name, context and summary stats
        (``columns``: only these columns, in the table's order; the others are not built)."""
        from aimcol.sdk.query_results import sequences_table

        return sequences_table(self, query, columns)

    # -- maintenance (aimcol/sdk/repo_maintenance.py) ---------------------------------------------
    def check(self):
        """Read back every run's files: a ``RunCheck`` (status, problems, repairable) per run."""
        from aimcol.sdk.repo_maintenance import check_repo

        return check_repo(self)

    def repair(self):
        """Seal dead writers' live segments and remove stray files: a ``RunRepair`` per run fixed."""
        from aimcol.sdk.repo_maintenance import repair_repo

        return repair_repo(self)

    # -- scans by other engines (aimcol/sdk/scans.py) ---------------------------------------------
    def to_dataset(self):
        """A ``pyarrow.dataset`` over every segment file the manifests name, with a ``run`` column."""
        from aimcol.sdk.scans import to_dataset

        return to_dataset(self)

    def to_dask(self, query: str | None = None, columns=None, *, partition_points: int | None = None):
        """A Dask DataFrame of the points of the sequences ``query`` matches: whole runs packed
        into partitions of about ``partition_points`` points (default 2M), big runs split."""
        from aimcol.sdk.scans import to_dask

        return to_dask(self, query, columns, partition_points=partition_points)

    # -- Aim's repository API: existence, listing, copy/move, clean-up (issue 11 #7) ---------------
    @classmethod
    def default_repo_path(cls) -> str:
        """The folder holding the nearest ``.aimcol`` (cwd or above), else the cwd (as Aim)."""
        found = find_repo_upwards(os.getcwd())
        return os.path.dirname(found) if found is not None else os.getcwd()

    @classmethod
    def location(cls, path: str | None = None) -> str:
        """The ``.aimcol`` folder (or storage URI) that ``path`` names, without opening or creating
        it; no ``path``: the nearest repository's, else the cwd's (where a new one would go)."""
        return resolve_repo_root(os.fspath(path) if path is not None else cls.default_repo_path())

    @classmethod
    def exists(cls, path: str) -> bool:
        """Whether ``path`` (a project folder, a ``.aimcol`` folder or a storage URI) holds a repository."""
        from aimcol.format.repo_layout import FORMAT_KEY
        from aimcol.format.storage import storage_for

        return storage_for(resolve_repo_root(path)).exists(FORMAT_KEY)

    def _check_writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyRepoError(f"cannot {what}: repository {self.path} was opened with read_only=True")

    def close(self) -> None:
        """Aim's ``Repo.close()``.  A ``Repo`` holds no open files or locks (each ``Run`` holds
        its own), so there is nothing to release; kept so Aim code runs unchanged."""

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run_exists(self, run_hash: str) -> bool:
        """Whether the repository holds a run ``run_hash`` (with a manifest)."""
        return isinstance(run_hash, str) and self.layout.has_run(run_hash)

    def list_all_runs(self) -> list[str]:
        """Hashes of every run, in no particular order (Aim's ``list_all_runs``)."""
        return self.run_hashes()

    def list_active_runs(self) -> list[str]:
        """Hashes of the runs a live process is writing right now."""
        return [h for h in self.run_hashes() if self.layout.storage.run_claimed(h)]

    def copy_runs(self, run_hashes, dest_repo: Repo) -> tuple[bool, list[str]]:
        """Copy runs into ``dest_repo``: ``(all copied, hashes not copied)`` as Aim.

        A run is not copied (and is listed) if it is absent, live (a writer may be changing
        it), or already in ``dest_repo``; a warning says why.  Each run arrives whole: its
        manifest is copied last, so a crash never leaves half a run visible in ``dest_repo``.
        """
        return self._transfer(run_hashes, dest_repo, move=False)

    def move_runs(self, run_hashes, dest_repo: Repo) -> tuple[bool, list[str]]:
        """Copy runs into ``dest_repo``, then delete them here; live runs are refused (listed)."""
        self._check_writable("move runs out of it")
        return self._transfer(run_hashes, dest_repo, move=True)

    def _transfer(self, run_hashes, dest_repo, *, move: bool) -> tuple[bool, list[str]]:
        from aimcol.sdk.repo_transfer import transfer_run

        if isinstance(run_hashes, str):
            raise TypeError("run_hashes must be a list of run hashes, not one str")
        dest = Repo._resolve(dest_repo, init=False)
        dest._check_writable("copy runs into it")
        if dest == self:
            raise ValueError(f"source and destination are the same repository ({self.path})")
        remaining = []
        for run_hash in run_hashes:
            try:
                transfer_run(self.layout, dest.layout, run_hash, move=move)
            except (MissingRunError, RunLockedError, FileExistsError, OSError) as exc:
                warnings.warn(
                    f"run {run_hash} not {'moved' if move else 'copied'}: {exc}", RuntimeWarning, stacklevel=3
                )
                remaining.append(run_hash)
        return not remaining, remaining

    def delete_experiment(self, experiment: str) -> bool:
        """Delete every run of ``experiment`` (a name: aimcol has no experiment ids).

        ``True`` if all were deleted; ``False`` if some were live (they stay), as Aim returns
        ``False`` when the deletion fails.  An experiment with no runs returns ``True``.
        """
        self._check_writable(f"delete experiment {experiment!r}")
        if not isinstance(experiment, str):
            raise TypeError(f"experiment must be a name (str), got {type(experiment).__name__}")
        hashes = [m["hash"] for m in self._manifests() if (m.get("experiment") or "default") == experiment]
        return self.delete_runs(hashes)[0]

    def prune(self) -> list[str]:
        """Remove run folders that never got a manifest (their creator died before writing
        one, or a copy was interrupted; a folder younger than
        ``repo_transfer.ORPHAN_GRACE_SECONDS`` or claimed by a live writer is left alone).
        Returns the hashes removed.  Aim's ``prune`` removes orphaned index entries, which
        aimcol's run index never keeps (it is rebuilt from the manifests).
        """
        self._check_writable("prune it")
        from aimcol.sdk.repo_transfer import prune_repo

        return prune_repo(self.layout)


__all__ = ["Repo", "REPO_DIRNAME"]


def __getattr__(name: str):
    # ``from aimcol.sdk.repo import Run`` works as in Aim; imported lazily (run.py imports this module)
    if name == "Run":
        from aimcol.sdk.run import Run

        return Run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
