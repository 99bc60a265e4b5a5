"""The one flatten and lookup of nested param (and context) trees.

Params are nested maps with str keys; a *path* is the tuple of keys from the root to a
node (``("hparams", "lr")``), shown dotted (``hparams.lr``).  The run index, the query
results and the tables all address params this way.
"""

from __future__ import annotations

from typing import Any

Path = tuple[Any, ...]


def flatten_tree(tree: dict[Any, Any], prefix: Path = ()) -> dict[Path, Any]:
    """The leaves of a tree by path; a non-empty map is descended into, an empty one, a list
    or any other value is a leaf (``{"a": {"b": 1}, "c": {}}`` → ``{("a","b"): 1, ("c",): {}}``)."""
    out: dict[Path, Any] = {}
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            out.update(flatten_tree(value, path))
        else:
            out[path] = value
    return out


def dotted(path: Path) -> str:
    """``("hparams", "lr")`` → ``"hparams.lr"``."""
    return ".".join(str(p) for p in path)


def flatten_dotted(tree: dict[Any, Any]) -> dict[str, Any]:
    """:func:`flatten_tree` with dotted keys (``{"hparams.lr": 1}``), for tables."""
    return {dotted(path): value for path, value in flatten_tree(tree).items()}


def lookup(tree: Any, path: Path, default: Any = None) -> Any:
    """The node at ``path``, or ``default`` when a key on the way is missing or not a map."""
    for part in path:
        if isinstance(tree, dict) and part in tree:
            tree = tree[part]
        else:
            return default
    return tree


def collect_nodes(tree: dict[Any, Any], out: dict[Path, dict[int, Any]], row: int, prefix: Path = ()) -> None:
    """Every node of a tree, inner maps included, as ``out[path][row] = value`` (the run
    index gives every path of every run its columns this way)."""
    for key, value in tree.items():
        path = (*prefix, key)
        out.setdefault(path, {})[row] = value
        if type(value) is dict:
            collect_nodes(value, out, row, path)
