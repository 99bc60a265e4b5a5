"""Disk full, then space comes back: no tracked point is lost (issue 9, item 1).

A training loop that catches the ``OSError`` of a failed flush and goes on tracking must,
once space is back and ``close()`` returns without error, read back every point it
tracked, with the live segment never left with a torn batch in the middle.

Two ways to fill the disk: a real tmpfs of a few MB mounted for the test (needs root; the
truest check, sealing included), and ENOSPC injected at the ``os.write`` calls of the
local storage (live-segment appends, manifest and sealed writes), half-way through a write (runs everywhere).
"""

from __future__ import annotations

import errno
import os
import subprocess
import types

import numpy as np
import pytest

from aimcol import Repo, Run


class _DiskFull:
    """An ``os`` stand-in whose ``write`` writes half of what it is given and raises ENOSPC
    while ``full`` is set (a torn write, as a real full disk produces)."""

    def __init__(self):
        self.full = False
        self.failures = 0

    def install(self, monkeypatch, *modules) -> None:
        real = os

        def write(fd, data):
            if self.full:
                self.failures += 1
                half = len(memoryview(data)) // 2
                if half:
                    real.write(fd, memoryview(data)[:half])
                raise OSError(errno.ENOSPC, "No space left on device")
            return real.write(fd, data)

        proxy = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
        proxy.write = write
        for module in modules:
            monkeypatch.setattr(module, "os", proxy)

    def fill(self) -> None:
        self.full = True

    def free(self) -> None:
        self.full = False


def _track_through_outage(repo: str, disk, steps: int, full_from: int, full_until: int, seal_rows: int):
    """A run tracking ``steps`` points of ``loss``, flushing after each 100, while the disk is
    full for the steps in ``[full_from, full_until)``; closed once the disk has space again.
    Returns ``(run hash, steps tracked, flushes that raised)``: a point whose track() raised
    is not recorded, one whose flush raised is."""
    run = Run(
        repo=repo,
        system_tracking_interval=None,
        capture_terminal_logs=False,
        flush_points=10**6,
        flush_seconds=3600,
        seal_rows=seal_rows,
    )
    track_raised, flush_raised = [], 0
    for i in range(steps):
        if i == full_from:
            disk.fill()
        if i == full_until:
            disk.free()
        try:
            run.track(float(i) * 0.5, name="loss", step=i)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            track_raised.append(i)
        if i % 100 == 99:
            try:
                run.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                flush_raised += 1
    run.close()
    return run.hash, [i for i in range(steps) if i not in track_raised], flush_raised


def _assert_every_point(repo_path: str, run_hash: str, expected_steps: list[int]) -> None:
    metric = Repo(repo_path).get_run(run_hash).get_metric("loss")
    steps, values = metric.values.sparse_numpy()
    assert steps.tolist() == expected_steps
    assert np.array_equal(values, np.asarray(expected_steps, dtype=np.float64) * 0.5)


@pytest.mark.parametrize("seal_rows", [1_000_000, 350])
def test_injected_enospc_then_space_returns_loses_nothing(repo_path, monkeypatch, seal_rows):
    import aimcol.format.local_storage as local_storage

    state = _DiskFull()
    state.install(monkeypatch, local_storage)
    run_hash, tracked, flush_errors = _track_through_outage(repo_path, state, 2_000, 450, 1_250, seal_rows)
    assert state.failures > 0 and flush_errors  # the outage was seen and reported
    _assert_every_point(repo_path, run_hash, tracked)
    assert not [n for n in os.listdir(os.path.join(repo_path, ".aimcol", "runs", run_hash)) if ".partial" in n]


def test_close_on_a_full_disk_raises_then_a_retry_closes(repo_path, monkeypatch):
    import aimcol.format.local_storage as local_storage

    state = _DiskFull()
    state.install(monkeypatch, local_storage)
    run = Run(repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False, flush_seconds=3600)
    for i in range(500):
        run.track(float(i) * 0.5, name="loss", step=i)
    state.full = True
    with pytest.raises(OSError):
        run.close()
    assert run.active  # not closed: nothing was written
    state.full = False
    run.close()
    assert not run.active
    _assert_every_point(repo_path, run.hash, list(range(500)))
    assert Repo(repo_path).get_run(run.hash).end_time is not None


def _can_mount_tmpfs(path: str) -> bool:
    if os.geteuid() != 0:
        return False
    os.makedirs(path, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", path], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    mount = str(tmp_path / "small")
    if not _can_mount_tmpfs(mount):
        pytest.skip("mounting a 4 MB tmpfs needs root (the injected-ENOSPC tests cover the same paths)")
    yield mount
    subprocess.run(["umount", "-l", mount], check=False)


def test_real_full_filesystem_then_space_returns_loses_nothing(small_disk):
    filler = os.path.join(small_disk, "filler")

    class Disk:
        def fill(self):
            with open(filler, "wb") as fh:  # take every free block of the filesystem
                try:
                    while True:
                        fh.write(b"\0" * 65536)
                        fh.flush()
                except OSError:
                    pass
            try:
                with open(filler, "ab", buffering=0) as fh:
                    while True:
                        fh.write(b"\0" * 512)
            except OSError:
                pass

        def free(self):
            os.unlink(filler)

    run_hash, tracked, flush_errors = _track_through_outage(small_disk, Disk(), 3_000, 900, 2_100, seal_rows=700)
    assert flush_errors  # the outage was reported
    _assert_every_point(small_disk, run_hash, tracked)
