"""Aim's ``aim.sdk.sequences.image_sequence`` path for :class:`~aimcol.sdk.object_sequences.Images`."""

from aimcol.sdk.object_sequences import Images

__all__ = ["Images"]
