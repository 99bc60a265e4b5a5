"""W8 objects, one script for aimcol and Aim (a fresh process per measurement).

  images   one run: ``--steps`` times ``run.track(Image(pixels), name="samples", step=i)`` of a
           256x256 RGB image, then ``close()``.  Reports, per step, what the training thread
           pays: ``Image(...)`` and ``track()`` timed together (median, mean, 90th
           percentile, max), and beside it, on the same images in the same process, the PNG
           encoding alone (Pillow, the call both tools make) and one memcpy of the pixels and
           of the encoded bytes (the issue's bound: encoding + one memcpy).  ``--step-ms``
           adds that much other work to each step, untimed (a busy Python loop, as a training
           step that keeps the GIL busy; the yardsticks get the same before each);
           ``close()`` is timed apart (aimcol encodes what is still queued there).
           ``loop_overhead_us_per_step``: the tracked loop's wall time less the same loop's
           other work alone, per step: what tracking cost the training thread, time taken
           from its other work (a GIL held by a writer thread, a core) included.
  texts    ``--runs`` runs, each ``--steps`` steps of two text sequences (contexts
           ``subset=train`` and ``subset=val``, ~200 characters a text), then ``close()``
           (and, for Aim, the reindex without which its queries miss the runs)
  query    in a new process: ``repo.query_texts("texts.context.subset == 'val'")`` and read
           every text back as a str (``seq.values.values_list()``, the same code for both);
           checks every text.

  --impl aimcol|aim   (Aim 3.29.1 from /work/peers/aim-3.29.1)

The pixels and texts are exact functions of the step, so every run of this script tracks
the same data.  Prints one BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tools  # noqa: E402
from bench_common import dir_bytes, emit, fresh_dir  # noqa: E402

SIDE = 256
DISTINCT_IMAGES = 16
QUERY = "texts.context.subset == 'val'"


def pixels(i: int):
    """A 256x256 RGB image: gradients plus a little deterministic noise (PNG of ~100 kB)."""
    import numpy as np

    y, x = np.mgrid[0:SIDE, 0:SIDE]
    noise = np.random.default_rng(i).integers(0, 24, (SIDE, SIDE, 3))
    base = np.stack([(x + i) % 256, (y + 2 * i) % 256, (x + y) // 2], axis=-1)
    return ((base + noise) % 256).astype(np.uint8)


def text(run_index: int, subset: str, step: int) -> str:
    return f"run {run_index} {subset} step {step}: " + ("the quick brown fox jumps over the lazy dog " * 4)


def images(tool, args) -> dict:
    root = fresh_dir(args.repo)
    t_import = tool.import_sdk()
    from io import BytesIO

    import numpy as np
    from PIL import Image as PILImage

    image_cls = _objects(tool)["Image"]
    arrays = [pixels(i) for i in range(DISTINCT_IMAGES)]
    _calibrate_work()
    s0, t0 = _schedstat(), time.perf_counter()
    for _ in range(args.steps):
        _other_work(args.step_ms)
    t_work = time.perf_counter() - t0  # the loop's other work alone, for the loop's overhead below
    work_split = _split(s0, _schedstat(), t_work)
    encode, copy_pixels, copy_encoded, encoded = [], [], [], 0
    for step in range(args.steps):  # the yardsticks, on the same images and steps, before the run
        array = arrays[step % DISTINCT_IMAGES]
        _other_work(args.step_ms)
        t0 = time.perf_counter()
        buf = BytesIO()
        PILImage.fromarray(array).save(buf, format="png", quality=90, optimize=False)
        t1 = time.perf_counter()
        data = buf.getvalue()
        t2 = time.perf_counter()
        np.array(array, copy=True)  # one memcpy of the pixels
        t3 = time.perf_counter()
        bytearray(data)  # one memcpy of the encoded image
        t4 = time.perf_counter()
        encode.append(t1 - t0)
        copy_pixels.append(t3 - t2)
        copy_encoded.append(t4 - t3)
        encoded += len(data)
    run = tool.new_run(root)
    store = tool.store_dir(root)
    empty = dir_bytes(store)["apparent"]
    per_step, per_ctor = [], []
    s0 = _schedstat()
    t_loop = time.perf_counter()
    for step in range(args.steps):
        t0 = time.perf_counter()
        image = image_cls(arrays[step % DISTINCT_IMAGES])
        t1 = time.perf_counter()
        run.track(image, name="samples", step=step)
        t2 = time.perf_counter()
        per_step.append(t2 - t0)
        per_ctor.append(t1 - t0)
        _other_work(args.step_ms)
    t_loop = time.perf_counter() - t_loop
    loop_split = _split(s0, _schedstat(), t_loop)
    t0 = time.perf_counter()
    run.close()
    t_close = time.perf_counter() - t0
    n = args.steps
    return {
        "mode": "images",
        "steps": n,
        "step_ms": args.step_ms,
        "load_average": os.getloadavg(),
        "import_s": t_import,
        "png_bytes_per_image": encoded / n,
        **_stats("encode", encode),
        **_stats("memcpy_pixels", copy_pixels),
        **_stats("memcpy_encoded", copy_encoded),
        **_stats("step", per_step),
        **_stats("constructor", per_ctor),
        "loop_s": t_loop,
        "work_alone_s": t_work,
        "loop_overhead_us_per_step": (t_loop - t_work) / n * 1e6,
        # the training thread's loop less its work alone, per step, split by where the time went
        # (Linux schedstat): on a CPU, waiting for one (a loaded machine), blocked (the GIL held
        # by another thread, track() waiting for room in a full queue)
        **{f"train_{k}_us_per_step": (loop_split[k] - work_split[k]) / n * 1e6 for k in loop_split},
        "close_s": t_close,
        "bytes_per_image": (dir_bytes(store)["apparent"] - empty) / n,
    }


_WORK_PER_MS = 0


def _calibrate_work() -> None:
    """How many iterations of :func:`_other_work`'s loop take a millisecond here, alone."""
    global _WORK_PER_MS
    n, best = 200_000, float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        _spin(n)
        best = min(best, time.perf_counter() - t0)
    _WORK_PER_MS = int(n / (best * 1000))


def _spin(n: int) -> int:
    x = 0
    for i in range(n):
        x += i
    return x


def _other_work(ms: float) -> None:
    """The rest of a training step: a fixed amount of pure-Python work (holding the GIL, as a
    Python training loop does) that takes ``ms`` alone; time the writer takes from the
    training thread (the GIL, a core) makes it last longer."""
    if ms:
        _spin(int(ms * _WORK_PER_MS))


def _schedstat() -> tuple[float, float] | None:
    """(seconds on a CPU, seconds waiting for one) of this thread so far (Linux), else None."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            on_cpu, waiting = f.read().split()[:2]
    except OSError:
        return None
    return int(on_cpu) / 1e9, int(waiting) / 1e9


def _split(before, after, wall: float) -> dict:
    if before is None or after is None:
        return {}
    cpu, runq = after[0] - before[0], after[1] - before[1]
    return {"cpu": cpu, "runqueue": runq, "blocked": wall - cpu - runq}


def _stats(name: str, seconds: list[float]) -> dict:
    """Median, mean, 90th percentile and max of per-step times, in µs."""
    ordered = sorted(seconds)
    n = len(ordered)
    return {
        f"{name}_median_us": ordered[n // 2] * 1e6,
        f"{name}_mean_us": sum(ordered) / n * 1e6,
        f"{name}_p90_us": ordered[min(n - 1, n * 9 // 10)] * 1e6,
        f"{name}_max_us": ordered[-1] * 1e6,
    }


def texts(tool, args) -> dict:
    root = fresh_dir(args.repo)
    t_import = tool.import_sdk()
    text_cls = _objects(tool)["Text"]
    t0 = time.perf_counter()
    for r in range(args.runs):
        run = tool.new_run(root, hparams={"index": r})
        for step in range(args.steps):
            for subset in ("train", "val"):
                run.track(text_cls(text(r, subset, step)), name="generation", step=step, context={"subset": subset})
        run.close()
    t_ingest = time.perf_counter() - t0
    return {
        "mode": "texts",
        "runs": args.runs,
        "points": args.runs * args.steps * 2,
        "import_s": t_import,
        "ingest_s": t_ingest,
        "reindex_s": tool.reindex(root),
    }


def query(tool, args) -> dict:
    t_import = tool.import_sdk()
    t0 = time.perf_counter()
    repo = tool.open_repo(Path(args.repo))
    got: dict[int, list[str]] = {}
    for seq in _query_texts(tool, repo):
        strings = [t.data for t in seq.values.values_list()]
        got[int(seq.run["hparams"]["index"])] = strings
    t_query = time.perf_counter() - t0
    n = sum(len(v) for v in got.values())
    want = {r: [text(r, "val", s) for s in range(args.steps)] for r in range(args.runs)}
    return {
        "mode": "query",
        "import_s": t_import,
        "query_and_read_s": t_query,
        "points": n,
        "us_per_point": t_query / max(n, 1) * 1e6,
        "correct": got == want,
    }


def _objects(tool) -> dict:
    if tool.name == "aim":
        from aim import Image, Text
    else:
        from aimcol import Image, Text
    return {"Image": Image, "Text": Text}


def _query_texts(tool, repo):
    if tool.name == "aim":
        return repo.query_texts(QUERY, report_mode=0).iter()
    return repo.query_texts(QUERY, report_mode=0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("images", "texts", "query"))
    ap.add_argument("--impl", choices=("aimcol", "aim"), required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--steps", type=int, default=None, help="images: 500; texts/query: 1,000 per run")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--step-ms", type=float, default=0.0, help="images: untimed other work per step (a busy loop)")
    args = ap.parse_args()
    if args.steps is None:
        args.steps = 500 if args.mode == "images" else 1000
    tool = tools.load(args.impl)
    work = {"images": images, "texts": texts, "query": query}[args.mode]
    emit({"tool": tool.name, "impl": args.impl, "version": tool.version(), **work(tool, args)})


if __name__ == "__main__":
    main()
