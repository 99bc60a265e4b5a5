"""Aim's ``aim.sdk.sequences`` module paths (``image_sequence.Images``, ``metric.Metric`` …),
so Aim code importing sequence classes from there runs with ``aim`` replaced by ``aimcol``.
The classes live in ``aimcol.sdk.object_sequences`` and ``aimcol.sdk.sequence``."""
