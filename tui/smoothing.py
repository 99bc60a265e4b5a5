"""Exponential moving average of a curve, vectorised in NumPy (no Python loop over points).

``y[t] = a * y[t-1] + (1 - a) * x[t]`` started from zero and divided by ``1 - a**(t+1)``
(TensorBoard's debiased EMA, so the curve starts at the first value rather than at 0).
Non-finite values are skipped: they stay NaN in the output and do not poison the average.

The recursion is split into blocks of ``L`` points with ``a**L <= 1e-6``: inside a block the
zero-start average is a scaled cumulative sum, and the state carried in from earlier blocks
decays by ``a**L`` per block, so two blocks back it is below 1e-12 and can be dropped.
Weights so close to 1 that ``L`` would pass 4096 use 4096-point blocks and carry the state
through a short loop over the (few) blocks.
"""

from __future__ import annotations

import math

import numpy as np

_CARRY_DECAY = 1e-6
_MAX_BLOCK = 4096


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Debiased EMA with smoothing ``weight`` in [0, 1); ``weight == 0`` returns a copy (non-finite → NaN)."""
    x = np.asarray(values, dtype=np.float64)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    finite = np.isfinite(x)
    if not finite.all():
        out = np.full_like(x, np.nan)
        out[finite] = ema(x[finite], weight)
        return out
    if weight == 0.0 or len(x) == 0:
        return x.copy()
    a = weight
    block = int(min(_MAX_BLOCK, max(1, math.floor(math.log(_CARRY_DECAY) / math.log(a)))))
    n = len(x)
    n_blocks = -(-n // block)
    padded = np.zeros(n_blocks * block)
    padded[:n] = x
    # one block per column, so the cumulative sums run down contiguous-stride rows at once
    blocks = padded.reshape(n_blocks, block).T
    i = np.arange(block, dtype=np.float64)
    up = a ** (-i)  # a**-i fits: a**block >= ~1e-6 by the choice of block
    down = (1.0 - a) * a**i
    # zero-start EMA inside each block: (1 - a) * a**i * cumsum(a**-k * x[k])
    partial = np.cumsum(blocks * up[:, None], axis=0)
    partial *= down[:, None]
    tail = partial[-1]
    decay = a**block
    carry = np.zeros(n_blocks)
    if decay <= _CARRY_DECAY:
        carry[1:] = tail[:-1]
        carry[2:] += decay * tail[:-2]
    else:  # weight so close to 1 that blocks hit _MAX_BLOCK: few blocks, a short loop
        for b in range(1, n_blocks):
            carry[b] = tail[b - 1] + decay * carry[b - 1]
    partial += (a ** (i + 1.0))[:, None] * carry[None, :]
    smoothed = partial.T.reshape(-1)[:n]
    # debias 1 - a**(t+1): only the first points differ from 1 in float64
    head = min(n, int(math.ceil(math.log(1e-17) / math.log(a))) + 1)
    smoothed[:head] /= 1.0 - a ** np.arange(1, head + 1, dtype=np.float64)
    return smoothed


def ema_reference(values, weight: float) -> np.ndarray:
    """The plain loop, for tests."""
    out = []
    state = 0.0
    count = 0
    for v in values:
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        state = weight * state + (1.0 - weight) * v
        count += 1
        out.append(state / (1.0 - weight**count))
    return np.asarray(out, dtype=np.float64)


def window_for(weight: float) -> int:
    """The centred window (odd, >= 3) that smooths about as much as an EMA of ``weight``."""
    span = 1.0 / max(1.0 - weight, 1e-6)
    return max(3, 2 * int(round(span / 2)) + 1)


def centred_moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the ``window`` points centred on each point (fewer at the ends); NaN points are
    skipped, and a point whose whole window is NaN stays NaN.  Unlike an EMA it does not lag."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0 or window <= 1:
        return values.copy()
    half = window // 2
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    index = np.arange(n)
    lo = np.clip(index - half, 0, n)
    hi = np.clip(index + half + 1, 0, n)
    total = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (sums[hi] - sums[lo]) / np.maximum(total, 1), np.nan)
