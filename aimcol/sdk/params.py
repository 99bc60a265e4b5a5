"""Run params: validation of values and nested get/set/delete by key path.

Params are a tree of maps with str keys whose leaves are None, bool, int, float, str,
bytes or lists of those (tuples are stored as lists, NumPy scalars as Python scalars: Aim
rejects them, we accept).  ``run["a"] = {...}`` replaces the subtree ``a``;
``run["a", "b"] = v`` sets one key, creating the maps on the way.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from aimcol.errors import UnstorableValueError

_SCALARS = (type(None), bool, int, float, str, bytes)
_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1  # what msgpack stores

MAX_PARAM_DEPTH = 128
"""Deepest nesting of params (key path plus nested maps/lists) a run stores.

Far beyond any real configuration, far below what would make the manifest's encoder
(msgpack stops at 512) or a recursive reader of the tree (``run.params``, ``runs show``,
the TUI) fail: a deeper value is refused when it is set, before anything changes.
"""


def _shown(path: tuple[str, ...]) -> str:
    text = ".".join(path)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def check_str(text: str, what: str) -> str:
    """``text`` if it can be stored (UTF-8 encodable), else :class:`UnstorableValueError`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnstorableValueError(
            f"{what} contains {text[exc.start : exc.end]!r} at position {exc.start}, which is not valid "
            "Unicode (a lone surrogate) and cannot be stored"
        ) from None
    return text


def normalise_key(key) -> tuple[str, ...]:
    """``"a"`` → ``("a",)``; ``("a", "b")`` stays; ``...`` → ``()`` (the whole tree); anything
    but str parts is a ``TypeError``,
    a part that is not valid Unicode or a path deeper than ``MAX_PARAM_DEPTH`` an
    :class:`UnstorableValueError`."""
    if key is Ellipsis:
        return ()  # run[...]: the whole tree, as in Aim
    path = key if isinstance(key, tuple) else (key,)
    if not path:
        raise KeyError("an empty key path names no param")
    if len(path) > MAX_PARAM_DEPTH:
        raise UnstorableValueError(
            f"run param key path has {len(path)} parts; aimcol stores params at most {MAX_PARAM_DEPTH} levels deep"
        )
    for part in path:
        if not isinstance(part, str):
            raise TypeError(f"run param keys must be str, got {type(part).__name__} in key {path!r}")
        check_str(part, f"run param key {_shown(path)}")
    return path


def normalise_value(value: Any, path: tuple[str, ...]) -> Any:
    """A deep copy of ``value`` in storable form; ``TypeError`` naming the key and the type,
    or :class:`UnstorableValueError` for a str that is not valid Unicode or a value nested
    so that key path plus nesting exceed ``MAX_PARAM_DEPTH`` (checked without recursing
    past that depth)."""
    if isinstance(value, int) and not isinstance(value, bool) and not _INT_MIN <= value <= _UINT_MAX:
        raise TypeError(f"run param {'.'.join(path)!r} is an int outside the 64-bit range ({value}); store it as a str")
    if isinstance(value, str):
        return check_str(value, f"run param {_shown(path)}")
    if isinstance(value, _SCALARS):
        return value
    if len(path) >= MAX_PARAM_DEPTH and isinstance(value, (dict, list, tuple, np.ndarray)):
        raise UnstorableValueError(
            f"run param {_shown(path[:3] + ('...',))} is nested deeper than {MAX_PARAM_DEPTH} levels, "
            "the most aimcol stores"
        )
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"run param {'.'.join(path)!r} has a key of type {type(k).__name__} ({k!r}); keys must be str"
                )
            out[check_str(k, f"a key in run param {_shown(path)}")] = normalise_value(v, path + (k,))
        return out
    if isinstance(value, (list, tuple)):
        return [normalise_value(v, path + (str(i),)) for i, v in enumerate(value)]
    if isinstance(value, np.ndarray) and value.ndim <= 1:
        return [normalise_value(v, path) for v in value.tolist()]
    raise TypeError(
        f"run param {'.'.join(path)!r} has a value of type {type(value).__name__}; allowed: None, bool, int, "
        "float, str, bytes, list/tuple, dict with str keys, NumPy scalars"
    )


def get_path(tree: dict, path: tuple[str, ...]) -> Any:
    node: Any = tree
    for part in path:
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"No key {path!r} is present.")
        node = node[part]
    return copy.deepcopy(node)


def set_path(tree: dict, path: tuple[str, ...], value: Any) -> None:
    """Set ``tree[path] = value``, creating maps on the way; ``path=()`` replaces the whole
    tree with ``value``, which must then be a dict."""
    if not path:
        if not isinstance(value, dict):
            raise TypeError(f"run[...] = value replaces every param and needs a dict, got {type(value).__name__}")
        tree.clear()
        tree.update(value)
        return
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def delete_path(tree: dict, path: tuple[str, ...]) -> None:
    """Remove ``tree[path]``; ``path=()`` removes every param."""
    if not path:
        tree.clear()
        return
    node: Any = tree
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"No key {path!r} is present.")
        node = node[part]
    if not isinstance(node, dict) or path[-1] not in node:
        raise KeyError(f"No key {path!r} is present.")
    del node[path[-1]]
