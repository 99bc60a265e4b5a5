"""One run: properties and tags, the params tree, and every sequence with a sparkline.

Its tags (``t``), description (``d``) and notes (``n``) are edited here, in dialogs: while
one is open no key of this screen acts, and the edit goes through the SDK (``Repo.get_run``),
so a run that is still training gets it too.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Log, Static, TabbedContent, TabPane, Tree

from aimcol.tui.downsample import sparkline
from aimcol.tui.formatting import format_duration, format_number, format_timestamp, format_value
from aimcol.tui.messages import ArchiveDone, RunDetailLoaded, RunEdited
from aimcol.tui.repo_source import RunDetail, context_label, parse_tags

SYSTEM_PREFIX = "__system__"
STATUS_STYLE = {"active": "bold green", "crashed": "bold red", "failed": "red", "interrupted": "yellow", "finished": ""}
SPARK_WIDTH = 20


class RunDetailScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("1", "tab('overview')", "Overview"),
        Binding("2", "tab('params')", "Params"),
        Binding("3", "tab('sequences')", "Metrics"),
        Binding("4", "tab('system')", "System"),
        Binding("5", "tab('logs')", "Logs"),
        Binding("slash", "search_logs", "Search logs", show=False),
        Binding("p", "plot", "Plot"),
        Binding("t", "edit_tags", "Tags"),
        Binding("d", "edit_description", "Description", show=False),
        Binding("n", "edit_notes", "Notes"),
        Binding("o", "objects", "Objects", show=False),
        Binding("a", "archive", "Archive", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self, run_hash: str) -> None:
        super().__init__()
        self.run_hash = run_hash
        self.detail: RunDetail | None = None
        self._logs_needle = ""
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
            with TabPane("System", id="system"):
                yield VerticalScroll(
                    Static("no system metrics (Run(system_tracking_interval=...))"), id="system-charts"
                )
            with TabPane("Logs", id="logs"):
                yield Input(placeholder="search the terminal output (/)", id="logs-search", compact=True)
                yield Log(id="logs-view", highlight=False, auto_scroll=True)
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
        self._fill_system(detail)
        self._fill_logs(detail.logs)

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

    def _fill_system(self, detail: RunDetail) -> None:
        """One titled braille chart per ``__system__*`` sequence (CPU, memory, GPU …), by sample."""
        import numpy as np

        from aimcol.tui.components.braille_plot import BraillePlot, PlotSeries, series_color

        system = [s for s in detail.sequences if s.name.startswith(SYSTEM_PREFIX)]
        box = self.query_one("#system-charts", VerticalScroll)
        charts = list(box.query(BraillePlot))
        if len(charts) != len(system):
            box.remove_children()
            charts = [BraillePlot(classes="system-chart") for _ in system]
            if charts:
                box.mount_all(charts)
            else:
                box.mount(Static("no system metrics (Run(system_tracking_interval=...))"))
        for index, (chart, seq) in enumerate(zip(charts, system)):
            label = seq.name[len(SYSTEM_PREFIX) :] + (f" {context_label(seq.context)}" if seq.context else "")
            chart.border_title = f"{label}  last {format_number(seq.last)}  max {format_number(seq.max)}"
            values = np.asarray(seq.values, dtype=np.float64)
            chart.set_curves(
                [PlotSeries(np.arange(len(values), dtype=np.float64), values, series_color(index), label)],
                x_kind="step",
            )

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

    def _fill_logs(self, lines: list[str], *, force: bool = False) -> None:
        """Show the captured lines matching the search; a live run's new lines are appended (follow)."""
        view = self.query_one("#logs-view", Log)
        needle = self.query_one("#logs-search", Input).value.casefold()
        shown = [line for line in lines if needle in line.casefold()] if needle else lines
        if force or len(shown) < view.line_count or self._logs_needle != needle:
            view.clear()
            view.write_lines(shown)
        else:
            view.write_lines(shown[view.line_count :])  # follow: only what is new
        self._logs_needle = needle

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "logs-search" and self.detail is not None:
            self._fill_logs(self.detail.logs, force=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "logs-search":
            self.query_one("#logs-view", Log).focus()

    def action_search_logs(self) -> None:
        self.query_one(TabbedContent).active = "logs"
        self.query_one("#logs-search", Input).focus()

    def live_refresh(self) -> None:
        if self.detail is not None and self.detail.status == "active" and not self.load_pending:
            self.load()

    # -- actions ----------------------------------------------------------------------------
    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#logs-view", Log).focus()
            return
        self.app.pop_screen()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_reload(self) -> None:
        self.load()

    def action_objects(self) -> None:
        from aimcol.tui.screens.objects import ObjectsScreen

        self.app.push_screen(ObjectsScreen(self.run_hash))

    def action_plot(self) -> None:
        from aimcol.tui.screens.metrics import MetricsScreen

        # one chart per metric: loss and lr each on their own y axis, not lr flat at zero under loss
        self.app.push_screen(MetricsScreen(query="", run_hashes=[self.run_hash], split=True))

    def action_archive(self) -> None:
        if self.detail is not None:
            self._archive_worker(not self.detail.archived)

    @work(thread=True, group="archive")
    def _archive_worker(self, archived: bool) -> None:
        problems = self.app.source.set_archived([self.run_hash], archived)
        self.post_message(ArchiveDone(archived, 1 - len(problems), problems))

    def action_edit_tags(self) -> None:
        from aimcol.tui.screens.pickers import TextPrompt

        if self.detail is not None:
            prompt = TextPrompt("tags", ", ".join(self.detail.tags), "comma-separated · enter saves · escape cancels")
            self.app.push_screen(prompt, lambda text: self._edit("tags", None if text is None else parse_tags(text)))

    def action_edit_description(self) -> None:
        from aimcol.tui.screens.pickers import TextPrompt

        if self.detail is not None:
            prompt = TextPrompt("description", self.detail.description or "", "enter saves · escape cancels")
            self.app.push_screen(prompt, lambda text: self._edit("description", text))

    def action_edit_notes(self) -> None:
        from aimcol.tui.screens.pickers import NotesEditor

        if self.detail is not None:
            editor = NotesEditor(f"notes on {self.detail.name or self.detail.hash}", self.detail.notes or "")
            self.app.push_screen(editor, lambda text: self._edit("notes", text))

    def _edit(self, what: str, value) -> None:
        if value is not None:  # None: the dialog was cancelled
            self._edit_worker(what, value)

    @work(thread=True, group="edit")
    def _edit_worker(self, what: str, value) -> None:
        self.post_message(RunEdited(what, self.app.source.edit_run(self.run_hash, what, value)))

    def on_run_edited(self, message: RunEdited) -> None:
        for problem in message.problems:
            self.notify(problem, severity="error", timeout=8)
        if not message.problems:
            self.notify(f"{message.what} saved", timeout=3)
        self.load()

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
    table.add_row("notes", detail.notes or "—")
    metrics = [s for s in detail.sequences if not s.name.startswith("__system__")]
    table.add_row("sequences", f"{len(detail.sequences)} ({len(metrics)} metrics)")
    return table
