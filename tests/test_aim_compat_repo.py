"""Aim's repository API (issue 11 #7): run_exists, list_all_runs, list_active_runs,
copy_runs / move_runs between repositories (live runs refused), prune, delete_experiment,
close, exists, read_only and default_repo_path."""

from __future__ import annotations

import os

import numpy as np
import pytest

from aimcol import Repo, Run
from aimcol.errors import ReadOnlyRepoError
from aimcol.sdk import repo_transfer


def _finished_run(repo_path, experiment="exp", n=500):
    run = Run(repo=repo_path, experiment=experiment, system_tracking_interval=None, capture_terminal_logs=False)
    run["hparams"] = {"lr": 0.01, "layers": [1, 2]}
    run.add_tag("t")
    run.track_array(np.arange(n, dtype=np.float64), name="loss", context={"subset": "train"})
    run.track(3, name="acc", step=7)
    run.close()
    return run.hash


def test_listing_and_existence(repo_path, make_run):
    done = _finished_run(repo_path)
    live = make_run()
    repo = Repo(repo_path)
    assert repo.run_exists(done) and repo.run_exists(live.hash) and not repo.run_exists("nope")
    assert sorted(repo.list_all_runs()) == sorted([done, live.hash])
    assert repo.list_active_runs() == [live.hash]
    live.close()
    assert repo.list_active_runs() == []
    assert Repo.exists(repo_path) and Repo.exists(os.path.join(repo_path, ".aimcol"))
    assert not Repo.exists(os.path.join(repo_path, "elsewhere"))
    with repo as same:  # close() releases nothing (a Repo holds nothing open) and is idempotent
        assert same is repo
    repo.close()
    assert repo.run_exists(done)


def _same_run(a: Repo, b: Repo, run_hash: str) -> None:
    ra, rb = a.get_run(run_hash), b.get_run(run_hash)
    assert (ra.params, ra.tags, ra.experiment, ra.end_time) == (rb.params, rb.tags, rb.experiment, rb.end_time)
    for ma in ra.metrics():
        mb = rb.get_metric(ma.name, dict(ma.context))
        np.testing.assert_array_equal(ma.steps_numpy(), mb.steps_numpy())
        np.testing.assert_array_equal(ma.values_numpy(), mb.values_numpy())


def test_copy_runs_copies_whole_runs_and_refuses_live_and_existing(tmp_path, make_run):
    src_path, dest_path = str(tmp_path / "src"), str(tmp_path / "dest")
    a, b = _finished_run(src_path), _finished_run(src_path, n=3)
    Repo(src_path).get_run(b).name = "edited before the copy"
    live = make_run(repo=src_path)
    src, dest = Repo(src_path), Repo(dest_path, init=True)
    with pytest.warns(RuntimeWarning, match="not copied"):
        ok, remaining = src.copy_runs([a, b, live.hash, "missing"], dest)
    assert (ok, remaining) == (False, [live.hash, "missing"])
    _same_run(src, dest, a)
    _same_run(src, dest, b)
    assert dest.get_run(b).name == "edited before the copy"
    assert src.run_exists(a) and dest.query_runs("run.hparams.lr == 0.01", report_mode=0).run_hashes
    with pytest.raises(ValueError):
        dest.copy_runs([a], dest_path)  # the same repository
    with pytest.warns(RuntimeWarning, match="already has"):
        assert src.copy_runs([a], dest) == (False, [a])
    Run(a, repo=dest_path, system_tracking_interval=None, capture_terminal_logs=False).close()  # resumable there


def test_move_runs_deletes_the_source_but_never_a_live_run(tmp_path, make_run):
    src_path, dest_path = str(tmp_path / "src"), str(tmp_path / "dest")
    a = _finished_run(src_path)
    live = make_run(repo=src_path)
    live.track(1.0, name="x")
    src, dest = Repo(src_path), Repo(dest_path, init=True)
    with pytest.warns(RuntimeWarning):
        ok, remaining = src.move_runs([a, live.hash], dest)
    assert (ok, remaining) == (False, [live.hash])
    assert not src.run_exists(a) and dest.run_exists(a) and src.run_exists(live.hash)
    assert dest.get_run(a).get_metric("loss", {"subset": "train"}).values.last() == (499, 499.0)
    live.track(2.0, name="x")  # the live run was not disturbed
    live.close()
    assert src.get_run(live.hash).get_metric("x").values_list() == [1.0, 2.0]


def test_an_interrupted_copy_leaves_no_visible_run_and_prune_removes_it(tmp_path, monkeypatch):
    src_path, dest_path = str(tmp_path / "src"), str(tmp_path / "dest")
    a = _finished_run(src_path)
    src, dest = Repo(src_path), Repo(dest_path, init=True)
    real_create = dest.layout.storage.create

    def crash_before_manifest(key, data, **kw):
        if key.endswith("manifest.msgpack"):
            raise OSError("disk full")
        return real_create(key, data, **kw)

    monkeypatch.setattr(dest.layout.storage, "create", crash_before_manifest)
    with pytest.warns(RuntimeWarning, match="disk full"):
        assert src.copy_runs([a], dest) == (False, [a])
    monkeypatch.undo()
    assert not dest.run_exists(a) and Repo(dest_path).list_all_runs() == []
    # a folder a killed copier (or creator) left: prune removes it once it is old enough
    os.makedirs(os.path.join(dest_path, ".aimcol", "runs", "orphan"))
    young = dest.prune()
    assert young == []  # younger than the grace period: may be a run being created
    monkeypatch.setattr(repo_transfer, "ORPHAN_GRACE_SECONDS", 0.0)
    assert dest.prune() == ["orphan"]
    assert not os.path.exists(os.path.join(dest_path, ".aimcol", "runs", "orphan"))


def test_prune_leaves_runs_and_live_runs_alone(repo_path, make_run, monkeypatch):
    done = _finished_run(repo_path)
    live = make_run()
    monkeypatch.setattr(repo_transfer, "ORPHAN_GRACE_SECONDS", 0.0)
    assert Repo(repo_path).prune() == []
    assert Repo(repo_path).run_exists(done) and Repo(repo_path).run_exists(live.hash)


def test_delete_experiment(repo_path, make_run):
    a, b = _finished_run(repo_path, "gone"), _finished_run(repo_path, "gone")
    keep = _finished_run(repo_path, "kept")
    repo = Repo(repo_path)
    assert repo.delete_experiment("gone") is True
    assert repo.list_all_runs() == [keep] and not repo.run_exists(a) and not repo.run_exists(b)
    live = make_run(experiment="busy")
    assert repo.delete_experiment("busy") is False  # a live run is never deleted
    assert repo.run_exists(live.hash)
    assert repo.delete_experiment("no such experiment") is True
    with pytest.raises(TypeError):
        repo.delete_experiment(3)


def test_read_only_repo(repo_path):
    done = _finished_run(repo_path)
    ro = Repo.from_path(repo_path, read_only=True)
    assert ro.read_only is True and Repo(repo_path).read_only is None  # Aim's default is None
    assert ro.get_run(done).params["hparams"]["lr"] == 0.01 and len(ro.query_runs("", report_mode=0)) == 1
    for action in (
        lambda: ro.delete_run(done),
        lambda: ro.delete_runs([done]),
        lambda: ro.set_archived(done),
        lambda: ro.move_runs([done], Repo(repo_path)),
        lambda: Repo(repo_path).copy_runs([done], ro),
        lambda: ro.prune(),
        lambda: ro.delete_experiment("exp"),
    ):
        with pytest.raises(ReadOnlyRepoError):
            action()
    assert Repo(repo_path).run_exists(done)
    with pytest.raises(ValueError):
        Repo(repo_path, read_only=True, init=True)
    with pytest.raises(TypeError):
        Repo(repo_path, read_only="yes")


def test_default_repo_path(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    Repo(str(project), init=True)
    monkeypatch.chdir(project / "src" / "deep")
    assert Repo.default_repo_path() == str(project)
    monkeypatch.chdir(tmp_path)
    assert Repo.default_repo_path() == str(tmp_path)  # none above: the cwd, as Aim
