"""Tick positions and labels for plot axes (no Textual)."""

from __future__ import annotations

import math

import numpy as np

from aimcol.tui.formatting import format_duration


def nice_step(span: float, target_ticks: int) -> float:
    """The 1/2/5 x 10^k step whose tick count over ``span`` is closest to ``target_ticks``."""
    if not span > 0 or target_ticks < 1:
        return 1.0
    raw = span / target_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    candidates = [f * magnitude for f in (1, 2, 5, 10)]
    return min(candidates, key=lambda step: abs(span / step - target_ticks))


def nice_ticks(lo: float, hi: float, target_ticks: int) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    step = nice_step(hi - lo, target_ticks)
    first = math.ceil(lo / step) * step
    ticks = list(np.arange(first, hi + step * 1e-9, step))
    return [0.0 if abs(t) < step * 1e-9 else float(t) for t in ticks]


def log_ticks(lo: float, hi: float, target_ticks: int) -> list[float]:
    """Tick positions for a log10 axis (``lo``/``hi`` are exponents): whole decades when the
    range spans one or more, else the 1-2-5 values inside it (as exponents)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    if hi - lo >= 1.0:
        step = max(1.0, float(math.ceil(nice_step(hi - lo, target_ticks))))
        return [float(e) for e in np.arange(math.ceil(lo / step) * step, hi + 1e-9, step)]
    values = nice_ticks(10.0**lo, 10.0**hi, target_ticks)
    return [math.log10(v) for v in values if v > 0]


def format_tick(value: float, kind: str = "value", log: bool = False) -> str:
    """``kind``: ``value`` (y axis), ``step``/``epoch`` (ints, 10k/1.5M), ``time`` (seconds) or
    ``clock`` (unix seconds as local ``HH:MM:SS``).

    With ``log`` the value is a base-10 exponent: ``-3`` reads ``1e-3``, ``0.301`` reads ``2``.
    """
    if log:
        if abs(value - round(value)) < 1e-9:
            exponent = int(round(value))
            return f"{10.0**exponent:g}" if -2 <= exponent <= 3 else f"1e{exponent}"
        return format_tick(10.0**value, "value")
    if kind == "time":
        return format_duration(value)
    if kind == "clock":
        import datetime

        return datetime.datetime.fromtimestamp(value).strftime("%H:%M:%S")
    if kind in ("step", "epoch"):
        a = abs(value)
        if a >= 1e6:
            return f"{value / 1e6:g}M"
        if a >= 1e4:
            return f"{value / 1e3:g}k"
        return f"{value:g}"
    a = abs(value)
    if a != 0 and (a >= 1e5 or a < 1e-3):
        return f"{value:.1e}"
    return f"{value:.4g}"
