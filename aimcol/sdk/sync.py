"""``sync_repos``: copy runs between two repositories, e.g. runs written offline on a laptop
or a cluster without network into a bucket, or a bucket's runs into a local folder.

Either side may be any location a ``Repo`` opens (a folder, ``s3://…``, ``gs://…``,
``memory://…``).  Copying is per run and idempotent (:mod:`aimcol.format.run_copy`): a run
already equal at the destination is skipped without reading its segments, so running the
same sync again, or syncing back the other way, copies nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aimcol.format.run_copy import CopyResult, copy_run


@dataclass
class SyncReport:
    """What a sync did: one :class:`CopyResult` per source run, in the order processed."""

    results: list[CopyResult] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.results)

    def summary(self) -> str:
        return (
            f"{self.count('copied')} copied, {self.count('updated')} updated, {self.count('unchanged')} unchanged, "
            f"{self.count('skipped-active')} skipped (active); {self.bytes / 1e6:.1f} MB of segments"
        )


def sync_repos(
    source,
    destination,
    *,
    run_hashes: Iterable[str] | None = None,
    include_active: bool = False,
    progress: Callable[[CopyResult], None] | None = None,
) -> SyncReport:
    """Copy every run of ``source`` (or only ``run_hashes``) into ``destination``.

    ``source`` and ``destination`` are ``Repo`` objects or locations; the destination
    repository is created if missing.  Runs a live writer holds in the source are skipped
    unless ``include_active``.  Raises ``RunLockedError`` if a live writer holds a run
    in the destination, ``MissingRunError`` for a named run the source lacks.
    """
    from aimcol.errors import MissingRunError
    from aimcol.sdk.repo import Repo

    src = Repo._resolve(source, init=False)
    dst = Repo._resolve(destination, init=True)
    hashes = sorted(src.run_hashes()) if run_hashes is None else list(run_hashes)
    report = SyncReport()
    for run_hash in hashes:
        try:
            result = copy_run(src.layout, dst.layout, run_hash, include_active=include_active)
        except FileNotFoundError:
            if run_hashes is None:
                continue  # deleted while we synced
            raise MissingRunError(f"no run {run_hash!r} in repository {src.path}") from None
        report.results.append(result)
        if progress is not None:
            progress(result)
    return report
