"""Pilot tests: edit a run's tags, description and notes from its run page (``t``, ``d``, ``n``),
on a closed run and on one a live process is still writing; the edits land in the run's
manifest (``Run.notes``, ``runs_table()``'s ``notes`` column) and nothing typed in a dialog
acts as a command."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("textual")

from tui_support import make_app, run_async, screen_lines, settle, wait_for, write_run  # noqa: E402

from aimcol import Repo  # noqa: E402
from aimcol.tui.repo_source import parse_tags  # noqa: E402
from aimcol.tui.screens.pickers import NotesEditor, TextPrompt  # noqa: E402
from aimcol.tui.screens.run_detail import RunDetailScreen  # noqa: E402


def _closed_run(path: str) -> str:
    Repo(path, init=True)
    run = write_run(path, "alpha", "exp-a", 0.01, 32, "adam", ["baseline", "sweep"], 0.3, steps=20)
    run.close()
    return run.hash


async def _open_run_page(pilot, run_hash: str) -> RunDetailScreen:
    await settle(pilot)
    pilot.app.push_screen(RunDetailScreen(run_hash))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RunDetailScreen) and screen.detail is not None
    return screen


async def _saved(pilot, screen: RunDetailScreen, what: str, expected) -> None:
    await wait_for(pilot, lambda: getattr(screen.detail, what) == expected and not screen.load_pending, what=what)


def _stored(path: str, run_hash: str):
    return Repo(path).get_run(run_hash)


def test_parse_tags_drops_blanks_and_repeats():
    assert parse_tags(" a, b ,a,, c ") == ["a", "b", "c"]
    assert parse_tags("") == []


@run_async
async def test_edit_tags_description_and_notes_of_a_closed_run(tmp_path):
    path = str(tmp_path)
    run_hash = _closed_run(path)
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open_run_page(pilot, run_hash)

        await pilot.press("t")
        assert isinstance(app.screen, TextPrompt)
        assert app.screen.query_one("Input").value == "baseline, sweep"
        app.screen.query_one("Input").value = "sweep"  # drop one tag …
        await pilot.press("end", *", reviewed", "enter")  # … and add one
        await _saved(pilot, screen, "tags", ["sweep", "reviewed"])
        assert _stored(path, run_hash).tags == ["sweep", "reviewed"]

        await pilot.press("d", *"lr sweep, best of three", "enter")
        await _saved(pilot, screen, "description", "lr sweep, best of three")

        await pilot.press("n")
        assert isinstance(app.screen, NotesEditor)
        # letters that are commands on the run page (p plots, a archives, q quits) are text here
        await pilot.press(*"diverged at epoch 3", "enter", *"p a q", "ctrl+s")
        await _saved(pilot, screen, "notes", "diverged at epoch 3\np a q")
        assert isinstance(app.screen, RunDetailScreen)
        await pilot.pause(0.05)
        assert any("notes" in line and "diverged at epoch 3" in line for line in screen_lines(app))

        await pilot.press("n", *" more", "escape")  # escape cancels: nothing written
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)

    run = _stored(path, run_hash)
    assert (run.tags, run.description, run.notes) == (
        ["sweep", "reviewed"],
        "lr sweep, best of three",
        "diverged at epoch 3\np a q",
    )
    assert not run.archived and run.end_time is not None  # the letters typed in the dialog did nothing
    table = Repo(path).runs_table("")
    assert table.column("notes").to_pylist() == ["diverged at epoch 3\np a q"]
    assert table.column("tags").to_pylist() == [["sweep", "reviewed"]]


@run_async
async def test_clearing_the_notes_removes_them(tmp_path):
    path = str(tmp_path)
    run_hash = _closed_run(path)
    run = Repo(path).get_run(run_hash)
    run.notes = "temporary"
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_run_page(pilot, run_hash)
        assert screen.detail.notes == "temporary"
        await pilot.press("n")
        app.screen.query_one("TextArea").clear()
        await pilot.press("ctrl+s")
        await _saved(pilot, screen, "notes", None)
    assert _stored(path, run_hash).notes is None


@run_async
async def test_edit_notes_and_tags_of_a_run_that_is_still_training(tmp_path):
    """The writer process folds the TUI's edit; its own later flushes and close keep it."""
    path = str(tmp_path)
    Repo(path, init=True)
    code = textwrap.dedent(f"""
        import sys
        from aimcol import Run
        run = Run(repo={path!r}, system_tracking_interval=None, capture_terminal_logs=False)
        run.add_tag("live")
        run.track(1.0, name="loss")
        run.flush()
        print(run.hash, flush=True)
        sys.stdin.readline()
        run.track(0.5, name="loss")
        run.close()
        print("closed", flush=True)
    """)
    writer = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=path
    )
    try:
        run_hash = writer.stdout.readline().strip()
        app = make_app(path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _open_run_page(pilot, run_hash)
            assert screen.detail.status == "active"
            await pilot.press("n", *"watch the lr", "ctrl+s")
            await _saved(pilot, screen, "notes", "watch the lr")
            await pilot.press("t", "end", *", keep", "enter")
            await _saved(pilot, screen, "tags", ["live", "keep"])
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "closed"
    finally:
        writer.kill() if writer.poll() is None else None
        writer.wait(timeout=30)
    run = _stored(path, run_hash)
    assert run.end_time is not None and run.notes == "watch the lr" and run.tags == ["live", "keep"]


@run_async
async def test_the_runs_screen_can_show_the_notes_column(tmp_path):
    path = str(tmp_path)
    run_hash = _closed_run(path)
    Repo(path).get_run(run_hash).notes = "lr too high\nretry with 3e-4"
    app = make_app(path)
    async with app.run_test(size=(160, 24)) as pilot:
        await settle(pilot)
        assert not any("lr too high" in line for line in screen_lines(app))
        await pilot.press("c")
        options = app.screen.query_one("SelectionList")
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        await pilot.press(*["down"] * labels.index("notes"), "space", "enter")
        await settle(pilot)
        assert any("lr too high retry with 3e-4" in line for line in screen_lines(app))
