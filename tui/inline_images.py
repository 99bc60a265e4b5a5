"""Inline images in terminals that can show them: the kitty graphics protocol, iTerm2's inline
images and sixel.  Free of Textual, so the encoders are tested alone, byte for byte.

Which protocol a terminal speaks is read from its environment (:func:`detect_protocol`): no
query is sent, because a terminal's answer would arrive as input in the middle of Textual's
key handling.  ``AIMCOL_TUI_IMAGES=kitty|iterm|sixel|halfblocks`` overrides the guess.
Inside tmux or screen no protocol is used (they drop or misplace these sequences), nor
where the app does not own a real terminal (tests, ``aimcol up``); half blocks are drawn
there (``object_views.halfblock_image``).

The screen draws the image *outside* Textual's compositor: Textual paints the preview as
blank cells, then :func:`placement` moves the cursor to that box, writes the image and puts
the cursor back, through the same driver queue as Textual's own output (so the bytes never
interleave).  A kitty image lives above the text until deleted (:func:`clear`: the screen
deletes it whenever the preview changes, moves or is hidden); iTerm2 and sixel images
become the cells' content, so Textual's next paint of those cells removes them, and the
screen paints them again after a resize or when it is shown again.
"""

from __future__ import annotations

import base64
import fcntl
import struct
import termios
from collections.abc import Mapping

import numpy as np

PROTOCOLS = ("kitty", "iterm", "sixel")
KITTY_CHUNK = 4096
"""Base64 bytes per kitty graphics escape (the protocol's limit)."""
KITTY_IMAGE_ID = 1783
"""The one image id the objects screen uses: drawing or deleting it never touches other images."""


def detect_protocol(env: Mapping[str, str]) -> str | None:
    """``kitty``, ``iterm`` or ``sixel`` where the environment names a terminal that speaks it,
    else None (draw half blocks)."""
    forced = env.get("AIMCOL_TUI_IMAGES", "").strip().lower()
    if forced in PROTOCOLS:
        return forced
    if forced:
        return None  # halfblocks, none, off … anything else: no inline images
    term, program = env.get("TERM", ""), env.get("TERM_PROGRAM", "")
    if env.get("TMUX") or env.get("STY") or term.startswith(("screen", "tmux")):
        return None
    if env.get("KITTY_WINDOW_ID") or term in ("xterm-kitty", "xterm-ghostty") or program == "ghostty":
        return "kitty"
    if program in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return "iterm"
    if term.startswith(("foot", "mlterm", "contour")) or "sixel" in term:
        return "sixel"
    return None


def cell_pixels(fd: int) -> tuple[int, int] | None:
    """The pixel width and height of one cell of the terminal on ``fd`` (TIOCGWINSZ), or None
    where the terminal does not say (sixel images are sized in pixels, so they need it)."""
    try:
        rows, cols, xpixel, ypixel = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    if not (rows and cols and xpixel and ypixel):
        return None
    return xpixel // cols, ypixel // rows


# ---- encoders --------------------------------------------------------------------------------------


def kitty_image(png: bytes, cols: int, rows: int, image_id: int = KITTY_IMAGE_ID) -> str:
    """Transmit and show a PNG scaled into ``cols``×``rows`` cells at the cursor, which stays
    put (``C=1``); ``q=2``: the terminal sends no answer."""
    data = base64.standard_b64encode(png).decode("ascii")
    chunks = [data[i : i + KITTY_CHUNK] for i in range(0, len(data), KITTY_CHUNK)] or [""]
    out = []
    for n, chunk in enumerate(chunks):
        more = int(n < len(chunks) - 1)
        if n == 0:
            head = f"a=T,f=100,i={image_id},c={cols},r={rows},C=1,q=2,m={more}"
        else:
            head = f"m={more}"
        out.append(f"\x1b_G{head};{chunk}\x1b\\")
    return "".join(out)


def kitty_delete(image_id: int = KITTY_IMAGE_ID) -> str:
    """Delete the image ``image_id`` and free its data."""
    return f"\x1b_Ga=d,d=I,i={image_id},q=2\x1b\\"


def iterm_image(data: bytes, cols: int, rows: int) -> str:
    """iTerm2's inline image (PNG, JPEG … as stored) in ``cols``×``rows`` cells, aspect kept."""
    payload = base64.standard_b64encode(data).decode("ascii")
    args = f"inline=1;size={len(data)};width={cols};height={rows};preserveAspectRatio=1"
    return f"\x1b]1337;File={args}:{payload}\x07"


def _sixel_row(bits: np.ndarray) -> str:
    """One colour's sixel characters across a band, runs of four or more as ``!n<char>``."""
    chars = (bits + 63).tolist()
    out = []
    i = 0
    while i < len(chars):
        j = i
        while j < len(chars) and chars[j] == chars[i]:
            j += 1
        run = j - i
        out.append(f"!{run}{chr(chars[i])}" if run >= 4 else chr(chars[i]) * run)
        i = j
    return "".join(out)


def sixel_image(pixels: np.ndarray) -> str:
    """An RGB image (``H×W×3`` uint8, already at its size in pixels) as a sixel sequence, with
    colours quantised to a 6×6×6 cube (register ``36r + 6g + b``, levels ``0, 20 … 100`` %)."""
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    a = a[..., :3].astype(np.int64)
    height, width = a.shape[:2]
    q = (a * 5 + 127) // 255
    index = q[..., 0] * 36 + q[..., 1] * 6 + q[..., 2]
    out = [f'\x1bPq"1;1;{width};{height}']
    for c in np.unique(index).tolist():
        out.append(f"#{c};2;{c // 36 * 20};{c // 6 % 6 * 20};{c % 6 * 20}")
    bands = []
    for top in range(0, height, 6):
        band = index[top : top + 6]
        rows = []
        for c in np.unique(band).tolist():
            bits = np.zeros(width, dtype=np.int64)
            for k in range(band.shape[0]):
                bits |= (band[k] == c).astype(np.int64) << k
            rows.append(f"#{c}{_sixel_row(bits)}")
        bands.append("$".join(rows))
    out.append("-".join(bands))
    out.append("\x1b\\")
    return "".join(out)


def resize_pixels(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resampling to ``width``×``height`` pixels."""
    a = np.asarray(pixels)
    ys = np.minimum((np.arange(height) * a.shape[0] / height).astype(np.int64), a.shape[0] - 1)
    xs = np.minimum((np.arange(width) * a.shape[1] / width).astype(np.int64), a.shape[1] - 1)
    return a[ys][:, xs]


# ---- placing an image in a box of cells ------------------------------------------------------------


def placement(
    protocol: str,
    *,
    x: int,
    y: int,
    cols: int,
    rows: int,
    data: bytes,
    pixels: np.ndarray | None = None,
    cell: tuple[int, int] | None = None,
) -> str:
    """What to write to show an image in the box of ``cols``×``rows`` cells whose top-left
    cell is ``(x, y)`` (0-based): save the cursor, move there, the image, restore the cursor.

    ``data`` is the image's encoded bytes (kitty: PNG; iTerm2: PNG, JPEG …); sixel draws
    ``pixels`` resized to the box by the cell size ``cell`` (pixels)."""
    if protocol == "kitty":
        body = kitty_delete() + kitty_image(data, cols, rows)
    elif protocol == "iterm":
        body = iterm_image(data, cols, rows)
    elif protocol == "sixel":
        if pixels is None or cell is None:
            raise ValueError("sixel needs the image's pixels and the cell size in pixels")
        body = sixel_image(resize_pixels(pixels, cols * cell[0], rows * cell[1]))
    else:
        raise ValueError(f"unknown inline image protocol {protocol!r} (one of {', '.join(PROTOCOLS)})")
    return f"\x1b7\x1b[{y + 1};{x + 1}H{body}\x1b8"


def clear(protocol: str | None) -> str:
    """What removes a shown image: kitty images stay above the text until deleted; iTerm2 and
    sixel images are cell content, replaced by Textual's next paint of those cells."""
    return kitty_delete() if protocol == "kitty" else ""
