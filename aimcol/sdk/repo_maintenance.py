"""Checking and repairing a repository: what ``Repo.check()`` and ``Repo.repair()`` do.

``aimcol check`` and ``aimcol repair`` are thin printers over these; a script can call them
too (e.g. a nightly job that repairs what crashed jobs left).  Neither ever touches a run a
live process is writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunCheck:
    """What ``Repo.check()`` found in one run."""

    run: str
    status: str  # see aimcol.sdk.tables.run_status; "unreadable" when the manifest does not read
    problems: list[str] = field(default_factory=list)  # files that do not read back (data at risk)
    repairable: list[str] = field(default_factory=list)  # what Repo.repair() would fix

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class RunRepair:
    """One run ``Repo.repair()`` fixed, and what it fixed; or, with ``error``, could not repair."""

    run: str
    fixed: list[str]
    dropped: list[str] = field(default_factory=list)  # damaged stretches of a live segment left out
    error: str | None = None  # too damaged to repair (nothing of it was deleted)


def check_repo(repo) -> list[RunCheck]:
    """Read back every run's files; one :class:`RunCheck` per run, in hash order."""
    from aimcol.format import manifest as manifest_io
    from aimcol.format.run_store import check_run, run_needs_repair
    from aimcol.sdk.tables import run_status

    layout = repo.layout
    results = []
    for run_hash in sorted(repo.run_hashes()):
        problems = check_run(layout, run_hash)
        active = layout.storage.run_claimed(run_hash)
        if problems:
            results.append(RunCheck(run_hash, "active" if active else "unreadable", problems))
            continue
        manifest = manifest_io.read_manifest(layout, run_hash)
        status = run_status(active, manifest.get("end_time"), manifest.get("exit_status"))
        repairable = [] if active else run_needs_repair(layout, run_hash, manifest)
        results.append(RunCheck(run_hash, status, [], repairable))
    return results


def repair_repo(repo) -> list[RunRepair]:
    """Seal the live segments dead writers left, remove stray files and abort their incomplete
    multipart uploads; what was fixed, per run.

    Runs a live process holds are skipped (a writer that reopens a run recovers it itself).
    """
    from aimcol.errors import FormatError, RunLockedError
    from aimcol.format.run_index import run_index
    from aimcol.format.run_store import repair_run

    repaired = []
    for found in check_repo(repo):
        if found.status == "active" or not found.repairable or found.problems:
            continue
        try:
            dropped = repair_run(repo.layout, found.run)
        except RunLockedError:
            continue  # a writer took it meanwhile
        except FormatError as exc:  # too damaged to repair: reported, and the other runs go on
            repaired.append(RunRepair(found.run, [], error=str(exc)))
            continue
        repaired.append(RunRepair(found.run, list(found.repairable), dropped))
    _discard_damaged_index_file(repo.layout)
    run_index(repo.layout).rebuild()  # the index is a cache: rebuilt from the manifests, whatever state it was in
    return repaired


def _discard_damaged_index_file(layout) -> None:
    """Delete whatever damaged thing sits at the index file's path (a directory, a FIFO, bad
    bytes), so that the rebuild can write the file there."""
    from aimcol.format.index_file import IndexFileError, index_key, read_index_file

    try:
        read_index_file(layout)
    except IndexFileError as exc:
        if exc.damaged:
            layout.storage.delete(index_key())
