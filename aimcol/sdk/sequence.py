"""``Metric``: one (name, context) sequence of a run, read lazily from its segments.

Summary values (``last``, ``max``, ``last_step`` …) come from the manifest without reading
points.  Point data is read once, on first use, sorted by step with the latest write of a
re-tracked step — ``values.values_list()`` is in step order (Aim's is in hash order).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from aimcol.format.arrow_numpy import to_arrow
from aimcol.format.segments import POINT_SCHEMA

ALL_COLUMNS = ("step", "value", "epoch", "time")
"""The point columns a metric hands out (``seq`` only says which sequence a row is of)."""
ARROW_SCHEMA = pa.schema([POINT_SCHEMA.field(name) for name in ALL_COLUMNS])
STEP_VALUE = ("step", "value")


class Context(dict):
    """A metric context: a dict whose keys also read as attributes (``ctx.subset``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"context has no key {key!r}") from None

    def to_dict(self) -> dict:
        return dict(self)

    def __hash__(self) -> int:  # contexts are used as grouping keys
        from aimcol.sdk.tracking_values import freeze

        return hash(freeze(dict(self)))

    @property
    def idx(self) -> int:
        """A stable signed 64-bit id of the context's content (Aim's ``Context.idx``).

        Equal contexts have equal ids in every process and aimcol version; the numbers are
        not Aim's (Aim hashes its own encoding), so they are not comparable with Aim's.
        """
        import hashlib

        digest = hashlib.blake2b(_canonical(dict(self)).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little", signed=True)


def _canonical(value: Any) -> str:
    """Key-order-independent text of a context value (dicts sorted, types kept apart)."""
    if isinstance(value, dict):
        return (
            "{" + ",".join(f"{k!r}:{_canonical(v)}" for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))) + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    return f"{type(value).__name__}:{value!r}"


COLUMN_OF = {"value": "value", "step": "step", "epoch": "epoch", "time": "time"}


class ColumnView:
    """One column of a sequence (``values``, ``steps``, ``epochs``, ``timestamps``): Aim's ArrayView.

    Its indices (``keys``, ``indices*``, ``first_idx`` …) are the **steps**, and everything
    is in step order.  (Aim's metrics index their value arrays by a hash of the step, so
    Aim's ``values.indices_list()`` are hashes in hash order; ``metric.data`` is Aim's way
    to steps, and is the same here.)  ``view[step]`` is the value at that step
    (``KeyError`` if none), as Aim's sparse ``__getitem__``; a slice is positional.
    """

    def __init__(self, metric: Metric, column: str):
        self._metric = metric
        self._column = column

    # -- whole column ---------------------------------------------------------------------
    def values_numpy(self) -> np.ndarray:
        return self._metric._column_numpy(self._column)

    def values_list(self) -> list:
        return self.values_numpy().tolist()

    tolist = values_list

    def indices_numpy(self) -> np.ndarray:
        return self._metric.steps_numpy()

    def indices_list(self) -> list[int]:
        return self.indices_numpy().tolist()

    keys_list = indices_list

    def sparse_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)``, both sorted by step."""
        return self._metric.steps_numpy(), self.values_numpy()

    def sparse_list(self) -> tuple[list, list]:
        steps, values = self.sparse_numpy()
        return steps.tolist(), values.tolist()

    # -- iterators (Aim's ArrayView) -------------------------------------------------------
    def keys(self) -> Iterator[int]:
        return iter(self.indices_list())

    indices = keys

    def values(self) -> Iterator[Any]:
        return iter(self.values_list())

    def items(self) -> Iterator[tuple[int, Any]]:
        return zip(self.indices_list(), self.values_list())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values_list())

    # -- ends ---------------------------------------------------------------------------------
    def _end(self, position: int) -> int:
        steps = self.indices_numpy()
        if len(steps) == 0:
            raise KeyError(f"{self._column}s of {self._metric!r} are empty")
        return position if position >= 0 else len(steps) + position

    def first_idx(self) -> int:
        """The smallest step."""
        return int(self.indices_numpy()[self._end(0)])

    def last_idx(self) -> int:
        """The largest step."""
        return int(self.indices_numpy()[self._end(-1)])

    def first_value(self) -> Any:
        """The value at the smallest step."""
        return self.values_numpy()[self._end(0)].item()

    def last_value(self) -> Any:
        """The value at the largest step."""
        return self.values_numpy()[self._end(-1)].item()

    def first(self) -> tuple[int, Any]:
        """``(step, value)`` at the smallest step."""
        return self.first_idx(), self.first_value()

    def last(self) -> tuple[int, Any]:
        """``(step, value)`` at the largest step."""
        return self.last_idx(), self.last_value()

    # -- container protocol ---------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype the values come in (values: ``int64`` for an int sequence, else
        ``float64``; epochs ``int64``, or ``float64`` with NaN where a point has none)."""
        if self._column == "value":
            return np.dtype(np.int64 if self._metric.dtype == "int" else np.float64)
        return self.values_numpy().dtype

    def __len__(self) -> int:
        return len(self._metric)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.values_numpy()[index]
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index a sequence column by step (int) or slice, got {type(index).__name__}")
        steps = self.indices_numpy()
        pos = int(np.searchsorted(steps, index))
        if pos == len(steps) or steps[pos] != index:
            raise KeyError(f"{self._metric!r} has no step {index}")
        return self.values_numpy()[pos].item()

    def __repr__(self) -> str:
        return f"<{self._column} of {self._metric!r}>"


DATA_COLUMNS = (("val", None), ("epoch", "float64"), ("time", "float64"))
"""Aim's ``metric.data.columns``: the value, epoch and time columns, in this order."""
_POINT_COLUMN = {"val": "value", "value": "value", "epoch": "epoch", "time": "time"}


class SequenceData:
    """Aim's ``metric.data``: the points of a sequence as columns keyed by step.

    ``numpy()`` is ``(steps, [values, epochs, times])`` (epochs float64, NaN where a point has
    none), step-sorted; ``view(cols)``, ``range(start, stop)`` and ``sample(k)`` narrow it
    without reading anything.  Unlike Aim (whose sampled storage raises ``ValueError`` for
    ``range``), ``range`` works: the points with ``start <= step < stop``.
    """

    def __init__(self, metric: Metric, columns=DATA_COLUMNS, step_range=None, n_items: int = -1):
        self._metric = metric
        self.columns = list(columns)
        self.step_range = step_range
        self.n_items = n_items

    def _with(self, **changes) -> SequenceData:
        args = {"columns": self.columns, "step_range": self.step_range, "n_items": self.n_items} | changes
        return SequenceData(self._metric, **args)

    def view(self, columns) -> SequenceData:
        """Only ``columns`` (``"val"``, ``"epoch"``, ``"time"``; one name or a list)."""
        names = [columns] if isinstance(columns, str) else list(columns)
        unknown = [c for c in names if c not in _POINT_COLUMN]
        if unknown or not names:
            raise ValueError(f"unknown sequence data columns {unknown or names!r}: use 'val', 'epoch', 'time'")
        dtypes = dict(DATA_COLUMNS)
        return self._with(columns=[(c, dtypes.get(c)) for c in names])

    def range(self, start: int, stop: int) -> SequenceData:
        """The points with ``start <= step < stop``."""
        for name, bound in (("start", start), ("stop", stop)):
            if isinstance(bound, bool) or not isinstance(bound, (int, np.integer)):
                raise TypeError(f"range() {name} must be an int step, got {bound!r}")
        return self._with(step_range=(int(start), int(stop)))

    def sample(self, k: int) -> SequenceData:
        """At most ``k`` points, evenly spaced over the (ranged) points, first and last included."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"sample() needs a count >= 1, got {k!r}")
        return self._with(n_items=int(k))

    def _positions(self, steps: np.ndarray) -> np.ndarray | None:
        """Row positions this view selects (``None``: all)."""
        picked = None
        if self.step_range is not None:
            lo, hi = np.searchsorted(steps, self.step_range[0]), np.searchsorted(steps, self.step_range[1])
            picked = np.arange(lo, max(lo, hi))
        n = len(steps) if picked is None else len(picked)
        if 0 < self.n_items < n:
            chosen = np.unique(np.linspace(0, n - 1, self.n_items).round().astype(np.int64))
            picked = chosen if picked is None else picked[chosen]
        return picked

    def numpy(self) -> tuple[np.ndarray, list[np.ndarray]]:
        m = self._metric
        steps = m.steps_numpy()
        cols = []
        for name, _ in self.columns:
            col = m._column_numpy(_POINT_COLUMN[name])
            cols.append(col.astype(np.float64) if name == "epoch" else col)
        picked = self._positions(steps)
        if picked is not None:
            steps, cols = steps[picked], [c[picked] for c in cols]
        return steps, cols

    def items_list(self) -> tuple[list[int], list[list]]:
        steps, cols = self.numpy()
        return steps.tolist(), [c.tolist() for c in cols]

    def indices_list(self) -> list[int]:
        return self.numpy()[0].tolist()

    def values_list(self) -> list[list]:
        """One list per column (Aim's layout)."""
        return self.items_list()[1]

    def items(self) -> Iterator[tuple[int, tuple]]:
        """``(step, (value, epoch, time))`` per point."""
        steps, cols = self.items_list()
        return zip(steps, zip(*cols))

    __iter__ = items

    def values(self) -> Iterator[tuple]:
        """``(value, epoch, time)`` per point (Aim yields each column list in a 1-tuple)."""
        return zip(*self.values_list())

    def indices(self) -> Iterator[int]:
        return iter(self.indices_list())

    @property
    def steps(self) -> ColumnView:
        return ColumnView(self._metric, "step")


class Metric:
    """A metric sequence of a run.  ``run`` is the owning :class:`Run`."""

    def __init__(self, run, entry: dict, reader, located: list | None = None):
        """``located``: where the points are, from the run index (``reader.read_located``);
        then ``entry`` may hold only ``id``, ``name``, ``context`` and ``dtype``, and the
        summary statistics are looked up in the run's manifest when first asked for."""
        self.run = run
        self._entry = entry
        self._reader = reader
        self._located = located
        self._partial = located is not None
        self._points: dict[str, np.ndarray] | None = None
        self.name: str = entry["name"]
        self.context = Context(entry["context"])
        self.dtype: str = entry.get("dtype", "float")

    def __repr__(self) -> str:
        return f"<Metric {self.name!r} {dict(self.context)} of run {self.run.hash}>"

    # -- summary from the manifest ------------------------------------------------------------
    def _summary(self) -> dict:
        if self._partial:
            seq_id = self._entry["id"]
            self._entry = next((e for e in self._reader.manifest["sequences"] if e["id"] == seq_id), self._entry)
            self._partial = False
        return self._entry

    def _stat(self, key: str):
        value = self._summary().get(key)
        if (
            value is not None
            and self.dtype == "int"
            and key in ("first", "last", "min", "max")
            and math.isfinite(value)
            and float(value).is_integer()
        ):
            return int(value)
        return value

    @property
    def first(self):
        return self._stat("first")

    @property
    def last(self):
        return self._stat("last")

    @property
    def min(self):
        return self._stat("min")

    @property
    def max(self):
        return self._stat("max")

    def first_step(self) -> int | None:
        """The smallest step tracked, from the manifest (``None`` before the first point).

        A method, as in Aim.  (Aim's is the first step *tracked*, usually the same.)
        """
        return self._summary().get("first_step")

    def last_step(self) -> int | None:
        """The largest step tracked, from the manifest (``None`` before the first point)."""
        return self._summary().get("last_step")

    @property
    def count(self) -> int:
        return len(self)

    # -- points -------------------------------------------------------------------------------
    def _load(self, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The points as NumPy columns, at least ``columns`` (and ``step``), read on first use and kept.

        Only the columns asked for are read (and decompressed); asking for more later reads
        the sequence again with the union, so the columns always come from one read.
        """
        points = self._points
        if points is None or not points.keys() >= set(columns):
            wanted = set(columns) | (points.keys() if points is not None else set())
            if self._located is not None:
                points = self._reader.read_located(self._entry["id"], self._located, columns=wanted)
            else:
                points = self._reader.read_sequence(self._entry["id"], columns=wanted)
            self._points = points
        return points

    def reload(self) -> Metric:
        """Forget cached points (to see new ones of a live run after ``run.refresh()``)."""
        self._points = None
        self._located = None  # read by the manifest from now on
        return self

    def _column_numpy(self, column: str) -> np.ndarray:
        # steps and values are mostly wanted together (sparse_numpy): read them in one go
        values = self._load(STEP_VALUE if column in STEP_VALUE else (column,))[column]
        # (epochs with gaps come back as float64 with NaN)
        if column == "value" and self.dtype == "int":
            # the manifest we read may predate floats that promoted the sequence: trust the data
            if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
                return values.astype(np.int64)
        return values

    def __len__(self) -> int:
        return len(self._load(STEP_VALUE)["step"])

    @property
    def values(self) -> ColumnView:
        return ColumnView(self, "value")

    @property
    def steps(self) -> ColumnView:
        return ColumnView(self, "step")

    @property
    def epochs(self) -> ColumnView:
        return ColumnView(self, "epoch")

    @property
    def timestamps(self) -> ColumnView:
        return ColumnView(self, "time")

    @property
    def data(self) -> SequenceData:
        return SequenceData(self)

    # -- Aim's Sequence API --------------------------------------------------------------------
    version = 2
    """Aim's sequence storage version; aimcol's points always read as Aim's v2 ``data`` does."""

    @classmethod
    def allowed_dtypes(cls) -> tuple[str, ...]:
        return ("float", "int")

    @classmethod
    def sequence_name(cls) -> str:
        return "metric"

    def preload(self) -> None:
        """Read the points now (steps, values, epochs, times) instead of on first use."""
        self._load(ALL_COLUMNS)

    def __bool__(self) -> bool:
        return len(self) > 0

    def values_numpy(self) -> np.ndarray:
        return self._column_numpy("value")

    def steps_numpy(self) -> np.ndarray:
        return self._column_numpy("step")

    def values_list(self) -> list:
        return self.values_numpy().tolist()

    def sparse_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        return self.steps_numpy(), self.values_numpy()

    def to_arrow(self) -> pa.Table:
        """Columns ``step``, ``value``, ``epoch``, ``time`` (seconds since the epoch), step-sorted."""
        points = self._load(ALL_COLUMNS)
        epoch = points["epoch"]
        return pa.Table.from_arrays(
            [
                to_arrow(points["step"]),
                to_arrow(points["value"]),
                to_arrow(epoch, ~np.isnan(epoch) if epoch.dtype.kind == "f" else None, pa.int64()),
                to_arrow(points["time"]),
            ],
            schema=ARROW_SCHEMA,
        )

    def dataframe(
        self,
        include_name: bool = False,
        include_context: bool = False,
        include_run: bool = False,
        only_last: bool = False,
    ):
        """Aim's ``Metric.dataframe()``: columns ``idx, step, value, epoch, time`` (datetimes),
        plus ``metric.name``, ``metric.context.*``, ``run.hash`` and ``run.<param>`` on request."""
        from aimcol.sdk.query_results import metric_frame

        return metric_frame(self, only_last, include_run, include_name, include_context)

    def to_pandas(self):
        """:meth:`to_arrow` as a pandas DataFrame (``step``, ``value``, ``epoch``, ``time`` in seconds)."""
        from aimcol.sdk.tables import require_pandas

        require_pandas("Metric.to_pandas()")
        return self.to_arrow().to_pandas()
