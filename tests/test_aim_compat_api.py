"""Aim's import paths and query options (issue 11 #1, issue 8's ignored arguments):
``aimcol.sdk`` exports, ``aimcol.sdk.repo.Run``, ``aimcol.sdk.types.QueryReportMode`` with a
real progress bar on a terminal, ``aimcol.storage.context``/``query``, and
``query_runs(paginated=, offset=)`` / ``dataframe(include_props=, include_params=)``."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap

import pytest

from aimcol import Repo
from aimcol.errors import AimQLSyntaxError


def test_aim_import_paths():
    import aimcol.sdk
    from aimcol.sdk import Metric, QueryReportMode, Repo, Run
    from aimcol.sdk.repo import Repo as Repo2
    from aimcol.sdk.repo import Run as Run2
    from aimcol.sdk.run import Run as Run3
    from aimcol.sdk.types import QueryReportMode as QRM
    from aimcol.storage.context import Context
    from aimcol.storage.query import syntax_error_check

    assert Run is Run2 is Run3 and Repo is Repo2 and QRM is QueryReportMode
    assert {"Run", "Repo", "Metric", "QueryReportMode"} <= set(aimcol.sdk.__all__)
    assert [m.value for m in QueryReportMode] == [0, 1, 2]
    assert Metric.sequence_name() == "metric" and Context({"a": 1}).a == 1 and callable(syntax_error_check)


def test_context_idx_is_stable_and_content_based():
    from aimcol.storage.context import Context

    a, b = Context({"subset": "train", "k": 1}), Context({"k": 1, "subset": "train"})
    assert a.idx == b.idx and isinstance(a.idx, int) and -(2**63) <= a.idx < 2**63
    assert Context({}).idx != a.idx != Context({"subset": "train", "k": 1.0}).idx
    code = "from aimcol.storage.context import Context; print(Context({'subset': 'train', 'k': 1}).idx)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == a.idx  # the same in another process (no salted hash())


def test_syntax_error_check_counts_aims_parentheses():
    from aimcol.storage.query import syntax_error_check

    with pytest.raises(SyntaxError) as info:
        syntax_error_check('run.hash == "x" && metric.name == "y"')
    assert (info.value.offset, info.value.lineno) == (19, 1)  # Aim's, counting the added "("
    assert isinstance(info.value, AimQLSyntaxError)
    assert syntax_error_check("run.hparams.lr < 0.1") is None and syntax_error_check("") is None
    assert syntax_error_check("SELECT metric IF run.x == 1") is None


@pytest.fixture
def three_runs(make_run, repo_path):
    runs = []
    for i in range(3):
        run = make_run(experiment=f"e{i}")
        run["hparams"] = {"lr": 0.1 * (i + 1)}
        run.track(float(i), name="loss", step=0)
        run.close()
        runs.append(run)
    return Repo(repo_path), runs


def test_report_modes(three_runs):
    from aimcol.sdk.types import QueryReportMode

    repo, runs = three_runs
    tuples = list(repo.query_runs("", report_mode=QueryReportMode.PROGRESS_TUPLE).iter_runs())
    assert [progress for _, progress in tuples] == [(1, 3), (2, 3), (3, 3)]
    assert [g.run.hash for g, _ in tuples] == [r.hash for r in reversed(runs)]
    assert len(list(repo.query_metrics("", report_mode=QueryReportMode.PROGRESS_TUPLE))) == 3
    assert len(list(repo.query_metrics("", report_mode=0))) == 3  # Aim accepts the int too
    with pytest.raises(ValueError):
        repo.query_metrics("", report_mode=7)
    with pytest.raises(TypeError):
        repo.query_runs("", page_size=3)  # an unknown keyword is an error, not ignored


PROGRESS_SCRIPT = textwrap.dedent(
    """
    import sys
    from aimcol import Repo
    from aimcol.sdk.types import QueryReportMode
    repo = Repo(sys.argv[1])
    mode = QueryReportMode[sys.argv[2]]
    n = sum(len(m.values_numpy()) for m in repo.query_metrics("metric.name == 'loss'", report_mode=mode))
    print("points", n, flush=True)
    """
)


def _run_in_terminal(repo_path: str, mode: str) -> str:
    """Run the script with stdout/stderr on a pseudo-terminal; return all it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRESS_SCRIPT, repo_path, mode], stdout=follower, stderr=follower, close_fds=True
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def test_progress_bar_draws_on_a_terminal_only(three_runs, repo_path):
    out = _run_in_terminal(repo_path, "PROGRESS_BAR")
    assert "points 3" in out and "3/3 runs" in out and "\r" in out and "[" in out
    assert "runs" not in _run_in_terminal(repo_path, "DISABLED")
    piped = subprocess.run(
        [sys.executable, "-c", PROGRESS_SCRIPT, repo_path, "PROGRESS_BAR"], capture_output=True, text=True, check=True
    )
    assert piped.stderr == "" and "points 3" in piped.stdout  # not a terminal: nothing drawn


def test_progress_bar_counts_runs_as_they_are_read():
    import io

    from aimcol.sdk.types import ProgressBar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = ProgressBar(4, stream=stream, hz=1e9)
    bar.update()
    assert stream.getvalue().startswith("\rquery: [") and "1/4 runs" in stream.getvalue()
    bar.update(3)
    bar.close()
    assert "4/4 runs" in stream.getvalue() and stream.getvalue().endswith("\n")


def test_query_runs_offset_and_paginated(three_runs):
    repo, runs = three_runs
    newest_first = [r.hash for r in reversed(runs)]
    assert repo.query_runs("", report_mode=0).run_hashes == newest_first
    assert repo.query_runs("", offset=newest_first[0], report_mode=0).run_hashes == newest_first[1:]
    assert repo.query_runs("", paginated=True, offset=newest_first[1], report_mode=0).run_hashes == newest_first[2:]
    assert len(repo.query_runs("", offset=newest_first[2], report_mode=0)) == 0
    with pytest.raises(ValueError):
        repo.query_runs("", offset="not-a-run-hash", report_mode=0)
    with pytest.raises(TypeError):
        repo.query_runs("", paginated="yes", report_mode=0)


def test_dataframe_include_props_and_params(three_runs):
    pytest.importorskip("pandas")
    repo, runs = three_runs
    runs_df = repo.query_runs("", report_mode=0).dataframe(include_props=False, include_params=True)
    assert "hparams.lr" in runs_df.columns and "experiment" not in runs_df.columns
    runs_df = repo.query_runs("", report_mode=0).dataframe(include_props=True, include_params=False)
    assert "experiment" in runs_df.columns and "hparams.lr" not in runs_df.columns
    metrics = repo.query_metrics("", report_mode=0)
    plain = metrics.dataframe()
    assert "run.hparams.lr" in plain.columns and not any(c.startswith("run.props.") for c in plain.columns)
    no_params = metrics.dataframe(include_params=False)
    assert "run.hparams.lr" not in no_params.columns and "run.hash" in no_params.columns
    with_props = metrics.dataframe(include_props=True)
    assert sorted(with_props["run.props.experiment"].unique()) == ["e0", "e1", "e2"]


def test_aim_sdk_utils(tmp_path, monkeypatch):
    from aimcol.sdk import utils

    Repo(str(tmp_path / "p"), init=True)
    (tmp_path / "p" / "a" / "b").mkdir(parents=True)
    assert utils.search_aim_repo(str(tmp_path / "p" / "a" / "b")) == (str(tmp_path / "p"), True)
    assert utils.search_aim_repo("/") == (None, False)
    monkeypatch.chdir(tmp_path)
    assert utils.clean_repo_path("./") == str(tmp_path) and utils.clean_repo_path("") == ""
    assert len(utils.generate_run_hash()) == 24 and len(utils.generate_run_hash(6)) == 6
    assert [utils.get_object_typename(v) for v in ("s", True, 1.5, [None], [], [1])] == [
        "str",
        "int",
        "float",
        "list(unknown)",
        "list",
        "list(int)",
    ]
    widened = []
    assert utils.check_types_compatibility("int", "float", lambda old, new: widened.append((old, new)))
    assert utils.check_types_compatibility("list(str)", "list", lambda old, new: widened.append((old, new)))
    assert utils.check_types_compatibility("list", "list(str)") and utils.check_types_compatibility("int", "number")
    assert not utils.check_types_compatibility("list(int)", "float")
    assert widened == [("float", "number"), ("list", "list(str)")]
