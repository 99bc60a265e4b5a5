"""``Image`` of pixels: checked and copied in the constructor, encoded later (by the encoder
process for the run's writer thread, or on the caller for ``.data``), to the very bytes that
encoding in the constructor gave.  A crash is a real ``kill -9`` of a writing subprocess (SIGTERM on object stores:
tests/test_objstore_processes.py).
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from aimcol import Image, Run
from aimcol.errors import UnstorableValueError
from aimcol.sdk import object_sequences
from aimcol.sdk.objects import encoder_process
from aimcol.sdk.objects.media import DeferredBytes

PIL = pytest.importorskip("PIL.Image")


def _pixels(seed=0, shape=(24, 32, 3), dtype=np.uint8):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(dtype)


def _pillow(pil_image, fmt="png", quality=90, optimize=False) -> bytes:
    """What Pillow's save() gives: the bytes encoding in the constructor stored."""
    buf = io.BytesIO()
    pil_image.save(buf, format=fmt, quality=quality, optimize=optimize)
    return buf.getvalue()


SOURCES = [
    ("rgb", lambda: _pixels(), {}),
    ("grey", lambda: _pixels(1, (20, 30)), {}),
    ("grey-1-channel", lambda: _pixels(2, (20, 30, 1)), {}),
    ("rgba", lambda: _pixels(3, (17, 9, 4)), {}),
    ("uint16", lambda: _pixels(4, (8, 8), np.uint16) * 250, {}),
    ("bool", lambda: _pixels(5, (9, 13)) > 128, {}),
    ("jpeg", lambda: _pixels(6, (40, 40, 3)), {"format": "jpg", "quality": 55, "optimize": True}),
    ("png-optimize", lambda: _pixels(7), {"optimize": True}),
    ("rgba-as-jpeg (flattened)", lambda: _pixels(8, (10, 10, 4)), {"format": "jpeg"}),
    ("pil-rgb", lambda: PIL.fromarray(_pixels(9)), {}),
    ("pil-palette", lambda: PIL.fromarray(_pixels(10)).convert("P"), {}),
    ("pil-la-with-info", lambda: _with_info(PIL.fromarray(_pixels(11, (6, 6, 2)), "LA")), {}),
]


def _with_info(image):
    image.info["dpi"] = (72, 72)
    return image


def _eager(source, params) -> tuple[bytes, str]:
    """Encoded as the constructor did before encoding moved: Pillow's save() on the caller's
    thread (an image JPEG cannot hold flattened onto white, as Aim does); and the mode saved."""
    if isinstance(source, PIL.Image):
        pil_image = source
    else:
        pil_image = PIL.fromarray(source[:, :, 0] if source.ndim == 3 and source.shape[2] == 1 else source)
    fmt = (params.get("format") or pil_image.format or "png").lower().replace("jpg", "jpeg")
    args = (fmt, params.get("quality", 90), params.get("optimize", False))
    try:
        return _pillow(pil_image, *args), pil_image.mode
    except OSError:
        white = PIL.new("RGBA", pil_image.size, (255, 255, 255, 255))
        white.paste(pil_image, mask=pil_image.convert("RGBA").split()[-1])
        return _pillow(white.convert("RGB"), *args), "RGB"


@pytest.mark.parametrize("in_process", ["1", "0"], ids=["encoder-process", "in-thread"])
def test_deferred_encoding_stores_the_bytes_eager_encoding_gave(make_run, repo_path, monkeypatch, in_process):
    monkeypatch.setenv("AIMCOL_ENCODER_PROCESS", in_process)
    run = make_run()
    want = []
    for step, (name, make, params) in enumerate(SOURCES):
        image = Image(make(), caption=name, **params)
        assert image._blob is None and image._deferred is not None, name  # not encoded yet
        data, mode = _eager(make(), params)
        assert image.mode == mode and image.size == PIL.open(io.BytesIO(data)).size, name
        want.append(data)
        run.track(image, name="img", step=step)
    run.track([Image(_pixels(20)), Image(_pixels(21), format="jpeg")], name="list", step=0)
    run.close()
    back = Run(run.hash, repo=repo_path, read_only=True)
    got = back.get_object_sequence("img").values_list()
    assert [(i.caption, i.data) for i in got] == [(n, w) for (n, _, _), w in zip(SOURCES, want)]
    (pair,) = back.get_object_sequence("list").values_list()
    assert [i.data for i in pair] == [_pillow(PIL.fromarray(_pixels(20))), _pillow(PIL.fromarray(_pixels(21)), "jpeg")]


def test_the_constructor_copies_the_pixels_once_and_encodes_nothing():
    pixels = _pixels()
    image = Image(pixels)
    want = _pillow(PIL.fromarray(pixels.copy()))
    pixels[:] = 0  # the caller reuses its buffer: the image keeps what it was given
    assert image._blob is None
    assert image.data == want and image.to_pil_image().tobytes() == PIL.open(io.BytesIO(want)).tobytes()
    pil_image = PIL.fromarray(_pixels(1))
    from_pil = Image(pil_image)
    want_pil = _pillow(pil_image)
    pil_image.paste((0, 0, 0), (0, 0, 32, 24))
    assert from_pil.data == want_pil
    transposed = np.transpose(_pixels(2, (3, 24, 32)), (1, 2, 0))  # not contiguous
    assert Image(transposed).data == _pillow(PIL.fromarray(np.ascontiguousarray(transposed)))


@pytest.mark.parametrize(
    "source, params, error, match",
    [
        (_pixels(), {"format": "bogus"}, KeyError, "BOGUS"),
        (_pixels(), {"format": "jpeg", "quality": "x"}, ValueError, "quality"),
        (_pixels(), {"format": "jpeg", "optimize": "zz"}, TypeError, "integer"),
        (np.zeros((4, 4), np.float32), {"format": "jpeg"}, OSError, "cannot write mode F as JPEG"),
        (np.zeros((4, 4), np.int64), {}, TypeError, "dtype int64"),
        (np.zeros((4, 4, 5), np.uint8), {}, TypeError, "Cannot handle this data type"),
        (np.zeros((0, 4, 3), np.uint8), {}, ValueError, "empty"),
        (PIL.new("F", (3, 3)), {"format": "jpeg"}, OSError, "cannot write mode F"),
    ],
)
def test_bad_sources_and_parameters_raise_in_the_constructor(make_run, source, params, error, match):
    run = make_run()
    for _ in range(2):  # the second time from the cache of checked modes and parameters
        with pytest.raises(error, match=match):
            Image(source, **params)
    run.track(Image(_pixels()), name="img", step=0)  # nothing was queued; the run goes on
    run.flush()


def test_data_is_encoded_once_whoever_asks_first(make_run):
    calls = []
    image = Image(_pixels())
    make = image._deferred._make

    def counted():
        calls.append(threading.get_ident())
        time.sleep(0.05)  # the askers overlap
        return make()

    image._deferred._make = counted
    run = make_run()
    run.track(image, name="img", step=0)  # the writer thread asks too
    got = []
    threads = [threading.Thread(target=lambda: got.append(image.data)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run.flush()
    assert len(calls) == 1 and len({id(g) for g in got}) == 1
    assert got[0] == _pillow(PIL.fromarray(_pixels()))
    assert image.blob_size == len(got[0]) and Image(_pixels()) == image


def test_a_deferred_image_pickles_with_its_bytes():
    image = Image(_pixels(), caption="c")
    back = pickle.loads(pickle.dumps(image))
    assert back == image and back.caption == "c" and back.data == _pillow(PIL.fromarray(_pixels()))
    assert back._deferred is None


def test_the_writer_queue_is_bounded_in_bytes(make_run, repo_path, monkeypatch):
    one = _pixels().nbytes
    monkeypatch.setattr(object_sequences, "QUEUED_BLOB_BYTES", 3 * one)
    slow = DeferredBytes.get

    def slow_get(self):
        time.sleep(0.02)  # an encoder slower than the loop
        return slow(self)

    monkeypatch.setattr(DeferredBytes, "get", slow_get)
    run = make_run()
    seen = []
    for step in range(15):
        run.track(Image(_pixels(step)), name="img", step=step)
        seen.append(run._objects._pending_bytes)
    assert max(seen) <= 3 * one and max(seen) >= 2 * one  # full, and waited for room
    run.close()
    got = Run(run.hash, repo=repo_path, read_only=True).get_object_sequence("img").values_list()
    assert [i.data for i in got] == [_pillow(PIL.fromarray(_pixels(s))) for s in range(15)]


def test_a_value_that_fails_to_encode_in_the_writer_is_reported_and_skipped(make_run, repo_path):
    run = make_run()
    bad = Image(_pixels(1))

    def fail():
        raise MemoryError("no room to encode")

    bad._deferred = DeferredBytes(fail, 10)
    run.track(Image(_pixels(0)), name="img", step=0)
    run.track(bad, name="img", step=1)
    with pytest.raises(UnstorableValueError, match=r"'img' at step 1 could not be encoded.*no room"):
        run.flush()
    run.track(Image(_pixels(2)), name="img", step=2)
    run.close()
    got = Run(run.hash, repo=repo_path, read_only=True).get_object_sequence("img")
    assert got.indices_list() == [0, 2]
    assert [i.data for i in got.values_list()] == [_pillow(PIL.fromarray(_pixels(s))) for s in (0, 2)]


def test_a_dead_encoder_process_falls_back_to_encoding_in_process(make_run, repo_path, caplog, monkeypatch):
    monkeypatch.setattr(encoder_process, "ENCODER", encoder_process.EncoderProcess())
    monkeypatch.setattr("aimcol.sdk.objects.image.ENCODER", encoder_process.ENCODER)
    run = make_run()
    run.track(Image(_pixels(0)), name="img", step=0)
    run.flush()
    proc = encoder_process.ENCODER._proc
    assert proc is not None and proc.poll() is None  # the helper served step 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    for step in range(1, 4):
        run.track(Image(_pixels(step)), name="img", step=step)
    run.close()
    assert "encoded in-process" in caplog.text
    got = Run(run.hash, repo=repo_path, read_only=True).get_object_sequence("img").values_list()
    assert [i.data for i in got] == [_pillow(PIL.fromarray(_pixels(s))) for s in range(4)]
    encoder_process.ENCODER.close_at_exit()


# ---- crashes -------------------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from aimcol import Image, Run
    from aimcol.sdk.objects.encoder_process import ENCODER
    run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)
    print(run.hash, flush=True)
    for step in range(100000):
        run.track(Image(np.random.default_rng(step).integers(0, 256, (256, 256, 3), dtype=np.uint8)), name="img", step=step)
        if step == int(sys.argv[2]):
            run.flush()
            print(ENCODER._proc.pid if ENCODER._proc else 0, flush=True)
    """
)


def _stored_pixels(step):
    return np.random.default_rng(step).integers(0, 256, (256, 256, 3), dtype=np.uint8)


def _start_writer(repo_path, ready_at):
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, repo_path, str(ready_at)], stdout=subprocess.PIPE, text=True
    )
    run_hash = proc.stdout.readline().strip()
    helper = int(proc.stdout.readline().strip())
    return proc, run_hash, helper


def test_kill_9_while_images_are_encoded_keeps_a_clean_prefix_of_exact_bytes(repo_path):
    proc, run_hash, helper = _start_writer(repo_path, 5)
    assert helper > 0  # step 5 was encoded by the encoder process
    time.sleep(0.3)  # tracking and encoding go on (noise does not compress: ~200 kB a PNG)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    got = Run(run_hash, repo=repo_path, read_only=True).get_object_sequence("img")
    assert got.indices_list() == list(range(len(got))) and len(got) >= 6  # flushed at step 5
    for step, image in enumerate(got.values_list()):
        assert image.data == _pillow(PIL.fromarray(_stored_pixels(step)))
    deadline = time.monotonic() + 30  # the encoder process sees its input close and ends
    while time.monotonic() < deadline and _alive(helper):
        time.sleep(0.1)
    assert not _alive(helper)
    resumed = Run(run_hash, repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False)
    resumed.track(Image(_pixels()), name="img")
    resumed.close()
    again = Run(run_hash, repo=repo_path, read_only=True).get_object_sequence("img")
    assert again.indices_list() == list(range(len(got) + 1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not reaped by init yet) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_an_interpreter_that_is_no_encoder_is_given_up_on_not_waited_for(tmp_path, make_run, repo_path, monkeypatch):
    host = tmp_path / "host-app"  # what sys.executable names in an embedding application
    host.write_text("#!/bin/sh\nsleep 600\n")
    host.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(host))
    monkeypatch.setattr(encoder_process, "START_TIMEOUT_S", 1.0)
    encoder = encoder_process.EncoderProcess()
    monkeypatch.setattr("aimcol.sdk.objects.image.ENCODER", encoder)
    run = make_run()
    t0 = time.monotonic()
    run.track(Image(_pixels()), name="img", step=0)
    run.close()
    assert time.monotonic() - t0 < 30 and encoder._failed  # encoded in-process after a second
    got = Run(run.hash, repo=repo_path, read_only=True).get_object_sequence("img").values_list()
    assert [i.data for i in got] == [_pillow(PIL.fromarray(_pixels()))]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_encodes_with_a_helper_of_its_own(tmp_path):
    """fork() while a writer thread holds the helper's lock (DataLoader workers fork mid-run)."""
    encoder = encoder_process.ENCODER
    pixels = _pixels()
    header = {"kind": "array", "dtype": pixels.dtype.str, "shape": list(pixels.shape), "params": {"format": "png"}}
    assert encoder.encode(header, pixels.reshape(-1)) is not None  # the parent's helper runs
    parent_helper = encoder._proc.pid
    with encoder._lock:  # as if the writer thread were mid-request
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                signal.alarm(60)  # a deadlock on the inherited lock fails the test instead of hanging it
                data = encoder.encode(header, pixels.reshape(-1))
                ok = data == _pillow(PIL.fromarray(pixels)) and encoder._proc.pid != parent_helper
                code = 0 if ok else 2
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert encoder._proc is not None and encoder._proc.pid == parent_helper  # the parent's is untouched
