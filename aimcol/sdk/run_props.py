"""``run.props``: Aim's view of a run's properties as attributes.

In Aim, ``run.props`` is the run's row in its SQL side-database (name, description,
experiment, tags, archived, creation and end times).  Here every property lives in the
run's manifest, so ``RunProps`` is a thin view over the ``Run``: reading an attribute reads
the run, setting one sets it on the run (with the run's validation and its errors).
"""

from __future__ import annotations

import datetime
from typing import Any

_READ_ONLY = ("hash", "creation_time", "created_at", "end_time", "finalized_at", "active", "tags")
_WRITABLE = ("name", "description", "notes", "experiment", "archived")


class RunProps:
    """Attributes: ``hash``, ``name``, ``description``, ``notes``, ``experiment``, ``tags``,
    ``archived``, ``creation_time``, ``created_at``, ``end_time``, ``finalized_at``,
    ``active``.  ``name``/``description``/``notes``/``experiment``/``archived`` can be set."""

    __slots__ = ("_run",)

    def __init__(self, run):
        object.__setattr__(self, "_run", run)

    def __getattr__(self, key: str) -> Any:
        if key in _READ_ONLY or key in _WRITABLE:
            return getattr(self._run, key)
        raise AttributeError(f"run props have no attribute {key!r}")

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in _WRITABLE:
            raise AttributeError(f"run prop {key!r} cannot be set (settable: {', '.join(_WRITABLE)})")
        setattr(self._run, key, value)

    def add_tag(self, value: str) -> None:
        self._run.add_tag(value)

    def remove_tag(self, value: str) -> bool:
        return self._run.remove_tag(value)

    def __dir__(self) -> list[str]:
        return sorted((*_READ_ONLY, *_WRITABLE, "add_tag", "remove_tag"))

    def __repr__(self) -> str:
        return f"<RunProps of run {self._run.hash}: name={self._run.name!r}, experiment={self._run.experiment!r}>"


def local_datetime(timestamp: float | None) -> datetime.datetime | None:
    """A unix time as the naive local ``datetime`` that ``created_at``/``finalized_at`` return."""
    return None if timestamp is None else datetime.datetime.fromtimestamp(timestamp)
