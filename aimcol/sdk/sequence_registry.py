"""The sequences a writing run knows, and the lookups ``track()`` finds them by.

Three lookups, one owner:

- ``fast_lookup``: ``name -> [(context as the caller passed it, state), ...]``, scanned
  with ``==`` by the hot path (the C ``Columns.track`` reads this very dict).  A linear
  scan of a few contexts beats hashing a dict context on every call.
- the overflow table: ``(name, tuple(context.items()))`` for names with more contexts
  than the scan covers (hashable contexts only; others always take the slow path).
- the canonical table: ``(name, freeze(normalised context)) -> state``, one entry per
  sequence in the run's manifest; the two above are caches of it.

Clearing the caches (``forget_fast_paths``) sends every later ``track()`` through the slow
path, which is how a closed run or a failed background flush gets to raise.
"""

from __future__ import annotations

import copy
from typing import Any

from aimcol.sdk.tracking_values import freeze

FAST_CONTEXTS_PER_NAME = 16
"""Contexts per metric name that track() finds by a linear ``==`` scan (faster than hashing)."""


INT64_MAX = 2**63 - 1
STEPS_EXHAUSTED = -(2**63)
"""``next_step`` of a C sequence state whose largest step is ``2**63 - 1``: no auto-step left.

The C state keeps ``next_step`` in an int64, which cannot hold ``2**63``; a Python state
holds ``2**63`` itself.  Either way the next auto-step is refused, on both paths alike
(``not STEPS_EXHAUSTED < next_step <= INT64_MAX``).
"""


def set_next_step(state, next_step: int) -> None:
    """``state.next_step = next_step``, as ``STEPS_EXHAUSTED`` where a C state cannot hold it."""
    try:
        state.next_step = next_step
    except OverflowError:
        state.next_step = STEPS_EXHAUSTED


def advance(state, step: int) -> None:
    """Let ``state``'s auto-step continue after ``step`` if it is the largest so far."""
    if state.next_step != STEPS_EXHAUSTED and step >= state.next_step:
        set_next_step(state, step + 1)


class SequenceState:
    """Writer-side state of one (name, context) sequence (``_fastpath.SequenceState`` in C).

    ``is_float``: the sequence reads back as float (an int sequence is promoted by its first
    float).  ``next_step``: the auto-step of the next point.
    """

    __slots__ = ("id", "name", "context", "next_step", "is_float")

    def __init__(self, seq_id: int, name: str, context: dict, next_step: int, is_float: bool):
        self.id = seq_id
        self.name = name
        self.context = context
        self.next_step = next_step
        self.is_float = is_float


class SequenceRegistry:
    """Every sequence of one writing run, by (name, context).  ``new_state`` builds the
    state objects: :class:`SequenceState`, or the C one when the fast path is used."""

    def __init__(self, new_state=SequenceState):
        self.fast_lookup: dict[str, list[tuple[Any, Any]]] = {}
        self._overflow: dict[tuple, Any] = {}
        self._by_key: dict[tuple, Any] = {}
        self._new_state = new_state

    def cached(self, name, context):
        """The state for a (name, context) seen before with more contexts than the fast scan
        holds, or ``None``."""
        try:
            return self._overflow[(name, tuple(context.items()) if context else ())]
        except (KeyError, TypeError, AttributeError):
            return None

    def find(self, name: str, context: dict):
        """The state of the sequence ``name`` with the (normalised) ``context``, or ``None``."""
        return self._by_key.get((name, freeze(context)))

    def add(self, seq_id: int, name: str, context: dict, next_step: int, is_float: bool):
        """Record a sequence (new, or read from the manifest of a resumed run)."""
        try:
            state = self._new_state(seq_id, name, context, next_step, is_float)
        except OverflowError:  # a C state after step 2**63-1
            state = self._new_state(seq_id, name, context, STEPS_EXHAUSTED, is_float)
        self._by_key[(name, freeze(context))] = state
        return state

    def register(self, state) -> None:
        """Record a state made elsewhere (an object sequence); never put in the fast lookups."""
        self._by_key[(state.name, freeze(state.context))] = state

    def add_manifest_entry(self, entry: dict):
        """Record a sequence of a resumed run; its auto-step continues after its last step."""
        last = entry.get("last_step")
        next_step = 0 if last is None else last + 1
        return self.add(entry["id"], entry["name"], entry["context"], next_step, entry.get("dtype") == "float")

    def remember(self, name: str, given_context, state) -> None:
        """Let ``track(name, context=given_context)`` find ``state`` without the slow path."""
        candidates = self.fast_lookup.setdefault(name, [])
        if len(candidates) < FAST_CONTEXTS_PER_NAME:
            candidates.append((copy.deepcopy(given_context), state))
            return
        try:
            self._overflow[(name, tuple(given_context.items()) if given_context else ())] = state
        except TypeError:
            pass  # unhashable context values: always the slow path

    def forget_fast_paths(self) -> None:
        """Empty both caches: every later ``track()`` takes the slow path."""
        self.fast_lookup.clear()
        self._overflow.clear()
