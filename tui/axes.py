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


def format_tick(value: float, kind: str = "value", log: bool = False) -> str:
    """``kind``: ``value`` (y axis), ``step``/``epoch`` (ints, 10k/1.5M) or ``time`` (seconds)."""
    if log:
        return f"1e{value:g}" if value != int(value) else f"1e{int(value)}"
    if kind == "time":
        return format_duration(value)
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
