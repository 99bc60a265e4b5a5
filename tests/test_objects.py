"""Texts, images, distributions, audio and figures: tracked, stored and read back exactly.

Real repositories in tmp_path; crashes are real ``kill -9`` of a writing subprocess.
"""

from __future__ import annotations

import glob
import io
import os
import signal
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aimcol import Audio, Distribution, Figure, Image, Run, Text
from aimcol.errors import ChecksumError, ObjectWriteError
from aimcol.sdk.object_sequences import QUEUED_BLOBS

PIL = pytest.importorskip("PIL.Image")


def _stored(repo_path, run_hash):
    return Run(run_hash, repo=repo_path, read_only=True)


def _run_dir(repo_path, run_hash):
    return os.path.join(repo_path, ".aimcol", "runs", run_hash)


def _pixels(seed=0, shape=(16, 24, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _values(repo_path, run_hash, name, context=None):
    return _stored(repo_path, run_hash).get_object_sequence(name, context).values_list()


# ---- the types, as Aim constructs them ---------------------------------------------------------


def test_public_names_as_aim():
    import aimcol.sdk
    import aimcol.sdk.objects
    import aimcol.sdk.objects.image

    for name in ("Image", "Text", "Distribution", "Audio", "Figure"):
        assert getattr(aimcol, name) is getattr(aimcol.sdk, name) is getattr(aimcol.sdk.objects, name)
    assert aimcol.sdk.objects.image.Image is Image
    from aimcol.sdk.sequences.audio_sequence import Audios
    from aimcol.sdk.sequences.distribution_sequence import Distributions
    from aimcol.sdk.sequences.figure_sequence import Figures
    from aimcol.sdk.sequences.image_sequence import Images
    from aimcol.sdk.sequences.metric import Metric
    from aimcol.sdk.sequences.text_sequence import Texts

    assert (Images, Texts, Distributions, Audios, Figures, Metric) == (
        aimcol.sdk.Images,
        aimcol.sdk.Texts,
        aimcol.sdk.Distributions,
        aimcol.sdk.Audios,
        aimcol.sdk.Figures,
        aimcol.Metric,
    )
    assert aimcol.sdk.Images.allowed_dtypes() == ("aim.image", "list(aim.image)")
    assert aimcol.sdk.Texts.sequence_name() == "texts"
    assert Image.get_typename() == "aim.image"


def test_image_from_numpy_pil_path_and_torch(tmp_path):
    pixels = _pixels()
    img = Image(pixels, caption="cat")
    assert (img.width, img.height, img.format, img.caption, img.mode) == (24, 16, "png", "cat", "RGB")
    assert np.array_equal(np.asarray(img.to_pil_image()), pixels)
    assert Image(PIL.fromarray(pixels)) == img
    path = tmp_path / "x.png"
    PIL.fromarray(pixels).save(path)
    assert Image(str(path)).data == img.data
    grey = Image(pixels[:, :, :1])
    assert grey.mode == "L"
    jpeg = Image(pixels, format="jpg", quality=50, optimize=True)
    assert jpeg.format == "jpeg" and jpeg.data[:2] == b"\xff\xd8"
    rgba = np.dstack([pixels, np.full(pixels.shape[:2], 128, np.uint8)])
    assert Image(rgba, format="jpeg").mode == "RGB"  # flattened, as Aim does
    torch = pytest.importorskip("torch")
    assert Image(torch.tensor(np.transpose(pixels, (2, 0, 1)))) == img
    assert Image(torch.tensor(pixels[:, :, 0].astype(np.float32) / 255)) == Image(pixels[:, :, 0])


@pytest.mark.parametrize(
    "bad, error",
    [("no-such-file.png", ValueError), (np.zeros((2, 2, 2, 2), np.uint8), ValueError), (object(), TypeError)],
)
def test_image_bad_sources(bad, error):
    with pytest.raises(error):
        Image(bad)


def test_image_without_pillow_names_the_extra(tmp_path):
    script = (
        "import sys; sys.modules['PIL'] = None\nimport numpy as np, aimcol\naimcol.Image(np.zeros((2, 2), np.uint8))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "ImportError: aimcol.Image needs Pillow: pip install 'aimcol[images]'" in done.stderr


def test_text_distribution_audio_figure_constructors(tmp_path):
    with pytest.raises(TypeError, match="must be a string"):
        Text(b"bytes")
    d = Distribution(np.arange(10), bin_count=5)
    assert d.bin_count == 5 and d.range == [0.0, 9.0]
    assert np.array_equal(d.weights, [2, 2, 2, 2, 2])
    h = Distribution.from_histogram([1, 2, 3], bin_range=(0, 3))
    assert np.array_equal(h.ranges, [0, 1, 2, 3]) and h.json() == {"bin_count": 3, "range": [0.0, 3.0]}
    for kwargs, message in [
        ({}, "either samples or hist"),
        ({"samples": [1], "hist": [1]}, "hist should not be specified"),
        ({"hist": [1, 2]}, "bin_range"),
        ({"samples": [1.0], "bin_count": 513}, r"\[1, 512\]"),
        ({"samples": [1.0, float("nan")]}, "finite"),
        ({"samples": ["a"]}, "must be numbers"),
    ]:
        with pytest.raises(ValueError, match=message):
            Distribution(**kwargs)
    with pytest.raises(ValueError, match="format must be provided"):
        Audio(b"RIFF")
    with pytest.raises(ValueError, match="Must be one of"):
        Audio(b"x", format="ogg")
    with pytest.raises(TypeError, match="byte-stream"):
        Audio(123, format="wav")
    wav = Audio(np.array([0, 1000, -1000], np.int16), rate=8000)
    assert wav.format == "wav" and wav.rate == 8000 and wav.duration() == pytest.approx(3 / 8000)
    rate, samples = wav.to_numpy()
    assert rate == 8000 and samples.tolist() == [0, 1000, -1000]
    stereo = np.random.default_rng(1).standard_normal((50, 2)).astype(np.float32)
    rate, back = Audio(stereo, rate=44100).to_numpy()
    assert rate == 44100 and np.array_equal(back, stereo)
    path = tmp_path / "a.mp3"
    path.write_bytes(b"ID3 fake mp3")
    assert Audio(str(path), format="MP3").data == b"ID3 fake mp3"
    assert Audio(io.BytesIO(b"fLaC"), format="flac", caption="c").json() == {"caption": "c", "format": "flac"}
    with pytest.raises(TypeError, match="Plotly"):
        Figure({"data": []})


# ---- storage round trips ------------------------------------------------------------------------


def test_every_type_round_trips_exactly(make_run, repo_path):
    go = pytest.importorskip("plotly.graph_objects")
    run = make_run()
    images = [Image(_pixels(i), caption=f"img {i}") for i in range(3)]
    texts = ["", "plain", "ünïcödé ✓ 🚀\n" * 50, "x" * 100_000]
    dists = [Distribution(np.random.default_rng(i).standard_normal(1000), bin_count=30 + i) for i in range(3)]
    audio = Audio(np.arange(-50, 50, dtype=np.int16), rate=16000, caption="ramp")
    mp3 = Audio(os.urandom(5000), format="mp3")
    fig = Figure(go.Figure(data=[go.Scatter(x=[1, 2, 3], y=[3, 1, 2])]))
    for step, img in enumerate(images):
        run.track(img, name="samples", step=step, context={"subset": "val"})
    for step, text in enumerate(texts):
        run.track(Text(text), name="generations", step=step)
    for step, dist in enumerate(dists):
        run.track(dist, name="weights", step=step, epoch=step // 2)
    run.track(audio, name="speech", step=0)
    run.track(mp3, name="speech", step=1)
    run.track(fig, name="plot", step=7)
    run.track([Image(_pixels(9)), Image(_pixels(10), format="jpeg")], name="batch", step=0)
    run.close()

    back = _stored(repo_path, run.hash)
    imgs = back.get_object_sequence("samples", {"subset": "val"})
    assert type(imgs).__name__ == "Images" and imgs.indices_list() == [0, 1, 2]
    for got, want in zip(imgs.values_list(), images):
        assert got.data == want.data and got.json() == want.json() and got == want
    assert [t.data for t in back.get_object_sequence("generations").values_list()] == texts
    weights = back.get_object_sequence("weights")
    for got, want in zip(weights.values_list(), dists):
        assert got.weights.tobytes() == want.weights.tobytes() and got.weights.dtype == want.weights.dtype
        assert np.array_equal(got.ranges, want.ranges)
    assert weights.epochs == [0, 0, 1]
    speech = back.get_object_sequence("speech").values_list()
    assert speech[0].data == audio.data and speech[0].rate == 16000 and speech[0].caption == "ramp"
    assert speech[1].data == mp3.data and speech[1].format == "mp3"
    plot = back.get_object_sequence("plot")
    assert plot.indices_list() == [7] and plot.values_list()[0].data == fig.data
    assert plot.values_list()[0].to_plotly_figure().data[0].y == (3, 1, 2)
    batch = back.get_object_sequence("batch")
    assert batch.dtype == "list(aim.image)" and batch.record_length() == 2
    assert [i.format for i in batch.values_list()[0]] == ["png", "jpeg"]


def test_uneven_edges_encoded_images_and_source_times_round_trip(make_run, repo_path):
    """What importers hand over (a TensorBoard histogram's uneven bins, a PNG as encoded, the
    source's wall time) comes back exactly; bad edges and a name that is a metric raise."""
    edges = np.array([-3.5, -1.0, -0.001, 0.0, 0.25, 7.0])
    counts = np.array([1.0, 0.0, 4.0, 2.5, 9.0])
    uneven = Distribution(hist=counts, bin_range=edges)
    even = Distribution(hist=[1, 2], bin_range=[0.0, 1.0, 2.0])  # even edges: stored as a range
    assert "edges" not in even._meta and np.array_equal(even.ranges, [0.0, 1.0, 2.0])
    png = Image(_pixels(3)).data
    run = make_run()
    run._track_object_at(uneven, name="hist", step=4, context={"entry": "train"}, when=1_600_000_000.5)
    run._track_object_at(
        Image.from_encoded(png, format="png", width=24, height=16), name="img", step=2, context={}, when=1.0
    )
    run.track(1.0, name="loss")
    with pytest.raises(ValueError, match="'loss'.*is a metric"):
        run._track_object_at(Text("x"), name="loss", step=0, context={}, when=1.0)
    with pytest.raises(ValueError, match="non-decreasing"):
        Distribution(hist=[1, 2], bin_range=[0.0, 2.0, 1.0])
    run.close()
    back = _stored(repo_path, run.hash)
    hist = back.get_object_sequence("hist", {"entry": "train"})
    assert hist.timestamps == [1_600_000_000.5] and hist.indices_list() == [4]
    got = hist.values_list()[0]
    assert got == uneven and np.array_equal(got.ranges, edges) and np.array_equal(got.weights, counts)
    img = back.get_object_sequence("img").values_list()[0]
    assert img.data == png and img.size == (24, 16) and img.to_pil_image().size == (24, 16)


def test_sealed_blob_segment_is_plain_arrow_and_refs_point_into_it(make_run, repo_path):
    run = make_run()
    images = [Image(_pixels(i, (8, 8, 3))) for i in range(4)]
    for step, img in enumerate(images):
        run.track(img, name="img", step=step)
    run.close()
    (path,) = glob.glob(os.path.join(_run_dir(repo_path, run.hash), "blobs-*.arrows"))
    table = pa.ipc.open_stream(path).read_all()
    assert table.schema.names == ["seq", "step", "data"]
    assert table.column("step").to_pylist() == [0, 1, 2, 3]
    assert table.column("data").to_pylist() == [i.data for i in images]
    raw = open(path, "rb").read()
    for got in _values(repo_path, run.hash, "img"):
        _, offset, length, crc = got._ref
        assert raw[offset : offset + length] == got.data and zlib.crc32(got.data) == crc


def test_listing_reads_no_blob_and_damage_is_detected_on_fetch(make_run, repo_path):
    run = make_run()
    run.track(Image(_pixels()), name="img", step=0)
    run.close()
    (path,) = glob.glob(os.path.join(_run_dir(repo_path, run.hash), "blobs-*.arrows"))
    img = _values(repo_path, run.hash, "img")[0]
    offset = img._ref[1]
    os.remove(path)  # listing and metadata still work without the blob file
    listed = _values(repo_path, run.hash, "img")[0]
    assert (listed.width, listed.height, listed.blob_size) == (24, 16, img._ref[2])
    with pytest.raises(FileNotFoundError):
        _ = listed.data
    with open(path, "wb") as f:  # a damaged file in its place: zeros where the image was
        f.write(bytes(1 << 16))
    with pytest.raises(ChecksumError, match=r"blobs-000001\.arrows.*offset " + str(offset)):
        _ = _values(repo_path, run.hash, "img")[0].data


def test_a_sequence_keeps_one_object_type(make_run):
    run = make_run()
    run.track(Image(_pixels()), name="x", step=0)
    for other in (Text("t"), 1.5, [Image(_pixels())], Distribution([1.0])):
        with pytest.raises(ValueError, match=r"Cannot log value '.*' on sequence 'x'\. Incompatible data types\."):
            run.track(other, name="x", step=1)
    run.track(0.5, name="loss", step=0)
    with pytest.raises(ValueError, match="Incompatible data types"):
        run.track(Text("t"), name="loss", step=1)
    with pytest.raises(ValueError, match="mixes object types"):
        run.track([Image(_pixels()), Text("t")], name="mixed")
    run.track(Text("a"), name="t", context={"k": 1})
    run.track([Text("b"), Text("c")], name="tl")
    assert [s.dtype for s in run.object_sequences()] == ["aim.image", "aim.text", "list(aim.text)"]


def test_live_reader_sees_objects_while_the_writer_runs(make_run, repo_path):
    run = make_run()
    for step in range(5):
        run.track(Text(f"t{step}"), name="t", step=step)
        run.track(Image(_pixels(step)), name="i", step=step)
    reader = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from aimcol import Run; r = Run(sys.argv[2], repo=sys.argv[1], read_only=True);"
            "print([t.data for t in r.get_object_sequence('t').values_list()]);"
            "print(len({i.data for i in r.get_object_sequence('i').values_list()}))",
            repo_path,
            run.hash,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reader.stdout.split("\n")[:2] == ["['t0', 't1', 't2', 't3', 't4']", "5"], reader.stderr


def test_resume_appends_to_a_new_blob_segment(make_run, repo_path):
    run = make_run()
    run.track(Image(_pixels(0)), name="i", step=0)
    run.close()
    again = make_run(run.hash)
    again.track(Image(_pixels(1)), name="i")
    again.close()
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(_run_dir(repo_path, run.hash), "blobs-*")))
    assert names == ["blobs-000001.arrows", "blobs-000002.arrows"]
    got = _stored(repo_path, run.hash).get_object_sequence("i")
    assert got.indices_list() == [0, 1]
    assert [i.data for i in got.values_list()] == [Image(_pixels(0)).data, Image(_pixels(1)).data]


def test_object_values_on_a_store_without_appends_are_written_as_deltas(memory_uri):
    """No appends (object stores): objects go to immutable deltas (tests/test_objstore_objects.py)."""
    run = Run(repo=memory_uri, system_tracking_interval=None, capture_terminal_logs=False)
    try:
        run.track(Image(_pixels()), name="i")
        run.track(Text("t"), name="t")
        run.track(1.0, name="loss")
        assert [i.data for i in run.get_object_sequence("i").values_list()] == [Image(_pixels()).data]
        assert [t.data for t in run.get_object_sequence("t").values_list()] == ["t"]
    finally:
        run.close()


# ---- crashes and torn tails ------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from aimcol import Image, Run, Text
    run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)
    print(run.hash, flush=True)
    rng = np.random.default_rng(0)
    for step in range(100000):
        run.track(Image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)), name="img", step=step)
        run.track(Text("text %d " % step * 20), name="txt", step=step)
        if step == int(sys.argv[2]):
            print("ready", flush=True)
    """
)


def test_kill_9_while_tracking_keeps_a_clean_prefix(repo_path):
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, repo_path, "40"], stdout=subprocess.PIPE, text=True)
    run_hash = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    back = _stored(repo_path, run_hash)
    img, txt = back.get_object_sequence("img"), back.get_object_sequence("txt")
    # each sequence is a prefix; texts are written by track(), images by the blob thread (at most
    # QUEUED_BLOBS behind), so the texts may be ahead by that many; the image of a step is
    # queued before its text is written, so the images may also be one step ahead
    assert txt.indices_list() == list(range(len(txt))) and len(txt) > 40
    assert img.indices_list() == list(range(len(img))) and len(txt) - QUEUED_BLOBS - 1 <= len(img) <= len(txt) + 1
    rng = np.random.default_rng(0)
    for got in img.values_list():  # every referenced blob is whole and exact
        assert got.data == Image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).data
    assert [t.data for t in txt.values_list()] == [f"text {s} " * 20 for s in range(len(txt))]
    resumed = Run(run_hash, repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    resumed.track(Image(_pixels()), name="img")
    resumed.close()
    again = _stored(repo_path, run_hash).get_object_sequence("img")
    assert again.indices_list() == list(range(len(img) + 1))
    assert again.values_list()[-1].data == Image(_pixels()).data


def test_torn_tails_of_log_and_blob_segment_are_ignored(make_run, repo_path):
    run = make_run()
    for step in range(3):
        run.track(Image(_pixels(step)), name="img", step=step)
    run.close()
    folder = _run_dir(repo_path, run.hash)
    log = os.path.join(folder, "objects.log")
    (blobs,) = glob.glob(os.path.join(folder, "blobs-*"))
    log_bytes, blob_bytes = open(log, "rb").read(), open(blobs, "rb").read()
    want = [i.data for i in _values(repo_path, run.hash, "img")]
    record = len(log_bytes) // 3
    for cut in range(2 * record, len(log_bytes), 7):  # the last record torn at many bytes
        with open(log, "wb") as f:
            f.write(log_bytes[:cut])
        with open(blobs, "wb") as f:  # and a torn batch (a kill mid-append) after the blobs
            f.write(blob_bytes[:-8] + blob_bytes[8 : 8 + cut % 300])
        assert [i.data for i in _values(repo_path, run.hash, "img")] == want[:2]
    resumed = make_run(run.hash)
    resumed.track(Image(_pixels(7)), name="img", step=2)
    resumed.close()
    assert [i.data for i in _values(repo_path, run.hash, "img")] == want[:2] + [Image(_pixels(7)).data]


def test_disk_full_while_writing_images_loses_none_once_space_returns(make_run, repo_path, monkeypatch):
    from test_disk_full import _DiskFull

    import aimcol.format.local_storage as local_storage

    disk = _DiskFull()
    disk.install(monkeypatch, local_storage)
    run = make_run()
    stored, raised = [], 0
    for step in range(30):
        if step == 10:
            disk.fill()
        if step == 20:
            disk.free()
        try:
            run.track(Image(_pixels(step, (8, 8, 3))), name="img", step=step)
            stored.append(step)
        except ObjectWriteError as exc:
            assert "No space left" in str(exc) and "kept" in str(exc)
            raised += 1
        if step in (12, 15):
            with pytest.raises(ObjectWriteError, match="No space left"):
                run.flush()
    run.close()
    # a failed background write is reported by the next track() or flush(): which one depends on
    # how far the writer thread (and the encoder helper) got, so track() may raise none here
    assert disk.failures > 0
    got = _stored(repo_path, run.hash).get_object_sequence("img")
    assert got.indices_list() == stored
    assert [i.data for i in got.values_list()] == [Image(_pixels(s, (8, 8, 3))).data for s in stored]
    for path in glob.glob(os.path.join(_run_dir(repo_path, run.hash), "blobs-*")):
        pa.ipc.open_stream(path).read_all()  # no torn batch in the middle


# ---- hypothesis: the text and distribution paths ---------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=8))
def test_texts_round_trip(tmp_path_factory, texts):
    repo = str(tmp_path_factory.mktemp("texts"))
    run = Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
    for step, text in enumerate(texts):
        run.track(Text(text), name="t", step=step)
    run.track([Text(t) for t in texts], name="tl", step=0)
    run.close()
    assert [t.data for t in _values(repo, run.hash, "t")] == texts
    assert [t.data for t in _values(repo, run.hash, "tl")[0]] == texts


_finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    samples=hnp.arrays(np.float64, st.integers(1, 200), elements=_finite),
    bins=st.integers(1, 512),
    hist=hnp.arrays(st.sampled_from([np.int64, np.int32, np.float32, np.float64]), st.integers(1, 512)),
)
def test_distributions_round_trip(tmp_path_factory, samples, bins, hist):
    want_counts, want_edges = np.histogram(samples, bins=bins)
    made = Distribution(samples, bin_count=bins)
    given_hist = Distribution(hist=hist, bin_range=(-1.5, 2.5))
    repo = str(tmp_path_factory.mktemp("dists"))
    run = Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
    run.track(made, name="d", step=0)
    run.track(given_hist, name="d", step=1)
    run.close()
    got, got_hist = _values(repo, run.hash, "d")
    assert np.array_equal(got.weights, want_counts) and got.weights.dtype == want_counts.dtype
    assert got.range == [float(want_edges[0]), float(want_edges[-1])]
    assert got_hist.weights.tobytes() == np.ascontiguousarray(hist).tobytes() and got_hist.weights.dtype == hist.dtype
    assert np.array_equal(got_hist.ranges, np.linspace(-1.5, 2.5, len(hist) + 1))


# ---- sealed object segments ----------------------------------------------------------------------


def _sealed(repo_path, run_hash):
    return sorted(glob.glob(os.path.join(_run_dir(repo_path, run_hash), "objects-*.arrow")))


def test_close_seals_object_points_into_a_plain_arrow_file(make_run, repo_path):
    run = make_run()
    for step in range(5):
        run.track(Text(f"t{step}"), name="t", step=step, context={"subset": "val"})
        run.track(Distribution([step, step + 1.0]), name="d", step=step)
    run.track(Text("t3 again"), name="t", step=3, context={"subset": "val"})  # latest write wins
    run.close()
    (path,) = _sealed(repo_path, run.hash)
    table = pa.ipc.open_file(path).read_all()
    assert table.num_rows == 11 and table.column_names == ["seq", "step", "epoch", "time", "text", "record"]
    assert table.column("text").to_pylist()[:6] == ["t0", "t1", "t2", "t3", "t4", "t3 again"]
    assert table.column("seq").to_pylist() == [0] * 6 + [1] * 5
    back = [t.data for t in _values(repo_path, run.hash, "t", {"subset": "val"})]
    assert back == ["t0", "t1", "t2", "t3 again", "t4"]
    assert [d.weights.tolist() for d in _values(repo_path, run.hash, "d")][:2] == [[1] + [0] * 62 + [1]] * 2


def test_damaged_sealed_segment_falls_back_to_the_log(make_run, repo_path):
    run = make_run()
    for step in range(20):
        run.track(Text(f"text {step}"), name="t", step=step)
    run.close()
    (path,) = _sealed(repo_path, run.hash)
    raw = bytearray(open(path, "rb").read())
    raw[len(raw) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(raw)
    assert [t.data for t in _values(repo_path, run.hash, "t")] == [f"text {s}" for s in range(20)]
    os.remove(path)
    assert [t.data for t in _values(repo_path, run.hash, "t")] == [f"text {s}" for s in range(20)]


def test_resumed_run_reads_segment_and_log_tail_then_reseals(make_run, repo_path):
    run = make_run()
    run.track(Text("a"), name="t", step=0)
    run.close()
    (first,) = _sealed(repo_path, run.hash)
    stray = os.path.join(_run_dir(repo_path, run.hash), "objects-000009.arrow")
    with open(stray, "wb") as f:  # left by a writer killed between sealing and publishing
        f.write(b"junk")
    again = make_run(run.hash)
    assert not os.path.exists(stray)
    again.track(Text("b"), name="t")
    assert [t.data for t in again.get_object_sequence("t").values_list()] == ["a", "b"]  # segment + log tail
    again.close()
    (second,) = _sealed(repo_path, run.hash)
    assert second != first and pa.ipc.open_file(second).read_all().column("text").to_pylist() == ["a", "b"]
    assert [t.data for t in _values(repo_path, run.hash, "t")] == ["a", "b"]


def test_copy_runs_and_sync_carry_object_sequences(make_run, repo_path, tmp_path):
    from aimcol import Repo
    from aimcol.sdk.sync import sync_repos

    run = make_run()
    for step in range(3):
        run.track(Text(f"t{step}"), name="t", step=step)
        run.track(Image(_pixels(step)), name="i", step=step)
    run.close()
    images = [Image(_pixels(s)).data for s in range(3)]
    copied, synced = Repo(str(tmp_path / "copied"), init=True), str(tmp_path / "synced")
    assert Repo(repo_path).copy_runs([run.hash], copied)[0]
    sync_repos(Repo(repo_path), synced)
    for dest in (copied, Repo(synced)):
        back = dest.get_run(run.hash)
        assert [t.data for t in back.get_object_sequence("t").values_list()] == ["t0", "t1", "t2"]
        assert [i.data for i in back.get_object_sequence("i").values_list()] == images
    again = make_run(run.hash, repo=repo_path)
    again.track(Text("t3"), name="t")
    again.track(Image(_pixels(3)), name="i")
    again.close()
    sync_repos(Repo(repo_path), synced)  # an update: the grown log, a new blob segment, a new sealed segment
    back = Repo(synced).get_run(run.hash)
    assert [t.data for t in back.get_object_sequence("t").values_list()] == ["t0", "t1", "t2", "t3"]
    assert [i.data for i in back.get_object_sequence("i").values_list()] == images + [Image(_pixels(3)).data]


_CONCURRENT_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from aimcol import Image, Run, Text
    run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)
    run["who"] = int(sys.argv[2])
    for step in range(60):
        run.track(Text("writer %s step %d" % (sys.argv[2], step)), name="t", step=step, context={"subset": "val"})
        run.track(Image(np.full((4, 4), step, np.uint8)), name="i", step=step)
    run.close()
    """
)


def test_concurrent_writers_and_a_querying_reader(repo_path):
    from aimcol import Repo

    Repo(repo_path, init=True)
    writers = [
        subprocess.Popen([sys.executable, "-c", _CONCURRENT_WRITER, repo_path, str(w)], stderr=subprocess.PIPE)
        for w in range(4)
    ]
    seen = 0
    while any(p.poll() is None for p in writers):  # queries while they write: never an error, always prefixes
        for seq in Repo(repo_path).query_texts("texts.context.subset == 'val'", report_mode=0):
            texts = [t.data for t in seq.values_list()]
            who = seq.run["who"]
            assert texts == [f"writer {who} step {s}" for s in range(len(texts))]
            seen = max(seen, len(texts))
    assert all(p.wait(timeout=120) == 0 for p in writers), [p.stderr.read() for p in writers]
    repo = Repo(repo_path)
    found = {seq.run["who"]: [t.data for t in seq.values_list()] for seq in repo.query_texts("", report_mode=0)}
    assert found == {w: [f"writer {w} step {s}" for s in range(60)] for w in range(4)}
    images = list(repo.query_images("images.name == 'i'", report_mode=0))
    assert len(images) == 4 and all(
        len(s) == 60 and s.values_list()[59].data == Image(np.full((4, 4), 59, np.uint8)).data for s in images
    )


def test_check_names_damaged_object_files(make_run, repo_path):
    from aimcol import Repo

    run = make_run()
    run.track(Image(_pixels()), name="i", step=0)
    run.track(Text("t"), name="t", step=0)
    run.close()
    assert Repo(repo_path).check()[0].problems == []
    (blobs,) = glob.glob(os.path.join(_run_dir(repo_path, run.hash), "blobs-*"))
    raw = bytearray(open(blobs, "rb").read())
    raw[-100] ^= 0x01  # inside the image's bytes
    open(blobs, "wb").write(raw)
    (sealed,) = _sealed(repo_path, run.hash)
    open(sealed, "ab").write(b"x")
    (result,) = Repo(repo_path).check()
    assert result.status == "unreadable"
    assert any("blobs-000001.arrows" in p and "checksum" in p for p in result.problems)
    assert any("objects-000001.arrow" in p for p in result.problems)
    with open(os.path.join(_run_dir(repo_path, run.hash), "objects.log"), "ab") as log:
        log.write(b"\x05\x00")
    assert any("after the last intact record" in p for p in Repo(repo_path).check()[0].problems)
    assert [t.data for t in _values(repo_path, run.hash, "t")] == ["t"]  # the texts still read (from the log)


def test_matplotlib_figures_as_image_and_as_plotly_figure(make_run, repo_path):
    matplotlib = pytest.importorskip("matplotlib")
    pytest.importorskip("plotly")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.plot([1, 2, 3], [3, 1, 2])
    image, figure = Image(fig), Figure(fig)
    plt.close(fig)
    assert (image.width, image.height, image.format) == (100, 50, "png")
    assert figure.to_plotly_figure().data[0].y == (3, 1, 2)
    run = make_run()
    run.track(image, name="as_image")
    run.track(figure, name="as_figure")
    run.close()
    assert _values(repo_path, run.hash, "as_image")[0] == image
    assert _values(repo_path, run.hash, "as_figure")[0].data == figure.data
