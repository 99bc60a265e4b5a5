"""Texts and images tracked into a moto S3 server on 127.0.0.1 (object deltas) and into a
local folder (``objects.log`` and appended blob segments), side by side.

    python benchmarks/objstore_objects.py --steps 500 --reps 3

Per step: one text (200 characters) and one 64x64 RGB image (PNG-encoded by ``Image``).
Measured: seconds in the training loop (``track()`` calls, encoding included), ``close()``
(the last upload and the compaction), then in the same process a fresh ``Repo``: the texts
read back through ``query_texts`` and every image's bytes fetched.  moto runs in this
process's threads on the same cores (a few ms per request, no network latency): read the
S3 column as aimcol's cost plus moto's, not as S3's latency.  Prints one JSON line per
measurement, then a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
import urllib.request
import uuid

import numpy as np


def workload(location: str, steps: int) -> dict[str, float]:
    from aimcol import Image, Repo, Run, Text

    rng = np.random.default_rng(0)
    images = [Image(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(16)]
    run = Run(repo=location, system_tracking_interval=None, capture_terminal_logs=False)
    t0 = time.perf_counter()
    for step in range(steps):
        run.track(Text(f"step {step} " + "x" * 190), name="gen", step=step, context={"subset": "val"})
        run.track(images[step % 16], name="pic", step=step)
    t1 = time.perf_counter()
    run.close()
    t2 = time.perf_counter()
    repo = Repo(location)
    texts = [t.data for seq in repo.query_texts("texts.context.subset == 'val'") for t in seq.values_list()]
    t3 = time.perf_counter()
    blobs = sum(len(i.data) for seq in repo.query_images("images.name == 'pic'") for i in seq.values_list())
    t4 = time.perf_counter()
    assert len(texts) == steps and blobs > 0
    return {
        "track_loop_s": t1 - t0,
        "close_s": t2 - t1,
        "read_texts_s": t3 - t2,
        "read_image_bytes_s": t4 - t3,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_EC2_METADATA_DISABLED="true",
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    results: dict[str, list[dict[str, float]]] = {"local": [], "s3": []}
    try:
        for _ in range(args.reps):
            for kind in ("local", "s3"):
                with tempfile.TemporaryDirectory() as folder:
                    if kind == "s3":
                        bucket = f"bench-{uuid.uuid4().hex[:12]}"
                        put = urllib.request.Request(f"http://{host}:{port}/{bucket}", method="PUT")
                        urllib.request.urlopen(put, timeout=30).close()
                        location = f"s3://{bucket}/repo"
                    else:
                        location = folder
                    result = workload(location, args.steps)
                print(json.dumps({"store": kind, "steps": args.steps, **result}), flush=True)
                results[kind].append(result)
    finally:
        server.stop()
    keys = list(results["local"][0])
    print(f"\n| {args.steps} steps, text + 64x64 image each | local folder | moto S3 | S3/local |")
    print("|---|---:|---:|---:|")
    for key in keys:
        local = statistics.median(r[key] for r in results["local"])
        remote = statistics.median(r[key] for r in results["s3"])
        print(f"| {key} | {local:.3f} | {remote:.3f} | {remote / local:.1f}x |")


if __name__ == "__main__":
    main()
