"""Aim's ``aim.sdk.sequences.distribution_sequence`` path for :class:`~aimcol.sdk.object_sequences.Distributions`."""

from aimcol.sdk.object_sequences import Distributions

__all__ = ["Distributions"]
