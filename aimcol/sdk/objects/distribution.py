"""``aimcol.Distribution``: a histogram (bin counts over an even range), as Aim's
``aim.Distribution``, built with NumPy from samples or given as counts.

Stored small, in the record: the counts' bytes and dtype, the range and the bin count, so
the exact counts come back (``weights``) with the edges ``ranges`` rebuilt from the range.
Uneven bins (a TensorBoard histogram's) are kept too: given ``bin_count + 1`` edges that are
not evenly spaced, their float64 bytes are stored under ``"edges"`` and ``ranges`` returns them.
"""

from __future__ import annotations

import numpy as np

from aimcol.sdk.objects.media import MediaObject

MAX_BINS = 512


class Distribution(MediaObject):
    """``Distribution(samples, bin_count=64)`` or ``Distribution(hist=counts, bin_range=(lo, hi))``;
    ``bin_range`` may also be all ``len(counts) + 1`` edges, non-decreasing, kept exactly.

    Raises ``ValueError`` for neither or both of samples and hist, a hist without
    ``bin_range``, a bin count outside [1, 512] and non-numeric or non-finite input.
    """

    aim_typename = "aim.distribution"
    AIM_NAME = "aim.distribution"
    _meta_keys = ("bin_count", "range")

    def __init__(self, samples=None, bin_count: int = 64, *, hist=None, bin_range=None):
        super().__init__()
        if samples is not None:
            if hist is not None:
                raise ValueError("hist should not be specified if samples is specified.")
            if isinstance(bin_count, bool) or not isinstance(bin_count, (int, np.integer)):
                raise TypeError(f"bin_count must be an int, got {type(bin_count).__name__}")
            _check_bins(int(bin_count))
            values = _numeric(samples, "samples")
            if values.size and not np.isfinite(values).all():
                raise ValueError("Distribution samples must be finite (no NaN or inf)")
            counts, edges = np.histogram(values, bins=int(bin_count))
        elif hist is not None:
            if bin_range is None:
                raise ValueError("Please specify bin_range of (start, end) bins.")
            counts = _numeric(hist, "hist")
            if counts.ndim != 1:
                raise ValueError(f"hist must be 1-D, got shape {counts.shape}")
            _check_bins(len(counts))
            lo, hi = float(bin_range[0]), float(bin_range[-1])
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise ValueError(f"bin_range must be finite, got {tuple(bin_range)}")
            edges = np.linspace(lo, hi, num=len(counts) + 1)
            given = _given_edges(bin_range, len(counts))
            if given is not None and not np.array_equal(given, edges):
                self._meta["edges"] = given.tobytes()
        else:
            raise ValueError("Please specify either samples or hist.")
        counts = np.ascontiguousarray(counts)
        self._meta.update(
            data=counts.tobytes(),
            dtype=counts.dtype.str,
            range=[float(edges[0]), float(edges[-1])],
            bin_count=len(counts),
        )

    @classmethod
    def from_histogram(cls, hist, bin_range) -> Distribution:
        return cls(hist=hist, bin_range=bin_range)

    @classmethod
    def from_samples(cls, samples, bin_count: int = 64) -> Distribution:
        return cls(samples=samples, bin_count=bin_count)

    @property
    def bin_count(self) -> int:
        return self._meta["bin_count"]

    @property
    def range(self) -> list[float]:
        return list(self._meta["range"])

    @property
    def weights(self) -> np.ndarray:
        """The counts, exactly as given or computed (their dtype kept)."""
        return np.frombuffer(self._meta["data"], dtype=np.dtype(self._meta["dtype"]), count=self.bin_count)

    @property
    def ranges(self) -> np.ndarray:
        """The ``bin_count + 1`` bin edges."""
        if "edges" in self._meta:
            return np.frombuffer(self._meta["edges"], dtype=np.float64)
        lo, hi = self._meta["range"]
        return np.linspace(lo, hi, num=self.bin_count + 1)

    def to_np_histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """``(weights, edges)`` as ``np.histogram`` returns them."""
        return self.weights, self.ranges

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Distribution)
            and other._meta["range"] == self._meta["range"]
            and other._meta["dtype"] == self._meta["dtype"]
            and other._meta["data"] == self._meta["data"]
            and other._meta.get("edges") == self._meta.get("edges")
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Distribution {self.bin_count} bins over {self.range}>"


def _check_bins(n: int) -> None:
    if not 1 <= n <= MAX_BINS:
        raise ValueError(f"Supported range for `bin_count` is [1, {MAX_BINS}], got {n}.")


def _given_edges(bin_range, bins: int) -> np.ndarray | None:
    """``bin_range`` as float64 edges when it holds one per bin boundary (``bins + 1``); else None."""
    edges = np.asarray(bin_range, dtype=np.float64)
    if edges.ndim != 1 or len(edges) != bins + 1 or bins == 1:
        return None
    if not np.isfinite(edges).all() or not (np.diff(edges) >= 0).all():
        raise ValueError(f"bin_range of {bins + 1} edges must be finite and non-decreasing, got {edges.tolist()}")
    return edges


def _numeric(values, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"Distribution {what} must be numbers, got an array of dtype {array.dtype}")
    return array
