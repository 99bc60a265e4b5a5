"""Everything the TUI reads from or writes to a repository, through the public SDK only.

The screens never touch ``Repo``/``Run`` directly: they call a :class:`RepoSource` from
Textual worker threads and get back plain Arrow tables, NumPy arrays and dataclasses.
That keeps disk work off the UI thread, keeps this module free of Textual (it is tested
alone), and lets tests swap in a source with fixed data for snapshot tests.

Run listings and metric queries go through AimQL and the run index (``Repo.runs_table``,
``Repo.sequences_table``, ``Repo.query_metrics``), so 10,000 runs list in a fraction of a
second; only the points of the sequences being plotted are read.  The tables arrive in the
SDK's fixed schemas (``aimcol.sdk.tables``: status and duration included) and are used as
they are.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from aimcol import AimQLSyntaxError, FormatError, QueryReportMode, Repo, RunLockedError
from aimcol.sdk.tables import (
    RUNS_SCHEMA,
    column_numpy,
    column_valid,
    duration_of,
    flatten_params,
    numpy_column,
    status_of,
    strings_equal,
    take_rows,
)

RUN_COLUMNS = tuple(RUNS_SCHEMA.names)
"""The property columns of a runs table; every other column is a flattened param."""
SEQUENCE_COLUMNS = ("run", "name", "context", "last", "min", "max", "count", "last_step")
"""The columns of ``Repo.sequences_table()`` the TUI reads."""
SYSTEM_METRIC_PREFIX = "__system__"
MAX_SERIES = 200
"""A metrics query matching more sequences than this plots the first ones and says so."""


def context_label(context: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(context.items()))


def format_context_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def context_key(context: dict) -> str:
    """A stable string for a context dict (used to match sequences across runs)."""
    return json.dumps(context, sort_keys=True, default=str)


@dataclass(frozen=True)
class MetricKey:
    """A (name, context) pair, the unit of metric columns and metric pickers."""

    name: str
    context: str = "{}"  # context_key() of the context

    @property
    def context_dict(self) -> dict:
        return json.loads(self.context)

    @property
    def label(self) -> str:
        ctx = context_label(self.context_dict)
        return f"{self.name} {ctx}" if ctx else self.name

    @property
    def short_label(self) -> str:
        """``loss:val`` for ``loss`` in ``{"subset": "val"}``: context values only, for column headers."""
        values = [format_context_value(v) for _, v in sorted(self.context_dict.items())]
        return ":".join([self.name, *values])

    def query(self) -> str:
        """An AimQL metrics query selecting this sequence in every run."""
        parts = [f"metric.name == {self.name!r}"]
        for key, value in sorted(self.context_dict.items()):
            parts.append(
                f"metric.context.{key} == {value!r}" if key.isidentifier() else f"metric.context[{key!r}] == {value!r}"
            )
        return " and ".join(parts)


@dataclass
class SeriesData:
    """One metric sequence with its points and the run facts the plot groups by."""

    run_hash: str
    run_name: str
    experiment: str
    status: str
    params: dict
    name: str
    context: dict
    step: np.ndarray
    value: np.ndarray
    epoch: np.ndarray  # float64, NaN where no epoch was tracked
    time: np.ndarray
    creation_time: float = 0.0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.run_hash, self.name, context_key(self.context))

    @property
    def label(self) -> str:
        ctx = context_label(self.context)
        run = self.run_name or self.run_hash[:8]
        return f"{run} · {self.name}" + (f" {ctx}" if ctx else "")


@dataclass
class SeriesResult:
    series: list[SeriesData]
    total_matched: int  # before the MAX_SERIES cap
    damaged: list[str] = field(default_factory=list)  # "run: why" for series that could not be read


@dataclass
class SequenceSummary:
    name: str
    context: dict
    count: int
    last: float | None
    min: float | None
    max: float | None
    last_step: int | None
    values: np.ndarray = field(default_factory=lambda: np.empty(0))


@dataclass
class RunDetail:
    hash: str
    name: str | None
    experiment: str
    description: str | None
    tags: list[str]
    archived: bool
    status: str
    creation_time: float
    end_time: float | None
    duration: float
    params: dict
    sequences: list[SequenceSummary]
    logs: list[str] = field(default_factory=list)  # captured terminal lines
    notes: str | None = None


def param_columns(table: pa.Table) -> list[str]:
    return [c for c in table.column_names if c not in RUN_COLUMNS]


class _PandasBlocker:
    """A meta-path finder that turns ``import pandas`` into a fast ``ModuleNotFoundError``."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is kept out of the aimcol tui process", name=name)
        return None


def avoid_pandas_import() -> None:
    """Make ``import pandas`` fail fast in this process (the TUI's own, never a library user's).

    pyarrow imports pandas, when installed, the first time it builds or converts an array,
    only to check whether it was handed pandas objects: about a second before the first
    paint.  The TUI never uses pandas, so ``aimcol tui`` hides it before touching pyarrow;
    if something imported pandas already, nothing changes.
    """
    if "pandas" not in sys.modules and not any(isinstance(f, _PandasBlocker) for f in sys.meta_path):
        sys.meta_path.insert(0, _PandasBlocker())


class RepoSource:
    """Reads and writes one repository for the TUI.  Each method may be called from a worker thread."""

    def __init__(self, repo: Repo):
        self.repo = repo
        self._preloaded: pa.Table | Exception | None = None

    def preload_runs(self) -> None:
        """List every run now, for the runs screen's first load to pick up (an error too).

        ``aimcol tui`` calls this before it imports Textual.  Not in a thread beside Textual's
        start-up: with the repository in the page cache both are CPU work under one GIL, and
        sharing it made the first paint ~150 ms later than doing one after the other.
        """
        try:
            self._preloaded = self._list_runs("", include_archived=True)
        except Exception as exc:  # shown by the runs screen, like any failed load
            self._preloaded = exc

    @property
    def label(self) -> str:
        return self.repo.path

    # -- runs -------------------------------------------------------------------------------
    def load_runs(self, query: str = "", include_archived: bool = True) -> pa.Table:
        """One row per matching run (archived included if asked), newest first.

        Raises ``AimQLSyntaxError`` for a bad query, with the column in the user's text.
        """
        preloaded, self._preloaded = self._preloaded, None
        if preloaded is not None and not query.strip() and include_archived:
            if isinstance(preloaded, Exception):
                raise preloaded
            return preloaded
        return self._list_runs(query, include_archived)

    def _list_runs(self, query: str, include_archived: bool) -> pa.Table:
        table = self._runs_table(query.strip(), include_archived)
        if not include_archived:
            table = take_rows(table, np.flatnonzero(~column_numpy(table.column("archived"), False)))
        return table

    def _runs_table(self, query: str, include_archived: bool) -> pa.Table:
        if not include_archived or "archived" in query:
            return self.repo.runs_table(query)
        # Aim hides archived runs unless the query mentions run.archived: mention it
        wrapped = f"({query}) and (run.archived or not run.archived)" if query else "run.archived or not run.archived"
        try:
            return self.repo.runs_table(wrapped)
        except AimQLSyntaxError:
            self.repo.runs_table(query)  # re-raise with the column in the user's own text
            raise

    def hint_for(self, query: str) -> str | None:
        """Why ``query`` may match nothing: a name no run has and the nearest that exists (or None)."""
        from aimcol.sdk.query_results import query_hint

        return query_hint(self.repo, query, runs_query=True) if query.strip() else None

    def load_sequences(self) -> pa.Table:
        """One row per sequence: :data:`SEQUENCE_COLUMNS` of ``Repo.sequences_table()``.

        Its ``context`` is JSON with sorted keys, the same text as :func:`context_key`.
        """
        return self.repo.sequences_table("", columns=list(SEQUENCE_COLUMNS)).select(list(SEQUENCE_COLUMNS))

    # -- metrics ----------------------------------------------------------------------------
    def load_series(
        self, query: str = "", run_hashes: Iterable[str] | None = None, limit: int = MAX_SERIES
    ) -> SeriesResult:
        """Points of the sequences matching a metrics query, optionally only of some runs.

        Without a query, every non-system sequence of the runs.  Raises ``AimQLSyntaxError``.
        """
        query = query.strip()
        scope = set(run_hashes) if run_hashes is not None else None
        metrics = (
            m
            # no progress bar: inside Textual stderr claims to be a terminal, and the bar's
            # text would be written over the screen
            for m in self.repo.query_metrics(query, report_mode=QueryReportMode.DISABLED)
            if (scope is None or m.run.hash in scope) and (query or not m.name.startswith(SYSTEM_METRIC_PREFIX))
        )
        chosen = []
        total = 0
        for metric in metrics:
            total += 1
            if len(chosen) < limit:
                chosen.append(metric)
        series, damaged = [], []
        for metric in chosen:
            try:
                series.append(self._series_of(metric))
            except FormatError as exc:  # one damaged run (checksum, torn file) never hides the others
                damaged.append(f"{metric.run.hash[:8]}: {exc}")
        return SeriesResult(series, total, damaged)

    def _series_of(self, metric) -> SeriesData:
        run = metric.run
        points = metric.to_arrow()
        epoch = points.column("epoch")
        epochs = (
            epoch.to_numpy(zero_copy_only=False).astype(np.float64)
            if epoch.null_count
            else epoch.to_numpy().astype(np.float64)
        )
        return SeriesData(
            run_hash=run.hash,
            run_name=run.name or "",
            experiment=run.experiment,
            status=status_of(run),
            params=flatten_params(run.params),
            name=metric.name,
            context=dict(metric.context),
            step=points.column("step").to_numpy(),
            value=points.column("value").to_numpy().astype(np.float64),
            epoch=epochs,
            time=points.column("time").to_numpy(),
            creation_time=run.creation_time,
        )

    def reload_series(self, series: list[SeriesData]) -> list[SeriesData]:
        """Fresh points for the series of runs that are still active (others are returned as is)."""
        out = []
        runs: dict[str, object] = {}
        for s in series:
            if s.status != "active":
                out.append(s)
                continue
            run = runs.get(s.run_hash) or self.repo.get_run(s.run_hash)
            runs[s.run_hash] = run
            metric = run.get_metric(s.name, s.context) if run is not None else None
            out.append(self._series_of(metric) if metric is not None else s)
        return out

    # -- one run ----------------------------------------------------------------------------
    def load_run_detail(self, run_hash: str, points_per_sparkline: int = 2000) -> RunDetail | None:
        run = self.repo.get_run(run_hash)
        if run is None:
            return None
        sequences = []
        for metric in run.metrics():
            values = metric.values_numpy().astype(np.float64)
            if len(values) > points_per_sparkline:
                values = values[:: max(1, len(values) // points_per_sparkline)]
            sequences.append(
                SequenceSummary(
                    name=metric.name,
                    context=dict(metric.context),
                    count=len(metric),
                    last=_as_float(metric.last),
                    min=_as_float(metric.min),
                    max=_as_float(metric.max),
                    last_step=metric.last_step(),
                    values=values,
                )
            )
        sequences.sort(key=lambda s: (s.name.startswith(SYSTEM_METRIC_PREFIX), s.name, context_key(s.context)))
        return RunDetail(
            hash=run.hash,
            name=run.name,
            experiment=run.experiment,
            description=run.description,
            tags=run.tags,
            archived=run.archived,
            status=status_of(run),
            creation_time=run.creation_time,
            end_time=run.end_time,
            duration=duration_of(run),
            params=run.params,
            sequences=sequences,
            logs=run.get_terminal_logs(),
            notes=run.notes,
        )

    # -- writes -----------------------------------------------------------------------------
    def set_archived(self, run_hashes: Iterable[str], archived: bool) -> list[str]:
        """Archive or unarchive runs; returns one message per run that could not be changed."""
        problems = []
        for run_hash in run_hashes:
            try:
                self.repo.set_archived(run_hash, archived)
            except RunLockedError:
                problems.append(f"run {run_hash[:8]} is being written by a live process; archive it when it ends")
            except Exception as exc:  # a deleted run, a permission problem: report, carry on
                problems.append(f"run {run_hash[:8]}: {exc}")
        return problems

    EDITABLE = ("tags", "description", "notes")

    def edit_run(self, run_hash: str, what: str, value) -> list[str]:
        """Set a run's ``tags`` (a list: the tags it should have), ``description`` or ``notes``
        (a str; empty clears it); returns what went wrong, one message per problem.

        Through ``Repo.get_run``: a run being written elsewhere gets the edit folded by its
        writer (the SDK's edit objects), so editing a live run is safe."""
        if what not in self.EDITABLE:
            raise ValueError(f"{what!r} cannot be edited here (editable: {', '.join(self.EDITABLE)})")
        run = self.repo.get_run(run_hash)
        if run is None:
            return [f"run {run_hash[:8]} is gone"]
        try:
            if what == "tags":
                wanted, had = list(dict.fromkeys(value)), run.tags
                for tag in had:
                    if tag not in wanted:
                        run.remove_tag(tag)
                for tag in wanted:
                    if tag not in had:
                        run.add_tag(tag)
            else:
                setattr(run, what, value or None)
        except Exception as exc:  # a run deleted meanwhile, a lone surrogate, a read-only folder: report it
            return [f"run {run_hash[:8]}: {exc}"]
        return []


def parse_tags(text: str) -> list[str]:
    """``"a, b ,a,"`` → ``["a", "b"]``: comma-separated tags as typed, blanks and repeats dropped."""
    return list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


def _as_float(value) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def metric_keys(sequences: pa.Table, include_system: bool = False) -> list[MetricKey]:
    """Distinct (name, context) pairs of a normalised sequences table, sorted."""
    if sequences.num_rows == 0:
        return []
    pairs = dict.fromkeys(zip(sequences.column("name").to_pylist(), sequences.column("context").to_pylist()))
    keys = [MetricKey(n, c) for n, c in pairs]
    if not include_system:
        keys = [k for k in keys if not k.name.startswith(SYSTEM_METRIC_PREFIX)]
    return sorted(keys, key=lambda k: (k.name, k.context))


def last_values(sequences: pa.Table, key: MetricKey, run_hashes: pa.Array) -> pa.Array:
    """The last value of ``key`` for each run in ``run_hashes`` (null where a run lacks it)."""
    return metric_values(sequences, key, run_hashes, "last")


def metric_values(sequences: pa.Table, key: MetricKey, run_hashes: pa.Array, stat: str) -> pa.Array:
    """``stat`` (``last``, ``min`` or ``max``) of ``key`` for each run in ``run_hashes`` (null where a run lacks it)."""
    rows = np.flatnonzero(
        strings_equal(sequences.column("name"), key.name) & strings_equal(sequences.column("context"), key.context)
    )
    row_of: dict = {}
    for h, r in zip(take_rows(sequences.column("run"), rows).to_pylist(), rows.tolist()):
        row_of.setdefault(h, r)  # the first, as index_in
    index = np.fromiter((row_of.get(h, -1) for h in run_hashes.to_pylist()), dtype=np.int64, count=len(run_hashes))
    found = index >= 0
    index = np.where(found, index, 0)
    values = sequences.column(stat)
    return numpy_column(column_numpy(values, np.nan)[index], found & column_valid(values)[index])
