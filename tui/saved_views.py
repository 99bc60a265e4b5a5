"""Saved views of the metrics explorer: a name for a query plus its chart settings, kept in a
JSON file beside the query history (``$XDG_STATE_HOME/aimcol/tui-views.json``).  No Textual.

``aimcol tui --view NAME`` opens the explorer on a saved view; ``v`` on the metrics screen
saves the current one, ``V`` (there or on the runs screen) lists them to open or delete.  Writes go through a temporary file and ``os.replace``, so a crash
never leaves half a file; an unreadable file reads as no views.
"""

from __future__ import annotations

import json
import os

SETTING_KEYS = ("x_axis", "smoothing", "smoother", "log_y", "group_by", "aggregate", "split", "clip_outliers")
"""The chart settings a view keeps (fields of the metrics screen's ``PlotSettings``)."""


def default_views_path() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "aimcol", "tui-views.json")


class SavedViews:
    """``name -> {"query": str, "settings": {...}}``, read from and written to ``path``."""

    def __init__(self, path: str | None = None):
        self.path = path or default_views_path()

    def _read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def names(self) -> list[str]:
        return sorted(self._read())

    def get(self, name: str) -> dict | None:
        view = self._read().get(name)
        if not isinstance(view, dict):
            return None
        settings = view.get("settings") if isinstance(view.get("settings"), dict) else {}
        return {
            "query": str(view.get("query") or ""),
            "settings": {k: settings[k] for k in SETTING_KEYS if k in settings},
        }

    def save(self, name: str, query: str, settings: dict) -> None:
        """Store (or replace) the view ``name``; raises ``OSError`` when the file cannot be written."""
        views = self._read()
        views[name] = {"query": query, "settings": {k: settings[k] for k in SETTING_KEYS if k in settings}}
        self._write(views)

    def delete(self, name: str) -> bool:
        """Forget the view ``name``; False when there was none.  Raises ``OSError`` like :meth:`save`."""
        views = self._read()
        if name not in views:
            return False
        del views[name]
        self._write(views)
        return True

    def _write(self, views: dict) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(views, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
