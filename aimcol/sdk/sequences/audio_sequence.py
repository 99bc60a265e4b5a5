"""Aim's ``aim.sdk.sequences.audio_sequence`` path for :class:`~aimcol.sdk.object_sequences.Audios`."""

from aimcol.sdk.object_sequences import Audios

__all__ = ["Audios"]
