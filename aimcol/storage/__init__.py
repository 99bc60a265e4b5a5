"""Aim's ``aim.storage`` import paths for the public names Aim code imports from there.

Only ``aimcol.storage.context.Context`` and ``aimcol.storage.query.syntax_error_check``:
code written for Aim runs with ``aim`` replaced by ``aimcol``.  aimcol's own storage layer
(files, segments, manifests) is :mod:`aimcol.format`; Aim's RocksDB containers and tree
views have no counterpart (README, "Differences from Aim").
"""
