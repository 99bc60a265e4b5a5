"""``Metric``: one (name, context) sequence of a run, read lazily from its segments.

Summary values (``last``, ``max``, ``last_step`` …) come from the manifest without reading
points.  Point data is read once, on first use, sorted by step with the latest write of a
re-tracked step — ``values.values_list()`` is in step order (Aim's is in hash order).
"""

from __future__ import annotations

import math
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


class ColumnView:
    """One column of a sequence (``values``, ``steps``, ``epochs``, ``timestamps``), Aim's ArrayView API."""

    def __init__(self, metric: Metric, column: str):
        self._metric = metric
        self._column = column

    def values_numpy(self) -> np.ndarray:
        return self._metric._column_numpy(self._column)

    def values_list(self) -> list:
        return self.values_numpy().tolist()

    tolist = values_list

    def keys_list(self) -> list[int]:
        return self._metric.steps_numpy().tolist()

    def sparse_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)``, both sorted by step."""
        return self._metric.steps_numpy(), self.values_numpy()

    def sparse_list(self) -> tuple[list, list]:
        steps, values = self.sparse_numpy()
        return steps.tolist(), values.tolist()

    def items(self):
        return zip(self.keys_list(), self.values_list())

    def __len__(self) -> int:
        return len(self._metric)

    def __iter__(self):
        return iter(self.values_list())

    def __getitem__(self, index):
        return self.values_numpy()[index]

    def __repr__(self) -> str:
        return f"<{self._column} of {self._metric!r}>"


class _SequenceData:
    """Aim's ``metric.data``: ``numpy()`` → ``(steps, {"value", "epoch", "time"})``."""

    def __init__(self, metric: Metric):
        self._metric = metric

    def numpy(self):
        m = self._metric
        return m.steps_numpy(), {
            "value": m.values_numpy(),
            "epoch": m._column_numpy("epoch"),
            "time": m._column_numpy("time"),
        }


class Metric:
    """A metric sequence of a run.  ``run`` is the owning :class:`Run`."""

    def __init__(self, run, entry: dict, reader):
        self.run = run
        self._entry = entry
        self._reader = reader
        self._points: dict[str, np.ndarray] | None = None
        self.name: str = entry["name"]
        self.context = Context(entry["context"])
        self.dtype: str = entry.get("dtype", "float")

    def __repr__(self) -> str:
        return f"<Metric {self.name!r} {dict(self.context)} of run {self.run.hash}>"

    # -- summary from the manifest ------------------------------------------------------------
    def _stat(self, key: str):
        value = self._entry.get(key)
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

    @property
    def first_step(self) -> int | None:
        return self._entry.get("first_step")

    @property
    def last_step(self) -> int | None:
        return self._entry.get("last_step")

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
            self._points = points = self._reader.read_sequence(self._entry["id"], columns=wanted)
        return points

    def reload(self) -> Metric:
        """Forget cached points (to see new ones of a live run after ``run.refresh()``)."""
        self._points = None
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
    def data(self) -> _SequenceData:
        return _SequenceData(self)

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

    def dataframe(self):
        from aimcol.sdk.tables import require_pandas

        require_pandas("Metric.dataframe()")
        return self.to_arrow().to_pandas()

    to_pandas = dataframe
