"""Writer and reader processes for the robustness tests, and the checks they share.

Run as a script (``python robust_writer.py writer '<json>'`` or ``... reader '<json>'``) it is a
real aimcol process that the tests start, pause, kill -9 and resume.  Imported, it gives the
tests the workload's deterministic values and the clean-prefix check.

Writer protocol (one line per event on stdout, flushed at once):

    H <hash>   the run is open (a resumed run has been recovered)
    F <i>      every point of iterations ``< i`` was flushed: it is on disk and survives kill -9
    W          paused (``pause_after``): waiting for a line on stdin before going on
    C          every point is tracked; ``close()`` starts now
    D          ``close()`` returned

Iteration ``i`` tracks one point into every sequence (name × context), at step
``starts[key] + i``, with the value :func:`expected_value` of that step.  With
``explicit_step`` the step is passed to ``track()`` (W1's shape); otherwise ``track()``
auto-steps, so a wrong resumed auto-step shows up as a value that does not match its step.
A ``fault`` makes the writer kill -9 itself at an exact instant inside the format code
(:func:`install_fault`).

The reader reads every run and metric (and runs two queries) in a loop, printing ``HALF``
once it has seen every writer live and half-way, and ``REPORT <json>`` after the pass that
follows a line on its stdin.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback

SUBSETS = ("train", "val")


def sequence_keys(names: int) -> list[tuple[str, str]]:
    """``(metric name, context subset)`` of every sequence the workload writes."""
    return [(f"m{j}", subset) for j in range(names) for subset in SUBSETS]


def key_str(key: tuple[str, str]) -> str:
    return f"{key[0]}/{key[1]}"


def expected_value(name: str, subset: str, step: int) -> float:
    """The value the workload tracks at ``step`` of sequence (``name``, ``subset``); exact in float64."""
    base = int(name[1:]) * 1000 + (0 if subset == "train" else 500)
    return base + step * 0.25


def expected_epoch(step: int) -> int:
    return step // 64


def check_clean_prefix(name: str, subset: str, steps, values) -> int:
    """Assert ``steps`` is ``0..k-1`` with the workload's values; return ``k``."""
    import numpy as np

    k = len(steps)
    expected_steps = np.arange(k, dtype=np.int64)
    if not np.array_equal(np.asarray(steps), expected_steps):
        bad = np.flatnonzero(np.asarray(steps) != expected_steps)[:5]
        raise AssertionError(
            f"{name}/{subset}: steps are not 0..{k - 1}: first differences at rows {bad.tolist()}, "
            f"steps there {np.asarray(steps)[bad].tolist()}"
        )
    want = np.array([expected_value(name, subset, s) for s in range(k)], dtype=np.float64)
    got = np.asarray(values, dtype=np.float64)
    if not np.array_equal(got, want):
        bad = np.flatnonzero(got != want)[:5]
        raise AssertionError(
            f"{name}/{subset}: wrong values at steps {bad.tolist()}: got {got[bad].tolist()}, want {want[bad].tolist()}"
        )
    return k


# -- the test side: starting and watching these processes ---------------------------------------

HERE = os.path.abspath(__file__)
LINE_TIMEOUT = 60.0
"""Seconds to wait for a line a process must print; only a hang ever reaches it."""


class Proc:
    """A writer or reader process started from the tests, with its stdout read line by line.

    A thread moves stdout lines into a queue, so the test can wait for a marker with a
    safety timeout (a hang fails the test with the process's stderr instead of blocking).
    """

    def __init__(self, mode: str, cfg: dict, stderr_path: str, script: str = HERE):
        import queue
        import subprocess
        import threading

        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.popen = subprocess.Popen(
            [sys.executable, script, mode, json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.pid = self.popen.pid
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def stderr_text(self) -> str:
        self._stderr.flush()
        with open(self._stderr_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def next_line(self) -> str | None:
        """The next stdout line; ``None`` once the process closed stdout (it exited)."""
        import queue

        try:
            line = self._queue.get(timeout=LINE_TIMEOUT)
        except queue.Empty:
            self.popen.kill()
            raise AssertionError(
                f"pid {self.pid} printed nothing for {LINE_TIMEOUT} s; stderr:\n{self.stderr_text()}"
            ) from None
        if line is None:
            self._queue.put(None)  # stay at end of output
        else:
            self.lines.append(line)
        return line

    def wait_for(self, predicate) -> str:
        """Read lines until one satisfies ``predicate``; fail if the process exits first."""
        while True:
            line = self.next_line()
            if line is None:
                self.popen.wait()
                raise AssertionError(
                    f"pid {self.pid} exited (rc {self.popen.returncode}) before the expected "
                    f"line; output {self.lines[-5:]}; stderr:\n{self.stderr_text()}"
                )
            if predicate(line):
                return line

    def send(self, text: str = "\n") -> None:
        self.popen.stdin.write(text)
        self.popen.stdin.flush()

    def kill(self) -> None:
        """kill -9, reap, and read every line it printed before dying."""
        import signal

        os.kill(self.pid, signal.SIGKILL)
        self.finish()

    def finish(self) -> int:
        """Wait for exit and drain stdout; return the exit status."""
        rc = self.popen.wait(timeout=LINE_TIMEOUT)
        while self.next_line() is not None:
            pass
        self._stderr.close()
        try:
            self.popen.stdin.close()
        except OSError:
            pass  # the pipe's reader is dead
        return rc

    def last_flushed(self) -> int:
        """The largest ``F <i>``: iterations every one of whose points was flushed."""
        done = [int(line.split()[1]) for line in self.lines if line.startswith("F ")]
        return max(done, default=0)

    @property
    def run_hash(self) -> str:
        return next(line.split()[1] for line in self.lines if line.startswith("H "))


def read_prefixes(run, names: int, *, check_stats: bool = True) -> dict[str, int]:
    """For a run of the workload: check every sequence is a clean prefix; ``{key: length}``.

    With ``check_stats``, also that the manifest's ``last_step`` never claims more than
    the data holds (true of anything aimcol writes; not of a live file cut after the fact).
    """
    keys = {key_str(k) for k in sequence_keys(names)}
    found = {}
    for metric in run.metrics():
        subset = metric.context["subset"]
        key = key_str((metric.name, subset))
        assert key in keys, f"unexpected sequence {key} in run {run.hash}"
        k = check_clean_prefix(metric.name, subset, metric.steps_numpy(), metric.values_numpy())
        if check_stats and metric.last_step() is not None:
            assert metric.last_step() <= k - 1, (
                f"{run.hash} {key}: manifest last_step {metric.last_step()} but data ends at step {k - 1}"
            )
        found[key] = k
    return {key: found.get(key, 0) for key in sorted(keys)}


# -- fault injection ------------------------------------------------------------------------------


class _OsWithHook:
    """Stands in for the ``os`` module inside one aimcol module, to kill the process at one call."""

    def __init__(self, hooks: dict):
        self._hooks = hooks

    def __getattr__(self, name):
        hook = self._hooks.get(name)
        return hook if hook is not None else getattr(os, name)


def install_fault(spec: dict) -> None:
    """Make the process kill -9 itself at the ``spec["n"]``-th time it reaches ``spec["at"]``.

    The points are the instants between two steps of the format code where a crash leaves a
    distinct state on disk (see ``tests/test_crash.py``).
    """
    import aimcol.format.local_storage as local_storage
    import aimcol.format.new_files as new_files
    import aimcol.format.run_store as run_store
    import aimcol.format.segments as segments

    at, wanted = spec["at"], spec["n"]
    seen = [0]

    def reached() -> None:
        seen[0] += 1
        if seen[0] == wanted:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    if at == "live_append":  # a batch is in the live stream, the manifest not yet updated
        original_append = segments.LiveSegmentWriter.append

        def append(self, batch):
            original_append(self, batch)
            reached()

        segments.LiveSegmentWriter.append = append
    elif at in ("seal_begin", "seal_written"):  # before / after the sealed file is in place
        original_write = run_store.write_sealed_segment

        def write_sealed_segment(*args, **kwargs):
            if at == "seal_begin":
                reached()
            result = original_write(*args, **kwargs)
            if at == "seal_written":
                reached()
            return result

        run_store.write_sealed_segment = write_sealed_segment
    elif at == "seal_replace":  # the sealed file is written and fsynced under its .partial name

        def link(src, dst):
            if os.path.basename(dst).startswith("seg-"):
                reached()
            os.link(src, dst)

        new_files.os = _OsWithHook({"link": link})
    elif at == "unlink_live":  # the manifest names the sealed file; the live file is still there

        def unlink(path):
            if os.path.basename(path).startswith("live-"):
                reached()
            os.unlink(path)

        local_storage.os = _OsWithHook({"unlink": unlink})
    elif at == "manifest_replace":  # a new manifest is written under its .partial name

        def replace(src, dst):
            if dst.endswith("manifest.msgpack"):
                reached()
            os.replace(src, dst)

        local_storage.os = _OsWithHook({"replace": replace})
    elif at == "close_end_time":  # close() sealed everything, end_time not yet published
        original_write_manifest = run_store.RunWriterStore.write_manifest

        def write_manifest(self, *, fsync=False):
            if self.manifest.get("end_time") is not None:
                reached()
            original_write_manifest(self, fsync=fsync)

        run_store.RunWriterStore.write_manifest = write_manifest
    elif at == "lock_release":  # end_time is published, the lock not yet released
        original_release = local_storage.LocalClaim.release

        def release(self):
            reached()
            original_release(self)

        local_storage.LocalClaim.release = release
    else:
        raise ValueError(f"unknown fault point {at!r}")


# -- the writer -----------------------------------------------------------------------------------


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_writer(cfg: dict) -> None:
    from aimcol import Run

    if cfg.get("fault"):
        install_fault(cfg["fault"])
    names = cfg.get("names", 3)
    keys = sequence_keys(names)
    starts = cfg.get("starts") or {}
    iterations = cfg["iterations"]
    flush_every = cfg.get("flush_every", 10)
    explicit = cfg.get("explicit_step", False)
    pause_after = cfg.get("pause_after")
    run = Run(
        cfg.get("run_hash"),
        repo=cfg["repo"],
        system_tracking_interval=None,
        capture_terminal_logs=False,
        flush_points=cfg.get("flush_points", 1000),
        flush_seconds=cfg.get("flush_seconds", 60.0),
        seal_rows=cfg.get("seal_rows", 1_000_000),
    )
    if cfg.get("params"):
        run["hparams"] = cfg["params"]
    say(f"H {run.hash}")
    contexts = {subset: {"subset": subset} for subset in SUBSETS}
    begin = [(name, subset, contexts[subset], starts.get(key_str((name, subset)), 0)) for name, subset in keys]
    for i in range(iterations):
        for name, subset, context, start in begin:
            step = start + i
            value = expected_value(name, subset, step)
            if explicit:
                run.track(value, name=name, step=step, epoch=expected_epoch(step), context=context)
            else:
                run.track(value, name=name, epoch=expected_epoch(step), context=context)
        if (i + 1) % flush_every == 0:
            run.flush()
            say(f"F {i + 1}")
        if pause_after is not None and i + 1 == pause_after:
            run.flush()
            say(f"F {i + 1}")
            say("W")
            sys.stdin.readline()
    say("C")
    if cfg.get("close", True):
        run.close()
        say("D")
    if cfg.get("hold"):  # keep the run open until stdin closes (for lock tests)
        sys.stdin.read()


# -- the reader -----------------------------------------------------------------------------------


def run_reader(cfg: dict) -> None:
    """Read every run and every metric in a loop until a line arrives on stdin; report as JSON.

    Prints ``HALF`` once every expected run is seen active with at least ``half`` points in each
    of its sequences (the writers wait for that line, relayed by the test, before going on).
    """
    import threading

    from aimcol import Repo

    stop = threading.Event()

    def wait_for_stop() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    keys = sequence_keys(cfg["names"])
    full = cfg["iterations"]
    report = {"passes": 0, "errors": [], "partial_reads": 0, "active_reads": 0, "points_read": 0, "queried": 0}
    said_half = False
    while True:
        last_pass = stop.is_set()  # set only after every writer exited: this pass sees the end state
        try:
            repo = Repo(cfg["repo"])
            progress = {}
            for run in repo.iter_runs():
                active = run.active
                if active:
                    report["active_reads"] += 1
                fewest = full
                seen = 0
                for metric in run.metrics():
                    seen += 1
                    subset = metric.context["subset"]
                    steps, values = metric.steps_numpy(), metric.values_numpy()
                    k = check_clean_prefix(metric.name, subset, steps, values)
                    report["points_read"] += k
                    if metric.last_step() is not None and k < metric.last_step() + 1:
                        raise AssertionError(
                            f"{run.hash} {metric.name}/{subset}: manifest says last step "
                            f"{metric.last_step()}, data has {k} steps"
                        )
                    if run.end_time is not None and k != full:
                        raise AssertionError(f"{run.hash} closed but {metric.name}/{subset} has {k} of {full}")
                    if 0 < k < full:
                        report["partial_reads"] += 1
                    fewest = min(fewest, k)
                progress[run.hash] = (active, fewest if seen == len(keys) else 0)
            for metric in repo.query_metrics("metric.name == 'm3' and metric.context.subset == 'val'"):
                report["queried"] += 1
                check_clean_prefix(metric.name, "val", metric.steps_numpy(), metric.values_numpy())
            assert len(repo.query_runs("run.hparams.rank >= 0")) <= cfg["writers"]
            if (
                not said_half
                and len(progress) == cfg["writers"]
                and all(active and fewest >= cfg["half"] for active, fewest in progress.values())
            ):
                said_half = True
                say("HALF")
        except Exception:
            report["errors"].append(traceback.format_exc())
        report["passes"] += 1
        if last_pass:
            break
    say("REPORT " + json.dumps(report))


if __name__ == "__main__":
    mode, config = sys.argv[1], json.loads(sys.argv[2])
    {"writer": run_writer, "reader": run_reader}[mode](config)
