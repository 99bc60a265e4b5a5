"""The ``aimcol`` command line, run as a real subprocess the way users run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aimcol import Repo, Run


def aimcol(*args, cwd=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "aimcol", *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"aimcol {args} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo")
    proc = aimcol("demo", "--repo", str(path), "--runs-per-experiment", "3", "--steps", "200")
    assert "crashed" in proc.stdout and "aimcol tui" in proc.stdout
    return str(path)


def test_demo_writes_a_realistic_repo(demo_repo):
    runs = list(Repo(demo_repo).iter_runs())
    assert len(runs) == 10
    assert {r.experiment for r in runs} == {"resnet18-cifar10", "vit-tiny-cifar10", "mlp-mnist"}
    crashed = [r for r in runs if r.crashed]
    assert len(crashed) == 1 and crashed[0].name == "resnet18-crashed"
    assert crashed[0].get_metric("loss", {"subset": "train"}).last_step() == 80  # killed at 2/5 of 200 steps
    finished = [r for r in runs if not r.crashed]
    for run in finished:
        assert set(run["hparams"]) >= {"lr", "batch_size", "optimizer"}
        names = {(m.name, m.context.get("subset")) for m in run.metrics()}
        assert names == {("loss", "train"), ("loss", "val"), ("accuracy", "train"), ("accuracy", "val"), ("lr", None)}
        assert len(run.get_metric("loss", {"subset": "train"})) == 200


def test_runs_ls_table_and_json(demo_repo):
    out = aimcol("runs", "ls", "--repo", demo_repo).stdout.splitlines()
    assert out[0].split()[:3] == ["HASH", "NAME", "EXPERIMENT"]
    assert len(out) == 11 and any("crashed" in line for line in out)
    rows = [json.loads(line) for line in aimcol("runs", "ls", "--repo", demo_repo, "--json").stdout.splitlines()]
    assert len(rows) == 10 and {r["status"] for r in rows} == {"finished", "crashed"}
    assert all(r["sequences"] == 5 for r in rows)
    times = [r["creation_time"] for r in rows]
    assert times == sorted(times, reverse=True)


def test_runs_show_by_prefix(demo_repo):
    run = next(r for r in Repo(demo_repo).iter_runs() if r.name == "resnet18-00")
    out = aimcol("runs", "show", run.hash[:8], "--repo", demo_repo).stdout
    assert run.hash in out and "hparams:" in out and "optimizer:" in out
    assert "loss" in out and '{"subset": "val"}' in out
    data = json.loads(aimcol("runs", "show", run.hash, "--repo", demo_repo, "--json").stdout)
    assert data["params"]["hparams"] == run["hparams"] and len(data["sequences"]) == 5


def test_user_mistakes_are_one_line_and_exit_1(tmp_path, demo_repo):
    proc = aimcol("runs", "ls", cwd=str(tmp_path), check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "no .aimcol repository" in proc.stderr
    proc = aimcol("runs", "show", "ffffffffffff", "--repo", demo_repo, check=False)
    assert proc.returncode == 1 and "no run 'ffffffffffff'" in proc.stderr and "Traceback" not in proc.stderr
    proc = aimcol("runs", "ls", "--repo", str(tmp_path / "nowhere"), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    proc = aimcol("init", str(tmp_path / "missing-dir"), check=False)
    assert proc.returncode == 1 and "is not a folder" in proc.stderr


def test_init_check_repair_close_and_rm(tmp_path):
    aimcol("init", str(tmp_path))
    assert os.path.isfile(tmp_path / ".aimcol" / "FORMAT")
    # a crashed run: a child process tracks, flushes, and dies by SIGKILL
    code = (
        "import os, signal\n"
        "from aimcol import Run\n"
        f"r = Run(repo={str(tmp_path)!r}, system_tracking_interval=None, capture_terminal_logs=False)\n"
        "print(r.hash, flush=True)\n"
        "for i in range(100): r.track(float(i), name='loss')\n"
        "r.flush()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    run_hash = child.stdout.strip()
    check = aimcol("check", "--repo", str(tmp_path)).stdout
    assert f"{run_hash}: crashed" in check and "repairable: unsealed live segment" in check
    repair = aimcol("repair", "--repo", str(tmp_path)).stdout
    assert f"{run_hash}: repaired" in repair
    run = Repo(str(tmp_path)).get_run(run_hash)
    assert run.crashed and run.get_metric("loss").values_list() == [float(i) for i in range(100)]
    assert "repairable" not in aimcol("check", "--repo", str(tmp_path)).stdout
    crashed_duration = run.duration
    last_point = run.creation_time + crashed_duration
    assert "closed" in aimcol("runs", "close", run_hash, "--repo", str(tmp_path)).stdout
    run = Repo(str(tmp_path)).get_run(run_hash)
    assert not run.crashed and len(run.get_metric("loss")) == 100
    # closed at its newest point, not when `runs close` ran: its duration does not grow
    assert run.end_time == pytest.approx(last_point, abs=1e-3)
    assert run.duration == pytest.approx(crashed_duration, abs=1e-3)
    # a live writer's run is refused by rm and close
    live = Run(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)
    proc = aimcol("runs", "rm", live.hash, "--repo", str(tmp_path), check=False)
    assert proc.returncode == 1 and "open for writing" in proc.stdout
    proc = aimcol("runs", "close", live.hash, "--repo", str(tmp_path), check=False)
    assert proc.returncode == 1
    live.close()
    assert "deleted" in aimcol("runs", "rm", live.hash, run_hash[:10], "--repo", str(tmp_path)).stdout
    assert Repo(str(tmp_path)).run_hashes() == []


def test_repo_check_and_repair_are_the_sdk_behind_the_commands(tmp_path):
    """`aimcol check`/`repair` print what Repo.check()/Repo.repair() return (issue 8 item 2)."""
    repo = Repo(str(tmp_path), init=True)
    done = Run(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)
    done.track(1.0, name="loss")
    done.close()
    code = (
        "import os, signal\n"
        "from aimcol import Run\n"
        f"r = Run(repo={str(tmp_path)!r}, system_tracking_interval=None, capture_terminal_logs=False)\n"
        "print(r.hash, flush=True)\n"
        "for i in range(10): r.track(float(i), name='loss')\n"
        "r.flush()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    crashed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.strip()
    found = {c.run: c for c in repo.check()}
    assert found[done.hash].status == "finished" and found[done.hash].ok and not found[done.hash].repairable
    assert found[crashed].status == "crashed" and found[crashed].repairable == [
        next(r for r in found[crashed].repairable if r.startswith("unsealed live segment"))
    ]
    (fixed,) = repo.repair()
    assert fixed.run == crashed and fixed.fixed == found[crashed].repairable
    assert repo.repair() == [] and all(c.ok and not c.repairable for c in repo.check())
    # a damaged segment is a problem, reported by name and never "repaired" away
    run_dir = tmp_path / ".aimcol" / "runs" / done.hash
    segment = next(p for p in run_dir.iterdir() if p.name.startswith("seg-"))
    segment.write_bytes(b"garbage")
    damaged = {c.run: c for c in repo.check()}[done.hash]
    assert not damaged.ok and damaged.problems and repo.repair() == []
    assert segment.read_bytes() == b"garbage"


def test_one_status_for_tables_cli_and_runs(tmp_path):
    """Status is computed in aimcol.sdk.tables only: the runs table, Run objects and `runs ls` agree."""
    from aimcol.sdk.tables import RUN_STATUSES, status_of

    Repo(str(tmp_path), init=True)
    code = (
        "from aimcol import Run\n"
        f"with Run(repo={str(tmp_path)!r}, system_tracking_interval=None, capture_terminal_logs=False) as r:\n"
        "    r.name = 'boom'\n"
        "    r.track(1.0, name='loss')\n"
        "    raise RuntimeError('diverged')\n"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    ok = Run(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)
    ok.name = "fine"
    ok.close()
    repo = Repo(str(tmp_path))
    table = repo.runs_table("")
    statuses = dict(zip(table.column("name").to_pylist(), table.column("status").to_pylist()))
    assert statuses == {"boom": "failed", "fine": "finished"}
    assert set(statuses.values()) <= set(RUN_STATUSES)
    assert {status_of(r) for r in repo.iter_runs()} == {"failed", "finished"}
    rows = [json.loads(line) for line in aimcol("runs", "ls", "--json", "--repo", str(tmp_path)).stdout.splitlines()]
    assert {r["name"]: r["status"] for r in rows} == statuses


def test_runs_logs_prints_and_follows_a_live_run(tmp_path):
    Repo(str(tmp_path), init=True)
    code = (
        "import sys, time\n"
        "from aimcol import Run\n"
        f"run = Run(repo={str(tmp_path)!r}, system_tracking_interval=None, capture_terminal_logs=True)\n"
        "sys.__stderr__.write(run.hash + '\\n'); sys.__stderr__.flush()  # not captured\n"
        "for i in range(6):\n"
        "    print(f'line {i}', flush=True)\n"
        "    time.sleep(0.3)\n"
        "run.close()\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    run_hash = writer.stderr.readline().strip()
    follower = subprocess.run(
        [sys.executable, "-m", "aimcol", "runs", "logs", run_hash[:8], "--follow", "--interval", "0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
    )
    writer.wait(timeout=30)
    assert follower.returncode == 0, follower.stderr
    assert follower.stdout.splitlines() == [f"line {i}" for i in range(6)]  # every line once, in order
    assert aimcol("runs", "logs", run_hash, "--repo", str(tmp_path)).stdout.splitlines()[-1] == "line 5"


def test_runs_show_prints_the_notes(tmp_path, capsys):
    from aimcol import Run
    from aimcol.cli import main

    run = Run(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)
    run.notes = "diverged at epoch 3\nretry with lr 3e-4"
    run.close()
    assert main(["runs", "show", run.hash, "--repo", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "notes\n  diverged at epoch 3\n  retry with lr 3e-4\n" in out
    assert main(["runs", "show", run.hash, "--repo", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == "diverged at epoch 3\nretry with lr 3e-4"
