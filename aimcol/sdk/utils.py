"""Aim's ``aim.sdk.utils`` helpers, at Aim's import path.

``search_aim_repo``, ``clean_repo_path`` and ``generate_run_hash`` behave as Aim's do, for
``.aimcol`` folders; ``get_object_typename`` and ``check_types_compatibility`` are Aim's
names for :func:`aimcol.sdk.object_sequences.typename` and its dtype-merge rule.  (The module name is Aim's; aimcol's own code uses
:func:`aimcol.format.repo_layout.find_repo_upwards` and :func:`aimcol.sdk.run.new_run_hash`.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from aimcol.format.repo_layout import REPO_DIRNAME
from aimcol.sdk.object_sequences import merged_dtype, typename


def search_aim_repo(path: str) -> tuple[str | None, bool]:
    """``(folder holding .aimcol, True)`` for ``path`` or its nearest parent that has one,
    else ``(None, False)``.  One ``os.path.exists`` per level, as Aim."""
    path = os.path.abspath(path)
    while True:
        candidate = os.path.join(path, REPO_DIRNAME)
        if os.path.exists(candidate) and os.path.isdir(candidate):
            return path, True
        parent = os.path.dirname(path)
        if parent == path:
            return None, False
        path = parent


def clean_repo_path(path: str) -> str:
    """An absolute path without a trailing separator; ``""`` stays ``""`` (as Aim)."""
    if not isinstance(path, str):
        raise TypeError(f"repo path must be a str, got {type(path).__name__}")
    if not path:
        return ""
    return os.path.abspath(os.path.expanduser(path)).rstrip(os.sep) or os.sep


def generate_run_hash(hash_length: int = 24) -> str:
    """``hash_length`` lowercase hex characters of a fresh uuid4 (Aim's run hashes are 24)."""
    if isinstance(hash_length, bool) or not isinstance(hash_length, int) or not 1 <= hash_length <= 32:
        raise ValueError(f"hash_length must be an int in 1..32, got {hash_length!r}")
    return uuid.uuid4().hex[:hash_length]


def get_object_typename(obj: Any) -> str:
    """Aim's type name of a value: ``int`` (bools too), ``float``, ``str``, ``list(int)`` …"""
    return typename(obj)


def check_types_compatibility(
    dtype: str, base_dtype: str, update_base_dtype_fn: Callable[[str, str], None] | None = None
) -> bool:
    """Whether a value of ``dtype`` may join a sequence of ``base_dtype`` (Aim's rule: equal
    types, int with float as ``number``, an untyped ``list`` with any ``list(x)``);
    ``update_base_dtype_fn(old, new)`` is told when the sequence's dtype widens."""
    if base_dtype == "number" and dtype in ("int", "float"):
        return True
    merged = "number" if {dtype, base_dtype} == {"int", "float"} else merged_dtype(dtype, base_dtype)
    if merged is None:
        return False
    if merged != base_dtype and update_base_dtype_fn is not None:
        update_base_dtype_fn(base_dtype, merged)
    return True


__all__ = [
    "check_types_compatibility",
    "clean_repo_path",
    "generate_run_hash",
    "get_object_typename",
    "search_aim_repo",
]
