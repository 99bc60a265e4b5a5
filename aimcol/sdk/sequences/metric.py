"""Aim's ``aim.sdk.sequences.metric`` path for :class:`~aimcol.sdk.sequence.Metric`."""

from aimcol.sdk.sequence import Metric

__all__ = ["Metric"]
