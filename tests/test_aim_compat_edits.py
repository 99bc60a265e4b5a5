"""Editing runs this process does not write (issue 11 #4): archived, name, description,
experiment and tags set on runs from ``Repo.get_run()`` / ``iter_runs()``, also while
another process writes the run, with neither side's change lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from aimcol import Repo, Run
from aimcol.errors import MissingRunError, ReadOnlyRepoError
from aimcol.sdk import run_edits

WRITER = textwrap.dedent(
    """
    import sys, time
    from aimcol import Run
    run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False, flush_seconds=0.05)
    print(run.hash, flush=True)
    step = 0
    while True:  # until the parent says stop (a line on stdin) or kills us
        run.track(float(step), name="loss", step=step)
        step += 1
        if step == 20:
            run.add_tag("writer-tag")      # the writer's own property changes ...
            run.description = "from the writer"
            print("edited", flush=True)
        if step % 50 == 0:
            time.sleep(0.01)
        if step > 20 and step % 200 == 0:
            import select
            if select.select([sys.stdin], [], [], 0)[0]:
                cmd = sys.stdin.readline().strip()
                if cmd == "close":
                    run.add_tag("closing")
                    run.close()
                    print("closed", flush=True)
                    break
    """
)


def _start_writer(repo_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, repo_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    run_hash = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "edited"
    return proc, run_hash


def test_edits_from_another_process_reach_a_live_writer_and_survive_its_own(repo_path):
    Repo(repo_path, init=True)
    proc, run_hash = _start_writer(repo_path)
    try:
        repo = Repo(repo_path)
        run = repo.get_run(run_hash)
        assert run.active
        run.name = "renamed elsewhere"
        run.archived = True
        run.add_tag("editor-tag")
        run.experiment = "moved"
        # visible at once to any reader and to queries, while the writer keeps writing
        fresh = Repo(repo_path).get_run(run_hash)
        assert (fresh.name, fresh.archived, fresh.experiment) == ("renamed elsewhere", True, "moved")
        assert set(fresh.tags) == {"writer-tag", "editor-tag"}
        assert fresh.description == "from the writer"
        got = repo.query_runs("run.name == 'renamed elsewhere' and run.archived", report_mode=0).run_hashes
        assert got == [run_hash]
        assert fresh.active
        proc.stdin.write("close\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "closed"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    final = Repo(repo_path).get_run(run_hash)
    assert not final.active and final.end_time is not None
    assert (final.name, final.archived, final.experiment, final.description) == (
        "renamed elsewhere",
        True,
        "moved",
        "from the writer",
    )
    assert set(final.tags) == {"writer-tag", "editor-tag", "closing"}
    assert run_edits.pending_edit_names(Repo(repo_path).layout, run_hash) == []
    assert final.get_metric("loss").last_step() > 20  # points kept flowing


def test_an_edit_left_by_a_killed_writer_is_folded_by_the_next_lock_holder(repo_path):
    Repo(repo_path, init=True)
    proc, run_hash = _start_writer(repo_path)
    repo = Repo(repo_path)
    layout = repo.layout
    # stop the writer (SIGSTOP: it cannot fold), leave an edit for it, then kill it
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        assert run_edits.edit_run(layout, run_hash, [("set", "name", "late")], wait=0.3) is False
        assert len(run_edits.pending_edit_names(layout, run_hash)) == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert repo.get_run(run_hash).name != "late"  # not folded yet: nobody held the lock
    run = repo.get_run(run_hash)
    run.add_tag("after-crash")  # takes the free lock: folds the pending edit first
    crashed = Repo(repo_path).get_run(run_hash)
    assert crashed.name == "late" and crashed.tags == ["writer-tag", "after-crash"]
    assert crashed.crashed  # an edit keeps a crashed run crashed (no end time stamped)
    assert run_edits.pending_edit_names(layout, run_hash) == []


def test_edit_objects_fold_in_time_order_and_twice_changes_nothing(repo_path, make_run):
    run = make_run()
    layout = run.repo.layout
    other = Repo(repo_path).get_run(run.hash)
    other.name = "a"
    other.name = "b"
    other.add_tag("x")
    other.remove_tag("x")
    assert run.name == "b" and run.tags == []  # the writer folded them in order
    manifest = {"tags": ["x"], "name": "z"}
    ops = [["set", "name", "b"], ["add_tag", "y"], ["remove_tag", "x"]]
    run_edits.apply_ops(manifest, ops)
    run_edits.apply_ops(manifest, ops)
    assert manifest == {"tags": ["y"], "name": "b"}
    assert run_edits.pending_edit_names(layout, run.hash) == []


def test_bad_edits_are_refused_before_anything_is_written(repo_path, make_run):
    run = make_run()
    run.name = "kept"
    other = Repo(repo_path).get_run(run.hash)
    with pytest.raises(TypeError):
        other.name = 5
    with pytest.raises(TypeError):
        other.add_tag(3)
    with pytest.raises(ValueError):
        run_edits.edit_run(run.repo.layout, run.hash, [("set", "hash", "x")])
    with pytest.raises(MissingRunError):
        run_edits.edit_run(run.repo.layout, "nope", [("set", "name", "x")])
    assert Repo(repo_path).get_run(run.hash).name == "kept"
    assert run_edits.pending_edit_names(run.repo.layout, run.hash) == []


def test_iter_runs_edits_finished_runs_and_keeps_their_end_time(repo_path, make_run):
    run = make_run()
    run.track(1.0, name="x")
    run.close()
    end = run.end_time
    for r in Repo(repo_path).iter_runs():
        r.description = "described"
        r.add_tag("t")
        assert r.remove_tag("absent") is False
    again = Repo(repo_path).get_run(run.hash)
    assert (again.description, again.tags, again.end_time) == ("described", ["t"], end)


def test_a_read_only_repo_refuses_edits_and_new_runs(repo_path, make_run):
    run = make_run()
    run.close()
    ro = Repo(repo_path, read_only=True)
    with pytest.raises(ReadOnlyRepoError):
        ro.get_run(run.hash).name = "x"
    with pytest.raises(ReadOnlyRepoError):
        Run(repo=ro, system_tracking_interval=None, capture_terminal_logs=False)
    with pytest.raises(ReadOnlyRepoError):
        ro.delete_run(run.hash)
    assert isinstance(ReadOnlyRepoError("x"), PermissionError)
    assert Repo(repo_path).get_run(run.hash).name != "x"


def test_an_edit_while_the_writer_idles_is_visible_within_the_poll(repo_path, make_run):
    run = make_run()  # a writer that tracks nothing: only its flusher's poll folds
    t = time.monotonic()
    Repo(repo_path).get_run(run.hash).archived = True
    assert time.monotonic() - t < run_edits.FOLD_WAIT_S
    assert Repo(repo_path).get_run(run.hash).archived is True and run.archived is True
