"""A run's texts, distributions, images and audio (``o`` on a run's screen), keyboard-first.

Texts: one row per step and sequence; Enter shows the whole text in a pager, ``/`` filters.
Distributions: a heat map over the steps and the histogram at one step (←/→ step, ``n`` next
sequence).  Images: a list and a preview of the highlighted one, inline in a terminal that
speaks the kitty, iTerm2 or sixel protocol (``inline_images``), else in half blocks; ``v``
opens the image itself (a browser tab in ``aimcol up``, a file in a terminal).  Audio: a list
with length and size; ``e`` writes the highlighted one to ``./aimcol-export/<run>/``.
"""

from __future__ import annotations

import io
import os
import sys

from rich.text import Text as RichText
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from aimcol.tui import inline_images
from aimcol.tui.object_views import (
    RunObjects,
    audio_length,
    export_media,
    first_line,
    fit,
    halfblock_image,
    heatmap,
    histogram,
    image_file_name,
    image_mime_type,
    image_pixels,
    load_run_objects,
    search_texts,
)

EXPORT_FOLDER = "aimcol-export"


class TextPager(ModalScreen):
    """One text in full, scrollable; Escape or q closes it."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("q", "close", "Close", show=False)]
    DEFAULT_CSS = """
    TextPager { background: $background 60%; }
    TextPager #pager-title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    TextPager VerticalScroll { background: $surface; padding: 0 1; }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="pager-title", markup=False)
        with VerticalScroll(id="pager-body"):
            yield Static(self.text, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#pager-body").focus()

    def action_close(self) -> None:
        self.app.pop_screen()


class ObjectsScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("1", "tab('texts')", "Texts"),
        Binding("2", "tab('distributions')", "Distributions"),
        Binding("3", "tab('images')", "Images"),
        Binding("4", "tab('audio')", "Audio"),
        Binding("slash", "search", "Search"),
        Binding("left", "step(-1)", "Step -", show=False),
        Binding("right", "step(1)", "Step +", show=False),
        Binding("n", "next_distribution", "Next dist", show=False),
        Binding("e", "export", "Export audio", show=False),
        Binding("v", "view_image", "View image", show=False),
    ]
    DEFAULT_CSS = """
    ObjectsScreen #objects-title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    ObjectsScreen TabbedContent { height: 1fr; }
    ObjectsScreen ContentSwitcher { height: 1fr; }
    ObjectsScreen TabPane { padding: 0; height: 1fr; }
    ObjectsScreen #texts-search { display: none; }
    ObjectsScreen #texts-search.shown { display: block; }
    ObjectsScreen DataTable { height: 1fr; }
    ObjectsScreen #images-table { height: 6; }
    ObjectsScreen #dist-label, ObjectsScreen #audio-status { height: 1; padding: 0 1; }
    """

    def __init__(self, run_hash: str) -> None:
        super().__init__()
        self.run_hash = run_hash
        self.objects: RunObjects | None = None
        self.text_rows: list[int] = []
        self.dist_index = 0
        self.dist_step = 0
        self.image_row = 0
        self.inline_shown = False  # an inline image is on the terminal (written outside the compositor)

    def compose(self) -> ComposeResult:
        yield Static(f"objects of run {self.run_hash}", id="objects-title")
        with TabbedContent(initial="texts"):
            with TabPane("Texts", id="texts"):
                yield Input(placeholder="search texts (Enter keeps, Esc clears)", id="texts-search")
                yield DataTable(id="texts-table", cursor_type="row")
            with TabPane("Distributions", id="distributions"):
                yield Static("", id="dist-label", markup=False)
                yield Static("", id="dist-heatmap")
                yield Static("", id="dist-histogram")
            with TabPane("Images", id="images"):
                yield DataTable(id="images-table", cursor_type="row")
                yield Static("", id="image-preview")
            with TabPane("Audio", id="audio"):
                yield DataTable(id="audio-table", cursor_type="row")
                yield Static("", id="audio-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#texts-table", DataTable).add_columns("step", "sequence", "text")
        self.query_one("#images-table", DataTable).add_columns("step", "#", "sequence", "size", "caption")
        self.query_one("#audio-table", DataTable).add_columns("step", "sequence", "format", "length", "caption")
        self._load_worker()

    @work(thread=True, exclusive=True, group="objects-load")
    def _load_worker(self) -> None:
        try:
            objects = load_run_objects(self.app.source.repo, self.run_hash)
        except Exception as exc:
            self.app.call_from_thread(
                self.notify, f"cannot read objects of {self.run_hash[:8]}: {exc}", severity="error"
            )
            objects = RunObjects()
        self.app.call_from_thread(self._show, objects)

    def _show(self, objects: RunObjects) -> None:
        self.objects = objects
        self._fill_texts("")
        images = self.query_one("#images-table", DataTable)
        for p in objects.images:
            images.add_row(str(p.step), str(p.index), p.sequence, f"{p.obj.width}x{p.obj.height}", p.obj.caption)
        audio = self.query_one("#audio-table", DataTable)
        for p in objects.audios:
            audio.add_row(str(p.step), p.sequence, p.obj.format, audio_length(p.obj), p.obj.caption)
        self._draw_distribution()
        if objects.images:
            self._preview_image(0)
        self.query_one("#texts-table", DataTable).focus()

    # -- texts --------------------------------------------------------------------------------
    def _fill_texts(self, needle: str) -> None:
        table = self.query_one("#texts-table", DataTable)
        table.clear()
        points = self.objects.texts if self.objects else []
        self.text_rows = search_texts(points, needle)
        for i in self.text_rows:
            p = points[i]
            table.add_row(str(p.step), p.sequence, first_line(p.text, 60))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "texts-table" and self.objects and event.cursor_row < len(self.text_rows):
            p = self.objects.texts[self.text_rows[event.cursor_row]]
            self.app.push_screen(TextPager(f"{p.sequence} · step {p.step}", p.text))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "images-table":
            self._preview_image(event.cursor_row)

    def action_search(self) -> None:
        self.query_one(TabbedContent).active = "texts"
        box = self.query_one("#texts-search", Input)
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "texts-search":
            self._fill_texts(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "texts-search":
            self.query_one("#texts-table", DataTable).focus()

    # -- distributions ------------------------------------------------------------------------
    def _draw_distribution(self) -> None:
        series = self.objects.distributions if self.objects else []
        label = self.query_one("#dist-label", Static)
        if not series:
            label.update("no distributions")
            return
        s = series[self.dist_index % len(series)]
        self.dist_step = min(max(self.dist_step, 0), len(s.steps) - 1)
        i = self.dist_step
        label.update(f"{s.sequence}  step {s.steps[i]} ({i + 1}/{len(s.steps)})  ←/→ step, n next of {len(series)}")
        cols = max(self.size.width - 2, 20)
        self.query_one("#dist-heatmap", Static).update(heatmap(s, cols, 5))
        self.query_one("#dist-histogram", Static).update(histogram(s.weights[i], s.edges[i], cols, 6))

    def action_step(self, delta: int) -> None:
        if self.query_one(TabbedContent).active == "distributions":
            self.dist_step += delta
            self._draw_distribution()

    def action_next_distribution(self) -> None:
        self.dist_index += 1
        self.dist_step = 0
        self._draw_distribution()

    # -- images and audio ---------------------------------------------------------------------
    def inline_protocol(self) -> str | None:
        """The inline-image protocol to use (``inline_images.detect_protocol``), or None: only
        where the app draws on a real terminal itself (not in tests, not in ``aimcol up``)."""
        app = self.app
        if app.is_headless or app.is_web or app.is_inline or not sys.__stderr__ or not sys.__stderr__.isatty():
            return None
        return inline_images.detect_protocol(os.environ)

    def _write_terminal(self, data: str) -> None:
        """Bytes for the terminal, through the driver's queue after Textual's own output (a
        direct write could land in the middle of a frame).  Textual has no public handle for
        this; the driver is the app's ``_driver``."""
        driver = getattr(self.app, "_driver", None)
        if data and driver is not None:
            driver.write(data)
            driver.flush()

    def _clear_inline(self) -> None:
        if self.inline_shown:
            self.inline_shown = False
            self._write_terminal(inline_images.clear(self.inline_protocol()))

    def _preview_image(self, row: int) -> None:
        if not self.objects or not 0 <= row < len(self.objects.images):
            return
        self.image_row = row
        image = self.objects.images[row].obj
        preview = self.query_one("#image-preview", Static)
        self._clear_inline()
        try:
            pixels = image_pixels(image)
        except Exception as exc:  # Pillow missing, bytes damaged: say so in place of the picture
            preview.update(f"cannot show this image: {exc}")
            return
        cols, rows = fit(image.width, image.height, max(self.size.width - 2, 10), max(self.size.height - 12, 4))
        protocol = self.inline_protocol()
        cell = inline_images.cell_pixels(sys.__stderr__.fileno()) if protocol == "sixel" else None
        if protocol is None or (protocol == "sixel" and cell is None):
            preview.update(halfblock_image(pixels, cols, rows))
            return
        preview.update(RichText("\n".join([" " * cols] * rows)))  # blank cells the image is drawn over
        self.call_after_refresh(self._paint_inline, protocol, image, pixels, cols, rows, cell)

    def _paint_inline(self, protocol, image, pixels, cols: int, rows: int, cell) -> None:
        preview = self.query_one("#image-preview", Static)
        if self.query_one(TabbedContent).active != "images" or self.app.screen is not self:
            return
        region = preview.content_region
        cols, rows = min(cols, region.width), min(rows, region.height)
        if cols <= 0 or rows <= 0:
            return
        data = image.data
        if protocol == "kitty" and image.format != "png":  # kitty takes PNG (or raw pixels)
            from PIL import Image as PILImage

            buffer = io.BytesIO()
            PILImage.fromarray(pixels).save(buffer, format="PNG")
            data = buffer.getvalue()
        seq = inline_images.placement(
            protocol, x=region.x, y=region.y, cols=cols, rows=rows, data=data, pixels=pixels, cell=cell
        )
        self._write_terminal(seq)
        self.inline_shown = True

    def on_resize(self) -> None:
        if self.objects and self.objects.images:
            self._preview_image(self.image_row)

    def on_screen_suspend(self) -> None:
        self._clear_inline()

    def on_screen_resume(self) -> None:
        if self.objects and self.objects.images and self.query_one(TabbedContent).active == "images":
            self._preview_image(self.image_row)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "images":
            if self.objects and self.objects.images:
                self._preview_image(self.image_row)
        else:
            self._clear_inline()

    def action_view_image(self) -> None:
        """The highlighted image itself: in ``aimcol up`` the browser opens its PNG/JPEG bytes in
        a new tab (Textual's file delivery: a single-use ``/download/<key>`` URL of the up server,
        behind its host and token checks); in a terminal it is written to ``./aimcol-export/<run>/``."""
        if not self.objects or not self.objects.images or self.query_one(TabbedContent).active != "images":
            return
        point = self.objects.images[min(self.image_row, len(self.objects.images) - 1)]
        name = image_file_name(point)
        try:
            data = point.obj.data
            if self.app.is_web:
                self.app.deliver_binary(
                    io.BytesIO(data), save_filename=name, open_method="browser", mime_type=image_mime_type(point.obj)
                )
                self.notify(f"opening {name} in a new browser tab")
                return
            path = export_media(point, self.run_hash, os.path.abspath(EXPORT_FOLDER), name)
        except Exception as exc:
            self.notify(f"cannot deliver {name}: {exc}", severity="error")
            return
        self.notify(f"image written to {path}")

    def action_export(self) -> None:
        table = self.query_one("#audio-table", DataTable)
        if not self.objects or not self.objects.audios:
            return
        self.query_one(TabbedContent).active = "audio"
        point = self.objects.audios[min(table.cursor_row, len(self.objects.audios) - 1)]
        try:
            path = export_media(point, self.run_hash, os.path.abspath(EXPORT_FOLDER))
        except Exception as exc:
            self.query_one("#audio-status", Static).update(f"export failed: {exc}")
            return
        self.query_one("#audio-status", Static).update(f"exported to {path}")

    # -- navigation ---------------------------------------------------------------------------
    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "distributions":
            self._draw_distribution()

    def action_back(self) -> None:
        box = self.query_one("#texts-search", Input)
        if self.focused is box:
            box.value = ""
            box.remove_class("shown")
            self.query_one("#texts-table", DataTable).focus()
            return
        self._clear_inline()
        self.app.pop_screen()
