"""W8 objects, one script for aimcol and Aim (a fresh process per measurement).

  images   one run: ``--steps`` times ``run.track(Image(pixels), name="samples", step=i)`` of a
           256x256 RGB image, then ``close()``.  Reports, per step, the PNG encoding alone
           (Pillow, the same call both tools make), the ``Image(...)`` constructor, the
           ``track()`` call, and what tracking adds to the encoding (constructor + track -
           encoding): the issue's bound is one memcpy of the encoded bytes.
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

    from PIL import Image as PILImage

    image_cls = _objects(tool)["Image"]
    arrays = [pixels(i) for i in range(DISTINCT_IMAGES)]
    t0 = time.perf_counter()
    encoded = 0
    for step in range(args.steps):
        buf = BytesIO()
        PILImage.fromarray(arrays[step % DISTINCT_IMAGES]).save(buf, format="png", quality=90, optimize=False)
        encoded += buf.tell()
    t_encode = time.perf_counter() - t0
    run = tool.new_run(root)
    store = tool.store_dir(root)
    empty = dir_bytes(store)["apparent"]
    t_ctor = t_track = t_copy = 0.0
    per_track = []
    for step in range(args.steps):
        t0 = time.perf_counter()
        image = image_cls(arrays[step % DISTINCT_IMAGES])
        t1 = time.perf_counter()
        run.track(image, name="samples", step=step)
        t2 = time.perf_counter()
        t_ctor += t1 - t0
        t_track += t2 - t1
        per_track.append(t2 - t1)
        data = _encoded(tool, image)
        t0 = time.perf_counter()
        bytearray(data)  # one memcpy of the encoded image: the yardstick
        t_copy += time.perf_counter() - t0
    t0 = time.perf_counter()
    run.close()
    t_close = time.perf_counter() - t0
    n = args.steps
    return {
        "mode": "images",
        "steps": n,
        "import_s": t_import,
        "png_bytes_per_image": encoded / n,
        "encode_us_per_image": t_encode / n * 1e6,
        "constructor_us_per_image": t_ctor / n * 1e6,
        "track_us_per_image": t_track / n * 1e6,
        "track_median_us": sorted(per_track)[n // 2] * 1e6,
        "memcpy_us_per_image": t_copy / n * 1e6,
        "added_to_encoding_us_per_image": (t_ctor + t_track - t_encode) / n * 1e6,
        "close_s": t_close,
        "bytes_per_image": (dir_bytes(store)["apparent"] - empty) / n,
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


def _encoded(tool, image) -> bytes:
    """The encoded bytes an ``Image`` holds (Aim keeps them in its storage dict as a BLOB)."""
    if tool.name == "aim":
        return bytes(image.storage["data"].load())
    return image.data


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
    args = ap.parse_args()
    if args.steps is None:
        args.steps = 500 if args.mode == "images" else 1000
    tool = tools.load(args.impl)
    work = {"images": images, "texts": texts, "query": query}[args.mode]
    emit({"tool": tool.name, "impl": args.impl, "version": tool.version(), **work(tool, args)})


if __name__ == "__main__":
    main()
