"""``aimcol.Audio``: audio stored as its file bytes (WAV, FLAC or MP3) with format, caption
and rate, as Aim's ``aim.Audio``.  NumPy arrays become WAV (``rate`` defaults to 22,500 Hz,
Aim's default)."""

from __future__ import annotations

import io
import logging
import os

import numpy as np

from aimcol.sdk.objects import wav
from aimcol.sdk.objects.media import MediaObject

logger = logging.getLogger(__name__)


class Audio(MediaObject):
    """``Audio(data, format="", caption="", rate=None)``: ``data`` is a path, bytes, a
    ``BytesIO`` or a NumPy array (WAV only).  ``ValueError`` for a missing or unknown format
    or a path that is not a file, ``TypeError`` for other data."""

    aim_typename = "aim.audio"
    AIM_NAME = "aim.audio"
    UNKNOWN = ""
    MP3 = "mp3"
    WAV = "wav"
    FLAC = "flac"
    audio_formats = (MP3, WAV, FLAC)
    _meta_keys = ("caption", "format")

    def __init__(self, data, format: str = "", caption: str = "", rate: int | None = None):
        super().__init__()
        audio_format = (format or "").lower()
        if isinstance(data, np.ndarray):
            audio_format = self.WAV
            if not rate:
                rate = 22500
                logger.info('Parameter "rate" is not provided! Using default: %s', rate)
            data = wav.write(rate, data)
        if not audio_format:
            raise ValueError("Audio format must be provided.")
        if audio_format not in self.audio_formats:
            raise ValueError(f"Invalid audio format is provided. Must be one of {self.audio_formats}")
        if isinstance(data, (str, os.PathLike)):
            if not os.path.isfile(data):
                raise ValueError(f"Invalid audio file path: {os.fspath(data)}")
            with open(data, "rb") as f:
                data = f.read()
        elif isinstance(data, io.BytesIO):
            data = data.getvalue()
        if not isinstance(data, bytes):
            raise TypeError("Content is not a byte-stream object")
        if not isinstance(caption, str):
            raise TypeError(f"Audio caption must be a str, got {type(caption).__name__}")
        self._blob = data
        self._meta.update(caption=caption, format=audio_format, rate=int(rate) if rate else None)

    @property
    def caption(self) -> str:
        return self._meta["caption"]

    @property
    def format(self) -> str:
        return self._meta["format"]

    @property
    def rate(self) -> int | None:
        return self._meta.get("rate")

    @property
    def data(self) -> bytes:
        """The audio file's bytes (read from the repository on first use)."""
        return self._blob_bytes()

    def get(self) -> io.BytesIO:
        """The audio file as a buffer (Aim's ``Audio.get()``)."""
        return io.BytesIO(self.data)

    def to_numpy(self) -> tuple[int, np.ndarray]:
        """``(rate, samples)`` of WAV audio; ``ValueError`` for other formats."""
        if self.format != self.WAV:
            raise ValueError(f"to_numpy() reads WAV audio; this one is {self.format}")
        return wav.read(self.data)

    def duration(self) -> float | None:
        """Length in seconds where the format tells it cheaply (WAV), else None."""
        return wav.duration(self.data) if self.format == self.WAV else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Audio) and self.json() == other.json() and self.data == other.data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Audio {self.format} caption={self.caption!r}>"
