"""Slow-path validation for ``Run.track()`` arguments, with Aim's error messages.

The hot path in ``run.py`` accepts plain ``int``/``float`` values and ``int`` steps inline;
everything else (NumPy scalars, size-1 arrays, bools, integral float steps, bad input)
comes here once per call, so the common case pays nothing for it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from aimcol.errors import UnstorableValueError, UntrackableValueError
from aimcol.format.contexts import freeze  # noqa: F401 (re-exported: sequences are keyed by it)
from aimcol.sdk.params import normalise_value

MAX_EXACT_INT = 2**53
"""Largest int magnitude a value keeps exactly (values are stored as float64)."""


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
        if not -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
            raise UnstorableValueError(
                f"track() value for {name!r} is an int beyond +-2**53 ({value}), which the float64 value "
                "column cannot hold exactly; track float(value) to store it rounded"
            )
        return value, False
    if isinstance(value, float):
        return value, True
    if isinstance(value, numbers.Real):  # Fraction, Decimal-like reals, torch scalars with __float__
        return float(value), True
    if hasattr(value, "item") and callable(value.item) and getattr(value, "numel", lambda: 1)() == 1:
        return coerce_value(value.item(), name)  # framework tensors (torch, jax) of one element
    if isinstance(value, (list, tuple)) or isinstance(getattr(type(value), "aim_typename", None), str):
        # an object value reaching a number sequence (object sequences never come here)
        raise ValueError(f"Cannot log value '{value}' on sequence '{name}'. Incompatible data types.")
    raise UntrackableValueError(
        f"track() value for {name!r} must be a real number, got {type(value).__name__} "
        "(lists and log records are tracked as object sequences)"
    )


def coerce_step(step, name, what: str = "step") -> int:
    """An ``int`` step/epoch from ints, NumPy ints and integral floats; ``TypeError`` otherwise.

    Steps are int64.  Epochs are within +-2**53: a reader gets a run's epochs as float64
    (NaN where a point has none), exact only up to there.  Anything outside is refused
    (:class:`UnstorableValueError`), never wrapped.
    """
    if isinstance(step, (bool, np.bool_)):
        raise TypeError(f"track() {what} for {name!r} must be an integer, got bool")
    if isinstance(step, (int, np.integer)):
        step = int(step)
    elif isinstance(step, (float, np.floating)) and math.isfinite(step) and float(step).is_integer():
        step = int(step)
    else:
        raise TypeError(f"track() {what} for {name!r} must be an integer, got {type(step).__name__} {step!r}")
    low, high = (-(2**63), 2**63 - 1) if what == "step" else (-MAX_EXACT_INT, MAX_EXACT_INT)
    if not low <= step <= high:
        shown = "[-2**63, 2**63-1]" if what == "step" else "[-2**53, 2**53]"
        raise UnstorableValueError(f"track() {what} for {name!r} is {step}, outside {shown}")
    return step


def _has_nan(value) -> bool:
    if isinstance(value, float):
        return value != value
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    return False


def normalise_context(context: dict, name) -> dict:
    """A track() context in storable form (as params), or an error naming the metric.

    NaN is refused: it equals nothing, not even itself, so a context holding it could never
    be found again and every call would start a new sequence.
    """
    context = normalise_value(context, ("context",))
    if _has_nan(context):
        raise ValueError(f"track() context for {name!r} contains NaN, which can never match a context again: {context}")
    return context
