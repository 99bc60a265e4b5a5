"""Aim's ``aim.sdk.sequences.text_sequence`` path for :class:`~aimcol.sdk.object_sequences.Texts`."""

from aimcol.sdk.object_sequences import Texts

__all__ = ["Texts"]
