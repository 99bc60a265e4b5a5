"""Slow-path validation for ``Run.track()`` arguments, with Aim's error messages.

The hot path in ``run.py`` accepts plain ``int``/``float`` values and ``int`` steps inline;
everything else (NumPy scalars, size-1 arrays, bools, integral float steps, bad input)
comes here once per call, so the common case pays nothing for it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from aimcol.format.contexts import freeze  # noqa: F401 (re-exported: sequences are keyed by it)


def coerce_value(value, name) -> tuple[float | int, bool]:
    """``(python number, is_float)`` for a trackable value, or Aim's error for anything else."""
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return int(value), False
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(
                f"track() value for {name!r} must be a real number or an array of size 1, "
                f"got an array of shape {value.shape}"
            )
        value = value.reshape(()).item()
        return coerce_value(value, name)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value), False
    if isinstance(value, int):
        return value, False
    if isinstance(value, float):
        return value, True
    if isinstance(value, numbers.Real):  # Fraction, Decimal-like reals, torch scalars with __float__
        return float(value), True
    if hasattr(value, "item") and callable(value.item) and getattr(value, "numel", lambda: 1)() == 1:
        return coerce_value(value.item(), name)  # framework tensors (torch, jax) of one element
    raise TypeError(f"track() value for {name!r} must be a real number, got {type(value).__name__}")


def coerce_step(step, name, what: str = "step") -> int:
    """An ``int`` step/epoch from ints, NumPy ints and integral floats; ``TypeError`` otherwise."""
    if isinstance(step, (bool, np.bool_)):
        raise TypeError(f"track() {what} for {name!r} must be an integer, got bool")
    if isinstance(step, (int, np.integer)):
        return int(step)
    if isinstance(step, (float, np.floating)) and math.isfinite(step) and float(step).is_integer():
        return int(step)
    raise TypeError(f"track() {what} for {name!r} must be an integer, got {type(step).__name__} {step!r}")
