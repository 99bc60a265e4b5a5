"""Column kernels: AimQL's operators on whole :class:`~aimcol.query.column.ValueColumn` s at once.

Each kernel takes columns already aligned to one domain and returns a result per row.  The
common kinds run as NumPy operations (strings compared and gathered from their Arrow
buffers, :mod:`aimcol.format.arrow_gather`); ``pyarrow.compute``, which takes a third of a
second to import, is loaded only by the rarer string kernels (:func:`pyarrow_compute`).
Rows a kernel does not cover (lists, dicts, huge ints, rare operators) are handed, one by
one, to the scalar functions of :mod:`aimcol.query.values` — the functions the reference
evaluator calls — so both evaluators share one definition of the semantics.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from aimcol.errors import AimQLCostError
from aimcol.format.arrow_gather import byte_lengths, strings_equal
from aimcol.format.arrow_numpy import arrow_scalar, to_arrow, to_numpy
from aimcol.format.value_kinds import BOOL, DATETIME, FLOAT, INT, NONE, OBJ, STR, TIMEDELTA, UNDEF
from aimcol.query import values as scalar
from aimcol.query.column import (
    COMPARISON_GROUP,
    CONST,
    G_DT,
    G_NONE,
    G_NUM,
    G_OBJ,
    G_STR,
    G_TD,
    IS_INTLIKE,
    IS_NUM,
    IS_TIME,
    IS_UNDEF_NONE,
    ValueColumn,
    encodable,
    select,
)
from aimcol.query.values import UNDEFINED, RowError

if TYPE_CHECKING:
    from aimcol.query.array_types import BoolArray, FloatArray, IntArray, KindArray

_TWO53 = 2**53
_INT64_MIN = np.iinfo(np.int64).min
_DT_MIN_US = scalar.datetime_to_us(_dt.datetime.min)
_DT_MAX_US = scalar.datetime_to_us(_dt.datetime.max)


def pyarrow_compute() -> Any:
    """``pyarrow.compute``, for the string kernels NumPy does not cover (imported on first use)."""
    import pyarrow.compute

    return pyarrow.compute


def _bools(arr: pa.Array) -> BoolArray:
    """A pyarrow boolean result (nulls as False) as a NumPy bool array."""
    result: BoolArray = to_numpy(arr, False)
    return result


# ---- the row-by-row fallback ---------------------------------------------------------------------


def rowwise(fn: Callable[..., Any], args: list[ValueColumn], mask: BoolArray, domain: int) -> ValueColumn:
    """``fn`` (a scalar function of :mod:`~aimcol.query.values`) for the rows in ``mask``.

    Other rows are undefined.  A row whose call raises fails (``err``); the query goes on,
    unless the query is refused for its cost (:class:`~aimcol.errors.AimQLCostError`).
    """
    n = len(mask)
    rows = np.flatnonzero(mask)
    columns = [a.to_py(rows) for a in args]
    out: list[Any] = []
    errs: list[bool] = []
    deadline = scalar.current_budget()
    for i, vals in enumerate(zip(*columns) if columns else [()] * len(rows)):
        if not i & 255:
            deadline.check()
        try:
            out.append(fn(*vals))
            errs.append(False)
        except AimQLCostError:
            raise
        except MemoryError:
            raise scalar.out_of_memory() from None
        except Exception:  # RowError, or anything else: the row fails, the query goes on
            out.append(UNDEFINED)
            errs.append(True)
    return ValueColumn.scatter(n, rows, out, errs, domain)


def rowwise_bool(fn: Callable[..., Any], args: list[ValueColumn], mask: BoolArray) -> tuple[BoolArray, BoolArray]:
    """``bool(fn(...))`` for the rows in ``mask``: (result, error)."""
    n = len(mask)
    res = np.zeros(n, dtype=bool)
    err = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(mask)
    columns = [a.to_py(rows) for a in args]
    deadline = scalar.current_budget()
    for i, (row, vals) in enumerate(zip(rows.tolist(), zip(*columns))):
        if not i & 255:
            deadline.check()
        try:
            res[row] = bool(fn(*vals))
        except AimQLCostError:
            raise
        except MemoryError:
            raise scalar.out_of_memory() from None
        except Exception:
            err[row] = True
    return res, err


def fn_or_error(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``fn`` applied to a non-str value: a str method/regex there is an error (undefined too)."""

    def call(x: Any) -> Any:
        if type(x) is not str:
            if x is UNDEFINED or x is None or type(x) in (bool, int, float):
                raise RowError(f"expected a str, got {type(x).__name__}")
        return fn(x)

    return call


def per_unique_str(v: ValueColumn, fn: Callable[[str], Any]) -> ValueColumn:
    """``fn`` of each distinct string once; non-str rows fail (as ``fn`` would on them)."""
    k = v.kind
    is_str = (k == STR) & ~v.err
    other = ~is_str & ~v.err
    n = len(v)
    if is_str.any():
        assert v.strs is not None
        encoded = pyarrow_compute().dictionary_encode(v.strs.filter(to_arrow(is_str)))
        uniques = encoded.dictionary.to_pylist()
        results: list[Any] = []
        errs: list[bool] = []
        deadline = scalar.current_budget()
        for i, u in enumerate(uniques):
            if not i & 255:
                deadline.check()
            try:
                results.append(fn(u))
                errs.append(False)
            except AimQLCostError:
                raise
            except MemoryError:
                raise scalar.out_of_memory() from None
            except Exception:
                results.append(UNDEFINED)
                errs.append(True)
        uniques_column = ValueColumn.scatter(len(uniques), np.arange(len(uniques)), results, errs, CONST)
        idx = np.zeros(n, dtype=np.int64)
        idx[is_str] = to_numpy(encoded.indices, 0)
        out = uniques_column.take(idx, v.domain)
        out.err = np.where(is_str, out.err, v.err)
        out.kind = np.where(is_str, out.kind, UNDEF).astype(np.uint8)
    else:
        out = ValueColumn.filled(n, UNDEF, v.domain, err=v.err.copy())
    if other.any():
        out = select(other, rowwise(fn_or_error(fn), [v], other, v.domain), out)
    return out


# ---- truthiness and comparisons -------------------------------------------------------------------


def truthy(v: ValueColumn) -> BoolArray:
    """``bool(value)`` per row (undefined and failed rows are False)."""
    k = v.kind
    res = np.zeros(len(k), dtype=bool)
    if v.ints is not None:
        res |= IS_INTLIKE[k] & (v.ints != 0)
        res |= (k == FLOAT) & (v.num_ != 0)
    if v.strs is not None:
        res |= (k == STR) & (byte_lengths(v.strs) > 0)
    if v.times is not None:
        res |= (k == DATETIME) | ((k == TIMEDELTA) & (v.times != 0))
    if v.objs is not None:
        for row in np.flatnonzero(k == OBJ).tolist():
            res[row] = scalar.truthy(v.objs[row])
    return res


def _big_int(v: ValueColumn) -> BoolArray:
    """Int rows a float64 cannot hold exactly (compared with floats row by row)."""
    if v.ints is None:
        return np.zeros(len(v), dtype=bool)
    result: BoolArray = IS_INTLIKE[v.kind] & ((v.ints > _TWO53) | (v.ints < -_TWO53))
    return result


def equal(a: ValueColumn, b: ValueColumn) -> tuple[BoolArray, BoolArray]:
    """``a == b`` per row of two aligned columns: (result, error)."""
    err = a.err | b.err
    ga, gb = COMPARISON_GROUP[a.kind], COMPARISON_GROUP[b.kind]
    slow = ((ga == G_OBJ) | (gb == G_OBJ)) & ~err
    same = (ga == gb) & ~slow
    res = same & (ga == G_NONE)
    m = same & (ga == G_NUM)
    if m.any():
        both_int = IS_INTLIKE[a.kind] & IS_INTLIKE[b.kind]
        res |= m & both_int & (a.ints_ == b.ints_)
        mf = m & ~both_int
        big = mf & (_big_int(a) | _big_int(b))
        slow |= big
        res |= mf & ~big & (a.num_ == b.num_)
    m = same & (ga == G_STR)
    if m.any():
        res |= m & strings_equal(a.strs, b.strs)
    m = same & ((ga == G_DT) | (ga == G_TD))
    if m.any():
        res |= m & (a.times_ == b.times_)
    if slow.any():
        r, e = rowwise_bool(scalar.eq, [a, b], slow)
        res = np.where(slow, r, res)
        err |= e
    return res, err


_NUMPY_ORDER = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
_ARROW_ORDER = {"<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal"}


def order(op: str, a: ValueColumn, b: ValueColumn) -> tuple[BoolArray, BoolArray]:
    """``a <op> b`` for ``<``, ``<=``, ``>``, ``>=`` per row of two aligned columns: (result, error)."""
    err = a.err | b.err
    ga, gb = COMPARISON_GROUP[a.kind], COMPARISON_GROUP[b.kind]
    slow = ((ga == G_OBJ) | (gb == G_OBJ)) & ~err
    same = (ga == gb) & ~slow
    res = np.zeros(len(a), dtype=bool)
    compare = _NUMPY_ORDER[op]
    m = same & (ga == G_NUM)
    if m.any():
        both_int = IS_INTLIKE[a.kind] & IS_INTLIKE[b.kind]
        res |= m & both_int & compare(a.ints_, b.ints_)
        mf = m & ~both_int
        big = mf & (_big_int(a) | _big_int(b))
        slow |= big
        with np.errstate(invalid="ignore"):
            res |= mf & ~big & compare(a.num_, b.num_)
    m = same & (ga == G_STR)
    if m.any():
        res |= m & _bools(getattr(pyarrow_compute(), _ARROW_ORDER[op])(a.strs, b.strs))
    m = same & ((ga == G_DT) | (ga == G_TD))
    if m.any():
        res |= m & compare(a.times_, b.times_)
    if slow.any():
        r, e = rowwise_bool(lambda x, y: scalar.order(op, x, y), [a, b], slow)
        res = np.where(slow, r, res)
        err |= e
    return res, err


def identity(a: ValueColumn, const: Any) -> tuple[BoolArray, BoolArray]:
    """``a is None/True/False``: (result, error)."""
    if const is None:
        return a.kind == NONE, a.err
    is_bool = a.kind == BOOL
    if not is_bool.any():
        return is_bool, a.err
    return is_bool & ((a.ints_ != 0) == bool(const)), a.err


def contains(item: ValueColumn, container: ValueColumn, item_is_const: bool) -> tuple[BoolArray, BoolArray]:
    """``item in container`` per row of two aligned columns: (result, error).

    ``item_is_const``: the item was one constant before alignment, so a substring search
    runs as one kernel over the container strings.
    """
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
            if item_is_const:
                assert item.strs is not None
                needle = item.strs[int(np.flatnonzero(both)[0])].as_py()
                res |= both & _bools(pyarrow_compute().match_substring(container.strs, needle))
            else:
                slow |= both
    if slow.any():
        r, e = rowwise_bool(scalar.contains, [item, container], slow)
        res = np.where(slow, r, res)
        err = err | e
    return res, err


# ---- arithmetic ---------------------------------------------------------------------------------


def binop(op: str, a: ValueColumn, b: ValueColumn) -> ValueColumn:
    """``a <op> b`` for the arithmetic operators, per row of two aligned columns."""
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
        h, e = _numeric(op, a, b, numeric, out_kind, num, ints)
        handled |= h
        err = err | e
    if op == "+":
        both_str = live & (ka == STR) & (kb == STR)
        if both_str.any():
            # rows that might be too long go to the scalar path, which bounds by characters
            both_str &= byte_lengths(a.str_values()) + byte_lengths(b.str_values()) <= scalar.MAX_VALUE_SIZE
        if both_str.any():
            pc = pyarrow_compute()
            joined = pc.binary_join_element_wise(a.str_values(), b.str_values(), arrow_scalar(""))
            strs = pc.if_else(to_arrow(both_str), joined, pa.nulls(n, pa.string()))
            out_kind[both_str] = STR
            handled |= both_str
    if op in ("+", "-") and (a.times is not None or b.times is not None):
        times = np.zeros(n, dtype=np.int64)
        h, e = _time_arithmetic(op, a, b, live, out_kind, times)
        handled |= h
        err = err | e
    slow = live & ~handled
    result = ValueColumn(out_kind, a.domain, num=num, ints=ints, strs=strs, times=times, err=err)
    if slow.any():
        fallback = rowwise(lambda x, y: scalar.binop(op, x, y), [a, b], slow, a.domain)
        result = select(slow, fallback, result)
        result.err = result.err | err
    return result


def _numeric(
    op: str,
    a: ValueColumn,
    b: ValueColumn,
    rows: BoolArray,
    out_kind: KindArray,
    num: FloatArray,
    ints: IntArray,
) -> tuple[BoolArray, BoolArray]:
    """Vectorised numeric arithmetic on ``rows``, written into the outputs: (handled rows, error rows)."""
    n = len(rows)
    handled = np.zeros(n, dtype=bool)
    err = np.zeros(n, dtype=bool)
    both_int = rows & IS_INTLIKE[a.kind] & IS_INTLIKE[b.kind]
    floats = rows & ~both_int
    x, y = a.ints_, b.ints_
    with np.errstate(all="ignore"):
        if both_int.any():
            r: IntArray | None
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
                ok = ~zero & ~((x == _INT64_MIN) & (y == -1))
                safe_y = np.where(zero, 1, y)
                r = np.floor_divide(x, safe_y) if op == "//" else np.remainder(x, safe_y)
            if r is not None:
                m = both_int & ok
                ints[m] = r[m]
                num[m] = r[m].astype(np.float64)
                out_kind[m] = INT
                handled |= m
        if floats.any():
            fx, fy = a.num_, b.num_
            if op == "+":
                f = fx + fy
            elif op == "-":
                f = fx - fy
            elif op == "*":
                f = fx * fy
            else:
                zero = fy == 0
                err |= floats & zero
                if op == "/":
                    f = fx / np.where(zero, 1.0, fy)
                else:
                    finite = np.isfinite(fx) & np.isfinite(fy)
                    floats = floats & finite  # inf/nan operands: Python's rules row by row
                    safe = np.where(zero, 1.0, fy)
                    f = np.floor_divide(fx, safe) if op == "//" else np.remainder(fx, safe)
                floats = floats & ~zero
            num[floats] = f[floats]
            out_kind[floats] = FLOAT
            handled |= floats
    return handled | err, err


def _time_arithmetic(
    op: str, a: ValueColumn, b: ValueColumn, live: BoolArray, out_kind: KindArray, times: IntArray
) -> tuple[BoolArray, BoolArray]:
    """datetime/timedelta ``+``/``-`` in microseconds, written into the outputs: (handled, error)."""
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


def unary(op: str, v: ValueColumn) -> ValueColumn:
    """``-v`` or ``+v`` per row."""
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
        m = live & IS_INTLIKE[k] & (v.ints != _INT64_MIN)
        ints[m] = -v.ints[m] if op == "-" else v.ints[m]
        num[m] = ints[m].astype(np.float64)
        out_kind[m] = INT
        handled |= m
        m = live & (k == FLOAT)
        num[m] = -v.num_[m] if op == "-" else v.num_[m]
        out_kind[m] = FLOAT
        handled |= m
    if times is not None:
        m = live & (k == TIMEDELTA) & (v.times_ != _INT64_MIN)
        times[m] = -v.times_[m] if op == "-" else v.times_[m]
        out_kind[m] = TIMEDELTA
        handled |= m
    slow = live & ~handled
    result = ValueColumn(out_kind, v.domain, num=num, ints=ints, times=times, err=err)
    if slow.any():
        result = select(slow, rowwise(lambda x: scalar.unary(op, x), [v], slow, v.domain), result)
        result.err |= err
    return result


# ---- builtins and methods with a column kernel ------------------------------------------------------


def fast_builtin(name: str, v: ValueColumn) -> ValueColumn | None:
    """``bool``, ``len``, ``abs``, ``float``, ``int`` of one column; None where no kernel applies."""
    k = v.kind
    n = len(v)
    if name == "bool":
        return ValueColumn.bools(truthy(v), v.err.copy(), v.domain)
    if name == "len":
        slow = (k == OBJ) & ~v.err
        err = v.err | ((k != STR) & (k != OBJ))
        lengths = np.zeros(n, dtype=np.int64)
        if v.strs is not None:
            lengths = np.where(k == STR, to_numpy(pyarrow_compute().utf8_length(v.strs), 0), 0).astype(np.int64)
        out = ValueColumn(
            np.where(k == STR, INT, UNDEF).astype(np.uint8),
            v.domain,
            num=lengths.astype(np.float64),
            ints=lengths,
            err=err,
        )
        if slow.any():
            out = select(slow, rowwise(len, [v], slow, v.domain), out)
            out.err |= err
        return out
    if name in ("abs", "float", "int"):
        return _numeric_builtin(name, v)
    return None


def _numeric_builtin(name: str, v: ValueColumn) -> ValueColumn | None:
    k = v.kind
    n = len(v)
    if (k == OBJ).any() or (k == STR).any() or IS_TIME[k].any():
        return None
    err = v.err | IS_UNDEF_NONE[k]
    kind = np.where(err, UNDEF, k).astype(np.uint8)
    num = v.num if v.num is not None else np.zeros(n)
    ints = v.ints if v.ints is not None else np.zeros(n, dtype=np.int64)
    if name == "abs":
        if (IS_INTLIKE[k] & (ints == _INT64_MIN)).any():
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
    return ValueColumn(kind, v.domain, num=num, ints=ints, err=err)


def fast_str_method(obj: ValueColumn, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ValueColumn | None:
    """startswith/endswith with one str argument, lower/upper of ASCII strings; else None."""
    k = obj.kind
    if kwargs or (k == OBJ).any() or IS_TIME[k].any() or obj.strs is None:
        return None
    if name in ("startswith", "endswith") and len(args) == 1 and type(args[0]) is str and encodable(args[0]):
        pc = pyarrow_compute()
        fn = pc.starts_with if name == "startswith" else pc.ends_with
        res = _bools(fn(obj.strs, pattern=args[0]))
        err = obj.err | (k != STR)
        return ValueColumn.bools(res & (k == STR), err, obj.domain)
    if name in ("lower", "upper") and not args:
        pc = pyarrow_compute()
        if not to_numpy(pc.string_is_ascii(obj.strs), True).all():
            return None
        strs = pc.utf8_lower(obj.strs) if name == "lower" else pc.utf8_upper(obj.strs)
        err = obj.err | (k != STR)
        return ValueColumn(np.where(k == STR, STR, UNDEF).astype(np.uint8), obj.domain, strs=strs, err=err)
    return None
