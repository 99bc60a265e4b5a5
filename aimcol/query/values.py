"""AimQL value semantics: the *undefined* value, value kinds and every scalar operation.

This module is the single definition of what an AimQL expression means for one row.  The
reference evaluator (``reference.py``) calls these functions for every row; the vectorised
engine (``engine.py``, its ``kernels.py``) reimplements the common cases as column
operations and calls these same functions for the rows its kernels do not cover, so the two
cannot drift apart except in the kernels, which the differential test checks.

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

Cost (not in Aim, which can be made to run forever): every value a query builds is
bounded (:data:`MAX_VALUE_SIZE` per value, :data:`MAX_QUERY_BUILT` for all values of one
query), regular expressions run on RE2 (linear time), and each query has a time limit
(:func:`query_budget`).  Going past a bound refuses the whole query with
:class:`~aimcol.errors.AimQLCostError` naming the bound; it never makes a row silently fail.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import operator
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, TypeVar

from aimcol.errors import AimQLCostError
from aimcol.format.value_kinds import (
    MAP,
    OBJ,
    UNDEF,
)
from aimcol.format.value_kinds import kind_of as stored_kind_of

# ---- the undefined value ---------------------------------------------------------------------


class _Undefined:
    """The value of a param that a run does not have.  A singleton: use :data:`UNDEFINED`."""

    __slots__ = ()
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<undefined>"

    def __reduce__(self) -> tuple[type[_Undefined], tuple[()]]:
        return (_Undefined, ())


UNDEFINED = _Undefined()


class RowError(Exception):
    """Evaluating the query for one row failed: the row does not match."""


# ---- kinds -----------------------------------------------------------------------------------
# The kinds are the run index's (aimcol.format.value_kinds); the engine reads a map as an
# opaque object (OBJ) and gives its undefined value kind UNDEF.

EPOCH = _dt.datetime(1970, 1, 1)
ONE_US = _dt.timedelta(microseconds=1)


def kind_of(value: Any) -> int:
    """The kind of a value as the engine holds it: MAP is OBJ, :data:`UNDEFINED` is UNDEF."""
    k = stored_kind_of(value)
    if k == OBJ:
        return UNDEF if value is UNDEFINED else OBJ
    return OBJ if k == MAP else k


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


def _is_seq(t: type) -> bool:
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
        return bool(_ORDER_OPS[op](len(a), len(b)))
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


# ---- cost: bounded values, a time limit -------------------------------------------------------

MAX_VALUE_SIZE = 1_000_000
"""Largest value a query may build, in :func:`size_of` units (a str of this many characters)."""

MAX_QUERY_BUILT = 100_000_000
"""Most :func:`size_of` units all the values built by one query may add up to (over all rows)."""

MAX_INT_BITS = 100_000
"""Largest integer a query may build (``**``, ``*``): bounds time per row."""

QUERY_TIME_LIMIT = 30.0
"""Seconds a query may run before it is refused (:func:`query_budget`)."""


def size_of(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """How big ``value`` is: characters of a str/bytes, one per item of a container plus the
    items' own sizes (a shared item counted each time it appears, as ``str()`` would write it),
    an int's bytes; other values count 1.  Stops counting once past ``limit``."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        t = type(v)
        if t is str or t is bytes:
            total += len(v)
        elif t is list or t is tuple:
            total += len(v)
            stack.extend(v)
        elif t is dict:
            total += len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif t is int:
            total += max(1, v.bit_length() >> 3)
        else:
            total += 1
    return total


class QueryBudget:
    """What one query may still spend: a deadline and the size of the values it builds."""

    __slots__ = ("seconds", "deadline", "built")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.deadline = math.inf if seconds is None else time.monotonic() + seconds
        self.built = 0

    def check(self) -> None:
        """Refuse the query once it has run past its time limit."""
        if time.monotonic() > self.deadline:
            raise AimQLCostError(
                f"query ran longer than its time limit of {self.seconds:g} s; make it more selective",
                reason="time",
            )

    def charge(self, size: int, what: str) -> None:
        """Account for a value of ``size`` the query built; refuse it past the bounds."""
        if size > MAX_VALUE_SIZE:
            raise AimQLCostError(
                f"{what} would be larger than the {MAX_VALUE_SIZE:,} characters/items a query may build",
                reason="size",
            )
        self.built += size
        if self.built > MAX_QUERY_BUILT:
            raise AimQLCostError(
                f"query builds more than {MAX_QUERY_BUILT:,} characters/items in all; make it more selective",
                reason="size",
            )


_budget: ContextVar[QueryBudget | None] = ContextVar("aimql_budget", default=None)


def current_budget() -> QueryBudget:
    """The budget of the query being evaluated in this thread/context (outside a query: none)."""
    budget = _budget.get()
    return budget if budget is not None else QueryBudget(None)


@contextlib.contextmanager
def query_budget(seconds: float | None = QUERY_TIME_LIMIT) -> Iterator[QueryBudget]:
    """Evaluate one query within a fresh budget (``seconds=None``: no time limit)."""
    budget = QueryBudget(seconds)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def check_length(n: int, what: str) -> None:
    """Refuse a str/list of ``n`` characters/items before it is built."""
    if n > MAX_VALUE_SIZE:
        current_budget().charge(n, what)


_T = TypeVar("_T")


def built(value: _T, what: str) -> _T:
    """``value``, charged to the query's budget (refused past the bounds)."""
    v: Any = value
    t = type(v)
    if t is str or t is bytes:
        size = len(v)
    elif t is int:
        if v.bit_length() > MAX_INT_BITS:
            raise AimQLCostError(f"{what} would be an integer of more than {MAX_INT_BITS:,} bits", reason="size")
        return value
    elif t is list or t is tuple or t is dict:
        size = size_of(v)
    else:
        return value
    current_budget().charge(size, what)
    return value


def out_of_memory() -> AimQLCostError:
    """The error for a query that ran out of memory anyway (it is refused, never a traceback)."""
    return AimQLCostError("query ran out of memory; make it build smaller values", reason="memory")


# ---- arithmetic ------------------------------------------------------------------------------


def _check_repeat(a: Any, b: Any) -> None:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and n > 1:
            item_size = len(seq) if type(seq) in (str, bytes) else size_of(seq)
            check_length(item_size * n, "the result of '*' (repetition)")


def _check_pow(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if b * (a.bit_length() - 1) + 1 > MAX_INT_BITS:  # the least number of bits the result has
            raise AimQLCostError(
                f"the result of '**' would be an integer of more than {MAX_INT_BITS:,} bits", reason="size"
            )


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
        result = _BINOPS[op](a, b)
    except Exception as exc:  # TypeError, ZeroDivisionError, OverflowError, ValueError ...
        raise RowError(str(exc)) from None
    return built(result, f"the result of '{op}'")


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


# ---- displays ---------------------------------------------------------------------------------


def make_sequence(kind: str, items: tuple[Any, ...] | list[Any]) -> list[Any] | tuple[Any, ...]:
    """A ``[...]`` (kind "list") or ``(...)`` display of evaluated items."""
    value = list(items) if kind == "list" else tuple(items)
    return built(value, f"a {kind} display")


def make_dict(keys: list[Any] | tuple[Any, ...], values: list[Any] | tuple[Any, ...]) -> dict[Any, Any]:
    """A ``{...}`` display of evaluated keys and values."""
    try:
        value = dict(zip(keys, values))
    except TypeError as exc:
        raise RowError(str(exc)) from None
    return built(value, "a dict display")


# ---- functions and methods ---------------------------------------------------------------------


def _to_float(x: Any) -> float:
    if type(x) is str and len(x) > 1000:
        raise RowError("string too long for float()")
    return float(x)


def _to_int(x: Any, *base: Any) -> int:
    if type(x) is str and len(x) > 1000:
        raise RowError("string too long for int()")
    return int(x, *base)


def _to_str(x: Any) -> str:
    return str(x)


def _round(x: Any, *nd: Any) -> Any:
    if type(x) not in (bool, int, float):
        raise RowError(f"round() of {type(x).__name__}")
    if nd and type(x) in (bool, int) and type(nd[0]) is int and nd[0] < 0:
        digits = x.bit_length() * 0.302 + 2  # more decimal digits than x has
        if -nd[0] > digits:
            return 0  # |x| < 10**-ndigits / 2, and Python would compute 10**-ndigits first
    return round(x, *nd)


def _sorted(x: Any, reverse: Any = False) -> list[Any]:
    return sorted(x, reverse=reverse)


def _sum(items: Any, start: Any = 0) -> Any:
    """``sum()``; a list/tuple ``start`` concatenates in linear time (Python's ``+`` loop is quadratic)."""
    if type(start) not in (list, tuple):
        return sum(items, start)
    out = list(start)
    for item in items:
        if type(item) is not type(start):
            raise RowError(
                f'can only concatenate {type(start).__name__} (not "{type(item).__name__}") to {type(start).__name__}'
            )
        check_length(len(out) + len(item), "the result of sum()")
        out.extend(item)
    return out if type(start) is list else tuple(out)


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
    "any": any,
    "all": all,
    "sum": _sum,
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


_KEYS_VIEW: type = type({}.keys())
_VALUES_VIEW: type = type({}.values())
_ITEMS_VIEW: type = type({}.items())


def _fresh_dict_view(result: Any) -> Any:
    """Dict views are live objects; a query only needs their contents (lists, items as pairs)."""
    t = type(result)
    if t is _ITEMS_VIEW:
        return [[k, v] for k, v in result]
    if t is _KEYS_VIEW or t is _VALUES_VIEW:
        return list(result)
    return result


def call_method(value: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> Any:
    """``value.name(*args)`` for whitelisted methods of str, dict, list, datetime, timedelta."""
    if value is UNDEFINED:
        raise RowError(f".{name}() on an undefined value")
    allowed = _METHODS_BY_TYPE.get(type(value))
    if allowed is None or name not in allowed:
        raise RowError(f"{type(value).__name__} has no method {name}()")
    for arg in args:
        if arg is UNDEFINED:
            raise RowError(f"undefined argument to .{name}()")
    _check_method_result(value, name, args, kwargs or {})
    try:
        result = _fresh_dict_view(getattr(value, name)(*args, **(kwargs or {})))
    except Exception as exc:
        raise RowError(str(exc)) from None
    return built(result, f"the result of .{name}()")


def _check_method_result(value: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse, before calling it, a str method whose result would be too large."""
    if type(value) is not str:
        return
    if name == "zfill" and args and type(args[0]) is int:
        check_length(args[0], "the result of .zfill()")
    elif name == "join" and args and isinstance(args[0], (list, tuple)):
        items = args[0]
        total = len(value) * max(len(items) - 1, 0)
        total += sum(len(x) for x in items if type(x) is str)
        check_length(total, "the result of .join()")
    elif name == "replace" and len(args) >= 2 and type(args[0]) is str and type(args[1]) is str:
        old, new = args[0], args[1]
        if len(new) > len(old):
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            hits = value.count(old)
            if type(count) is int and count >= 0:
                hits = min(hits, count)
            check_length(len(value) + hits * (len(new) - len(old)), "the result of .replace()")


def call_builtin(name: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> Any:
    if name == "bool":
        if len(args) != 1 or kwargs:
            raise RowError("bool() takes exactly one argument")
        return truthy(args[0])
    for arg in args:
        if arg is UNDEFINED:
            raise RowError(f"undefined argument to {name}()")
    try:
        result = BUILTINS[name](*args, **(kwargs or {}))
    except (RowError, AimQLCostError):
        raise
    except Exception as exc:
        raise RowError(str(exc)) from None
    return built(result, f"the result of {name}()")


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


_RE2_INLINE_FLAGS = ((re.I, "i"), (re.M, "m"), (re.S, "s"))


@lru_cache(maxsize=256)
def compile_regex(pattern: str, flags: int) -> Any:
    """``pattern`` compiled by RE2, which matches in time linear in the string (no backtracking).

    Raises :class:`RowError` for a pattern Python's ``re`` rejects too (the row fails, as in
    Aim), :class:`~aimcol.errors.AimQLCostError` for one only a backtracking engine can run
    (look-around, back-references) or that RE2 finds too large.  ``re.A`` is accepted as is:
    ``\\d``, ``\\w`` and ``\\s`` are ASCII classes in RE2.
    """
    if flags & re.X:
        raise AimQLCostError("re.VERBOSE is not supported: AimQL runs regular expressions on RE2", reason="regex")
    inline = "".join(letter for flag, letter in _RE2_INLINE_FLAGS if flags & flag)
    try:
        import re2
    except ImportError:  # google-re2 is a dependency; a platform without its wheel
        raise AimQLCostError(
            "regular expressions in AimQL need the google-re2 package (pip install google-re2)", reason="regex"
        ) from None
    try:
        return re2.compile(f"(?{inline}){pattern}" if inline else pattern)
    except re2.error as exc:
        try:
            re.compile(pattern, flags)
        except (re.error, RecursionError, OverflowError) as py_exc:
            raise RowError(f"bad regular expression: {py_exc}") from None
        raise AimQLCostError(
            f"regular expression {pattern[:80]!r} is not supported by RE2, the linear-time engine AimQL "
            f"uses ({exc}): it has no look-around or back-references, and writes \\Z as \\z",
            reason="regex",
        ) from None


def regex(func: str, pattern: Any, string: Any, flags: Any = 0) -> Any:
    """``re.match/search/fullmatch(pattern, string, flags)``: the match or None (linear time, RE2)."""
    if type(pattern) is not str or type(string) is not str:
        raise RowError(f"re.{func}() needs str pattern and string")
    if type(flags) is not int:
        raise RowError(f"re.{func}() flags must be an int")
    return getattr(compile_regex(pattern, flags), func)(string)


DATETIME_FUNCTIONS = frozenset(
    {"now", "utcnow", "today", "fromtimestamp", "utcfromtimestamp", "fromisoformat", "strptime"}
)
DATETIME_KWARGS = frozenset({"year", "month", "day", "hour", "minute", "second", "microsecond"})
TIMEDELTA_KWARGS = frozenset({"days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks"})


def make_datetime(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _dt.datetime:
    _no_undefined(args, kwargs, "datetime")
    try:
        return _dt.datetime(*args, **kwargs)
    except Exception as exc:
        raise RowError(str(exc)) from None


def make_timedelta(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _dt.timedelta:
    _no_undefined(args, kwargs, "timedelta")
    try:
        return _dt.timedelta(*args, **kwargs)
    except Exception as exc:
        raise RowError(str(exc)) from None


def datetime_function(name: str, args: tuple[Any, ...], now: float) -> _dt.datetime:
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


def _no_undefined(args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
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
