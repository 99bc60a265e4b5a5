"""kill -9 of a writer at any instant loses at most the unflushed points (DESIGN §4).

Each test starts real writer processes (``tests/robust_writer.py``) and kills them with
SIGKILL: at random moments chosen by a seeded generator (the parent waits for the writer's
``F <i>`` flush marker, then kills), right after ``close()`` starts, or at exact instants
inside the format code (the writer kills itself there; see ``install_fault``).  After every
kill the repository must open, every sequence must be a clean prefix of what was tracked
and hold every flushed point, the run must show as crashed, and resuming must seal the
orphan live segment and continue each sequence's auto-step where its data ends.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from robust_writer import Proc, expected_value, key_str, read_prefixes, sequence_keys

from aimcol import Repo, Run
from aimcol.format.manifest import read_manifest

NAMES = 2  # × 2 contexts: 4 sequences


class Chain:
    """One run, written by a succession of writer processes that get killed."""

    def __init__(self, tmp_path, names: int = NAMES):
        self.tmp_path = tmp_path
        self.repo = str(tmp_path / "project")
        self.names = names
        self.run_hash: str | None = None
        self.lengths = {key_str(k): 0 for k in sequence_keys(names)}
        self.kills = 0

    def start(self, **cfg) -> Proc:
        cfg = {
            "repo": self.repo,
            "names": self.names,
            "run_hash": self.run_hash,
            "starts": self.lengths,
            "flush_every": 5,
            "flush_points": 10,
            "seal_rows": 120,
            "iterations": 200,
            **cfg,
        }
        return Proc("writer", cfg, str(self.tmp_path / f"writer{self.kills}.err"))

    def killed(self, proc: Proc, *, iterations: int, may_have_closed: bool = False) -> dict[str, int]:
        """Check the run after ``proc`` died by SIGKILL; returns the new sequence lengths."""
        exited_cleanly = may_have_closed and "D" in proc.lines and proc.popen.returncode == 0  # closed before the kill
        assert proc.popen.returncode == -9 or exited_cleanly, (
            f"writer was not killed (rc {proc.popen.returncode}):\n{proc.stderr_text()}"
        )
        self.kills += 1
        if self.run_hash is None:
            self.run_hash = proc.run_hash
        flushed = proc.last_flushed()
        run = Repo(self.repo).get_run(self.run_hash)  # the repository opens and lists the run
        assert run is not None
        assert run.active is False
        lengths = read_prefixes(run, self.names)
        for key, k in lengths.items():
            start = self.lengths[key]
            assert start + flushed <= k <= start + iterations, (
                f"{key}: {k} points after the kill; {start} before this writer, {flushed} iterations flushed"
            )
        if run.end_time is None:
            assert run.crashed is True
        else:  # the kill landed after close() published end_time: a clean close, nothing lost
            assert may_have_closed, "end_time set although close() never started"
            assert run.crashed is False
            assert all(k == self.lengths[key] + iterations for key, k in lengths.items())
        self.lengths = lengths
        return lengths

    def resume_here(self, more: int = 7, **run_kwargs) -> None:
        """Resume in this process: the orphan live segment is sealed, stats and auto-steps are exact."""
        run = Run(
            self.run_hash, repo=self.repo, system_tracking_interval=None, capture_terminal_logs=False, **run_kwargs
        )
        try:
            manifest = read_manifest(run.repo.layout, self.run_hash)
            assert manifest["live"] is None
            run_dir = run.repo.layout.run_dir(self.run_hash)
            named = {s["file"] for s in manifest["segments"]}
            leftovers = [
                n
                for n in os.listdir(run_dir)
                if (n.startswith(("live-", "seg-")) and n not in named) or n.endswith(".partial")
            ]
            assert leftovers == []
            by_key = {key_str((s["name"], s["context"]["subset"])): s for s in manifest["sequences"]}
            for key, k in self.lengths.items():
                if k == 0:
                    continue
                stats = by_key[key]
                name, subset = key.split("/")
                assert stats["first_step"] == 0 and stats["last_step"] == k - 1, (key, stats, k)
                assert stats["last"] == expected_value(name, subset, k - 1), (key, stats)
                assert stats["count"] >= k
            for j in range(more):
                for name, subset in sequence_keys(self.names):
                    step = self.lengths[key_str((name, subset))] + j
                    run.track(expected_value(name, subset, step), name=name, context={"subset": subset})
        finally:
            run.close()
        done = Repo(self.repo).get_run(self.run_hash)
        assert done.active is False and done.crashed is False and done.end_time is not None
        lengths = read_prefixes(done, self.names)
        assert lengths == {key: k + more for key, k in self.lengths.items()}
        self.lengths = lengths


def test_kills_at_random_moments_then_resume(tmp_path):
    """Twelve writers in a row on one run, each killed at a random moment, each resuming the last."""
    rng = np.random.default_rng(1234)
    chain = Chain(tmp_path, names=3)
    for _ in range(12):
        flush_every = int(rng.choice([1, 2, 5]))
        proc = chain.start(
            iterations=100_000,  # never finishes: always killed mid-write
            flush_every=flush_every,
            flush_points=int(rng.choice([3, 11, 50, 1000])),
            seal_rows=int(rng.choice([40, 150, 500, 10**6])),
        )
        kill_at = flush_every * int(rng.integers(1, 25))
        proc.wait_for(lambda line, n=kill_at: line == f"F {n}")
        spin_until = int(rng.integers(0, 3_000_000))  # a random extra delay, in ns, to vary the instant
        deadline = _now_ns() + spin_until
        while _now_ns() < deadline:
            pass
        proc.kill()
        chain.killed(proc, iterations=100_000)
    chain.resume_here()


def _now_ns() -> int:
    import time

    return time.perf_counter_ns()


FAULTS = [
    # (where, nth time): what the crash leaves on disk
    ("live_append", 1),  # first batch written, the manifest does not name the live file yet
    ("live_append", 9),  # a batch in the live stream that the manifest's stats do not count
    ("seal_begin", 2),  # live file closed, sealing not started
    ("seal_replace", 2),  # sealed file complete under its .partial name
    ("seal_written", 2),  # sealed file in place, manifest still names the live file
    ("unlink_live", 2),  # manifest names the sealed file, live file not yet removed
    ("manifest_replace", 30),  # a new manifest written under its .partial name
    ("close_end_time", 1),  # close() sealed everything, end_time not yet published
]


@pytest.mark.parametrize("where,nth", FAULTS, ids=[f"{w}-{n}" for w, n in FAULTS])
def test_kill_at_exact_instants_then_resume(tmp_path, where, nth):
    chain = Chain(tmp_path)
    proc = chain.start(fault={"at": where, "n": nth})
    proc.finish()
    chain.killed(proc, iterations=200)
    if where == "close_end_time":
        assert chain.lengths == {key: 200 for key in chain.lengths}  # everything was flushed and sealed
    chain.resume_here()


def test_kill_after_end_time_is_a_clean_close(tmp_path):
    chain = Chain(tmp_path)
    proc = chain.start(fault={"at": "lock_release", "n": 1})
    proc.finish()
    chain.killed(proc, iterations=200, may_have_closed=True)
    run = Repo(chain.repo).get_run(chain.run_hash)
    assert run.end_time is not None and run.crashed is False
    chain.resume_here()


def test_kill_during_recovery_then_resume_again(tmp_path):
    """A resuming writer killed while it seals the dead writer's live segment, twice over."""
    chain = Chain(tmp_path)
    proc = chain.start(fault={"at": "live_append", "n": 9}, seal_rows=10**6)
    proc.finish()
    chain.killed(proc, iterations=200)
    for where in ("seal_replace", "seal_written", "unlink_live"):
        proc = chain.start(fault={"at": where, "n": 1}, seal_rows=10**6)
        proc.finish()
        assert not any(line.startswith("F ") for line in proc.lines)  # it died in recovery
        chain.killed(proc, iterations=200)
    chain.resume_here()


def test_kill_right_after_close_starts(tmp_path):
    """close() seals a large live segment; the kill lands before, during or after that."""
    rng = np.random.default_rng(99)
    chain = Chain(tmp_path, names=3)
    for _ in range(6):
        iterations = int(rng.integers(200, 700))
        proc = chain.start(
            iterations=iterations, flush_every=50, flush_points=int(rng.choice([20, 500])), seal_rows=10**6
        )
        proc.wait_for(lambda line: line == "C")
        deadline = _now_ns() + int(rng.integers(0, 20_000_000))
        while _now_ns() < deadline:
            pass
        proc.kill()
        chain.killed(proc, iterations=iterations, may_have_closed=True)
    chain.resume_here()


def test_repair_seals_a_crashed_run_and_keeps_it_crashed(tmp_path):
    from aimcol.format.run_store import repair_run, run_needs_repair

    chain = Chain(tmp_path)
    proc = chain.start(fault={"at": "seal_replace", "n": 1})
    proc.finish()
    before = chain.killed(proc, iterations=200)
    repo = Repo(chain.repo)
    manifest = read_manifest(repo.layout, chain.run_hash)
    assert run_needs_repair(repo.layout, chain.run_hash, manifest)  # a live segment and a .partial file
    repair_run(repo.layout, chain.run_hash)
    manifest = read_manifest(repo.layout, chain.run_hash)
    assert manifest["live"] is None
    assert run_needs_repair(repo.layout, chain.run_hash, manifest) == []
    run = repo.get_run(chain.run_hash)
    assert run.crashed is True and run.active is False
    assert read_prefixes(run, NAMES) == before
    chain.resume_here()


def _promotion_writer(tmp_path) -> tuple[str, str]:
    """A writer whose int sequence ``acc`` gets floats in the batch it is killed before publishing."""
    import subprocess
    import sys

    repo = str(tmp_path / "project")
    code = (
        f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "from robust_writer import install_fault, say\n"
        "install_fault({'at': 'live_append', 'n': 2})\n"
        "from aimcol import Run\n"
        f"run = Run(repo={repo!r}, system_tracking_interval=None, capture_terminal_logs=False, flush_points=1000)\n"
        "say('H ' + run.hash)\n"
        "for step in range(10):\n"
        "    run.track(step, name='acc')\n"
        "run.flush()\n"
        "for step in range(10, 20):\n"
        "    run.track(step + 0.5 if step >= 15 else step, name='acc')\n"
        "run.flush()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == -9, out.stderr
    return repo, out.stdout.split()[1]


PROMOTED = [float(s) for s in range(15)] + [s + 0.5 for s in range(15, 20)]


def test_kill_before_a_promotion_is_published_then_resume(tmp_path):
    """The float values that promoted an int sequence survive recovery as floats."""
    repo, run_hash = _promotion_writer(tmp_path)
    run = Run(run_hash, repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
    run.track(20.5, name="acc")
    run.close()
    metric = Repo(repo).get_run(run_hash).get_metric("acc")
    assert metric.steps.values_list() == list(range(21))
    assert metric.values.values_list() == PROMOTED + [20.5]
    assert metric.last == 20.5 and metric.max == 20.5


def test_crashed_run_reads_floats_its_manifest_never_promoted(tmp_path):
    repo, run_hash = _promotion_writer(tmp_path)
    metric = Repo(repo).get_run(run_hash).get_metric("acc")
    assert metric.values.values_list() == PROMOTED
