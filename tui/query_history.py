"""Past AimQL queries, per kind (``runs``/``metrics``), newest last, optionally kept in a JSON file."""

from __future__ import annotations

import json
import os

MAX_ENTRIES = 200


def default_history_path() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "aimcol", "tui-history.json")


class QueryHistory:
    """In memory always; also read from and written to ``path`` when one is given (errors ignored:
    a read-only home must not stop the TUI)."""

    def __init__(self, path: str | None = None):
        self.path = path
        self._entries: dict[str, list[str]] = {}
        if path:
            try:
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
                self._entries = {
                    k: [q for q in v if isinstance(q, str)] for k, v in data.items() if isinstance(v, list)
                }
            except (OSError, ValueError, AttributeError):
                self._entries = {}

    def entries(self, kind: str) -> list[str]:
        return list(self._entries.get(kind, []))

    def add(self, kind: str, query: str) -> None:
        query = query.strip()
        if not query:
            return
        items = [q for q in self._entries.get(kind, []) if q != query]
        items.append(query)
        self._entries[kind] = items[-MAX_ENTRIES:]
        self._save()

    def _save(self) -> None:
        if not self.path:
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self._entries, f)
            os.replace(tmp, self.path)
        except OSError:
            pass
