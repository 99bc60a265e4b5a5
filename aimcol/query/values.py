"""AimQL value semantics: the *undefined* value, value kinds and every scalar operation.

This module is the single definition of what an AimQL expression means for one row.  The
reference evaluator (``reference.py``) calls these functions for every row; the vectorised
engine (``compiler.py``) reimplements the common cases as column operations and calls these
same functions for the rows its fast paths do not cover, so the two cannot drift apart
except in the fast paths, which the differential test checks.

Rules (as Aim 3.29, except where noted):

* A missing param is :data:`UNDEFINED`: falsy; ``==`` anything (even ``None``) is False and
  ``!=`` is True; order comparisons are False; ``in`` is False and ``not in`` True;
  attribute and key access on it stay undefined; arithmetic, calls and methods on it fail.
* An order comparison between values Python cannot order (str vs int, None vs anything) is
  False instead of an error, so ``not (run.hparams.opt > 5)`` is True.
* Any other error while evaluating a row (arithmetic on None, a missing context key,
  division by zero) raises :class:`RowError`: that row does not match, the query goes on.
* Equality and membership compare containers element by element with these same rules
  (never by object identity), so results do not depend on how values were copied.
"""

from __future__ import annotations

import datetime as _dt
import math
import operator
import re
from typing import Any

# ---- the undefined value ---------------------------------------------------------------------


class _Undefined:
    """The value of a param that a run does not have.  A singleton: use :data:`UNDEFINED`."""

    __slots__ = ()
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<undefined>"

    def __reduce__(self):
        return (_Undefined, ())


UNDEFINED = _Undefined()


class RowError(Exception):
    """Evaluating the query for one row failed: the row does not match."""


# ---- kinds -----------------------------------------------------------------------------------

# Value kinds shared by the run index columns and the vectorised engine: one enumeration,
# aimcol.format.value_kinds.  INT holds ints that fit in int64; bigger ints, bytes, lists,
# dicts, aware datetimes and anything else are OBJ here (the index also has MAP, which the
# engine reads as OBJ).  DATETIME is a naive datetime, TIMEDELTA a timedelta, both stored by
# the engine as int64 microseconds.
from aimcol.format.value_kinds import BOOL, DATETIME, FLOAT, INT, NONE, OBJ, STR, TIMEDELTA, UNDEF  # noqa: E402

KIND_NAMES = ("undefined", "None", "bool", "int", "float", "str", "datetime", "timedelta", "object")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

EPOCH = _dt.datetime(1970, 1, 1)
ONE_US = _dt.timedelta(microseconds=1)


def kind_of(value: Any) -> int:
    t = type(value)
    if t is bool:
        return BOOL
    if t is int:
        return INT if INT64_MIN <= value <= INT64_MAX else OBJ
    if t is float:
        return FLOAT
    if t is str:
        return STR
    if value is None:
        return NONE
    if value is UNDEFINED:
        return UNDEF
    if t is _dt.datetime:
        return DATETIME if value.tzinfo is None else OBJ
    if t is _dt.timedelta:
        us = value // ONE_US
        return TIMEDELTA if INT64_MIN <= us <= INT64_MAX else OBJ
    return OBJ


def datetime_to_us(value: _dt.datetime) -> int:
    """A naive datetime as microseconds since 1970-01-01 (wall clock, no time zone)."""
    return (value - EPOCH) // ONE_US


def us_to_datetime(us: int) -> _dt.datetime:
    return EPOCH + _dt.timedelta(microseconds=int(us))


def timedelta_to_us(value: _dt.timedelta) -> int:
    return value // ONE_US


# ---- truthiness, equality, ordering ---------------------------------------------------------


def truthy(value: Any) -> bool:
    if value is UNDEFINED:
        return False
    return bool(value)


def _is_seq(t) -> bool:
    return t is list or t is tuple


def eq(a: Any, b: Any) -> bool:
    """AimQL ``==``: Python equality, undefined equal to nothing, containers compared by value."""
    if a is UNDEFINED or b is UNDEFINED:
        return False
    ta, tb = type(a), type(b)
    if _is_seq(ta) or _is_seq(tb):
        return ta is tb and len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b))
    if ta is dict or tb is dict:
        return ta is tb and a.keys() == b.keys() and all(eq(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:
        return False


_ORDER_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _order(op: str, a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if _is_seq(ta) and ta is tb:
        # lexicographic, the first pair that differs (by AimQL ==) decides, as Python does
        for x, y in zip(a, b):
            if not eq(x, y):
                return _order(op, x, y)
        return _ORDER_OPS[op](len(a), len(b))
    return bool(_ORDER_OPS[op](a, b))


def order(op: str, a: Any, b: Any) -> bool:
    """AimQL ``<``, ``<=``, ``>``, ``>=``: False where Python would raise ``TypeError``."""
    if a is UNDEFINED or b is UNDEFINED:
        return False
    try:
        return _order(op, a, b)
    except TypeError:
        return False
    except Exception as exc:
        raise RowError(str(exc)) from None


def contains(item: Any, container: Any) -> bool:
    """AimQL ``item in container``."""
    if container is UNDEFINED:
        raise RowError("'in' on an undefined value")
    t = type(container)
    if item is UNDEFINED:
        if t is str or _is_seq(t) or t is dict:
            return False
        raise RowError(f"argument of type {t.__name__} is not iterable")
    if t is str:
        if type(item) is not str:
            raise RowError("'in <string>' requires a string as left operand")
        return item in container
    if _is_seq(t):
        return any(eq(item, x) for x in container)
    if t is dict:
        try:
            return item in container
        except TypeError as exc:
            raise RowError(str(exc)) from None
    if t is bytes:
        try:
            return item in container
        except TypeError as exc:
            raise RowError(str(exc)) from None
    raise RowError(f"argument of type {t.__name__} is not iterable")


def compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return eq(a, b)
    if op == "!=":
        return not eq(a, b)
    if op in _ORDER_OPS:
        return order(op, a, b)
    if op == "in":
        return contains(a, b)
    if op == "not in":
        return not contains(a, b)
    if op == "is":
        return _identity(a, b)
    if op == "is not":
        return not _identity(a, b)
    raise RowError(f"unknown comparison {op}")


def _identity(a: Any, b: Any) -> bool:
    """``is`` is allowed only against None/True/False (the parser checks): compare those singletons."""
    return type(a) is type(b) and (a is b or (type(a) is bool and a == b))


# ---- arithmetic ------------------------------------------------------------------------------

MAX_SEQUENCE_RESULT = 1_000_000
"""Longest str/list a query may build by repetition (``"a" * n``): bounds memory per row."""

MAX_POW_BITS = 100_000
"""Largest integer a query may build with ``**``: bounds time per row."""


def _check_repeat(a: Any, b: Any) -> None:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int):
            if len(seq) * max(n, 0) > MAX_SEQUENCE_RESULT:
                raise RowError("result of repetition too large")


def _check_pow(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if b * max(a.bit_length(), 1) > MAX_POW_BITS:
            raise RowError("result of ** too large")


_BINOPS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
}


def binop(op: str, a: Any, b: Any) -> Any:
    if a is UNDEFINED or b is UNDEFINED:
        raise RowError(f"{op} on an undefined value")
    if op == "*":
        _check_repeat(a, b)
    elif op == "**":
        _check_pow(a, b)
    elif op == "%" and type(a) in (str, bytes):
        raise RowError("string formatting with % is not allowed")
    try:
        return _BINOPS[op](a, b)
    except Exception as exc:  # TypeError, ZeroDivisionError, OverflowError, ValueError ...
        raise RowError(str(exc)) from None


def unary(op: str, a: Any) -> Any:
    if op == "not":
        return not truthy(a)
    if a is UNDEFINED:
        raise RowError(f"unary {op} on an undefined value")
    try:
        return -a if op == "-" else +a
    except Exception as exc:
        raise RowError(str(exc)) from None


# ---- attribute and item access on computed values ------------------------------------------

DATETIME_ATTRS = frozenset({"year", "month", "day", "hour", "minute", "second", "microsecond"})
TIMEDELTA_ATTRS = frozenset({"days", "seconds", "microseconds"})


def get_attr(value: Any, name: str) -> Any:
    """``value.name`` for a value that is not an entity: a dict key, a date part, else undefined."""
    if value is UNDEFINED:
        return UNDEFINED
    t = type(value)
    if t is dict:
        return value.get(name, UNDEFINED)
    if t is _dt.datetime and name in DATETIME_ATTRS:
        return getattr(value, name)
    if t is _dt.date and name in DATETIME_ATTRS and name in ("year", "month", "day"):
        return getattr(value, name)
    if t is _dt.timedelta and name in TIMEDELTA_ATTRS:
        return getattr(value, name)
    return UNDEFINED


def get_item(value: Any, key: Any) -> Any:
    """``value[key]``: dict lookup (missing → undefined), or Python indexing of str/list/tuple."""
    if value is UNDEFINED:
        return UNDEFINED
    t = type(value)
    if t is dict:
        try:
            return value.get(key, UNDEFINED)
        except TypeError as exc:
            raise RowError(str(exc)) from None
    if t in (str, list, tuple, bytes):
        try:
            return value[key]
        except Exception as exc:
            raise RowError(str(exc)) from None
    raise RowError(f"{t.__name__} is not subscriptable")


# ---- functions and methods ---------------------------------------------------------------------


def _to_float(x):
    if type(x) is str and len(x) > 1000:
        raise RowError("string too long for float()")
    return float(x)


def _to_int(x, *base):
    if type(x) is str and len(x) > 1000:
        raise RowError("string too long for int()")
    return int(x, *base)


def _to_str(x):
    return str(x)


def _round(x, *nd):
    if type(x) not in (bool, int, float):
        raise RowError(f"round() of {type(x).__name__}")
    return round(x, *nd)


def _sorted(x, reverse=False):
    return sorted(x, reverse=reverse)


BUILTINS = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
    "any": any,
    "all": all,
    "sum": sum,
    "sorted": _sorted,
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": truthy,
}
"""Builtins a query may call (Aim's ``safe_builtins`` subset that makes sense for filtering)."""

BUILTIN_KWARGS = {"sorted": frozenset({"reverse"}), "min": frozenset({"default"}), "max": frozenset({"default"})}

STR_METHODS = frozenset(
    {
        "startswith",
        "endswith",
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "split",
        "rsplit",
        "replace",
        "find",
        "rfind",
        "index",
        "rindex",
        "count",
        "isdigit",
        "isalpha",
        "isalnum",
        "isnumeric",
        "isdecimal",
        "isspace",
        "islower",
        "isupper",
        "istitle",
        "title",
        "capitalize",
        "casefold",
        "swapcase",
        "removeprefix",
        "removesuffix",
        "zfill",
        "partition",
        "rpartition",
        "join",
        "splitlines",
    }
)
DICT_METHODS = frozenset({"get", "keys", "values", "items"})
LIST_METHODS = frozenset({"count", "index"})
DATETIME_METHODS = frozenset({"timestamp", "isoformat", "date", "weekday", "isoweekday", "strftime"})
TIMEDELTA_METHODS = frozenset({"total_seconds"})

METHODS = STR_METHODS | DICT_METHODS | LIST_METHODS | DATETIME_METHODS | TIMEDELTA_METHODS
"""Every method name a query may call; which ones apply depends on the value's type."""

_METHODS_BY_TYPE = {
    str: STR_METHODS,
    dict: DICT_METHODS,
    list: LIST_METHODS,
    tuple: LIST_METHODS,
    _dt.datetime: DATETIME_METHODS,
    _dt.date: frozenset({"isoformat", "weekday", "isoweekday", "strftime"}),
    _dt.timedelta: TIMEDELTA_METHODS,
}


def _fresh_dict_view(result):
    # dict views are live objects; a query only needs their contents
    if isinstance(result, (type({}.keys()), type({}.values()), type({}.items()))):
        return list(result) if not isinstance(result, type({}.items())) else [list(kv) for kv in result]
    return result


def call_method(value: Any, name: str, args: tuple, kwargs: dict | None = None) -> Any:
    """``value.name(*args)`` for whitelisted methods of str, dict, list, datetime, timedelta."""
    if value is UNDEFINED:
        raise RowError(f".{name}() on an undefined value")
    allowed = _METHODS_BY_TYPE.get(type(value))
    if allowed is None or name not in allowed:
        raise RowError(f"{type(value).__name__} has no method {name}()")
    for arg in args:
        if arg is UNDEFINED:
            raise RowError(f"undefined argument to .{name}()")
    if name == "zfill" and args and isinstance(args[0], int) and args[0] > MAX_SEQUENCE_RESULT:
        raise RowError("zfill width too large")
    if name == "join" and type(value) is str:
        items = args[0] if args else ()
        if isinstance(items, (list, tuple)) and len(value) * len(items) > MAX_SEQUENCE_RESULT:
            raise RowError("join result too large")
    try:
        return _fresh_dict_view(getattr(value, name)(*args, **(kwargs or {})))
    except Exception as exc:
        raise RowError(str(exc)) from None


def call_builtin(name: str, args: tuple, kwargs: dict | None = None) -> Any:
    if name == "bool":
        if len(args) != 1 or kwargs:
            raise RowError("bool() takes exactly one argument")
        return truthy(args[0])
    for arg in args:
        if arg is UNDEFINED:
            raise RowError(f"undefined argument to {name}()")
    try:
        return BUILTINS[name](*args, **(kwargs or {}))
    except RowError:
        raise
    except Exception as exc:
        raise RowError(str(exc)) from None


# ---- re and datetime ---------------------------------------------------------------------------

RE_FUNCTIONS = frozenset({"match", "search", "fullmatch"})
RE_FLAGS = {
    "I": re.I,
    "IGNORECASE": re.I,
    "M": re.M,
    "MULTILINE": re.M,
    "S": re.S,
    "DOTALL": re.S,
    "A": re.A,
    "ASCII": re.A,
    "X": re.X,
    "VERBOSE": re.X,
}


def regex(func: str, pattern: Any, string: Any, flags: Any = 0) -> Any:
    """``re.match/search/fullmatch(pattern, string, flags)``: the Match or None."""
    if type(pattern) is not str or type(string) is not str:
        raise RowError(f"re.{func}() needs str pattern and string")
    if type(flags) is not int:
        raise RowError(f"re.{func}() flags must be an int")
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise RowError(f"bad regular expression: {exc}") from None
    return getattr(compiled, func)(string)


DATETIME_FUNCTIONS = frozenset(
    {"now", "utcnow", "today", "fromtimestamp", "utcfromtimestamp", "fromisoformat", "strptime"}
)
DATETIME_KWARGS = frozenset({"year", "month", "day", "hour", "minute", "second", "microsecond"})
TIMEDELTA_KWARGS = frozenset({"days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks"})


def make_datetime(args: tuple, kwargs: dict) -> _dt.datetime:
    _no_undefined(args, kwargs, "datetime")
    try:
        return _dt.datetime(*args, **kwargs)
    except Exception as exc:
        raise RowError(str(exc)) from None


def make_timedelta(args: tuple, kwargs: dict) -> _dt.timedelta:
    _no_undefined(args, kwargs, "timedelta")
    try:
        return _dt.timedelta(*args, **kwargs)
    except Exception as exc:
        raise RowError(str(exc)) from None


def datetime_function(name: str, args: tuple, now: float) -> _dt.datetime:
    """``datetime.<name>(*args)``; ``now``/``utcnow``/``today`` use the query's clock ``now``."""
    _no_undefined(args, {}, f"datetime.{name}")
    try:
        if name in ("now", "today"):
            if args:
                raise RowError(f"datetime.{name}() takes no arguments")
            return _dt.datetime.fromtimestamp(now)
        if name == "utcnow":
            if args:
                raise RowError("datetime.utcnow() takes no arguments")
            return _dt.datetime.fromtimestamp(now, _dt.timezone.utc).replace(tzinfo=None)
        if name == "fromtimestamp":
            if len(args) != 1 or type(args[0]) not in (bool, int, float):
                raise RowError("datetime.fromtimestamp() takes one number")
            return _dt.datetime.fromtimestamp(args[0])
        if name == "utcfromtimestamp":
            if len(args) != 1 or type(args[0]) not in (bool, int, float):
                raise RowError("datetime.utcfromtimestamp() takes one number")
            return _dt.datetime.fromtimestamp(args[0], _dt.timezone.utc).replace(tzinfo=None)
        if name == "fromisoformat":
            return _dt.datetime.fromisoformat(*args)
        if name == "strptime":
            return _dt.datetime.strptime(*args)
    except RowError:
        raise
    except Exception as exc:
        raise RowError(str(exc)) from None
    raise RowError(f"unknown function datetime.{name}")


def _no_undefined(args, kwargs, what):
    if any(a is UNDEFINED for a in args) or any(v is UNDEFINED for v in kwargs.values()):
        raise RowError(f"undefined argument to {what}()")


# ---- run and metric properties --------------------------------------------------------------------


def created_at(creation_time: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(creation_time)


def stat_value(value: Any, dtype: str) -> Any:
    """A sequence statistic as ``Metric`` returns it: an int for int sequences, else a float."""
    if value is None:
        return None
    if dtype == "int" and isinstance(value, float) and math.isfinite(value):
        return int(value)
    return value
