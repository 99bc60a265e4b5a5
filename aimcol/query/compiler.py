"""The vectorised AimQL engine: a query evaluated as column operations over the run index.

Each node of a checked query (:mod:`aimcol.query.ir`) evaluates to a :class:`Vec`, a
column of values with one row per run (domain RUN), per sequence (SEQ) or a single
constant (CONST).  Because params are schemaless a column may mix kinds, so a Vec keeps a
kind per row plus typed payloads: float64 and exact int64 for numbers, an Arrow string
array for strings, int64 microseconds for datetimes/timedeltas, Python objects for the
rest, and an error mask (rows whose evaluation failed, which never match).

Operations run as NumPy kernels for the common kinds (strings compared and gathered from
their Arrow buffers, :mod:`aimcol.format.arrow_gather`); pyarrow.compute, which takes a
third of a second to import, is loaded only by the rarer string operations.  Rows the kernels
do not cover (lists, dicts, huge ints, rare operators) are handed, row by row, to the scalar
functions of :mod:`aimcol.query.values` — the same functions the reference evaluator uses —
so both engines share one definition of the semantics.  String methods and regexes are
evaluated once per distinct string, not once per row.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from aimcol.format.arrow_gather import (
    byte_lengths,
    list_offsets,
    list_values,
    strings_equal,
    strings_equal_scalar,
    take,
    where,
)
from aimcol.format.run_index import (
    KIND_MAP,
    IndexSnapshot,
    arrow_scalar,
    arrow_strings,
    arrow_values,
    np_valid,
    np_values,
)
from aimcol.query import ir
from aimcol.query import values as V
from aimcol.query.values import (
    BOOL,
    DATETIME,
    FLOAT,
    INT,
    NONE,
    OBJ,
    STR,
    TIMEDELTA,
    UNDEF,
    UNDEFINED,
    RowError,
)

CONST, RUN, SEQ = 0, 1, 2

_TWO53 = 2**53
_DT_MIN_US = V.datetime_to_us(_dt.datetime.min)
_DT_MAX_US = V.datetime_to_us(_dt.datetime.max)


def _lut(*kinds: int) -> np.ndarray:
    table = np.zeros(16, dtype=bool)
    table[list(kinds)] = True
    return table


IS_NUM = _lut(BOOL, INT, FLOAT)
IS_INTLIKE = _lut(BOOL, INT)
IS_TIME = _lut(DATETIME, TIMEDELTA)
IS_UNDEF_NONE = _lut(UNDEF, NONE)
# groups: kinds of one group compare with each other; different groups are never equal
GROUP = np.array([0, 1, 2, 2, 2, 3, 4, 5, 6] + [6] * 7, dtype=np.int8)
G_NUM, G_STR, G_DT, G_TD, G_OBJ = 2, 3, 4, 5, 6


def _pc():
    """``pyarrow.compute``, for the string operations NumPy does not cover (imported on first use)."""
    import pyarrow.compute as pc

    return pc


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Vec:
    """A column of AimQL values: kinds, typed payloads and an error mask (see module doc)."""

    __slots__ = ("kind", "num", "ints", "strs", "times", "objs", "err", "domain")

    def __init__(self, kind, domain, *, num=None, ints=None, strs=None, times=None, objs=None, err=None):
        self.kind = kind
        self.domain = domain
        self.num = num
        self.ints = ints
        self.strs = strs
        self.times = times
        self.objs = objs
        self.err = err if err is not None else np.zeros(len(kind), dtype=bool)

    def __len__(self) -> int:
        return len(self.kind)

    def __repr__(self) -> str:
        return f"<Vec {len(self)} rows domain={self.domain} values={self.to_py(np.arange(min(len(self), 5)))}>"

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def const(cls, value: Any) -> Vec:
        return cls.scatter(1, np.zeros(1, dtype=np.int64), [value], None, CONST)

    @classmethod
    def bools(cls, values: np.ndarray, err: np.ndarray, domain: int) -> Vec:
        values = np.asarray(values, dtype=bool)
        kind = np.full(len(values), BOOL, dtype=np.uint8)
        ints = values.astype(np.int64)
        return cls(kind, domain, num=ints.astype(np.float64), ints=ints, err=err)

    @classmethod
    def filled(cls, n: int, kind: int, domain: int, err=None) -> Vec:
        return cls(np.full(n, kind, dtype=np.uint8), domain, err=err)

    @classmethod
    def scatter(cls, n: int, rows: np.ndarray, values: list, errs: list | None, domain: int) -> Vec:
        """A Vec of ``n`` rows holding Python ``values`` at ``rows`` (undefined elsewhere)."""
        kind = np.zeros(n, dtype=np.uint8)
        err = np.zeros(n, dtype=bool)
        num = ints = times = objs = None
        strs: list | None = None
        for row, value in zip(rows.tolist(), values):
            k = V.kind_of(value)
            if k == STR and not value.isascii() and not _encodable(value):
                k = OBJ
            kind[row] = k
            if k in (BOOL, INT, FLOAT):
                if num is None:
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
                times[row] = V.datetime_to_us(value) if k == DATETIME else V.timedelta_to_us(value)
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

    # -- reshaping ---------------------------------------------------------------------------
    def take(self, idx: np.ndarray, domain: int) -> Vec:
        return Vec(
            self.kind[idx],
            domain,
            num=None if self.num is None else self.num[idx],
            ints=None if self.ints is None else self.ints[idx],
            strs=None if self.strs is None else take(self.strs, idx),
            times=None if self.times is None else self.times[idx],
            objs=None if self.objs is None else self.objs[idx],
            err=self.err[idx],
        )

    def with_err(self, err: np.ndarray) -> Vec:
        return Vec(
            self.kind,
            self.domain,
            num=self.num,
            ints=self.ints,
            strs=self.strs,
            times=self.times,
            objs=self.objs,
            err=err,
        )

    def to_py(self, rows: np.ndarray) -> list:
        """Python values of ``rows`` (:data:`UNDEFINED` for undefined rows)."""
        out: list = []
        kind = self.kind
        for row in rows.tolist():
            k = kind[row]
            if k == UNDEF:
                out.append(UNDEFINED)
            elif k == NONE:
                out.append(None)
            elif k == BOOL:
                out.append(bool(self.ints[row]))
            elif k == INT:
                out.append(int(self.ints[row]))
            elif k == FLOAT:
                out.append(float(self.num[row]))
            elif k == STR:
                out.append(self.strs[row].as_py())
            elif k == DATETIME:
                out.append(V.us_to_datetime(self.times[row]))
            elif k == TIMEDELTA:
                out.append(_dt.timedelta(microseconds=int(self.times[row])))
            else:
                out.append(self.objs[row])
        return out

    def str_values(self) -> pa.Array:
        return self.strs if self.strs is not None else pa.nulls(len(self), pa.string())


def select(mask: np.ndarray, a: Vec, b: Vec) -> Vec:
    """Row-wise ``a if mask else b`` (same domain and length), always a new Vec (callers set ``err``)."""
    if mask.all():
        return a.with_err(a.err.copy())
    if not mask.any():
        return b.with_err(b.err.copy())
    n = len(mask)

    def merge(x, y, zero):
        if x is None and y is None:
            return None
        if x is None:
            x = np.full(n, zero, dtype=y.dtype)
        if y is None:
            y = np.full(n, zero, dtype=x.dtype)
        return np.where(mask, x, y)

    strs = None
    if a.strs is not None or b.strs is not None:
        strs = where(mask, a.str_values(), b.str_values())
    objs = None
    if a.objs is not None or b.objs is not None:
        objs = np.empty(n, dtype=object)
        if a.objs is not None:
            objs[mask] = a.objs[mask]
        if b.objs is not None:
            objs[~mask] = b.objs[~mask]
    return Vec(
        np.where(mask, a.kind, b.kind),
        a.domain,
        num=merge(a.num, b.num, 0.0),
        ints=merge(a.ints, b.ints, 0),
        strs=strs,
        times=merge(a.times, b.times, 0),
        objs=objs,
        err=np.where(mask, a.err, b.err),
    )


def _bool_numpy(arr) -> np.ndarray:
    """A pyarrow boolean result (nulls as False) as a NumPy bool array."""
    return np_values(arr, False)


@dataclass
class EvalContext:
    """What leaves of a query read: the index snapshot, the clock, the active flags."""

    snap: IndexSnapshot
    now: float
    active: np.ndarray | None = None  # computed on first use of run.active/run.duration

    @property
    def n_runs(self) -> int:
        return self.snap.n_runs

    @property
    def n_seqs(self) -> int:
        return self.snap.n_seqs

    def run_active(self) -> np.ndarray:
        if self.active is None:
            self.active = self.snap.active()
        return self.active


class Engine:
    """Evaluates a checked query over an index snapshot."""

    def __init__(self, ctx: EvalContext):
        self.ctx = ctx
        self._cache: dict = {}

    # -- domains --------------------------------------------------------------------------------
    def size(self, domain: int) -> int:
        return 1 if domain == CONST else (self.ctx.n_runs if domain == RUN else self.ctx.n_seqs)

    def lift(self, v: Vec, domain: int) -> Vec:
        if v.domain == domain:
            return v
        if v.domain == CONST:
            return v.take(np.zeros(self.size(domain), dtype=np.int64), domain)
        if v.domain == RUN and domain == SEQ:
            return v.take(self.ctx.snap.seq_run, SEQ)
        raise AssertionError("cannot lower a sequence column to runs")

    def align(self, *vecs: Vec) -> list[Vec]:
        domain = max(v.domain for v in vecs)
        return [self.lift(v, domain) for v in vecs]

    # -- row-by-row fallback --------------------------------------------------------------------
    def rowwise(self, fn: Callable, args: list[Vec], mask: np.ndarray, domain: int) -> Vec:
        """``fn`` (a scalar function of :mod:`values`) for the rows in ``mask``; others undefined."""
        n = len(mask)
        rows = np.flatnonzero(mask)
        columns = [a.to_py(rows) for a in args]
        out = []
        errs = []
        for vals in zip(*columns) if columns else [()] * len(rows):
            try:
                out.append(fn(*vals))
                errs.append(False)
            except Exception:  # RowError, or anything else: the row fails, the query goes on
                out.append(UNDEFINED)
                errs.append(True)
        return Vec.scatter(n, rows, out, errs, domain)

    def rowwise_bool(self, fn: Callable, args: list[Vec], mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(mask)
        res = np.zeros(n, dtype=bool)
        err = np.zeros(n, dtype=bool)
        rows = np.flatnonzero(mask)
        columns = [a.to_py(rows) for a in args]
        for row, vals in zip(rows.tolist(), zip(*columns)):
            try:
                res[row] = bool(fn(*vals))
            except Exception:
                err[row] = True
        return res, err

    # -- truthiness ---------------------------------------------------------------------------------
    def truthy(self, v: Vec) -> np.ndarray:
        k = v.kind
        res = np.zeros(len(k), dtype=bool)
        if v.ints is not None:
            res |= IS_INTLIKE[k] & (v.ints != 0)
            res |= (k == FLOAT) & (v.num != 0)
        if v.strs is not None:
            res |= (k == STR) & (byte_lengths(v.strs) > 0)
        if v.times is not None:
            res |= (k == DATETIME) | ((k == TIMEDELTA) & (v.times != 0))
        if v.objs is not None:
            rows = np.flatnonzero(k == OBJ)
            for row in rows.tolist():
                res[row] = V.truthy(v.objs[row])
        return res

    # -- comparisons --------------------------------------------------------------------------------
    def eq(self, a: Vec, b: Vec) -> tuple[np.ndarray, np.ndarray]:
        """``a == b`` per row: (result, error)."""
        a, b = self.align(a, b)
        err = a.err | b.err
        ga, gb = GROUP[a.kind], GROUP[b.kind]
        slow = ((ga == G_OBJ) | (gb == G_OBJ)) & ~err
        same = (ga == gb) & ~slow
        res = same & (ga == 1)  # None == None
        m = same & (ga == G_NUM)
        if m.any():
            both_int = IS_INTLIKE[a.kind] & IS_INTLIKE[b.kind]
            res |= m & both_int & (a.ints == b.ints)
            mf = m & ~both_int
            big = mf & (self._big_int(a) | self._big_int(b))
            slow |= big
            res |= mf & ~big & (a.num == b.num)
        m = same & (ga == G_STR)
        if m.any():
            res |= m & strings_equal(a.strs, b.strs)
        m = same & ((ga == G_DT) | (ga == G_TD))
        if m.any():
            res |= m & (a.times == b.times)
        if slow.any():
            r, e = self.rowwise_bool(V.eq, [a, b], slow)
            res = np.where(slow, r, res)
            err |= e
        return res, err

    @staticmethod
    def _big_int(v: Vec) -> np.ndarray:
        """Int rows a float64 cannot hold exactly (compared with floats row by row)."""
        if v.ints is None:
            return np.zeros(len(v), dtype=bool)
        return IS_INTLIKE[v.kind] & ((v.ints > _TWO53) | (v.ints < -_TWO53))

    _NP_ORDER = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
    _PC_ORDER = {"<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal"}

    def order(self, op: str, a: Vec, b: Vec) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.align(a, b)
        err = a.err | b.err
        ga, gb = GROUP[a.kind], GROUP[b.kind]
        slow = ((ga == G_OBJ) | (gb == G_OBJ)) & ~err
        same = (ga == gb) & ~slow
        res = np.zeros(len(a), dtype=bool)
        npop = self._NP_ORDER[op]
        m = same & (ga == G_NUM)
        if m.any():
            both_int = IS_INTLIKE[a.kind] & IS_INTLIKE[b.kind]
            res |= m & both_int & npop(a.ints, b.ints)
            mf = m & ~both_int
            big = mf & (self._big_int(a) | self._big_int(b))
            slow |= big
            with np.errstate(invalid="ignore"):
                res |= mf & ~big & npop(a.num, b.num)
        m = same & (ga == G_STR)
        if m.any():
            res |= m & _bool_numpy(getattr(_pc(), self._PC_ORDER[op])(a.strs, b.strs))
        m = same & ((ga == G_DT) | (ga == G_TD))
        if m.any():
            res |= m & npop(a.times, b.times)
        if slow.any():
            r, e = self.rowwise_bool(lambda x, y: V.order(op, x, y), [a, b], slow)
            res = np.where(slow, r, res)
            err |= e
        return res, err

    def identity(self, a: Vec, const: Any) -> tuple[np.ndarray, np.ndarray]:
        """``a is None/True/False``."""
        if const is None:
            return a.kind == NONE, a.err
        is_bool = a.kind == BOOL
        if not is_bool.any():
            return is_bool, a.err
        return is_bool & ((a.ints != 0) == bool(const)), a.err

    def contains(self, item: Vec, container: Vec) -> tuple[np.ndarray, np.ndarray]:
        """``item in container`` per row: (result, error)."""
        item_const = item.domain == CONST
        item, container = self.align(item, container)
        err = item.err | container.err
        kc, ki = container.kind, item.kind
        res = np.zeros(len(kc), dtype=bool)
        slow = ((kc == OBJ) | ((kc == STR) & (ki == OBJ))) & ~err
        # containers that cannot contain: undefined, None, numbers, dates
        err = err | (~slow & (kc != STR) & (kc != OBJ))
        str_rows = (kc == STR) & ~err & ~slow
        if str_rows.any():
            bad = str_rows & (ki != STR) & (ki != UNDEF)
            err = err | bad
            both = str_rows & (ki == STR)
            if both.any():
                if item_const:
                    needle = item.strs[int(np.flatnonzero(both)[0])].as_py()
                    res |= both & _bool_numpy(_pc().match_substring(container.strs, needle))
                else:
                    slow |= both
        if slow.any():
            r, e = self.rowwise_bool(V.contains, [item, container], slow)
            res = np.where(slow, r, res)
            err = err | e
        return res, err

    def in_tags(self, item: Vec) -> tuple[np.ndarray, np.ndarray, int]:
        """``x in run.tags`` without building a list per run: (result, error, domain)."""
        n = self.ctx.n_runs
        if item.domain == SEQ:
            r, e = self.contains(item, self.lift(self.tags_vec(), SEQ))
            return r, e, SEQ
        tags = self.ctx.snap.runs.column("tags").combine_chunks()
        item = self.lift(item, RUN)
        res = np.zeros(n, dtype=bool)
        is_str = (item.kind == STR) & ~item.err
        if is_str.any():
            owners, flat = list_values(tags)
            hit = strings_equal(flat, take(item.strs, owners))
            res = np.bincount(owners[hit], minlength=n) > 0
            res &= is_str
        return res, item.err.copy(), RUN

    # -- arithmetic -----------------------------------------------------------------------------------
    def binop(self, op: str, a: Vec, b: Vec) -> Vec:
        a, b = self.align(a, b)
        n = len(a)
        err = a.err | b.err
        ka, kb = a.kind, b.kind
        err = err | IS_UNDEF_NONE[ka] | IS_UNDEF_NONE[kb]
        live = ~err
        out_kind = np.zeros(n, dtype=np.uint8)
        num = np.zeros(n, dtype=np.float64)
        ints = np.zeros(n, dtype=np.int64)
        times = None
        strs = None
        handled = np.zeros(n, dtype=bool)
        numeric = live & IS_NUM[ka] & IS_NUM[kb]
        if numeric.any() and op in ("+", "-", "*", "/", "//", "%"):
            h, e = self._numeric(op, a, b, numeric, out_kind, num, ints)
            handled |= h
            err = err | e
        if op == "+":
            both_str = live & (ka == STR) & (kb == STR)
            if both_str.any():
                pc = _pc()
                joined = pc.binary_join_element_wise(a.str_values(), b.str_values(), arrow_scalar(""))
                strs = pc.if_else(arrow_values(both_str), joined, pa.nulls(n, pa.string()))
                out_kind[both_str] = STR
                handled |= both_str
        if op in ("+", "-") and (a.times is not None or b.times is not None):
            times = np.zeros(n, dtype=np.int64)
            h, e = self._time_arith(op, a, b, live, out_kind, times)
            handled |= h
            err = err | e
        slow = live & ~handled
        result = Vec(out_kind, a.domain, num=num, ints=ints, strs=strs, times=times, err=err)
        if slow.any():
            fallback = self.rowwise(lambda x, y: V.binop(op, x, y), [a, b], slow, a.domain)
            result = select(slow, fallback, result)
            result.err = result.err | err
        return result

    def _numeric(self, op, a, b, rows, out_kind, num, ints):
        """Vectorised numeric arithmetic on ``rows``; returns (handled rows, error rows)."""
        n = len(rows)
        handled = np.zeros(n, dtype=bool)
        err = np.zeros(n, dtype=bool)
        both_int = rows & IS_INTLIKE[a.kind] & IS_INTLIKE[b.kind]
        floats = rows & ~both_int
        x, y = a.ints, b.ints
        with np.errstate(all="ignore"):
            if both_int.any():
                if op == "+":
                    r = x + y
                    ok = ((x ^ r) & (y ^ r)) >= 0
                elif op == "-":
                    r = x - y
                    ok = ((x ^ y) & (x ^ r)) >= 0
                elif op == "*":
                    r = x * y
                    ok = np.abs(x.astype(np.float64) * y.astype(np.float64)) < 2.0**62
                elif op == "/":
                    zero = y == 0
                    err |= both_int & zero
                    small = (np.abs(x.astype(np.float64)) <= _TWO53) & (np.abs(y.astype(np.float64)) <= _TWO53)
                    m = both_int & ~zero & small
                    num[m] = x[m].astype(np.float64) / y[m].astype(np.float64)
                    out_kind[m] = FLOAT
                    handled |= m
                    r = None
                else:  # // and %
                    zero = y == 0
                    err |= both_int & zero
                    ok = ~zero & ~((x == np.iinfo(np.int64).min) & (y == -1))
                    safe_y = np.where(zero, 1, y)
                    r = np.floor_divide(x, safe_y) if op == "//" else np.remainder(x, safe_y)
                if r is not None:
                    m = both_int & ok
                    ints[m] = r[m]
                    num[m] = r[m].astype(np.float64)
                    out_kind[m] = INT
                    handled |= m
            if floats.any():
                fx, fy = a.num, b.num
                if op == "+":
                    r = fx + fy
                elif op == "-":
                    r = fx - fy
                elif op == "*":
                    r = fx * fy
                else:
                    zero = fy == 0
                    err |= floats & zero
                    if op == "/":
                        r = fx / np.where(zero, 1.0, fy)
                    else:
                        finite = np.isfinite(fx) & np.isfinite(fy)
                        floats = floats & finite  # inf/nan operands: Python's rules row by row
                        safe = np.where(zero, 1.0, fy)
                        r = np.floor_divide(fx, safe) if op == "//" else np.remainder(fx, safe)
                    floats = floats & ~zero
                num[floats] = r[floats]
                out_kind[floats] = FLOAT
                handled |= floats
        return handled | err, err

    def _time_arith(self, op, a, b, live, out_kind, times):
        n = len(live)
        handled = np.zeros(n, dtype=bool)
        err = np.zeros(n, dtype=bool)
        ka, kb = a.kind, b.kind
        ta = a.times if a.times is not None else np.zeros(n, dtype=np.int64)
        tb = b.times if b.times is not None else np.zeros(n, dtype=np.int64)
        small_a = np.abs(ta) < 2**61
        small_b = np.abs(tb) < 2**61
        if op == "-":
            m = live & (ka == DATETIME) & (kb == DATETIME)
            times[m] = ta[m] - tb[m]
            out_kind[m] = TIMEDELTA
            handled |= m
        m = live & (ka == TIMEDELTA) & (kb == TIMEDELTA) & small_a & small_b
        times[m] = ta[m] + tb[m] if op == "+" else ta[m] - tb[m]
        out_kind[m] = TIMEDELTA
        handled |= m
        if op == "+":
            pairs = [
                (live & (ka == DATETIME) & (kb == TIMEDELTA) & small_b, ta, tb),
                (live & (ka == TIMEDELTA) & (kb == DATETIME) & small_a, tb, ta),
            ]
        else:
            pairs = [(live & (ka == DATETIME) & (kb == TIMEDELTA) & small_b, ta, -tb)]
        for m, base, delta in pairs:
            r = base + delta
            bad = m & ((r < _DT_MIN_US) | (r > _DT_MAX_US))
            ok = m & ~bad
            times[ok] = r[ok]
            out_kind[ok] = DATETIME
            err |= bad
            handled |= m
        return handled, err

    def unary(self, op: str, v: Vec) -> Vec:
        n = len(v)
        k = v.kind
        err = v.err | IS_UNDEF_NONE[k] | (k == STR) | (k == DATETIME)
        live = ~err
        out_kind = np.zeros(n, dtype=np.uint8)
        num = np.zeros(n, dtype=np.float64)
        ints = np.zeros(n, dtype=np.int64)
        times = np.zeros(n, dtype=np.int64) if v.times is not None else None
        handled = np.zeros(n, dtype=bool)
        if v.ints is not None:
            m = live & IS_INTLIKE[k] & (v.ints != np.iinfo(np.int64).min)
            ints[m] = -v.ints[m] if op == "-" else v.ints[m]
            num[m] = ints[m].astype(np.float64)
            out_kind[m] = INT
            handled |= m
            m = live & (k == FLOAT)
            num[m] = -v.num[m] if op == "-" else v.num[m]
            out_kind[m] = FLOAT
            handled |= m
        if times is not None:
            m = live & (k == TIMEDELTA) & (v.times != np.iinfo(np.int64).min)
            times[m] = -v.times[m] if op == "-" else v.times[m]
            out_kind[m] = TIMEDELTA
            handled |= m
        slow = live & ~handled
        result = Vec(out_kind, v.domain, num=num, ints=ints, times=times, err=err)
        if slow.any():
            result = select(slow, self.rowwise(lambda x: V.unary(op, x), [v], slow, v.domain), result)
            result.err |= err
        return result

    # -- node evaluation --------------------------------------------------------------------------
    def evaluate(self, node: ir.Node) -> Vec:
        method = getattr(self, "eval_" + type(node).__name__)
        return method(node)

    def eval_Const(self, node: ir.Const) -> Vec:
        return Vec.const(node.value)

    def eval_BoolOp(self, node: ir.BoolOp) -> Vec:
        result = self.evaluate(node.values[0])
        for sub in node.values[1:]:
            nxt = self.evaluate(sub)
            result, nxt = self.align(result, nxt)
            t = self.truthy(result) & ~result.err
            take_next = t if node.op == "and" else (~t & ~result.err)
            err = result.err | (take_next & nxt.err)
            result = select(take_next, nxt, result)
            result.err = err
        return result

    def eval_Not(self, node: ir.Not) -> Vec:
        v = self.evaluate(node.operand)
        return Vec.bools(~self.truthy(v), v.err.copy(), v.domain)

    def compare_one(self, op: str, left: Vec, comp: ir.Node) -> tuple[np.ndarray, np.ndarray, int, Vec | None]:
        """One link of a comparison chain: (result, error, domain, right value for the next link)."""
        if op in ("in", "not in") and isinstance(comp, ir.SeqDisplay):
            elements = [self.evaluate(e) for e in comp.items]
            vecs = self.align(left, *elements)
            res = np.zeros(len(vecs[0]), dtype=bool)
            err = vecs[0].err.copy()
            for el in vecs[1:]:
                r, e = self.eq(vecs[0], el)
                res |= r
                err |= e
            return (~res if op == "not in" else res), err, vecs[0].domain, None
        right = self.evaluate(comp)
        if op in ("is", "is not"):
            r, e = self.identity(left, comp.value)
            return (~r if op == "is not" else r), e, left.domain, right
        if op in ("==", "!="):
            r, e = self.eq(left, right)
            r = ~r if op == "!=" else r
        elif op in ("in", "not in"):
            r, e = self.contains(left, right)
            r = ~r if op == "not in" else r
        else:
            r, e = self.order(op, left, right)
        return r, e, max(left.domain, right.domain), right

    def eval_Compare(self, node: ir.Compare) -> Vec:
        if len(node.ops) == 1 and node.ops[0] in ("in", "not in") and self._is_tags(node.comparators[0]):
            item = self.evaluate(node.left)
            r, e, domain = self.in_tags(item)
            return Vec.bools(~r if node.ops[0] == "not in" else r, e, domain)
        left = self.evaluate(node.left)
        result = err = None
        domain = CONST
        for op, comp in zip(node.ops, node.comparators):
            r, e, d, right = self.compare_one(op, left, comp)
            if result is None:
                result, err, domain = r, e, d
            else:
                target = max(d, domain)
                result, err = self._lift_mask(result, domain, target), self._lift_mask(err, domain, target)
                r, e = self._lift_mask(r, d, target), self._lift_mask(e, d, target)
                domain = target
                # a link after a False one is not evaluated: its errors do not count
                err = err | (result & e)
                result = result & r
            left = right if right is not None else self.evaluate(comp)
        return Vec.bools(result, err, domain)

    @staticmethod
    def _is_tags(node: ir.Node) -> bool:
        return isinstance(node, ir.RunProp) and node.name == "tags"

    def _lift_mask(self, mask: np.ndarray, domain: int, target: int) -> np.ndarray:
        if domain == target:
            return mask
        if domain == CONST:
            return np.repeat(mask, self.size(target))
        return mask[self.ctx.snap.seq_run]

    def eval_BinOp(self, node: ir.BinOp) -> Vec:
        return self.binop(node.op, self.evaluate(node.left), self.evaluate(node.right))

    def eval_Unary(self, node: ir.Unary) -> Vec:
        return self.unary(node.op, self.evaluate(node.operand))

    def eval_IfExp(self, node: ir.IfExp) -> Vec:
        test, body, orelse = self.align(self.evaluate(node.test), self.evaluate(node.body), self.evaluate(node.orelse))
        t = self.truthy(test) & ~test.err
        out = select(t, body, orelse)
        out.err = test.err | (t & body.err) | (~t & ~test.err & orelse.err)
        return out

    # -- calls ----------------------------------------------------------------------------------------
    def generic(self, fn: Callable, args: list[Vec]) -> Vec:
        """Row by row over whatever rows have no error in any argument."""
        if not args:
            return self.rowwise(fn, [], np.ones(1, dtype=bool), CONST)
        args = self.align(*args)
        err = np.zeros(len(args[0]), dtype=bool)
        for a in args:
            err |= a.err
        out = self.rowwise(fn, args, ~err, args[0].domain)
        out.err |= err
        return out

    def eval_Builtin(self, node: ir.Builtin) -> Vec:
        if node.name == "len" and len(node.args) == 1 and not node.kwargs and self._is_tags(node.args[0]):
            if self.ctx.n_runs == 0:
                return Vec.filled(0, INT, RUN)
            lengths = np.diff(list_offsets(self.ctx.snap.runs.column("tags")))
            return Vec(np.full(len(lengths), INT, dtype=np.uint8), RUN, num=lengths.astype(np.float64), ints=lengths)
        args = [self.evaluate(a) for a in node.args]
        kw_names = [k for k, _ in node.kwargs]
        kw_vals = [self.evaluate(v) for _, v in node.kwargs]
        nargs = len(args)
        if not node.kwargs and nargs == 1:
            fast = self.fast_builtin(node.name, args[0])
            if fast is not None:
                return fast

        def call(*vals):
            return V.call_builtin(node.name, vals[:nargs], dict(zip(kw_names, vals[nargs:])))

        return self.generic(call, args + kw_vals)

    def fast_builtin(self, name: str, v: Vec) -> Vec | None:
        k = v.kind
        n = len(v)
        if name == "bool":
            return Vec.bools(self.truthy(v), v.err.copy(), v.domain)
        if name == "len":
            slow = (k == OBJ) & ~v.err
            err = v.err | ((k != STR) & (k != OBJ))
            ints = np.zeros(n, dtype=np.int64)
            if v.strs is not None:
                ints = np.where(k == STR, np_values(_pc().utf8_length(v.strs), 0), 0).astype(np.int64)
            out = Vec(
                np.where(k == STR, INT, UNDEF).astype(np.uint8),
                v.domain,
                num=ints.astype(np.float64),
                ints=ints,
                err=err,
            )
            if slow.any():
                out = select(slow, self.rowwise(len, [v], slow, v.domain), out)
                out.err |= err
            return out
        if name == "abs" or name == "float" or name == "int":
            if (k == OBJ).any() or (k == STR).any() or IS_TIME[k].any():
                return None
            err = v.err | IS_UNDEF_NONE[k]
            kind = np.where(err, UNDEF, k).astype(np.uint8)
            num = v.num if v.num is not None else np.zeros(n)
            ints = v.ints if v.ints is not None else np.zeros(n, dtype=np.int64)
            if name == "abs":
                if (IS_INTLIKE[k] & (ints == np.iinfo(np.int64).min)).any():
                    return None
                ints = np.abs(ints)
                num = np.abs(num)
                kind = np.where(kind == BOOL, INT, kind).astype(np.uint8)
                num = np.where(IS_INTLIKE[kind], ints.astype(np.float64), num)
            elif name == "float":
                kind = np.where(IS_NUM[kind], FLOAT, kind).astype(np.uint8)
            else:
                fl = kind == FLOAT
                if fl.any():
                    ok = np.isfinite(num) & (np.abs(num) < 2.0**62)
                    if (fl & ~ok).any():
                        return None
                    ints = np.where(fl, np.trunc(num).astype(np.int64), ints)
                kind = np.where(IS_NUM[kind], INT, kind).astype(np.uint8)
                num = ints.astype(np.float64)
            return Vec(kind, v.domain, num=num, ints=ints, err=err)
        return None

    def eval_ReCall(self, node: ir.ReCall) -> Vec:
        args = [self.evaluate(a) for a in node.args]
        consts = [a for i, a in enumerate(args) if i != 1]
        if all(c.domain == CONST and not c.err.any() for c in consts):
            pattern = consts[0].to_py(np.zeros(1, dtype=np.int64))[0]
            flags = consts[1].to_py(np.zeros(1, dtype=np.int64))[0] if len(consts) > 1 else 0
            if type(pattern) is str and type(flags) is int:
                try:
                    compiled = re.compile(pattern, flags)
                except re.error:
                    compiled = None
                if compiled is not None:
                    func = getattr(compiled, node.func)
                    return self.per_unique_str(args[1], func)
        return self.generic(lambda *vals: V.regex(node.func, *vals), args)

    def per_unique_str(self, v: Vec, fn: Callable[[str], Any]) -> Vec:
        """``fn`` of each distinct string once; non-str rows fail (as ``fn`` would on them)."""
        k = v.kind
        is_str = (k == STR) & ~v.err
        other = ~is_str & ~v.err
        n = len(v)
        if is_str.any():
            encoded = _pc().dictionary_encode(v.strs.filter(arrow_values(is_str)))
            uniques = encoded.dictionary.to_pylist()
            results, errs = [], []
            for u in uniques:
                try:
                    results.append(fn(u))
                    errs.append(False)
                except Exception:
                    results.append(UNDEFINED)
                    errs.append(True)
            uvec = Vec.scatter(len(uniques), np.arange(len(uniques)), results, errs, CONST)
            idx = np.zeros(n, dtype=np.int64)
            idx[is_str] = np_values(encoded.indices, 0)
            out = uvec.take(idx, v.domain)
            out.err = np.where(is_str, out.err, v.err)
            out.kind = np.where(is_str, out.kind, UNDEF).astype(np.uint8)
        else:
            out = Vec.filled(n, UNDEF, v.domain, err=v.err.copy())
        if other.any():
            slow = self.rowwise(fn_or_error(fn), [v], other, v.domain)
            out = select(other, slow, out)
        return out

    def eval_Method(self, node: ir.Method) -> Vec:
        obj = self.evaluate(node.obj)
        args = [self.evaluate(a) for a in node.args]
        kw_names = [k for k, _ in node.kwargs]
        kw_vals = [self.evaluate(v) for _, v in node.kwargs]
        nargs = len(args)
        consts = args + kw_vals
        if all(c.domain == CONST and not c.err.any() for c in consts):
            zero = np.zeros(1, dtype=np.int64)
            pargs = tuple(c.to_py(zero)[0] for c in args)
            pkw = {k: c.to_py(zero)[0] for k, c in zip(kw_names, kw_vals)}
            fast = self.fast_str_method(obj, node.name, pargs, pkw)
            if fast is not None:
                return fast
            if not IS_TIME[obj.kind].any() and not (obj.kind == OBJ).any():
                return self.per_unique_str(obj, lambda s: V.call_method(s, node.name, pargs, pkw))

        def call(o, *vals):
            return V.call_method(o, node.name, vals[:nargs], dict(zip(kw_names, vals[nargs:])))

        return self.generic(call, [obj] + args + kw_vals)

    def fast_str_method(self, obj: Vec, name: str, args: tuple, kwargs: dict) -> Vec | None:
        """startswith/endswith with one str argument, lower/upper of ASCII strings."""
        k = obj.kind
        if kwargs or (k == OBJ).any() or IS_TIME[k].any() or obj.strs is None:
            return None
        if name in ("startswith", "endswith") and len(args) == 1 and type(args[0]) is str and _encodable(args[0]):
            pc = _pc()
            fn = pc.starts_with if name == "startswith" else pc.ends_with
            res = _bool_numpy(fn(obj.strs, pattern=args[0]))
            err = obj.err | (k != STR)
            return Vec.bools(res & (k == STR), err, obj.domain)
        if name in ("lower", "upper") and not args:
            pc = _pc()
            if not np_values(pc.string_is_ascii(obj.strs), True).all():
                return None
            strs = pc.utf8_lower(obj.strs) if name == "lower" else pc.utf8_upper(obj.strs)
            err = obj.err | (k != STR)
            return Vec(np.where(k == STR, STR, UNDEF).astype(np.uint8), obj.domain, strs=strs, err=err)
        return None

    def eval_DatetimeCall(self, node: ir.DatetimeCall) -> Vec:
        now = self.ctx.now
        return self.generic(
            lambda *vals: V.datetime_function(node.name, vals, now), [self.evaluate(a) for a in node.args]
        )

    def _constructor(self, node, make) -> Vec:
        args = [self.evaluate(a) for a in node.args]
        kw_names = [k for k, _ in node.kwargs]
        kw_vals = [self.evaluate(v) for _, v in node.kwargs]
        nargs = len(args)
        return self.generic(lambda *vals: make(vals[:nargs], dict(zip(kw_names, vals[nargs:]))), args + kw_vals)

    def eval_MakeDatetime(self, node: ir.MakeDatetime) -> Vec:
        return self._constructor(node, V.make_datetime)

    def eval_MakeTimedelta(self, node: ir.MakeTimedelta) -> Vec:
        return self._constructor(node, V.make_timedelta)

    def eval_Attr(self, node: ir.Attr) -> Vec:
        obj = self.evaluate(node.obj)
        k = obj.kind
        slow = (IS_TIME[k] | (k == OBJ)) & ~obj.err
        out = Vec.filled(len(obj), UNDEF, obj.domain, err=obj.err.copy())
        if slow.any():
            out = select(slow, self.rowwise(lambda x: V.get_attr(x, node.name), [obj], slow, obj.domain), out)
            out.err |= obj.err
        return out

    def eval_Item(self, node: ir.Item) -> Vec:
        obj, key = self.align(self.evaluate(node.obj), self.evaluate(node.key))
        k = obj.kind
        err = obj.err | key.err
        undefined = (k == UNDEF) & ~err
        slow = ~undefined & ~err & ((k == STR) | (k == OBJ))
        err = err | (~undefined & ~slow)  # None, numbers, dates are not subscriptable
        out = Vec.filled(len(obj), UNDEF, obj.domain, err=err)
        if slow.any():
            out = select(slow, self.rowwise(V.get_item, [obj, key], slow, obj.domain), out)
            out.err |= err
        return out

    def eval_SliceNode(self, node: ir.SliceNode) -> Vec:
        parts = [node.lower, node.upper, node.step]
        vecs = [self.evaluate(p) if p is not None else Vec.const(None) for p in parts]

        def make(lo, hi, st):
            if UNDEFINED in (lo, hi, st):
                raise RowError("undefined slice bound")
            return slice(lo, hi, st)

        return self.generic(make, vecs)

    def eval_SeqDisplay(self, node: ir.SeqDisplay) -> Vec:
        maker = list if node.kind == "list" else tuple
        return self.generic(lambda *vals: maker(vals), [self.evaluate(e) for e in node.items])

    def eval_DictDisplay(self, node: ir.DictDisplay) -> Vec:
        nk = len(node.keys)

        def make(*vals):
            try:
                return dict(zip(vals[:nk], vals[nk:]))
            except TypeError as exc:
                raise RowError(str(exc)) from None

        return self.generic(make, [self.evaluate(k) for k in node.keys] + [self.evaluate(v) for v in node.values])

    # -- leaves: runs ---------------------------------------------------------------------------------
    def eval_RunProp(self, node: ir.RunProp) -> Vec:
        key = ("prop", node.name)
        if key not in self._cache:
            self._cache[key] = self.run_prop(node.name)
        return self._cache[key]

    def run_prop(self, name: str) -> Vec:
        runs = self.ctx.snap.runs
        n = self.ctx.n_runs
        if name in ("hash", "name", "description", "experiment"):
            col = runs.column(name).combine_chunks()
            if name == "experiment":
                col = experiment_names(col)
            null = ~np_valid(col)
            return Vec(np.where(null, NONE, STR).astype(np.uint8), RUN, strs=col)
        if name in ("archived", "active"):
            if name == "archived":
                values = np_values(runs.column("archived"), False)
            else:
                values = self.ctx.run_active()
            return Vec.bools(values, np.zeros(n, dtype=bool), RUN)
        if name in ("creation_time", "end_time"):
            col = runs.column(name)
            null = ~np_valid(col)
            values = np_values(col, 0.0)
            return Vec(np.where(null, NONE, FLOAT).astype(np.uint8), RUN, num=values, ints=np.zeros(n, dtype=np.int64))
        if name == "duration":
            created = np_values(runs.column("creation_time"))
            end_col = runs.column("end_time")
            has_end = np_valid(end_col)
            end = np_values(end_col, 0.0)
            other = np.where(self.ctx.run_active(), self.ctx.now, self.ctx.snap.last_write())
            end = np.where(has_end, end, other)
            values = np.maximum(0.0, end - created)
            return Vec(np.full(n, FLOAT, dtype=np.uint8), RUN, num=values, ints=np.zeros(n, dtype=np.int64))
        if name == "created_at":
            times = local_wallclock_us(np_values(runs.column("creation_time")))
            return Vec(np.full(n, DATETIME, dtype=np.uint8), RUN, times=times)
        if name == "tags":
            return self.tags_vec()
        raise AssertionError(name)

    def tags_vec(self) -> Vec:
        key = ("tags",)
        if key not in self._cache:
            tags = self.ctx.snap.runs.column("tags").to_pylist()
            self._cache[key] = Vec.scatter(len(tags), np.arange(len(tags)), tags, None, RUN)
        return self._cache[key]

    def eval_Param(self, node: ir.Param) -> Vec:
        key = ("param", node.path)
        if key not in self._cache:
            self._cache[key] = self.path_vec("runs", node.path, RUN)
        return self._cache[key]

    def path_vec(self, table: str, path: tuple, domain: int) -> Vec:
        """A param (or context) path from the typed index columns; maps and lists from msgpack."""
        snap = self.ctx.snap
        n = snap.n_runs if table == "runs" else snap.n_seqs
        if not path:
            kind = np.full(n, OBJ, dtype=np.uint8)
            return self._decode_objects(table, path, Vec(kind, domain), kind == OBJ)
        cols = snap.path_columns(table, path)
        if "k" not in cols:
            v = Vec.filled(n, UNDEF, domain)
        else:
            kind = np_values(cols["k"])
            if (kind == KIND_MAP).any():
                kind = np.where(kind == KIND_MAP, OBJ, kind).astype(np.uint8)
            v = Vec(
                kind,
                domain,
                num=np_values(cols["n"]) if "n" in cols else None,
                ints=np_values(cols["i"]) if "i" in cols else None,
                strs=cols["s"].combine_chunks() if "s" in cols else None,
            )
        need = v.kind == OBJ
        truncated = snap.truncated_rows(table)
        if truncated is not None:
            need = need | (truncated & (v.kind == UNDEF))
        if need.any():
            v = self._decode_objects(table, path, v, need)
        return v

    def _decode_objects(self, table: str, path: tuple, v: Vec, rows_mask: np.ndarray) -> Vec:
        snap = self.ctx.snap
        rows = np.flatnonzero(rows_mask)
        trees = snap.params_of(rows) if table == "runs" else snap.contexts_of(rows)
        values = []
        for tree in trees:
            node: Any = tree
            for part in path:
                if type(node) is dict and part in node:
                    node = node[part]
                else:
                    node = UNDEFINED
                    break
            values.append(node)
        decoded = Vec.scatter(len(v), rows, values, None, v.domain)
        return select(rows_mask, decoded, v)

    def eval_RunMetric(self, node: ir.RunMetric) -> Vec:
        """A statistic of the run's sequence (name, context), per run; undefined if it has none."""
        snap = self.ctx.snap
        n = snap.n_runs
        names = snap.seqs.column("name")
        candidates = np.flatnonzero(strings_equal_scalar(names, node.name))
        kind = np.zeros(n, dtype=np.uint8)
        num = np.zeros(n, dtype=np.float64)
        ints = np.zeros(n, dtype=np.int64)
        if len(candidates):
            contexts = snap.contexts_of(candidates)
            stat = self.metric_stat(node.attr).take(candidates, CONST)
            for i, (row, context) in enumerate(zip(candidates.tolist(), contexts)):
                run_row = snap.seq_run[row]
                if run_row < 0 or kind[run_row] != UNDEF or not V.eq(context, node.context):
                    continue
                kind[run_row] = stat.kind[i]
                num[run_row] = stat.num[i]
                ints[run_row] = stat.ints[i]
        return Vec(kind, RUN, num=num, ints=ints)

    # -- leaves: sequences ------------------------------------------------------------------------------
    def eval_MetricProp(self, node: ir.MetricProp) -> Vec:
        key = ("metric", node.name)
        if key not in self._cache:
            if node.name == "name":
                col = self.ctx.snap.seqs.column("name").combine_chunks()
                self._cache[key] = Vec(np.full(len(col), STR, dtype=np.uint8), SEQ, strs=col)
            else:
                self._cache[key] = self.metric_stat(node.name)
        return self._cache[key]

    def metric_stat(self, name: str) -> Vec:
        seqs = self.ctx.snap.seqs
        col = seqs.column(name)
        null = ~np_valid(col)
        if name in ("count", "first_step", "last_step"):
            ints = np_values(col, 0).astype(np.int64)
            return Vec(np.where(null, NONE, INT).astype(np.uint8), SEQ, num=ints.astype(np.float64), ints=ints)
        values = np_values(col, 0.0)
        is_int = strings_equal_scalar(seqs.column("dtype"), "int")
        as_int = is_int & np.isfinite(values) & (np.abs(values) < 2.0**63)
        ints = np.where(as_int, values, 0).astype(np.int64)
        kind = np.where(null, NONE, np.where(as_int, INT, FLOAT)).astype(np.uint8)
        return Vec(kind, SEQ, num=np.where(as_int, ints.astype(np.float64), values), ints=ints)

    def eval_ContextAll(self, node: ir.ContextAll) -> Vec:
        n = self.ctx.n_seqs
        kind = np.full(n, OBJ, dtype=np.uint8)
        return self._decode_objects("seqs", (), Vec(kind, SEQ), kind == OBJ)

    def eval_ContextPath(self, node: ir.ContextPath) -> Vec:
        v = self.path_vec("seqs", node.path, SEQ)
        return v.with_err(v.err | (v.kind == UNDEF))  # a missing context key fails the row


def experiment_names(col) -> pa.Array:
    """As ``Run.experiment``: a run without an experiment (or with "") is in "default"."""
    missing = ~np_valid(col) | strings_equal_scalar(col, "")
    if not missing.any():
        return col
    default = take(arrow_strings(["default"]), np.zeros(len(missing), dtype=np.int64))
    return where(missing, default, col)


def fn_or_error(fn: Callable) -> Callable:
    """``fn`` applied to a non-str value: a str method/regex there is an error (undefined too)."""

    def call(x):
        if type(x) is not str:
            if x is UNDEFINED or x is None or type(x) in (bool, int, float):
                raise RowError(f"expected a str, got {type(x).__name__}")
        return fn(x)

    return call


def local_wallclock_us(ts: np.ndarray) -> np.ndarray:
    """``datetime.fromtimestamp(t)`` as microseconds since the naive epoch, for many ``t`` at once.

    Splits each float as CPython does (modf, microseconds rounded half to even) and adds the
    local UTC offset, looked up once per distinct quarter hour (and per second where the
    offset changes inside one).
    """
    ts = np.asarray(ts, dtype=np.float64)
    if len(ts) == 0:
        return np.zeros(0, dtype=np.int64)
    intpart = np.trunc(ts)
    frac_us = np.rint((ts - intpart) * 1e6)
    carry = frac_us >= 1e6
    frac_us = np.where(carry, frac_us - 1e6, frac_us)
    intpart = np.where(carry, intpart + 1, intpart)
    neg = frac_us < 0
    frac_us = np.where(neg, frac_us + 1e6, frac_us)
    intpart = np.where(neg, intpart - 1, intpart)
    secs = intpart.astype(np.int64)
    buckets, inverse = np.unique(secs // 900, return_inverse=True)
    start_off = np.array([time.localtime(int(b) * 900).tm_gmtoff for b in buckets], dtype=np.int64)
    end_off = np.array([time.localtime(int(b) * 900 + 899).tm_gmtoff for b in buckets], dtype=np.int64)
    offsets = start_off[inverse]
    mixed = (start_off != end_off)[inverse]
    for i in np.flatnonzero(mixed):
        offsets[i] = time.localtime(int(secs[i])).tm_gmtoff
    return (secs + offsets) * 1_000_000 + frac_us.astype(np.int64)


# ---- running a query ----------------------------------------------------------------------------------


def final_mask(engine: Engine, v: Vec, domain: int) -> np.ndarray:
    v = engine.lift(v, domain) if v.domain != domain else v
    return engine.truthy(v) & ~v.err


def match_runs(
    query: ir.ParsedQuery, snap: IndexSnapshot, now: float | None = None, active: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask over the runs table: the runs a ``query_runs`` query selects.

    A query that refers to ``metric`` selects the runs that have at least one matching
    sequence.  Archived runs are left out unless the query mentions ``run.archived``.
    """
    ctx = EvalContext(snap, time.time() if now is None else now, active)
    engine = Engine(ctx)
    n = snap.n_runs
    if query.expr is None:
        mask = np.ones(n, dtype=bool)
    elif query.uses_metric:
        seq_mask = final_mask(engine, engine.evaluate(query.expr), SEQ)
        mask = np.bincount(snap.seq_run[seq_mask & (snap.seq_run >= 0)], minlength=n)[:n] > 0
    else:
        mask = final_mask(engine, engine.evaluate(query.expr), RUN)
    if not query.mentions_archived:
        mask &= ~np_values(snap.runs.column("archived"), False)
    return mask


def match_sequences(
    query: ir.ParsedQuery, snap: IndexSnapshot, now: float | None = None, active: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask over the sequences table: the sequences a ``query_metrics`` query selects."""
    ctx = EvalContext(snap, time.time() if now is None else now, active)
    engine = Engine(ctx)
    n = snap.n_seqs
    valid = snap.seq_run >= 0
    if query.expr is None:
        mask = np.ones(n, dtype=bool)
    else:
        mask = final_mask(engine, engine.evaluate(query.expr), SEQ)
    mask &= valid
    if not query.mentions_archived and n:
        archived = np_values(snap.runs.column("archived"), False)
        mask &= ~archived[np.where(valid, snap.seq_run, 0)]
    return mask
