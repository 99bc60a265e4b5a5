"""A run's texts, distributions, images and audio for the TUI: loaded through the public SDK
and drawn as Rich text.  Free of Textual, so it is tested alone (like ``braille.py``).

Drawing is with half blocks (``▀``: the top pixel as foreground colour, the bottom one as
background), which every true-colour terminal shows: an image at two pixels per cell row,
a distribution's heat map with steps across and bins up, its histogram at one step as bars.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.text import Text as RichText

from aimcol import Repo

UPPER_HALF = "▀"
BARS = " ▁▂▃▄▅▆▇█"


@dataclass
class TextPoint:
    sequence: str  # "name ctx=value"
    step: int
    text: str


@dataclass
class DistributionSeries:
    sequence: str
    steps: list[int]
    weights: list[np.ndarray]
    edges: list[np.ndarray]


@dataclass
class MediaPoint:
    """An image or a piece of audio: metadata now, bytes when asked (``obj.data``)."""

    sequence: str
    step: int
    index: int
    obj: Any
    name: str = ""


@dataclass
class RunObjects:
    texts: list[TextPoint] = field(default_factory=list)
    distributions: list[DistributionSeries] = field(default_factory=list)
    images: list[MediaPoint] = field(default_factory=list)
    audios: list[MediaPoint] = field(default_factory=list)


def sequence_label(name: str, context: dict) -> str:
    ctx = " ".join(f"{k}={v}" for k, v in sorted(context.items()))
    return f"{name} {ctx}" if ctx else name


def _items(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def load_run_objects(repo: Repo, run_hash: str) -> RunObjects:
    """Every text, distribution, image and audio point of a run (no blob is read)."""
    run = repo.get_run(run_hash)
    out = RunObjects()
    if run is None:
        return out
    for seq in run.object_sequences():
        label = sequence_label(seq.name, dict(seq.context))
        kind = seq.dtype.removeprefix("list(").removesuffix(")")
        steps, values = seq.indices_list(), seq.values_list()
        if kind == "aim.text":
            out.texts += [TextPoint(label, s, t.data) for s, v in zip(steps, values) for t in _items(v)]
        elif kind == "aim.distribution":
            dists = [_items(v)[0] for v in values]
            out.distributions.append(
                DistributionSeries(label, steps, [d.weights for d in dists], [d.ranges for d in dists])
            )
        elif kind in ("aim.image", "aim.audio"):
            points = [
                MediaPoint(label, s, i, o, seq.name) for s, v in zip(steps, values) for i, o in enumerate(_items(v))
            ]
            (out.images if kind == "aim.image" else out.audios).extend(points)
    out.texts.sort(key=lambda p: (p.step, p.sequence))
    return out


def search_texts(points: list[TextPoint], needle: str) -> list[int]:
    """Indexes of the points whose text (or sequence) contains ``needle``, case-insensitively."""
    if not needle:
        return list(range(len(points)))
    n = needle.casefold()
    return [i for i, p in enumerate(points) if n in p.text.casefold() or n in p.sequence.casefold()]


def first_line(text: str, width: int) -> str:
    line = text.split("\n", 1)[0]
    more = len(line) > width or "\n" in text
    return (line[: max(width - 1, 0)] + "…") if more else line


# ---- drawing -----------------------------------------------------------------------------------------


def _resample(n: int, size: int) -> np.ndarray:
    """``size`` indexes spread evenly over ``n`` (nearest neighbour)."""
    if n <= 0 or size <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.minimum((np.arange(size) * n / size).astype(np.int64), n - 1)


def fit(width: int, height: int, max_cols: int, max_rows: int) -> tuple[int, int]:
    """Columns and cell rows that show a ``width``×``height`` image within the box, aspect kept
    (a cell is about twice as tall as wide, and holds two pixel rows)."""
    if width <= 0 or height <= 0:
        return 0, 0
    scale = min(max_cols / width, 2 * max_rows / height, 1.0)
    cols = max(1, int(width * scale))
    rows = max(1, int(height * scale / 2 + 0.5))
    return cols, min(rows, max_rows)


def halfblock_image(pixels: np.ndarray, cols: int, rows: int) -> RichText:
    """An RGB(A) or greyscale array drawn in ``rows`` lines of ``cols`` half-block cells."""
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    a = a[..., :3].astype(np.uint8)
    ys, xs = _resample(a.shape[0], 2 * rows), _resample(a.shape[1], cols)
    small = a[ys][:, xs]
    out = RichText()
    for r in range(rows):
        top, bottom = small[2 * r], small[2 * r + 1]
        for (tr, tg, tb), (br, bg, bb) in zip(top.tolist(), bottom.tolist()):
            out.append(UPPER_HALF, style=f"rgb({tr},{tg},{tb}) on rgb({br},{bg},{bb})")
        if r < rows - 1:
            out.append("\n")
    return out


def image_pixels(image: Any) -> np.ndarray:
    """The decoded pixels of an ``aimcol.Image`` (Pillow needed, as for ``to_pil_image``)."""
    return np.asarray(image.to_pil_image().convert("RGB"))


def _heat(value: float) -> tuple[int, int, int]:
    """A dark-blue → yellow ramp for 0..1."""
    v = min(max(value, 0.0), 1.0)
    return int(40 + 215 * v), int(20 + 200 * v**0.7), int(90 + 60 * (1 - v))


def heatmap(series: DistributionSeries, cols: int, rows: int) -> RichText:
    """Steps across (``cols``), bins up (``2 * rows`` half cells, low values at the bottom),
    each step's counts scaled to its own maximum."""
    if not series.steps:
        return RichText("no points")
    lo = min(float(e[0]) for e in series.edges)
    hi = max(float(e[-1]) for e in series.edges)
    span = hi - lo or 1.0
    cells = 2 * rows
    grid = np.zeros((cells, cols))
    for c, i in enumerate(_resample(len(series.steps), cols)):
        w = np.asarray(series.weights[i], dtype=np.float64)
        e = series.edges[i]
        centers = (np.asarray(e[:-1]) + np.asarray(e[1:])) / 2
        ys = np.clip(((centers - lo) / span * cells).astype(np.int64), 0, cells - 1)
        col = np.zeros(cells)
        np.add.at(col, ys, w)
        peak = col.max()
        grid[:, c] = col / peak if peak > 0 else 0
    grid = grid[::-1]  # high values on top
    out = RichText()
    for r in range(rows):
        for c in range(cols):
            (tr, tg, tb), (br, bg, bb) = _heat(grid[2 * r, c]), _heat(grid[2 * r + 1, c])
            out.append(UPPER_HALF, style=f"rgb({tr},{tg},{tb}) on rgb({br},{bg},{bb})")
        if r < rows - 1:
            out.append("\n")
    return out


def histogram(weights: np.ndarray, edges: np.ndarray, cols: int, rows: int) -> RichText:
    """Vertical bars of the counts over ``cols`` columns, ``rows`` high (eighth blocks)."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) == 0:
        return RichText("empty")
    if len(w) >= cols:  # several bins per column: their sum
        heights = np.zeros(cols)
        np.add.at(heights, np.arange(len(w)) * cols // len(w), w)
    else:  # a bin spans several columns
        heights = w[_resample(len(w), cols)]
    peak = heights.max()
    levels = np.zeros(cols, dtype=np.int64) if peak <= 0 else np.rint(heights / peak * rows * 8).astype(np.int64)
    lines = []
    for r in range(rows - 1, -1, -1):
        lines.append("".join(BARS[int(min(max(level - r * 8, 0), 8))] for level in levels))
    axis = f"{float(edges[0]):.4g}".ljust(cols // 2) + f"{float(edges[-1]):.4g}".rjust(cols - cols // 2)
    return RichText("\n".join(lines + [axis]), style="cyan")


# ---- audio ------------------------------------------------------------------------------------------


def audio_length(audio: Any) -> str:
    """``m:ss.s`` for WAV (read from its header), else the size in kB."""
    seconds = audio.duration()
    if seconds is not None:
        return f"{int(seconds // 60)}:{seconds % 60:04.1f}"
    return f"{(audio.blob_size or 0) / 1024:.1f} kB"


def media_file_name(point: MediaPoint, default_format: str = "bin") -> str:
    """``<name>-<step>[-<index>].<format>`` (the name made safe for a file system)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", point.name) or "object"
    suffix = f"-{point.index}" if point.index else ""
    fmt = re.sub(r"[^A-Za-z0-9]+", "", str(point.obj.format or "")) or default_format
    return f"{safe}-{point.step}{suffix}.{fmt}"


def image_file_name(point: MediaPoint) -> str:
    return media_file_name(point, "png")


def image_mime_type(image: Any) -> str:
    """The MIME type of an image's stored bytes (``image/png``, ``image/jpeg`` …)."""
    fmt = str(image.format or "png").lower()
    return "image/jpeg" if fmt in ("jpg", "jpeg") else f"image/{re.sub(r'[^a-z0-9.+-]+', '', fmt) or 'png'}"


def export_media(point: MediaPoint, run_hash: str, folder: str, name: str | None = None) -> str:
    """Write an image's or a piece of audio's bytes to ``folder/<run>/<name>-<step>[-<index>].<format>``; the path."""
    target = os.path.join(folder, run_hash, name or media_file_name(point))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as f:
        f.write(point.obj.data)
    return target
