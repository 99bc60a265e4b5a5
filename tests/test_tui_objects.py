"""The TUI's objects screen (texts, distributions, images, audio) driven by Textual's Pilot at
80x24 over a real repository; the drawing helpers tested alone."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("textual")
pytest.importorskip("PIL.Image")

from tui_support import run_async, screen_lines, wait_for  # noqa: E402

from aimcol import Audio, Distribution, Image, Repo, Run, Text  # noqa: E402
from aimcol.tui.object_views import (  # noqa: E402
    UPPER_HALF,
    DistributionSeries,
    fit,
    halfblock_image,
    heatmap,
    histogram,
    load_run_objects,
    search_texts,
)

LONG = "line one of a long generation\n" + "\n".join(f"more text line {i}" for i in range(40)) + "\nTHE END"


def _repo(path: str) -> str:
    run = Run(repo=path, system_tracking_interval=None, capture_terminal_logs=False)
    for step in range(6):
        run.track(
            Text(f"answer {step}: {'needle' if step == 4 else 'hay'}"), name="gen", step=step, context={"subset": "val"}
        )
        run.track(Distribution(np.random.default_rng(step).normal(step, 1, 500), bin_count=32), name="w", step=step)
    run.track(Text(LONG), name="story", step=0)
    red = np.zeros((20, 40, 3), np.uint8)
    red[..., 0] = 255
    run.track(Image(red, caption="red"), name="pic", step=0)
    run.track(Audio(np.zeros(16000, np.int16), rate=8000, caption="hush"), name="sound", step=3)
    run.close()
    return run.hash


def _app(path):
    from aimcol.tui.app import AimcolApp
    from aimcol.tui.repo_source import RepoSource

    return AimcolApp(RepoSource(Repo(path)), poll_interval=0)


async def _open_objects(pilot, run_hash):
    from aimcol.tui.screens.objects import ObjectsScreen

    pilot.app.push_screen(ObjectsScreen(run_hash))
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "objects", None) is not None, what="objects loaded")
    await pilot.pause(0.05)


@run_async
async def test_texts_rows_pager_and_search(repo_path):
    run_hash = _repo(repo_path)
    app = _app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_objects(pilot, run_hash)
        text = "\n".join(screen_lines(app))
        assert "answer 0: hay" in text and "story" in text and "line one of a long generation…" in text
        table = app.screen.query_one("#texts-table")
        assert table.row_count == 7
        await pilot.press("down")  # step 0: gen, then story
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TextPager", what="pager")
        await pilot.press("end")
        await pilot.pause(0.1)
        assert "THE END" in "\n".join(screen_lines(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ObjectsScreen", what="back from pager")
        await pilot.press("slash")
        await pilot.press(*"needle")
        await pilot.pause(0.1)
        assert table.row_count == 1 and "answer 4: needle" in "\n".join(screen_lines(app))
        await pilot.press("escape")  # clears the search
        await pilot.pause(0.1)
        assert table.row_count == 7 and app.screen.query_one("#texts-search").value == ""


@run_async
async def test_distributions_images_and_audio_tabs(repo_path, monkeypatch, tmp_path):
    run_hash = _repo(repo_path)
    monkeypatch.chdir(tmp_path)
    app = _app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_objects(pilot, run_hash)
        await pilot.press("2")
        await pilot.pause(0.1)
        lines = screen_lines(app)
        assert any("w  step 0 (1/6)" in line for line in lines)
        assert sum(line.count(UPPER_HALF) for line in lines) >= 5 * 70  # the heat map
        await pilot.press("right", "right")
        await pilot.pause(0.05)
        assert any("step 2 (3/6)" in line for line in screen_lines(app))
        await pilot.press("3")
        await pilot.pause(0.1)
        text = "\n".join(screen_lines(app))
        assert "40x20" in text and "red" in text and UPPER_HALF * 10 in text
        await pilot.press("4")
        await pilot.pause(0.1)
        text = "\n".join(screen_lines(app))
        assert "sound" in text and "wav" in text and "0:02.0" in text and "hush" in text
        await pilot.press("e")
        await pilot.pause(0.1)
        exported = tmp_path / "aimcol-export" / run_hash / "sound-3.wav"
        assert (
            exported.read_bytes()
            == Repo(repo_path).get_run(run_hash).get_object_sequence("sound").values_list()[0].data
        )
        assert "exported to" in "\n".join(screen_lines(app))


@run_async
async def test_objects_key_on_a_runs_screen(repo_path):
    from aimcol.tui.screens.run_detail import RunDetailScreen

    run_hash = _repo(repo_path)
    app = _app(repo_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(RunDetailScreen(run_hash))
        await pilot.pause(0.2)
        await pilot.press("o")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ObjectsScreen", what="objects screen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "RunDetailScreen", what="back")


def test_drawing_helpers():
    pixels = np.zeros((4, 2, 3), np.uint8)
    pixels[:2] = 255  # white top half, black bottom half
    art = halfblock_image(pixels, 2, 2)
    assert art.plain == f"{UPPER_HALF * 2}\n{UPPER_HALF * 2}"
    assert "rgb(255,255,255) on rgb(255,255,255)" in str(art.spans[0].style)
    assert "rgb(0,0,0) on rgb(0,0,0)" in str(art.spans[-1].style)
    assert fit(256, 256, 78, 12) == (24, 12) and fit(40, 20, 78, 12) == (40, 10)
    bars = histogram(np.array([0, 4, 8]), np.array([0.0, 1, 2, 3]), 3, 1).plain.split("\n")
    assert bars[0] == " ▄█" and bars[1].startswith("0") and bars[1].endswith("3")
    series = DistributionSeries("d", [0, 1], [np.array([1, 0]), np.array([0, 1])], [np.array([0, 1, 2])] * 2)
    heat = heatmap(series, 2, 1)
    assert heat.plain == UPPER_HALF * 2
    assert search_texts([], "x") == []


def test_load_run_objects_reads_no_blob(repo_path):
    run_hash = _repo(repo_path)
    for name in os.listdir(os.path.join(repo_path, ".aimcol", "runs", run_hash)):
        if name.startswith("blobs-"):
            os.remove(os.path.join(repo_path, ".aimcol", "runs", run_hash, name))
    objects = load_run_objects(Repo(repo_path), run_hash)
    assert [p.step for p in objects.texts][:3] == [0, 0, 1] and len(objects.distributions[0].steps) == 6
    assert objects.images[0].obj.size == (40, 20) and objects.audios[0].obj.blob_size > 16000
