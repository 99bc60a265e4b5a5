"""``AimcolApp``: the Textual application behind ``aimcol tui`` and ``aimcol up``.

It owns the data source, the query history and the live-refresh timer; each screen owns
its own loading.  The timer only asks the visible screen to refresh (``live_refresh``),
and every refresh runs in a worker, so a slow disk never freezes the keyboard.
"""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from aimcol.tui.query_history import QueryHistory
from aimcol.tui.repo_source import RepoSource
from aimcol.tui.saved_views import SavedViews
from aimcol.tui.screens.help import HelpScreen
from aimcol.tui.screens.runs import RunsScreen

DEFAULT_POLL_SECONDS = 2.0


class AimcolApp(App):
    TITLE = "aimcol"
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]
    CSS_PATH = "aimcol.tcss"  # every style of the app, its widgets and screens (package data)

    def __init__(
        self,
        source: RepoSource,
        *,
        poll_interval: float = DEFAULT_POLL_SECONDS,
        history: QueryHistory | None = None,
        theme: str | None = None,
        views: SavedViews | None = None,
        open_view: dict | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.poll_interval = poll_interval
        self.history = history or QueryHistory()
        self.views = views or SavedViews()
        self.open_view = open_view  # a saved view to show over the runs screen at start
        if theme:
            self.theme = theme

    def on_mount(self) -> None:
        self.push_screen(RunsScreen())
        if self.open_view is not None:
            from aimcol.tui.screens.metrics import MetricsScreen

            view = self.open_view
            self.push_screen(MetricsScreen(query=view["query"], settings=view["settings"]))
        if self.poll_interval > 0:
            self.set_interval(self.poll_interval, self._poll)

    def _poll(self) -> None:
        refresh = getattr(self.screen, "live_refresh", None)
        if refresh is not None:
            refresh()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        title = {
            "RunsScreen": "runs",
            "MetricsScreen": "metrics",
            "RunDetailScreen": "run",
            "ParamsScreen": "params",
        }.get(type(self.screen).__name__, type(self.screen).__name__)
        self.push_screen(HelpScreen(self.screen, title))


def run_tui(
    source: RepoSource,
    *,
    poll_interval: float = DEFAULT_POLL_SECONDS,
    theme: str | None = None,
    history_path: str | None = None,
    open_view: dict | None = None,
) -> int:
    """Run the app over ``source`` until the user quits (on a saved view's explorer if given)."""
    from aimcol.tui.query_history import default_history_path

    history = QueryHistory(history_path if history_path is not None else default_history_path())
    app = AimcolApp(source, poll_interval=poll_interval, history=history, theme=theme, open_view=open_view)
    app.run()
    return app.return_code or 0
