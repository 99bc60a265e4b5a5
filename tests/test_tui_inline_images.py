"""Inline images in the TUI: the kitty, iTerm2 and sixel encoders byte for byte on tiny images,
the protocol guessed from the environment, and the objects screen writing (and deleting)
an inline image through the driver where a protocol is in use (Textual's Pilot)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

pytest.importorskip("textual")
pytest.importorskip("PIL.Image")

from tui_support import run_async, wait_for  # noqa: E402

from aimcol import Image, Repo, Run  # noqa: E402
from aimcol.tui.inline_images import (  # noqa: E402
    KITTY_CHUNK,
    clear,
    detect_protocol,
    iterm_image,
    kitty_delete,
    kitty_image,
    placement,
    resize_pixels,
    sixel_image,
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"TERM": "xterm-256color"}, None),
        ({"TERM": "xterm-kitty"}, "kitty"),
        ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, "kitty"),
        ({"TERM_PROGRAM": "ghostty"}, "kitty"),
        ({"TERM_PROGRAM": "iTerm.app"}, "iterm"),
        ({"TERM_PROGRAM": "WezTerm"}, "iterm"),
        ({"LC_TERMINAL": "iTerm2"}, "iterm"),
        ({"TERM": "foot"}, "sixel"),
        ({"TERM": "mlterm"}, "sixel"),
        ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-1000/default,1,0"}, None),
        ({"TERM": "screen-256color", "TERM_PROGRAM": "iTerm.app"}, None),
        ({"TERM": "xterm-kitty", "AIMCOL_TUI_IMAGES": "halfblocks"}, None),
        ({"AIMCOL_TUI_IMAGES": "Sixel"}, "sixel"),
        ({"TMUX": "x", "AIMCOL_TUI_IMAGES": "kitty"}, "kitty"),
    ],
)
def test_detect_protocol(env, expected):
    assert detect_protocol(env) == expected


def test_kitty_escape_of_a_tiny_png():
    assert kitty_image(b"\x89PNG", 3, 2) == "\x1b_Ga=T,f=100,i=1783,c=3,r=2,C=1,q=2,m=0;iVBORw==\x1b\\"
    assert kitty_delete() == "\x1b_Ga=d,d=I,i=1783,q=2\x1b\\"
    assert clear("kitty") == kitty_delete() and clear("iterm") == clear("sixel") == clear(None) == ""


def test_kitty_escape_is_chunked_at_4096_base64_bytes():
    data = bytes(range(256)) * 13  # 3328 bytes: 4440 base64 characters, two chunks
    b64 = base64.standard_b64encode(data).decode()
    assert kitty_image(data, 1, 1, image_id=7) == (
        f"\x1b_Ga=T,f=100,i=7,c=1,r=1,C=1,q=2,m=1;{b64[:KITTY_CHUNK]}\x1b\\\x1b_Gm=0;{b64[KITTY_CHUNK:]}\x1b\\"
    )


def test_iterm_escape_of_tiny_bytes():
    assert iterm_image(b"\xff\xd8\xff", 4, 2) == (
        "\x1b]1337;File=inline=1;size=3;width=4;height=2;preserveAspectRatio=1:/9j/\x07"
    )


def test_sixel_of_a_two_by_two_image():
    pixels = np.array([[[255, 0, 0], [255, 0, 0]], [[0, 0, 255], [0, 0, 0]]], dtype=np.uint8)
    assert sixel_image(pixels) == ('\x1bPq"1;1;2;2#0;2;0;0;0#5;2;0;0;100#180;2;100;0;0#0?A$#5A?$#180@@\x1b\\')


def test_sixel_runs_and_bands():
    white = np.full((7, 5, 3), 255, dtype=np.uint8)  # two bands: six rows, then one
    assert sixel_image(white) == '\x1bPq"1;1;5;7#215;2;100;100;100#215!5~-#215!5@\x1b\\'


def test_placement_moves_the_cursor_there_and_back():
    out = placement("kitty", x=2, y=3, cols=3, rows=2, data=b"\x89PNG")
    assert out == "\x1b7\x1b[4;3H" + kitty_delete() + kitty_image(b"\x89PNG", 3, 2) + "\x1b8"
    pixels = np.zeros((4, 4, 3), dtype=np.uint8)
    sixel = placement("sixel", x=0, y=0, cols=2, rows=1, data=b"", pixels=pixels, cell=(3, 6))
    assert sixel == "\x1b7\x1b[1;1H" + sixel_image(np.zeros((6, 6, 3), dtype=np.uint8)) + "\x1b8"
    assert resize_pixels(np.arange(4).reshape(2, 2), 4, 2).tolist() == [[0, 0, 1, 1], [2, 2, 3, 3]]
    with pytest.raises(ValueError, match="sixel needs"):
        placement("sixel", x=0, y=0, cols=1, rows=1, data=b"")
    with pytest.raises(ValueError, match="unknown inline image protocol"):
        placement("vt340", x=0, y=0, cols=1, rows=1, data=b"")


# ---- the objects screen ------------------------------------------------------------------------------


def _repo(path: str) -> tuple[str, Image]:
    run = Run(repo=path, system_tracking_interval=None, capture_terminal_logs=False)
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[..., 1] = 200
    image = Image(pixels, caption="green")
    run.track(image, name="pic", step=0)
    run.close()
    return run.hash, image


async def _objects_screen(pilot, run_hash):
    from aimcol.tui.screens.objects import ObjectsScreen

    pilot.app.push_screen(ObjectsScreen(run_hash))
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "objects", None) is not None, what="objects loaded")
    await pilot.pause(0.05)
    return pilot.app.screen


def _app(path):
    from aimcol.tui.app import AimcolApp
    from aimcol.tui.repo_source import RepoSource

    return AimcolApp(RepoSource(Repo(path)), poll_interval=0)


@run_async
async def test_tests_draw_half_blocks(repo_path, monkeypatch):
    monkeypatch.setenv("TERM", "xterm-kitty")  # even so: a headless app writes no escape sequences
    run_hash, _ = _repo(repo_path)
    app = _app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _objects_screen(pilot, run_hash)
        assert screen.inline_protocol() is None
        await pilot.press("3")
        await pilot.pause(0.05)
        from aimcol.tui.object_views import UPPER_HALF

        assert UPPER_HALF in str(screen.query_one("#image-preview").render())


@pytest.mark.parametrize("protocol", ["kitty", "iterm"])
@run_async
async def test_inline_image_written_over_blank_cells_and_deleted(repo_path, monkeypatch, protocol):
    from aimcol.tui.screens.objects import ObjectsScreen

    written: list[str] = []
    monkeypatch.setattr(ObjectsScreen, "inline_protocol", lambda self: protocol)
    monkeypatch.setattr(ObjectsScreen, "_write_terminal", lambda self, data: written.append(data) if data else None)
    run_hash, image = _repo(repo_path)
    app = _app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _objects_screen(pilot, run_hash)
        await pilot.press("3")
        await wait_for(pilot, lambda: written, what="inline image written")
        preview = screen.query_one("#image-preview")
        region = preview.content_region
        assert str(preview.render()).strip() == ""  # Textual paints blank cells under the image
        cols, rows = 40, 10  # 40x20 pixels: 40 columns of two-pixel cells
        expected = placement(protocol, x=region.x, y=region.y, cols=cols, rows=rows, data=image.data)
        assert written[-1] == expected
        assert screen.inline_shown
        written.clear()
        await pilot.press("1")  # another tab: a kitty image is deleted, cell images are painted over
        await pilot.pause(0.05)
        assert written == ([kitty_delete()] if protocol == "kitty" else [])
        assert not screen.inline_shown


@run_async
async def test_v_writes_the_image_in_a_terminal_and_delivers_it_on_the_web(repo_path, monkeypatch, tmp_path):
    """``v`` on the images tab: the stored bytes as a file here; through Textual's file delivery
    (opened in a browser tab) when the app is served by ``aimcol up``."""
    from textual.app import App

    monkeypatch.chdir(tmp_path)
    run_hash, image = _repo(repo_path)
    app = _app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _objects_screen(pilot, run_hash)
        await pilot.press("v")  # not on the images tab: nothing
        assert not (tmp_path / "aimcol-export").exists()
        await pilot.press("3", "v")
        await pilot.pause(0.05)
        assert (tmp_path / "aimcol-export" / run_hash / "pic-0.png").read_bytes() == image.data
        delivered = []

        def deliver(self, file, **kwargs):
            delivered.append((file.read(), kwargs))

        monkeypatch.setattr(App, "is_web", property(lambda self: True))
        monkeypatch.setattr(App, "deliver_binary", deliver)
        await pilot.press("v")
        await pilot.pause(0.05)
    assert delivered == [
        (image.data, {"save_filename": "pic-0.png", "open_method": "browser", "mime_type": "image/png"})
    ]
