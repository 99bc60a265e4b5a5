"""Repo.query_images / query_texts / query_distributions / query_audios / query_figure_objects:
AimQL over object sequences (Aim's names), results as sequences and as Arrow tables."""

from __future__ import annotations

import glob
import os

import numpy as np
import pyarrow as pa
import pytest

from aimcol import AimQLSyntaxError, Audio, Distribution, Image, Repo, Run, Text
from aimcol.sdk import QueryReportMode

pytest.importorskip("PIL.Image")
QUIET = QueryReportMode.DISABLED


@pytest.fixture
def repo(repo_path):
    """Two runs (lr 0.1 and 0.01) with texts, images, distributions and audio; a third, archived."""
    for lr in (0.1, 0.01, 0.001):
        run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
        run["hparams"] = {"lr": lr}
        for step in range(3):
            for subset in ("train", "val"):
                run.track(Text(f"{subset} {step} lr={lr}"), name="gen", step=step, context={"subset": subset})
            run.track(
                [Image(np.full((4, 6), step, np.uint8)), Image(np.zeros((2, 2), np.uint8))], name="img", step=step
            )
            run.track(Distribution(np.arange(step + 2)), name="w", step=step, context={"layer": 1})
        run.track(Audio(b"fLaC...", format="flac", caption="a"), name="sound", step=0)
        run.track(0.5, name="loss")
        if lr == 0.001:
            run.archived = True
        run.close()
    return Repo(repo_path)


def test_query_texts_by_name_context_and_params(repo):
    found = repo.query_texts(
        'texts.name == "gen" and texts.context.subset == "val" and run.hparams.lr < 0.05', report_mode=QUIET
    )
    assert len(found) == 1
    (seq,) = list(found)
    assert (seq.name, seq.context, seq.run["hparams"]["lr"]) == ("gen", {"subset": "val"}, 0.01)
    assert [t.data for t in seq.values.values_list()] == [f"val {s} lr=0.01" for s in range(3)]
    assert seq.data.indices_list() == [0, 1, 2] and type(seq).__name__ == "Texts"
    assert len(repo.query_texts("", report_mode=QUIET)) == 4  # 2 runs x 2 contexts; the archived run left out
    assert len(repo.query_texts("run.archived == True", report_mode=QUIET)) == 2
    assert len(repo.query_texts("texts.name == 'nothing'", report_mode=QUIET)) == 0


def test_other_kinds_and_their_tables(repo, repo_path):
    images = repo.query_images("images.name == 'img'", report_mode=QUIET)
    assert len(images) == 2 and {s.dtype for s in images} == {"list(aim.image)"}
    table = images.to_arrow()
    assert table.num_rows == 2 * 3 * 2  # runs x steps x images per step
    assert table.column_names[:7] == ["run", "name", "context", "step", "index", "epoch", "time"]
    assert table.column("index").to_pylist()[:4] == [0, 1, 0, 1]
    assert table.column("width").to_pylist()[:2] == [6, 2]
    row = table.slice(0, 1).to_pylist()[0]
    raw = open(os.path.join(repo_path, ".aimcol", "runs", row["run"], row["blob_file"]), "rb").read()
    first = next(iter(images)).values_list()[0][0]
    assert raw[row["blob_offset"] : row["blob_offset"] + row["blob_length"]] == first.data
    dists = repo.query_distributions("distributions.context.layer == 1", report_mode=QUIET).to_arrow()
    assert dists.column("bin_count").to_pylist() == [64] * 6
    assert dists.column("context.layer").to_pylist() == [1] * 6
    assert sum(dists.column("weights").to_pylist()[0]) == 2
    audios = repo.query_audios("audios.name == 'sound'", report_mode=QUIET).to_arrow()
    assert audios.column("format").to_pylist() == ["flac", "flac"]
    assert audios.column("blob_length").to_pylist() == [7, 7]
    assert len(repo.query_figure_objects("", report_mode=QUIET)) == 0
    assert repo.query_figure_objects("", report_mode=QUIET).to_arrow().num_rows == 0
    assert len(repo.query_metrics("metric.name == 'loss'", report_mode=QUIET)) == 2  # metrics unchanged


def test_queries_read_no_blob(repo, repo_path):
    for path in glob.glob(os.path.join(repo_path, ".aimcol", "runs", "*", "blobs-*")):
        os.remove(path)
    table = repo.query_images("", report_mode=QUIET).to_arrow()
    assert table.num_rows == 12 and set(table.column("height").to_pylist()) == {4, 2}
    seq = next(iter(repo.query_images("", report_mode=QUIET)))
    with pytest.raises(FileNotFoundError):
        _ = seq.values_list()[0][0].data


def test_iter_runs_and_progress_tuples(repo):
    groups = list(repo.query_texts("texts.context.subset == 'train'", report_mode=QUIET).iter_runs())
    assert len(groups) == 2 and [len(g) for g in groups] == [1, 1]
    assert groups[0].run.hash != groups[1].run.hash
    assert groups[0].run.creation_time >= groups[1].run.creation_time  # newest first, as Aim
    tuples = list(repo.query_texts("", report_mode=QueryReportMode.PROGRESS_TUPLE).iter_runs())
    assert [t[1] for t in tuples] == [(1, 2), (2, 2)]


@pytest.mark.parametrize(
    "query",
    [
        "metric.name == 'gen'",  # an object query calls its sequence by its own name
        "texts.__class__",
        "__import__('os').system('true')",
        "texts.name.__len__()",
        "images.name == 'x'",
    ],
)
def test_aimql_stays_safe(repo, query):
    with pytest.raises(AimQLSyntaxError):
        repo.query_texts(query, report_mode=QUIET)


def test_live_run_objects_are_queryable(repo_path):
    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    try:
        run.track(Text("hello"), name="t", step=0, context={"subset": "val"})
        found = list(Repo(repo_path).query_texts("texts.context.subset == 'val'", report_mode=QUIET))
        assert [t.data for t in found[0].values_list()] == ["hello"]
        run.track(Text("again"), name="t", step=1, context={"subset": "val"})
        table = Repo(repo_path).query_texts("", report_mode=QUIET).to_arrow()
        assert table.column("text").to_pylist() == ["hello", "again"]
        assert table.schema.field("step").type == pa.int64()
    finally:
        run.close()


def test_object_queries_read_the_manifests_of_runs_with_objects_only(repo_path, monkeypatch):
    """The run index counts each run's object sequences (``n_obj``): among many runs of
    metrics only, an object query reads the few manifests that list objects (at 100,000 runs,
    reading every manifest took tens of seconds), and answers as before."""
    from aimcol.sdk import object_queries

    with_texts = []
    for i in range(12):
        run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
        run.track(float(i), name="loss")
        if i % 5 == 0:
            run.track(Text(f"run {i}"), name="note", step=0)
            with_texts.append(run.hash)
        run.close()
    live = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    live.track(1.0, name="loss")
    live.flush()
    read = []
    real = object_queries.read_manifest
    monkeypatch.setattr(object_queries, "read_manifest", lambda layout, h: read.append(h) or real(layout, h))
    try:
        repo = Repo(repo_path)
        found = repo.query_texts("", report_mode=QUIET)
        assert sorted(found.run_hashes) == sorted(with_texts)
        assert sorted(read) == sorted(with_texts)
        live.track(Text("late"), name="note", step=0)  # a live run's first object sequence
        live.flush()
        read.clear()
        found = repo.query_texts("texts.name == 'note'", report_mode=QUIET)
        assert sorted(found.run_hashes) == sorted([*with_texts, live.hash])
        assert sorted(read) == sorted([*with_texts, live.hash])
    finally:
        live.close()
