"""The typed value column: what every node of a query evaluates to in the vectorised engine.

Params are schemaless, so one column may mix kinds row by row.  A :class:`ValueColumn`
keeps a kind per row (:mod:`aimcol.query.values`' kinds) plus one typed payload per family
of kinds, each allocated only when some row needs it:

* ``num`` float64 and ``ints`` exact int64 for bool/int/float rows (both are filled),
* ``strs``, an Arrow string array, for str rows (gathered and compared from its buffers),
* ``times`` int64 microseconds for naive datetimes (since 1970-01-01) and timedeltas,
* ``objs`` Python objects for everything else (lists, dicts, huge ints …),

plus ``err``, the rows whose evaluation failed: they never match.  A column has one row
per run (domain :data:`RUN`), per sequence (:data:`SEQ`) or is a single constant
(:data:`CONST`), lifted to the wider domain when two meet.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from aimcol.format.arrow_gather import take, where
from aimcol.format.arrow_numpy import arrow_strings
from aimcol.format.value_kinds import BOOL, DATETIME, FLOAT, INT, NONE, OBJ, STR, TIMEDELTA, UNDEF
from aimcol.query import values as scalar
from aimcol.query.values import UNDEFINED

if TYPE_CHECKING:
    from aimcol.query.array_types import BoolArray, FloatArray, IntArray, KindArray, ObjArray

CONST, RUN, SEQ = 0, 1, 2
"""Domains, ordered: a column of a lower domain is lifted to the higher one."""


def _kind_table(*kinds: int) -> BoolArray:
    table = np.zeros(16, dtype=bool)
    table[list(kinds)] = True
    return table


IS_NUM = _kind_table(BOOL, INT, FLOAT)
IS_INTLIKE = _kind_table(BOOL, INT)
IS_TIME = _kind_table(DATETIME, TIMEDELTA)
IS_UNDEF_NONE = _kind_table(UNDEF, NONE)

COMPARISON_GROUP = np.array([0, 1, 2, 2, 2, 3, 4, 5, 6] + [6] * 7, dtype=np.int8)
"""Kinds of one group compare with each other; kinds of different groups are never equal."""
G_NONE, G_NUM, G_STR, G_DT, G_TD, G_OBJ = 1, 2, 3, 4, 5, 6


def encodable(s: str) -> bool:
    """Whether ``s`` can live in an Arrow string array (no lone surrogates)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ValueColumn:
    """A column of AimQL values: kinds, typed payloads and an error mask (see the module doc)."""

    __slots__ = ("kind", "num", "ints", "strs", "times", "objs", "err", "domain")

    def __init__(
        self,
        kind: KindArray,
        domain: int,
        *,
        num: FloatArray | None = None,
        ints: IntArray | None = None,
        strs: pa.Array | None = None,
        times: IntArray | None = None,
        objs: ObjArray | None = None,
        err: BoolArray | None = None,
    ) -> None:
        self.kind = kind
        self.domain = domain
        self.num = num
        self.ints = ints
        self.strs = strs
        self.times = times
        self.objs = objs
        self.err: BoolArray = err if err is not None else np.zeros(len(kind), dtype=bool)

    def __len__(self) -> int:
        return len(self.kind)

    def __repr__(self) -> str:
        head = self.to_py(np.arange(min(len(self), 5)))
        return f"<ValueColumn {len(self)} rows domain={self.domain} values={head}>"

    # -- payloads, for kernels that checked the kinds first --------------------------------------
    @property
    def ints_(self) -> IntArray:
        """``ints``, which the caller knows is present (some row is bool/int)."""
        assert self.ints is not None
        return self.ints

    @property
    def num_(self) -> FloatArray:
        assert self.num is not None
        return self.num

    @property
    def times_(self) -> IntArray:
        assert self.times is not None
        return self.times

    @property
    def objs_(self) -> ObjArray:
        assert self.objs is not None
        return self.objs

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def const(cls, value: Any) -> ValueColumn:
        return cls.scatter(1, np.zeros(1, dtype=np.int64), [value], None, CONST)

    @classmethod
    def bools(cls, values: BoolArray, err: BoolArray, domain: int) -> ValueColumn:
        values = np.asarray(values, dtype=bool)
        kind = np.full(len(values), BOOL, dtype=np.uint8)
        ints = values.astype(np.int64)
        return cls(kind, domain, num=ints.astype(np.float64), ints=ints, err=err)

    @classmethod
    def filled(cls, n: int, kind: int, domain: int, err: BoolArray | None = None) -> ValueColumn:
        return cls(np.full(n, kind, dtype=np.uint8), domain, err=err)

    @classmethod
    def scatter(
        cls, n: int, rows: IntArray, values: Sequence[Any], errs: Sequence[bool] | None, domain: int
    ) -> ValueColumn:
        """A column of ``n`` rows holding Python ``values`` at ``rows`` (undefined elsewhere)."""
        kind = np.zeros(n, dtype=np.uint8)
        err = np.zeros(n, dtype=bool)
        num: FloatArray | None = None
        ints: IntArray | None = None
        times: IntArray | None = None
        objs: ObjArray | None = None
        strs: list[str | None] | None = None
        for row, value in zip(rows.tolist(), values):
            k = scalar.kind_of(value)
            if k == STR and not value.isascii() and not encodable(value):
                k = OBJ
            kind[row] = k
            if k in (BOOL, INT, FLOAT):
                if num is None or ints is None:
                    num = np.zeros(n, dtype=np.float64)
                    ints = np.zeros(n, dtype=np.int64)
                num[row] = float(value)
                if k != FLOAT:
                    ints[row] = int(value)
            elif k == STR:
                if strs is None:
                    strs = [None] * n
                strs[row] = value
            elif k == DATETIME or k == TIMEDELTA:
                if times is None:
                    times = np.zeros(n, dtype=np.int64)
                times[row] = scalar.datetime_to_us(value) if k == DATETIME else scalar.timedelta_to_us(value)
            elif k == OBJ:
                if objs is None:
                    objs = np.empty(n, dtype=object)
                objs[row] = value
        if errs is not None:
            err[rows[np.asarray(errs, dtype=bool)]] = True
        return cls(
            kind,
            domain,
            num=num,
            ints=ints,
            strs=arrow_strings(strs) if strs is not None else None,
            times=times,
            objs=objs,
            err=err,
        )

    # -- reshaping -------------------------------------------------------------------------------
    def take(self, idx: IntArray, domain: int) -> ValueColumn:
        """Rows ``idx`` (repeats allowed) as a column of ``domain``."""
        return ValueColumn(
            self.kind[idx],
            domain,
            num=None if self.num is None else self.num[idx],
            ints=None if self.ints is None else self.ints[idx],
            strs=None if self.strs is None else take(self.strs, idx),
            times=None if self.times is None else self.times[idx],
            objs=None if self.objs is None else self.objs[idx],
            err=self.err[idx],
        )

    def with_err(self, err: BoolArray) -> ValueColumn:
        """The same values with another error mask (payloads are shared, not copied)."""
        return ValueColumn(
            self.kind,
            self.domain,
            num=self.num,
            ints=self.ints,
            strs=self.strs,
            times=self.times,
            objs=self.objs,
            err=err,
        )

    def to_py(self, rows: IntArray) -> list[Any]:
        """Python values of ``rows`` (:data:`UNDEFINED` for undefined rows)."""
        out: list[Any] = []
        kind = self.kind
        for row in rows.tolist():
            k = kind[row]
            if k == UNDEF:
                out.append(UNDEFINED)
            elif k == NONE:
                out.append(None)
            elif k == BOOL:
                out.append(bool(self.ints_[row]))
            elif k == INT:
                out.append(int(self.ints_[row]))
            elif k == FLOAT:
                out.append(float(self.num_[row]))
            elif k == STR:
                assert self.strs is not None
                out.append(self.strs[row].as_py())
            elif k == DATETIME:
                out.append(scalar.us_to_datetime(int(self.times_[row])))
            elif k == TIMEDELTA:
                out.append(_dt.timedelta(microseconds=int(self.times_[row])))
            else:
                out.append(self.objs_[row])
        return out

    def first_py(self) -> Any:
        """The value of row 0 (of a constant column)."""
        return self.to_py(np.zeros(1, dtype=np.int64))[0]

    def str_values(self) -> pa.Array:
        """``strs``, or an all-null string array when no row is a str."""
        return self.strs if self.strs is not None else pa.nulls(len(self), pa.string())


def select(mask: BoolArray, a: ValueColumn, b: ValueColumn) -> ValueColumn:
    """Row-wise ``a if mask else b`` (same domain and length), always a new column (callers set ``err``)."""
    if mask.all():
        return a.with_err(a.err.copy())
    if not mask.any():
        return b.with_err(b.err.copy())
    n = len(mask)

    def merge(x: np.ndarray[Any, Any] | None, y: np.ndarray[Any, Any] | None, zero: float) -> Any:
        if x is None and y is None:
            return None
        if x is None:
            assert y is not None
            x = np.full(n, zero, dtype=y.dtype)
        if y is None:
            y = np.full(n, zero, dtype=x.dtype)
        return np.where(mask, x, y)

    strs = None
    if a.strs is not None or b.strs is not None:
        strs = where(mask, a.str_values(), b.str_values())
    objs: ObjArray | None = None
    if a.objs is not None or b.objs is not None:
        objs = np.empty(n, dtype=object)
        if a.objs is not None:
            objs[mask] = a.objs[mask]
        if b.objs is not None:
            objs[~mask] = b.objs[~mask]
    return ValueColumn(
        np.where(mask, a.kind, b.kind),
        a.domain,
        num=merge(a.num, b.num, 0.0),
        ints=merge(a.ints, b.ints, 0),
        strs=strs,
        times=merge(a.times, b.times, 0),
        objs=objs,
        err=np.where(mask, a.err, b.err),
    )
