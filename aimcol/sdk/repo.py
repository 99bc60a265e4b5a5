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

from aimcol.errors import FormatError, MissingRunError, RunLockedError
from aimcol.format import manifest as manifest_io
from aimcol.format.repo_layout import (
    REPO_DIRNAME,
    RepoLayout,
    find_repo_upwards,
    init_repo,
    open_repo,
    resolve_repo_root,
)


class Repo:
    """A repository.  ``Repo(path)`` accepts the project folder or the ``.aimcol`` folder."""

    def __init__(self, path: str = ".", *, init: bool = False):
        root = resolve_repo_root(path)
        self.layout: RepoLayout = init_repo(root) if init else open_repo(root)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_path(cls, path: str, init: bool = False) -> Repo:
        return cls(path, init=init)

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
        return self.layout.storage.delete_run(run_hash)

    def set_archived(self, run_hash: str, archived: bool = True) -> None:
        """Archive (or unarchive) a finished or crashed run without resuming it.

        Unlike ``Run(hash).archived = True`` followed by ``close()``, this keeps the run's end
        time.  A run a live process is writing raises :class:`RunLockedError`.
        """
        from aimcol.format.run_store import update_run_properties

        if not self.layout.has_run(run_hash):
            raise MissingRunError(f"no run {run_hash!r} in repository {self.path}")
        update_run_properties(self.layout, run_hash, archived=bool(archived))

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
    def query_runs(self, query: str = "", paginated: bool = False, offset: str | None = None, **kwargs):
        """Runs matching an AimQL expression, newest first."""
        from aimcol.sdk.query_results import query_runs

        return query_runs(self, query)

    def query_metrics(self, query: str = "", **kwargs):
        """Metric sequences matching an AimQL expression, newest run first."""
        from aimcol.sdk.query_results import query_metrics

        return query_metrics(self, query)

    def runs_table(self, query: str = "", *, metrics=None):
        """One Arrow row per matching run: properties plus params flattened to dotted columns.

        ``metrics=["loss", "accuracy.max"]`` adds ``loss.last``/``loss.min``/``loss.max`` and
        ``accuracy.max`` columns (one set per context: ``loss:val.last``).  The schema is
        documented in ``aimcol.sdk.tables``.  Built from the run index, so it is fast for
        10,000+ runs (the TUI's runs screen).
        """
        from aimcol.sdk.query_results import runs_table

        return runs_table(self, query, metrics)

    def sequences_table(self, query: str = ""):
        """One Arrow row per matching metric sequence: run hash, name, context and summary stats."""
        from aimcol.sdk.query_results import sequences_table

        return sequences_table(self, query)

    # -- maintenance (aimcol/sdk/repo_maintenance.py) ---------------------------------------------
    def check(self):
        """Read back every run's files: a ``RunCheck`` (status, problems, repairable) per run."""
        from aimcol.sdk.repo_maintenance import check_repo

        return check_repo(self)

    def repair(self):
        """Seal dead writers' live segments and remove stray files: a ``RunRepair`` per run fixed."""
        from aimcol.sdk.repo_maintenance import repair_repo

        return repair_repo(self)


__all__ = ["Repo", "REPO_DIRNAME"]
