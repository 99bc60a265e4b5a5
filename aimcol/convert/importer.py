"""Writes what a :class:`~aimcol.convert.source.Source` reads into an aimcol repository.

Idempotent: each imported run carries ``run["imported_from"] = {"source", "id", "complete"}``;
a source run already imported completely is not imported again, and one whose import was
interrupted (``complete`` false), or whose source run had not ended (``ended`` false: still
running then, or killed), is deleted and imported afresh, so converting again during a
training picks up what the source wrote since.  Every series is written
with one ``Run.track_array`` call, every object (text, image …) with ``Run._track_object_at``
at its source wall time; the run keeps the source run's creation and end times and
exit status (``Run._set_creation_time`` and ``Run._close_with_status``, the SDK's hooks for
importers).  A source run that fails to read is reported by name and skipped; the others go
on.  The SDK only, never the format below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aimcol import Repo, Run
from aimcol.convert.progress import Progress
from aimcol.convert.source import RunData, Source, SourceRun

MARKER = "imported_from"


@dataclass
class ImportReport:
    """What a conversion did: run hashes created, source runs already there, and the skipped ones."""

    imported: dict[str, str] = field(default_factory=dict)
    """source run id → new run hash."""
    already: dict[str, str] = field(default_factory=dict)
    """source run id → hash of the run imported earlier."""
    skipped: dict[str, str] = field(default_factory=dict)
    """source run name → why it could not be read."""
    points: int = 0
    objects: int = 0
    """Texts, images, distributions and audio imported (a list at one step counts once)."""
    not_imported: dict[str, int] = field(default_factory=dict)
    """Kinds of source data not carried over (histograms, images …) and how many."""
    would_import: list[tuple[str, int, int, int]] = field(default_factory=list)
    """``--dry-run``: (source run name, series, points, objects) per run that would be imported."""


def imported_runs(repo: Repo, kind: str) -> dict[str, tuple[str, bool]]:
    """``{source id: (run hash, final)}`` of the runs imported earlier from sources of ``kind``;
    ``final``: imported completely from a source run that had ended (nothing more to come)."""
    found = {}
    for run in repo.iter_runs():
        marker = run.get(MARKER)
        if isinstance(marker, dict) and marker.get("source") == kind and "id" in marker:
            found[marker["id"]] = (run.hash, bool(marker.get("complete")) and marker.get("ended", True) is not False)
    return found


def write_run(repo: Repo, kind: str, ref: SourceRun, data: RunData) -> str:
    """Create one run from ``data``; the marker says complete only once every point is written."""
    run = Run(
        repo=repo,
        experiment=data.experiment,
        system_tracking_interval=None,
        log_system_params=False,
        capture_terminal_logs=False,
    )
    try:
        if data.creation_time is not None:
            run._set_creation_time(data.creation_time)
        # the marker and every param in one manifest write (a write per key cost ~5 ms a key)
        marker = {
            "source": kind,
            "id": ref.id,
            "name": ref.name,
            "complete": False,
            "ended": data.exit_status is not None,
        }
        run[...] = {MARKER: marker, **data.params}
        if data.name is not None:
            run.name = data.name
        if data.description:
            run.description = data.description
        for tag in data.tags:
            run.add_tag(tag)
        for s in data.series:
            run.track_array(s.values, name=s.name, steps=s.steps, epochs=s.epochs, times=s.times, context=s.context)
        for obj in data.objects:
            run._track_object_at(obj.value, name=obj.name, step=obj.step, context=obj.context, when=obj.time)
        run[MARKER, "complete"] = True
    finally:
        # as the source run ended; if an exception stopped the import half-way, the marker still
        # says incomplete and the next conversion imports this source run afresh
        run._close_with_status(data.exit_status, data.exit_error, data.end_time)
    return run.hash


def convert(
    repo: Repo | None,
    source: Source,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    refs: list[SourceRun] | None = None,
) -> ImportReport:
    """Import every run of ``source`` (or of ``refs``, as listed already) not imported yet.

    ``repo`` may be ``None`` only with ``dry_run`` (no repository yet: nothing imported before).
    """
    report = ImportReport()
    if refs is None:
        refs = source.list_runs()
    done = imported_runs(repo, source.kind) if repo is not None else {}
    if progress is None:
        progress = Progress(len(refs), sum(r.size for r in refs))
    for ref in refs:
        earlier = done.get(ref.id)
        if earlier is not None and earlier[1]:
            report.already[ref.id] = earlier[0]
            progress.run_done(ref.name, 0, ref.size, f"already imported as {earlier[0]}")
            continue
        try:
            data = source.read_run(ref)
        except Exception as exc:  # any failure to read one source run: report it, go on with the rest
            report.skipped[ref.name] = f"{type(exc).__name__}: {exc}"
            progress.note(f"skipped {ref.name}: {type(exc).__name__}: {exc}")
            progress.run_done(ref.name, 0, ref.size, "skipped")
            continue
        for kind, n in data.skipped.items():
            report.not_imported[kind] = report.not_imported.get(kind, 0) + n
        if dry_run:
            report.would_import.append((ref.name, len(data.series), data.points, len(data.objects)))
            progress.run_done(ref.name, data.points, ref.size, f"would import {len(data.series)} series")
            continue
        if earlier is not None:  # an interrupted import, or a source run that went on since: start over
            repo.delete_run(earlier[0])
        report.imported[ref.id] = write_run(repo, source.kind, ref, data)
        report.points += data.points
        report.objects += len(data.objects)
        progress.run_done(ref.name, data.points, ref.size, f"imported as {report.imported[ref.id]}")
    progress.finish()
    return report
