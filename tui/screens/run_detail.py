"""One run: properties and tags, the params tree, and every sequence with a sparkline."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane, Tree

from aimcol.tui.downsample import sparkline
from aimcol.tui.formatting import format_duration, format_number, format_timestamp, format_value
from aimcol.tui.messages import ArchiveDone, RunDetailLoaded
from aimcol.tui.repo_source import RunDetail, context_label

STATUS_STYLE = {"active": "bold green", "crashed": "bold red", "failed": "red", "interrupted": "yellow", "finished": ""}
SPARK_WIDTH = 20


class RunDetailScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("1", "tab('overview')", "Overview"),
        Binding("2", "tab('params')", "Params"),
        Binding("3", "tab('sequences')", "Metrics"),
        Binding("p", "plot", "Plot"),
        Binding("a", "archive", "Archive", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]

    DEFAULT_CSS = """
    RunDetailScreen #detail-title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    RunDetailScreen TabPane { padding: 0; }
    RunDetailScreen #overview { padding: 0 1; }
    RunDetailScreen Tree { height: 1fr; }
    RunDetailScreen #sequences { height: 1fr; }
    """

    def __init__(self, run_hash: str) -> None:
        super().__init__()
        self.run_hash = run_hash
        self.detail: RunDetail | None = None
        self.load_pending = False

    def compose(self) -> ComposeResult:
        yield Static(f"run {self.run_hash}", id="detail-title")
        with TabbedContent(initial="overview"):
            with TabPane("Overview", id="overview"):
                yield Static("loading…", id="overview-body")
            with TabPane("Params", id="params"):
                yield Tree("params", id="params-tree")
            with TabPane("Metrics", id="sequences"):
                yield DataTable(id="sequence-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#sequence-table", DataTable)
        for label in ("metric", "context", "curve", "last", "min", "max", "points"):
            table.add_column(label, key=label)
        self.load()

    def load(self) -> None:
        self.load_pending = True
        self._load_worker(self.run_hash)

    @work(thread=True, exclusive=True, group="detail-load")
    def _load_worker(self, run_hash: str) -> None:
        try:
            detail = self.app.source.load_run_detail(run_hash)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"cannot read run {run_hash[:8]}: {exc}", severity="error")
            detail = None
        self.post_message(RunDetailLoaded(detail, run_hash))

    def on_run_detail_loaded(self, message: RunDetailLoaded) -> None:
        self.load_pending = False
        detail = message.detail
        if detail is None:
            self.query_one("#overview-body", Static).update(f"run {message.run_hash} is gone")
            return
        self.detail = detail
        title = Text(detail.name or detail.hash)
        title.append(f"  {detail.status}", style=STATUS_STYLE.get(detail.status, ""))
        if detail.archived:
            title.append("  archived", style="italic")
        self.query_one("#detail-title", Static).update(title)
        self.query_one("#overview-body", Static).update(overview_table(detail))
        self._fill_params(detail.params)
        self._fill_sequences(detail)

    def _fill_params(self, params: dict) -> None:
        tree = self.query_one("#params-tree", Tree)
        tree.clear()
        tree.root.expand()

        def add(node, value: dict) -> None:
            for key, item in value.items():
                if isinstance(item, dict) and item:
                    child = node.add(Text(str(key), style="bold"), expand=True)
                    add(child, item)
                else:
                    label = Text(f"{key}: ", style="bold")
                    label.append(format_value(item))
                    node.add_leaf(label)

        add(tree.root, params)
        if not params:
            tree.root.add_leaf("(no params)")

    def _fill_sequences(self, detail: RunDetail) -> None:
        table = self.query_one("#sequence-table", DataTable)
        table.clear()
        for seq in detail.sequences:
            table.add_row(
                seq.name,
                context_label(seq.context),
                sparkline(seq.values, SPARK_WIDTH),
                format_number(seq.last),
                format_number(seq.min),
                format_number(seq.max),
                str(seq.count),
            )

    def live_refresh(self) -> None:
        if self.detail is not None and self.detail.status == "active" and not self.load_pending:
            self.load()

    # -- actions ----------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_reload(self) -> None:
        self.load()

    def action_plot(self) -> None:
        from aimcol.tui.screens.metrics import MetricsScreen

        self.app.push_screen(MetricsScreen(query="", run_hashes=[self.run_hash]))

    def action_archive(self) -> None:
        if self.detail is not None:
            self._archive_worker(not self.detail.archived)

    @work(thread=True, group="archive")
    def _archive_worker(self, archived: bool) -> None:
        problems = self.app.source.set_archived([self.run_hash], archived)
        self.post_message(ArchiveDone(archived, 1 - len(problems), problems))

    def on_archive_done(self, message: ArchiveDone) -> None:
        for problem in message.problems:
            self.notify(problem, severity="warning", timeout=6)
        if message.count:
            self.notify("archived" if message.archived else "unarchived", timeout=3)
        self.load()


def overview_table(detail: RunDetail) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("name", detail.name or "")
    table.add_row("hash", detail.hash)
    table.add_row("experiment", detail.experiment)
    table.add_row("status", Text(detail.status, style=STATUS_STYLE.get(detail.status, "")))
    table.add_row("archived", "yes" if detail.archived else "no")
    table.add_row("created", format_timestamp(detail.creation_time, with_seconds=True))
    table.add_row("ended", format_timestamp(detail.end_time, with_seconds=True) or "—")
    table.add_row("duration", format_duration(detail.duration))
    table.add_row("tags", ", ".join(detail.tags) or "—")
    table.add_row("description", detail.description or "—")
    metrics = [s for s in detail.sequences if not s.name.startswith("__system__")]
    table.add_row("sequences", f"{len(detail.sequences)} ({len(metrics)} metrics)")
    return table
