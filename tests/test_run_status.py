"""Honest run status (issue 11, item 8): how the writing script ended is stored in the
run's manifest (``exit_status``, ``exit_error``), in a real subprocess per case."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from aimcol import Repo

PRELUDE = """
import sys, time
from aimcol import Run
run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)
print(run.hash, flush=True)
run.track(1.0, name="loss")
"""


def _script(repo_path: str, body: str, **kwargs) -> tuple[str, subprocess.CompletedProcess]:
    code = PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code, repo_path], capture_output=True, text=True, timeout=120, **kwargs
    )
    return done.stdout.split()[0], done


def _run(repo_path: str, run_hash: str):
    return Repo(repo_path).get_run(run_hash)


def test_script_ending_normally_is_finished(repo_path):
    run_hash, done = _script(repo_path, "")
    assert done.returncode == 0, done.stderr
    run = _run(repo_path, run_hash)
    assert (run.exit_status, run.exit_error, run.end_time is not None) == ("finished", None, True)


def test_uncaught_exception_is_failed_and_names_the_error(repo_path):
    run_hash, done = _script(repo_path, "raise ValueError('lr too high')")
    assert done.returncode == 1 and "ValueError: lr too high" in done.stderr  # the traceback still prints
    run = _run(repo_path, run_hash)
    assert run.exit_status == "failed"
    assert run.exit_error == "ValueError: lr too high"
    assert run.end_time is not None and not run.active


def test_keyboard_interrupt_is_interrupted(repo_path):
    run_hash, done = _script(repo_path, "raise KeyboardInterrupt")
    assert done.returncode != 0
    assert _run(repo_path, run_hash).exit_status == "interrupted"


def test_ctrl_c_signal_during_training_is_interrupted(repo_path):
    code = PRELUDE + "\nwhile True:\n    run.track(1.0, name='loss')\n    time.sleep(0.001)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, repo_path], stdout=subprocess.PIPE, text=True)
    run_hash = proc.stdout.readline().split()[0]
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    run = _run(repo_path, run_hash)
    assert run.exit_status == "interrupted" and run.end_time is not None


def test_exception_leaving_a_with_block_is_failed_and_resume_clears_it(repo_path):
    from aimcol import Run

    with pytest.raises(RuntimeError):
        with Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
            run.track(1.0, name="loss")
            raise RuntimeError("diverged")
    assert _run(repo_path, run.hash).exit_status == "failed"
    assert _run(repo_path, run.hash).exit_error == "RuntimeError: diverged"
    resumed = Run(run.hash, repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    assert resumed.exit_status is None  # running again
    resumed.close()
    assert _run(repo_path, run.hash).exit_status == "finished"


def test_killed_writer_has_no_exit_status(repo_path):
    code = PRELUDE + "\nrun.flush()\nprint('ready', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, repo_path], stdout=subprocess.PIPE, text=True)
    run_hash = proc.stdout.readline().split()[0]
    proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    run = _run(repo_path, run_hash)
    assert run.exit_status is None and run.crashed


def test_importers_keep_the_source_runs_times_and_end(repo_path):
    """``Run._set_creation_time``/``_close_with_status``: what ``aimcol convert`` writes with."""
    from aimcol import Run

    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    with pytest.raises(ValueError, match="creation_time must be finite"):
        run._set_creation_time(float("nan"))
    with pytest.raises(ValueError, match="exit_status must be one of"):
        run._close_with_status("crashed")
    run._set_creation_time(1_500_000_000)
    run.track(1.0, name="loss")
    run._close_with_status("failed", "exit code 2", end_time=1_500_000_060.5)
    back = _run(repo_path, run.hash)
    assert (back.creation_time, back.end_time) == (1_500_000_000.0, 1_500_000_060.5)
    assert (back.exit_status, back.exit_error, back.active) == ("failed", "exit code 2", False)

    never_ended = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    never_ended.track(2.0, name="loss")
    never_ended._close_with_status(None)
    back = _run(repo_path, never_ended.hash)
    assert back.end_time is None and back.crashed and not back.active
    assert back.get_metric("loss").values.values_list() == [2.0]
    assert Repo(repo_path).query_runs("run.created_at < datetime(2018, 1, 1)").run_hashes == [run.hash]
