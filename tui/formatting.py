"""Short text forms of values for table cells, legends and axes (no Textual)."""

from __future__ import annotations

import datetime
import math

from aimcol.sdk.tables import format_duration  # noqa: F401  (the one text form of a duration, re-exported)


def format_number(value, digits: int = 4) -> str:
    """``0.0123``, ``1.235e-05``, ``12345``: at most ``digits`` significant digits, ints as ints."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10**9 else f"{value:.{digits - 1}e}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == int(value) and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def format_value(value) -> str:
    """Any param value as one line of text."""
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    return str(value).replace("\n", " ")


def format_timestamp(ts: float | None, with_seconds: bool = False) -> str:
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return ""
    fmt = "%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M"
    return datetime.datetime.fromtimestamp(ts).strftime(fmt)


def truncate(text: str, width: int) -> str:
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: width - 1] + "…"
