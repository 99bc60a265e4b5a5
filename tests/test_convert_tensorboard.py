"""``aimcol convert tensorboard``: event files written by PyTorch's SummaryWriter, every point read back."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("tensorboard")
tb = pytest.importorskip("torch.utils.tensorboard")

from aimcol import Repo  # noqa: E402


def _aimcol(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "aimcol", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def logdir(tmp_path):
    """Two runs: ``alpha`` (old-style and tensor scalars, a histogram, add_scalars sub-folders)
    and ``beta`` (two event files, the second one restarting at step 5)."""
    root = tmp_path / "tb"
    expected = {}
    w = tb.SummaryWriter(str(root / "alpha"))
    for step in range(50):
        w.add_scalar("loss", 1.0 / (step + 1), step, walltime=1_700_000_000 + step)
        w.add_scalar("acc", step / 50, step, new_style=True)  # a TF2-style tensor scalar
        w.add_scalar("gnorm", step / 3, step, new_style=True, double_precision=True)
        w.add_scalars("lr", {"enc": 0.1 * step, "dec": 0.2 * step}, step)
    w.add_histogram("weights", np.arange(10.0), 0)
    w.close()
    expected["alpha"] = {
        ("loss", ()): (list(range(50)), [np.float32(1.0 / (s + 1)) for s in range(50)]),
        ("acc", ()): (list(range(50)), [np.float32(s / 50) for s in range(50)]),
        ("gnorm", ()): (list(range(50)), [s / 3 for s in range(50)]),
        ("lr", (("entry", "lr_enc"),)): (list(range(50)), [np.float32(0.1 * s) for s in range(50)]),
        ("lr", (("entry", "lr_dec"),)): (list(range(50)), [np.float32(0.2 * s) for s in range(50)]),
    }
    w = tb.SummaryWriter(str(root / "beta"), filename_suffix=".a")
    for step in range(10):
        w.add_scalar("loss", float(step), step)
    w.close()
    w = tb.SummaryWriter(str(root / "beta"), filename_suffix=".b")
    for step in range(5, 15):
        w.add_scalar("loss", 100.0 + step, step)
    w.close()
    # the restart re-writes steps 5..9: the later file wins
    expected["beta"] = {
        ("loss", ()): (list(range(15)), [float(s) for s in range(5)] + [100.0 + s for s in range(5, 15)])
    }
    return str(root), expected


def _runs_by_name(repo_dir):
    repo = Repo(repo_dir)
    return {run.name: run for run in repo.iter_runs()}


def _check(run, expected):
    got = {}
    for metric in run.metrics():
        if metric.name.startswith("__system"):
            continue
        steps, values = metric.values.sparse_numpy()
        got[(metric.name, tuple(sorted(metric.context.items())))] = (steps.tolist(), values.tolist())
    assert set(got) == set(expected)
    for key, (steps, values) in expected.items():
        assert got[key][0] == steps, key
        np.testing.assert_array_equal(np.asarray(got[key][1]), np.asarray(values, dtype=np.float64), err_msg=str(key))


def test_every_point_context_and_time(logdir, tmp_path):
    root, expected = logdir
    target = str(tmp_path / "repo")
    done = _aimcol("convert", "tensorboard", root, "--repo", target, "--experiment", "tb")
    assert done.returncode == 0, done.stderr
    assert "imported 2 runs, 270 points, 1 objects" in done.stdout  # the histogram
    runs = _runs_by_name(target)
    assert set(runs) == {"alpha", "beta"}
    for name, run in runs.items():
        _check(run, expected[name])
        assert run.experiment == "tb"
        marker = run["imported_from"]
        assert marker["source"] == "tensorboard" and marker["complete"] is True
        assert marker["id"] == os.path.realpath(os.path.join(root, name))
    times = runs["alpha"].get_metric("loss").timestamps.values_numpy()
    assert times.tolist() == [1_700_000_000.0 + s for s in range(50)]


def test_second_conversion_adds_nothing(logdir, tmp_path):
    root, _ = logdir
    target = str(tmp_path / "repo")
    assert _aimcol("convert", "tensorboard", root, "--repo", target).returncode == 0
    again = _aimcol("convert", "tensorboard", root, "--repo", target)
    assert again.returncode == 0, again.stderr
    assert "imported 0 runs" in again.stdout and "2 runs were imported before" in again.stdout
    assert Repo(target).total_runs_count() == 2


def test_interrupted_import_is_redone(logdir, tmp_path):
    from aimcol import Run

    root, expected = logdir
    target = str(tmp_path / "repo")
    half = Run(repo=target, system_tracking_interval=None, capture_terminal_logs=False)
    marker = {"source": "tensorboard", "id": os.path.realpath(os.path.join(root, "beta")), "complete": False}
    half["imported_from"] = marker
    half.track_array(np.arange(3.0), name="loss")
    half.close()
    done = _aimcol("convert", "tensorboard", root, "--repo", target)
    assert done.returncode == 0, done.stderr
    runs = _runs_by_name(target)
    assert Repo(target).total_runs_count() == 2 and half.hash not in {r.hash for r in runs.values()}
    _check(runs["beta"], expected["beta"])


def test_dry_run_writes_nothing(logdir, tmp_path):
    root, _ = logdir
    target = tmp_path / "repo"
    done = _aimcol("convert", "tensorboard", root, "--repo", str(target), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would import 2 runs, 270 points" in done.stdout
    assert "alpha: 5 series, 250 points, 1 objects" in done.stdout
    assert not target.exists()


def test_unreadable_run_is_named_and_skipped(logdir, tmp_path):
    root, expected = logdir
    bad = os.path.join(root, "gamma")
    os.makedirs(bad)
    with open(os.path.join(bad, "events.out.tfevents.1.host"), "wb") as f:
        # a record header promising 30 bytes, then a payload that is not a protobuf Event
        f.write((30).to_bytes(8, "little") + b"\0" * 4 + b"\xff" * 30 + b"\0" * 4)
    target = str(tmp_path / "repo")
    done = _aimcol("convert", "tensorboard", root, "--repo", target, "--no-progress")
    assert done.returncode == 1
    assert "skipped unreadable run gamma" in done.stderr
    runs = _runs_by_name(target)
    assert set(runs) == {"alpha", "beta"}
    _check(runs["beta"], expected["beta"])


def test_progress_lines_without_a_terminal(logdir, tmp_path):
    root, _ = logdir
    done = _aimcol("convert", "tensorboard", root, "--repo", str(tmp_path / "repo"))
    lines = [line for line in done.stderr.splitlines() if line.startswith(("1/2", "2/2"))]
    assert len(lines) == 2 and "imported as" in lines[0]


def test_progress_bar_on_a_terminal():
    import io

    from aimcol.convert.progress import Progress

    out = io.StringIO()
    bar = Progress(4, stream=out, bar=True)
    bar.run_done("a", 1000, 0, "imported")
    text = out.getvalue()
    assert text.startswith("\r") and "runs 1/4" in text and "points 1,000" in text and "ETA" in text


def test_missing_logdir_is_one_line(tmp_path):
    done = _aimcol("convert", "tensorboard", str(tmp_path / "nope"), "--repo", str(tmp_path / "r"))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("aimcol: TensorBoard log dir") and "Traceback" not in done.stderr


def test_run_keeps_the_event_files_times(tmp_path):
    """Creation and end are the wall times of the first and last events, not the import's."""
    root = tmp_path / "tb"
    before = time.time()
    w = tb.SummaryWriter(str(root / "old"))
    for step in range(20):
        w.add_scalar("loss", float(step), step, walltime=1_600_000_000 + 60 * step)
    w.close()
    after = time.time()
    target = str(tmp_path / "repo")
    assert _aimcol("convert", "tensorboard", str(root), "--repo", target).returncode == 0
    run = _runs_by_name(target)["old"]
    assert run.creation_time == 1_600_000_000.0
    # the writer's own first event (its file version) is stamped with the time it was opened
    assert before - 1 <= run.end_time <= after + 1 and run.exit_status == "finished"
    repo = Repo(target)
    assert repo.query_runs("run.created_at < datetime(2021, 1, 1)").run_hashes == [run.hash]


# ---- objects: text, images, histograms, audio ------------------------------------------------
WAV_RATE = 8000


@pytest.fixture
def object_logdir(tmp_path):
    """One run ``obj`` with every object kind PyTorch's writer makes, TF2-style tensor
    histograms, image batches and audio (made by TensorBoard's own helpers), a sub-folder
    (context ``entry``) and a PR curve (not imported)."""
    from tensorboard.plugins.histogram.summary_v2 import histogram_pb

    rng = np.random.default_rng(7)
    root = tmp_path / "tb"
    w = tb.SummaryWriter(str(root / "obj"))
    for step in range(3):
        t = 1_700_000_000.25 + step
        w.add_text("notes", f"step {step}: héllo **wörld** \u2603", step, walltime=t)
        w.add_image("img", rng.integers(0, 256, (3, 6, 9), dtype=np.uint8), step, walltime=t)
        w.add_image("gray", rng.integers(0, 256, (1, 4, 4), dtype=np.uint8), step, walltime=t)
        w.add_histogram("weights", rng.normal(size=2000), step, walltime=t)  # ~600 exponential buckets
        w.add_histogram("small", np.arange(10.0) + step, step, bins=5, walltime=t)
        w.file_writer.add_summary(histogram_pb("tensor_hist", rng.normal(size=100), buckets=9), step, walltime=t)
        w.add_audio("speech", np.sin(np.linspace(0, 40 * (step + 1), 800)), step, sample_rate=WAV_RATE, walltime=t)
        batch = [rng.integers(0, 256, (3, 5, 7), dtype=np.uint8) for _ in range(2)]
        pngs = [tb.summary.image("x", img, dataformats="CHW").value[0].image.encoded_image_string for img in batch]
        w.file_writer.add_summary(_tensor_summary("tf2_images", "images", [b"7", b"5", *pngs], [4]), step, walltime=t)
        clip = tb.summary.audio("x", np.cos(np.linspace(0, 9, 400)), sample_rate=WAV_RATE).value[0].audio
        rows = [clip.encoded_audio_string, f"clip {step}".encode(), clip.encoded_audio_string[:-2], b"short"]
        w.file_writer.add_summary(_tensor_summary("tf2_audio", "audio", rows, [2, 2]), step, walltime=t)
    w.add_pr_curve("pr", np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.4]), 0)
    w.close()
    sub = tb.SummaryWriter(str(root / "obj" / "train"))
    sub.add_text("notes", "from the sub-folder", 10, walltime=1_700_000_100.0)
    sub.close()
    return root


def _tensor_summary(tag, plugin, strings, shape):
    """A ``Summary`` of one plugin's string tensor, as TF2's ``tf.summary.image``/``audio`` write it."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.compat.proto.types_pb2 import DT_STRING

    dims = [TensorShapeProto.Dim(size=n) for n in shape]
    tensor = TensorProto(dtype=DT_STRING, tensor_shape=TensorShapeProto(dim=dims), string_val=strings)
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=plugin))
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata, tensor=tensor)])


def _events_by_tb(run_dir):
    """``{(tag, entry, step): (wall_time, plugin, array)}`` as TensorBoard's own loader reads the
    event files (old-style values migrated to the plugins' tensors, as TensorBoard shows them)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    found = {}
    for dirpath, _, files in os.walk(run_dir):
        entry = os.path.relpath(dirpath, run_dir)
        for name in sorted(files):
            for event in EventFileLoader(os.path.join(dirpath, name)).Load():
                for v in event.summary.value:
                    plugin = v.metadata.plugin_data.plugin_name
                    key = (v.tag, None if entry == "." else entry, event.step)
                    found[key] = (event.wall_time, plugin, tensor_util.make_ndarray(v.tensor))
    return found


def test_objects_come_back_as_the_event_files_hold_them(object_logdir, tmp_path):
    from aimcol import Audio, Distribution, Image, Text

    target = str(tmp_path / "repo")
    dry = _aimcol("convert", "tensorboard", str(object_logdir), "--repo", target, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "obj: 0 series, 0 points, 28 objects" in dry.stdout  # 9 tags x 3 steps + the sub-folder's text
    done = _aimcol("convert", "tensorboard", str(object_logdir), "--repo", target)
    assert done.returncode == 0, done.stderr
    assert "imported 1 runs, 0 points, 28 objects" in done.stdout
    assert "not imported: 1 pr_curves" in done.stdout
    run = _runs_by_name(target)["obj"]
    reference = _events_by_tb(str(object_logdir / "obj"))
    checked = 0
    for (tag, entry, step), (wall_time, plugin, array) in reference.items():
        if plugin not in ("text", "images", "histograms", "audio"):
            continue
        seq = run.get_object_sequence(tag, {} if entry is None else {"entry": entry})
        assert seq is not None, (tag, entry)
        at = seq.data.indices_list().index(step)
        value = seq.data.values_list()[at]
        values = value if isinstance(value, list) else [value]
        assert seq.timestamps[at] == wall_time, (tag, step)
        if plugin == "text":
            assert isinstance(value, Text) and value.data == array.item().decode("utf-8")
        elif plugin == "images":
            width, height, *encoded = array.tolist()
            assert [v.data for v in values] == encoded  # the PNG bytes, not re-encoded
            for v in values:
                assert isinstance(v, Image) and (v.width, v.height, v.format) == (int(width), int(height), "png")
                assert v.to_pil_image().size == (int(width), int(height))
        elif plugin == "audio":
            # TensorBoard's loader keeps the clips and drops the labels (checked below)
            assert [v.data for v in values] == array.reshape(len(values), -1)[:, 0].tolist()
            assert all(isinstance(v, Audio) and v.format == "wav" and v.rate == WAV_RATE for v in values)
        else:
            _check_histogram(value, array, tag)
        checked += 1
    assert checked == 28
    assert run.get_object_sequence("notes/text_summary", {"entry": "train"}).data.values_list()[0].data == (
        "from the sub-folder"
    )
    assert isinstance(run.get_object_sequence("weights").data.values_list()[0], Distribution)
    assert [a.caption for a in run.get_object_sequence("tf2_audio").data.values_list()[1]] == ["clip 1", "short"]


def _check_histogram(value, buckets, tag):
    """Every filled bucket of TensorBoard's (left, right, count) table comes back with its count
    and edges (TensorBoard's loader rounds old-style edges to float32; tensor ones are exact)."""
    edges, counts = value.ranges, value.weights
    assert len(edges) == len(counts) + 1
    if len(buckets) <= 512:  # all of TensorBoard's buckets, one for one
        np.testing.assert_array_equal(counts, buckets[:, 2], err_msg=tag)
        np.testing.assert_array_equal(edges.astype(buckets.dtype), np.append(buckets[:, 0], buckets[-1, 1]))
    filled = buckets[buckets[:, 2] > 0]
    mine = counts > 0
    np.testing.assert_array_equal(counts[mine], filled[:, 2], err_msg=tag)
    np.testing.assert_array_equal(edges[:-1][mine].astype(buckets.dtype), filled[:, 0], err_msg=tag)
    np.testing.assert_array_equal(edges[1:][mine].astype(buckets.dtype), filled[:, 1], err_msg=tag)
    assert counts.sum() == buckets[:, 2].sum()


def test_objects_are_not_imported_twice(object_logdir, tmp_path):
    target = str(tmp_path / "repo")
    assert _aimcol("convert", "tensorboard", str(object_logdir), "--repo", target).returncode == 0
    again = _aimcol("convert", "tensorboard", str(object_logdir), "--repo", target)
    assert again.returncode == 0 and "imported 0 runs, 0 points, 0 objects" in again.stdout
    run = _runs_by_name(target)["obj"]
    assert len(run.get_object_sequence("img").data.indices_list()) == 3
