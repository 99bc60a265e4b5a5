"""Many writer processes and a reader on one repository at once; the per-run writer lock (DESIGN §4).

Real processes on real files: the writers are ``tests/robust_writer.py`` processes, killed
with SIGKILL where a test needs a dead holder.  Synchronisation is by stdout/stdin lines,
never by sleeping.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading

import numpy as np
import pytest
from robust_writer import (
    Proc,
    expected_value,
    key_str,
    read_prefixes,
    sequence_keys,
)

from aimcol import Repo, Run, RunLockedError

WRITERS = 8
NAMES = 10  # × 2 contexts = 20 sequences per run (W1's shape)
ITERATIONS = 1000
HALF = 500


def _writer_cfg(repo: str, **extra) -> dict:
    cfg = {
        "repo": repo,
        "names": NAMES,
        "iterations": ITERATIONS,
        "explicit_step": True,
        "flush_points": 199,
        "flush_every": 50,
        "seal_rows": 3000,
    }
    cfg.update(extra)
    return cfg


def test_eight_writers_and_a_reader_lose_nothing(tmp_path):
    repo = str(tmp_path / "project")
    Repo(repo, init=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    # every writer pauses at the half-way point until the reader has seen all of them live
    writers = [
        Proc("writer", _writer_cfg(repo, pause_after=HALF, params={"rank": i}), str(logs / f"w{i}.err"))
        for i in range(WRITERS)
    ]
    reader = Proc(
        "reader",
        {"repo": repo, "names": NAMES, "iterations": ITERATIONS, "writers": WRITERS, "half": HALF},
        str(logs / "reader.err"),
    )
    try:
        for writer in writers:
            writer.wait_for(lambda line: line == "W")
        reader.wait_for(lambda line: line == "HALF")
        for writer in writers:
            writer.send()
        for writer in writers:
            writer.wait_for(lambda line: line == "D")
            assert writer.finish() == 0, writer.stderr_text()
        reader.send()  # its next pass starts after every writer exited, and is its last
        report_line = reader.wait_for(lambda line: line.startswith("REPORT "))
        assert reader.finish() == 0, reader.stderr_text()
    finally:
        for proc in [*writers, reader]:
            if proc.popen.poll() is None:
                proc.popen.kill()
    import json

    report = json.loads(report_line.split(" ", 1)[1])
    assert report["errors"] == [], "\n".join(report["errors"][:3])
    assert report["passes"] >= 2
    assert report["active_reads"] >= WRITERS  # it read the runs while they were being written
    assert report["partial_reads"] >= WRITERS * 2 * NAMES
    assert report["queried"] >= WRITERS * 2  # the query found every run's m3/val, in two passes at least

    everything = Repo(repo).query_metrics("metric.name.startswith('m')")
    assert len(everything) == WRITERS * 2 * NAMES
    assert all(len(metric) == ITERATIONS for metric in everything)

    runs = list(Repo(repo).iter_runs())
    assert sorted(r.hash for r in runs) == sorted(w.run_hash for w in writers)
    assert sorted(r["hparams", "rank"] for r in (Run(w.run_hash, repo=repo, read_only=True) for w in writers)) == list(
        range(WRITERS)
    )
    for run in runs:
        assert run.active is False and run.crashed is False
        assert run.end_time is not None and run.end_time >= run.creation_time
        assert read_prefixes(run, NAMES) == {key_str(k): ITERATIONS for k in sequence_keys(NAMES)}
        for metric in run.metrics():
            assert metric.last_step() == ITERATIONS - 1
            assert metric.last == expected_value(metric.name, metric.context["subset"], ITERATIONS - 1)
            epochs = metric.epochs.values_numpy()
            assert np.array_equal(epochs, np.arange(ITERATIONS) // 64)
        run_dir = Repo(repo).layout.run_dir(run.hash)
        assert not [n for n in os.listdir(run_dir) if n.startswith("live-") or n.endswith(".partial")]


def _holder(repo: str, tmp_path, iterations: int = 40) -> Proc:
    """A writer that tracked ``iterations`` (all flushed) and keeps its run open."""
    proc = Proc(
        "writer",
        {
            "repo": repo,
            "names": 3,
            "iterations": iterations,
            "flush_every": 10,
            "flush_points": 7,
            "close": False,
            "hold": True,
        },
        str(tmp_path / "holder.err"),
    )
    proc.wait_for(lambda line: line == "C")
    assert proc.last_flushed() == iterations
    return proc


def test_second_writer_is_refused_then_takes_over_a_killed_holder(tmp_path):
    repo = str(tmp_path / "project")
    holder = _holder(repo, tmp_path)
    run_hash = holder.run_hash
    try:
        with pytest.raises(RunLockedError) as refused:
            Run(run_hash, repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
        assert refused.value.holder["pid"] == holder.pid
        assert refused.value.holder["host"] == socket.gethostname()
        assert f"pid {holder.pid}" in str(refused.value) and socket.gethostname() in str(refused.value)
        assert run_hash in str(refused.value)
        live_view = Repo(repo).get_run(run_hash)
        assert live_view.active is True and live_view.crashed is False
    finally:
        holder.kill()

    dead = Repo(repo).get_run(run_hash)
    assert dead.active is False and dead.crashed is True and dead.end_time is None
    assert read_prefixes(dead, 3) == {key_str(k): 40 for k in sequence_keys(3)}

    run = Run(run_hash, repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
    assert run.active is True
    assert Repo(repo).get_run(run_hash).active is True
    for j in range(5):
        for name, subset in sequence_keys(3):
            run.track(expected_value(name, subset, 40 + j), name=name, context={"subset": subset})
    run.close()
    done = Repo(repo).get_run(run_hash)
    assert done.active is False and done.crashed is False
    assert read_prefixes(done, 3) == {key_str(k): 45 for k in sequence_keys(3)}


def test_second_writer_in_another_process_is_refused(tmp_path):
    """The refusal names the holder also when the second writer is a separate process."""
    repo = str(tmp_path / "project")
    holder = _holder(repo, tmp_path, iterations=10)
    try:
        import subprocess
        import sys

        code = (
            "import sys\n"
            "from aimcol import Run, RunLockedError\n"
            "try:\n"
            f"    Run({holder.run_hash!r}, repo={repo!r}, system_tracking_interval=None, capture_terminal_logs=False)\n"
            "except RunLockedError as exc:\n"
            "    print(exc.holder['pid']); sys.exit(0)\n"
            "sys.exit(3)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert int(out.stdout.strip()) == holder.pid
    finally:
        holder.kill()


def test_takeover_is_not_refused_while_a_reader_checks_active(tmp_path):
    """A reader asking ``run.active`` holds a shared flock for an instant; a writer taking
    over a dead writer's run at that instant must not mistake the reader for a live writer."""
    repo = str(tmp_path / "project")
    holder = _holder(repo, tmp_path, iterations=10)
    holder.kill()
    lock_path = Repo(repo).layout.lock_path(holder.run_hash)
    fd = os.open(lock_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # what RunReaderStore.active does, caught mid-check
    released = threading.Timer(0.05, lambda: os.close(fd))
    released.start()
    try:
        run = Run(holder.run_hash, repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
    finally:
        released.join()
    run.close()
    assert read_prefixes(Repo(repo).get_run(holder.run_hash), 3) == {key_str(k): 10 for k in sequence_keys(3)}


def test_lock_is_never_refused_because_a_reader_polls_it(tmp_path):
    """A process polling ``is_locked`` (what ``run.active`` does) in a tight loop while this
    one takes and releases the writer lock 1,000 times: no acquisition is refused."""
    import subprocess
    import sys

    from aimcol.format.local_storage import LocalClaim

    path = str(tmp_path / "lock")
    open(path, "wb").close()
    poll = (
        "import select, sys\n"
        "from aimcol.format.local_storage import is_locked\n"
        "print('ready', flush=True)\n"
        "n = locked = 0\n"
        "while not (n % 100 == 0 and select.select([sys.stdin], [], [], 0)[0]):\n"
        f"    locked += is_locked({path!r})\n"
        "    n += 1\n"
        "print(n, locked)\n"
    )
    poller = subprocess.Popen([sys.executable, "-c", poll], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert poller.stdout.readline().strip() == "ready"
        for _ in range(1000):
            LocalClaim(path, "0" * 24).release()
    finally:
        out, _ = poller.communicate("stop\n", timeout=60)
    polls, _ = map(int, out.split())
    assert polls > 100


def test_reader_keeps_the_live_points_when_the_writer_seals_as_it_reads(tmp_path):
    """The writer seals its live segment, and removes it, just after a reader found the file:
    the reader must still return every point of the manifest it read."""
    import aimcol.format.local_storage as local_storage
    from aimcol.format.run_store import RunReaderStore

    repo = str(tmp_path / "project")
    holder = _holder(repo, tmp_path, iterations=40)
    layout = Repo(repo).layout
    reader = RunReaderStore(layout, holder.run_hash)
    live_path = layout.segment_path(holder.run_hash, reader.manifest["live"])
    sealed = []

    def seal_now() -> None:  # the holder exits, and its run is closed (sealed) as the interpreter exits
        if not sealed:
            sealed.append(True)
            holder.popen.stdin.close()
            assert holder.finish() == 0
            assert not os.path.exists(live_path)

    class OsSealingOnLiveAccess:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def stat(path, *args, **kwargs):
            result = os.stat(path, *args, **kwargs)
            if os.fspath(path) == live_path:
                seal_now()
            return result

        @staticmethod
        def fstat(fd):
            result = os.fstat(fd)
            seal_now()
            return result

    original_os, local_storage.os = local_storage.os, OsSealingOnLiveAccess()
    try:
        lengths = {
            key_str((seq["name"], seq["context"]["subset"])): len(reader.read_sequence(seq["id"])["step"])
            for seq in reader.manifest["sequences"]
        }
    finally:
        local_storage.os = original_os
        if holder.popen.poll() is None:
            holder.kill()
    assert sealed
    assert lengths == {key_str(k): 40 for k in sequence_keys(3)}


def test_reader_sees_floats_that_promote_an_int_sequence_after_it_opened_the_run(tmp_path):
    import subprocess
    import sys

    repo = str(tmp_path / "project")
    code = (
        "import sys\n"
        "from aimcol import Run\n"
        f"run = Run(repo={repo!r}, system_tracking_interval=None, capture_terminal_logs=False)\n"
        "for step in range(5):\n"
        "    run.track(step, name='acc')\n"
        "run.flush()\n"
        "print(run.hash, flush=True)\n"
        "sys.stdin.readline()\n"
        "for step in range(5, 10):\n"
        "    run.track(step + 0.5, name='acc')\n"
        "run.flush()\n"
        "print('flushed', flush=True)\n"
        "sys.stdin.readline()\n"
        "run.close()\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        run_hash = writer.stdout.readline().strip()
        run = Repo(repo).get_run(run_hash)  # its manifest says acc is an int sequence
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "flushed"
        values = run.get_metric("acc").values.values_list()
    finally:
        writer.communicate("\n", timeout=60)
    assert values == [0, 1, 2, 3, 4, 5.5, 6.5, 7.5, 8.5, 9.5]
