"""The one enumeration of value kinds, shared by the run index (its ``#k`` columns) and the
AimQL engine, and the one :func:`kind_of`.

A kind is a small int (stored as uint8 in the index), so the engine compares whole
columns of them with NumPy.  The values are part of the index file's format: never
renumber, only append.
"""

from __future__ import annotations

import datetime as _dt
from enum import IntEnum
from typing import Any


class ValueKind(IntEnum):
    """Kinds of a param, context or query value."""

    UNDEF = 0
    """A param the run does not have (kind 0 in the index: no such path)."""
    NONE = 1
    BOOL = 2
    INT = 3
    """An int that fits in int64; a bigger one is OBJ."""
    FLOAT = 4
    STR = 5
    DATETIME = 6
    """A naive datetime (never stored: params cannot hold one; the engine makes them)."""
    TIMEDELTA = 7
    """A timedelta that fits in int64 microseconds (engine only, like DATETIME)."""
    OBJ = 8
    """Anything else: bytes, lists, ints beyond int64, aware datetimes; read from msgpack."""
    MAP = 9
    """A nested map (a params subtree); read from msgpack."""


UNDEF, NONE, BOOL, INT, FLOAT, STR, DATETIME, TIMEDELTA, OBJ, MAP = (int(k) for k in ValueKind)
"""Plain-int aliases, for NumPy comparisons and hot loops."""

KIND_NAMES = ("undefined", "None", "bool", "int", "float", "str", "datetime", "timedelta", "object", "map")
"""A user-facing name per kind, indexed by kind."""

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_ONE_US = _dt.timedelta(microseconds=1)


def kind_of(value: Any) -> int:
    """The kind of a Python value (never UNDEF: the engine's undefined sentinel is its own).

    ``dict`` is MAP; an engine that treats maps as opaque objects maps MAP to OBJ itself.
    """
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
    if t is dict:
        return MAP
    if t is _dt.datetime:
        return DATETIME if value.tzinfo is None else OBJ
    if t is _dt.timedelta:
        us = value // _ONE_US
        return TIMEDELTA if INT64_MIN <= us <= INT64_MAX else OBJ
    return OBJ
