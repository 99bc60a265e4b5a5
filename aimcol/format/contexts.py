"""A sequence's context as a key: the one definition of when two contexts are the same.

A sequence is identified by its name and context (a dict of JSON-like values).  Two
contexts name the same sequence when they are equal as values, whatever the order of
their keys and whether a list arrived as a list or a tuple; :func:`freeze` gives that
identity a hashable form, so writers, readers and the query engine key sequences alike.
"""

from __future__ import annotations

from typing import Any


def freeze(value: Any) -> Any:
    """A hashable, order-independent form of a context value (dicts sorted, lists as tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("__list__",) + tuple(freeze(v) for v in value)
    return value
