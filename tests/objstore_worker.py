"""Writer and probe processes for the object-store tests (``tests/test_objstore_processes.py``).

Modes (``python objstore_worker.py MODE JSON``):

* ``writer`` / ``reader``: :mod:`robust_writer`'s workload against an object-store
  location, with object-store fault points (``cfg["fault"]``): the process kills itself
  with SIGKILL at the ``n``-th time it reaches ``at``, one of
  ``delta_uploaded`` (a delta is in the bucket, its manifest version not yet),
  ``flush_committed`` (the manifest naming the delta is committed),
  ``compact_uploaded`` (the compacted segment is in the bucket, not yet named),
  ``compact_committed`` (the manifest names it; the deltas are not yet deleted),
  ``compact_deleting`` (half of the deltas are deleted).
* ``open``: at ``start_at`` (unix time) try ``Run(run_hash)``; print ``WRITER`` and hold the
  run until stdin closes, or ``LOCKED <pid>``.
* ``sigterm``: track ``points`` points that no flush writes (and ``images`` images of noise,
  256x256), print ``READY``, wait.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import robust_writer  # noqa: E402


def install_object_store_fault(spec: dict) -> None:
    import aimcol.format.delta_segments as delta_segments

    cls = delta_segments.DeltaRunWriterStore
    at, wanted = spec["at"], spec["n"]
    seen = [0]

    def reached() -> None:
        seen[0] += 1
        if seen[0] == wanted:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    original_upload, original_write, original_compact = cls._upload, cls.write_manifest, cls._compact

    def _compact(self, **kwargs):
        self._compacting = True
        try:
            return original_compact(self, **kwargs)
        finally:
            self._compacting = False

    def _upload(self, name, table):
        entry = original_upload(self, name, table)
        compacting = getattr(self, "_compacting", False)
        if (at == "delta_uploaded" and not compacting) or (at == "compact_uploaded" and compacting):
            reached()
        return entry

    def write_manifest(self, **kwargs):
        original_write(self, **kwargs)
        compacting = getattr(self, "_compacting", False)
        if (at == "flush_committed" and not compacting) or (at == "compact_committed" and compacting):
            reached()

    cls._compact, cls._upload, cls.write_manifest = _compact, _upload, write_manifest
    if at == "compact_deleting":
        import aimcol.format.object_storage as object_storage

        original_delete = object_storage.ObjectStorage.delete
        deleted = [0]

        def delete(self, key):
            result = original_delete(self, key)
            deleted[0] += 1
            if deleted[0] % 2 == 0:
                reached()
            return result

        object_storage.ObjectStorage.delete = delete
    if spec.get("max_deltas"):
        delta_segments.MAX_DELTAS = spec["max_deltas"]


def run_open(cfg: dict) -> None:
    from aimcol import Run
    from aimcol.errors import RunLockedError

    time.sleep(max(0.0, cfg["start_at"] - time.time()))
    try:
        run = Run(cfg["run_hash"], repo=cfg["repo"], system_tracking_interval=None, capture_terminal_logs=False)
    except RunLockedError as exc:
        robust_writer.say(f"LOCKED {exc}")
        return
    robust_writer.say("WRITER")
    sys.stdin.read()
    run.close()


def run_sigterm(cfg: dict) -> None:
    from aimcol import Run

    run = Run(
        repo=cfg["repo"],
        system_tracking_interval=None,
        capture_terminal_logs=False,
        flush_points=10**9,
        flush_seconds=3600,
    )
    robust_writer.say(f"H {run.hash}")
    for step in range(cfg["points"]):
        run.track(robust_writer.expected_value("m0", "train", step), name="m0", context={"subset": "train"})
    if cfg.get("images"):  # queued for the writer thread and its encoder, not written yet
        import numpy as np

        from aimcol import Image

        for step in range(cfg["images"]):
            pixels = np.random.default_rng(step).integers(0, 256, (256, 256, 3), dtype=np.uint8)
            run.track(Image(pixels), name="img", step=step)
    robust_writer.say("READY")
    sys.stdin.read()


def main() -> None:
    mode, cfg = sys.argv[1], json.loads(sys.argv[2])
    if mode == "writer" and cfg.get("fault"):
        install_object_store_fault(cfg.pop("fault"))
    {
        "writer": robust_writer.run_writer,
        "reader": robust_writer.run_reader,
        "open": run_open,
        "sigterm": run_sigterm,
    }[mode](cfg)


if __name__ == "__main__":
    main()
