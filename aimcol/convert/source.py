"""The importer interface: a ``Source`` lists its runs and reads one into a ``RunData``.

Every importer (TensorBoard, MLflow, Aim, W&B) implements :class:`Source`; the writing side
(``aimcol/convert/importer.py``) is shared, so idempotency, ``--dry-run``, progress and
skipping an unreadable run behave the same for all of them.  A source reads a whole run into
memory as NumPy arrays, and the importer writes each series with one ``track_array`` call;
objects (``aimcol.Text``, ``Image``, ``Distribution``, ``Audio``) come as :class:`ObjectPoint`
rows, each written with ``track()``'s object path at the source's wall time.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


@dataclass
class Series:
    """One metric sequence: ``steps`` (int64) and ``values`` (float64 or int64), same length.

    ``epochs`` and ``times`` (Unix seconds) are optional arrays of the same length.
    """

    name: str
    context: dict
    steps: np.ndarray
    values: np.ndarray
    epochs: np.ndarray | None = None
    times: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)


class ObjectPoint(NamedTuple):
    """One tracked object (or list of them) at a step, stamped ``time`` (Unix seconds)."""

    name: str
    context: dict
    step: int
    time: float
    value: Any


@dataclass
class RunData:
    """Everything an importer carries over for one source run."""

    name: str | None = None
    experiment: str | None = None
    description: str | None = None
    params: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    objects: list[ObjectPoint] = field(default_factory=list)
    """Texts, images, distributions, audio, in the order to write them."""
    skipped: dict[str, int] = field(default_factory=dict)
    """What the source held that is not imported, by kind (e.g. ``{"histograms": 12}``)."""
    creation_time: float | None = None
    """Unix seconds the source run started (``run.creation_time``); ``None``: when it is imported."""
    end_time: float | None = None
    """Unix seconds the source run ended; ``None``: when it is imported (if it ended at all)."""
    exit_status: str | None = "finished"
    """How the source run ended, in ``Run.exit_status``'s words (``"finished"``, ``"failed"``,
    ``"interrupted"``); ``None``: it never ended (killed, or still running), so the imported run
    has no end either and reads as crashed, as the source does."""
    exit_error: str | None = None

    @property
    def points(self) -> int:
        return sum(len(s) for s in self.series)


@dataclass(frozen=True)
class SourceRun:
    """A run as a source lists it: a stable ``id`` (for idempotency), a display ``name``, a size hint."""

    id: str
    name: str
    size: int = 0
    """Bytes to read, when the source can tell (drives the ETA); 0 if unknown."""


class Source(abc.ABC):
    """A place runs are imported from.  ``kind`` names it in ``run["imported_from"]["source"]``."""

    kind: str = ""

    @abc.abstractmethod
    def list_runs(self) -> list[SourceRun]:
        """The runs to import, in a stable order.  Raises ``aimcol.errors.ImportSourceError`` if the source itself is unreadable."""

    @abc.abstractmethod
    def read_run(self, ref: SourceRun) -> RunData:
        """One run's params and metrics; any exception means this run is skipped and reported."""

    def close(self) -> None:  # noqa: B027 - a hook: most sources hold nothing to release
        """Release what the source holds (subprocesses, connections)."""
