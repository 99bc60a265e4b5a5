"""Messages that worker threads post back to the screens (results of disk work)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from textual.message import Message

from aimcol.tui.metric_axis import XMetricPoints
from aimcol.tui.repo_source import RunDetail, SeriesResult


@dataclass
class RunsLoaded(Message):
    """A runs listing (and its sequences summary) finished loading."""

    query: str
    runs: pa.Table
    sequences: pa.Table | None  # None on the first load: SequencesLoaded follows
    seconds: float
    live: bool = False  # a background refresh rather than a user request
    hint: str | None = None  # for a query that matched nothing: the likely typo and its fix


@dataclass
class SequencesLoaded(Message):
    """The per-sequence summary behind the runs table's metric columns."""

    sequences: pa.Table


@dataclass
class LoadFailed(Message):
    """A load failed; ``column`` is the AimQL error column when the query was at fault."""

    what: str  # "runs", "metrics", "run"
    query: str
    message: str
    column: int | None = None
    live: bool = False


@dataclass
class SeriesLoaded(Message):
    query: str
    result: SeriesResult
    live: bool = False


@dataclass
class AxisMetricLoaded(Message):
    """The points of the metric chosen as the metrics explorer's x axis."""

    points: XMetricPoints


@dataclass
class RunDetailLoaded(Message):
    detail: RunDetail | None
    run_hash: str


@dataclass
class RunEdited(Message):
    """An edit of a run's tags, description or notes was written (or failed: ``problems``)."""

    what: str
    problems: list[str]


@dataclass
class ArchiveDone(Message):
    archived: bool
    count: int
    problems: list[str]
