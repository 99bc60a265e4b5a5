"""Aim's ``aim.sdk.sequences.figure_sequence`` path for :class:`~aimcol.sdk.object_sequences.Figures`."""

from aimcol.sdk.object_sequences import Figures

__all__ = ["Figures"]
