"""``aimcol convert aim``: a repository written by real Aim 3.29, read through the ``aim`` package.

The test extra installs ``aim==3.29.1`` beside aimcol (Python < 3.13: Aim's RocksDB wheel has
none newer), so CI reads Aim's own format through Aim, both in this process and through
``--aim-python`` (the reader in another interpreter, as for an Aim kept in its own
virtualenv).  Without ``aim`` here, ``$AIMCOL_AIM_PYTHON`` may name an interpreter that has it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from aimcol import Repo


def _aim_python() -> str | None:
    if importlib.util.find_spec("aim") is not None:
        return sys.executable
    candidate = os.environ.get("AIMCOL_AIM_PYTHON")
    return candidate if candidate and os.path.exists(candidate) else None


AIM_PYTHON = _aim_python()
pytestmark = pytest.mark.skipif(
    AIM_PYTHON is None,
    reason="aim is not installed (the test extra installs aim==3.29.1 on Python < 3.13) and $AIMCOL_AIM_PYTHON is unset",
)

WRITE = r"""
import json, sys, time
from aim import Run
spec = json.loads(sys.argv[2])
hashes, times = {}, {}
for r in spec:
    run = Run(repo=sys.argv[1], experiment=r["experiment"], system_tracking_interval=None,
              capture_terminal_logs=False, log_system_params=False)
    run.name = r["name"]
    run.description = r["description"]
    run["hparams"] = r["hparams"]
    for tag in r["tags"]:
        run.add_tag(tag)
    for m in r["metrics"]:
        for step, value, epoch in m["points"]:
            run.track(value, name=m["name"], step=step, epoch=epoch, context=m["context"])
    hashes[r["name"]] = run.hash
    run.close()
    # Aim's end time is read by the converter's own process; here, when the close had returned
    times[r["name"]] = [Run(hashes[r["name"]], repo=sys.argv[1], read_only=True).creation_time, time.time()]
print(json.dumps({"hashes": hashes, "times": times}))
"""

SPEC = [
    {
        "name": "baseline",
        "experiment": "cifar",
        "description": "first try",
        "hparams": {"lr": 0.01, "optimizer": {"name": "adam", "betas": [0.9, 0.99]}},
        "tags": ["good", "v1"],
        "metrics": [
            {
                "name": "loss",
                "context": {"subset": "train"},
                "points": [[s, 1.0 / (s + 1), s // 10] for s in range(30)],
            },
            {"name": "loss", "context": {"subset": "val"}, "points": [[s * 10, 0.5 - s / 100, s] for s in range(3)]},
            {"name": "acc", "context": {}, "points": [[s, s / 10, None] for s in range(5)]},
        ],
    },
    {
        "name": "second",
        "experiment": "mnist",
        "description": "",
        "hparams": {"lr": 0.1},
        "tags": [],
        "metrics": [{"name": "loss", "context": {"subset": "train", "fold": 2}, "points": [[0, 2.5, 0], [5, 1.5, 1]]}],
    },
]


@pytest.fixture(scope="module")
def aim_repo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("aimrepo")
    done = subprocess.run(
        [AIM_PYTHON, "-c", WRITE, str(folder), json.dumps(SPEC)],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout.strip().splitlines()[-1])
    return str(folder), written["hashes"], written["times"]


def _convert(*args):
    env = dict(os.environ)
    if AIM_PYTHON != sys.executable:
        env["AIMCOL_AIM_PYTHON"] = AIM_PYTHON
    return subprocess.run(
        [sys.executable, "-m", "aimcol", "convert", "aim", *args], capture_output=True, text=True, env=env, timeout=600
    )


def test_params_tags_experiments_and_every_point(aim_repo, tmp_path):
    folder, hashes, times = aim_repo
    target = str(tmp_path / "repo")
    done = _convert(folder, "--repo", target)
    assert done.returncode == 0, done.stderr
    assert "imported 2 runs, 40 points" in done.stdout
    runs = {run.name: run for run in Repo(target).iter_runs()}
    assert set(runs) == {"baseline", "second"}
    for spec in SPEC:
        run = runs[spec["name"]]
        assert run.experiment == spec["experiment"]
        assert (run.description or "") == spec["description"]
        assert run["hparams"] == spec["hparams"]
        assert sorted(run.tags) == sorted(spec["tags"])
        assert run["aim_run_hash"] == hashes[spec["name"]] == run["imported_from"]["id"]
        created, closed = times[spec["name"]]  # Aim's times, not the import's
        assert run.creation_time == created and created < run.end_time <= closed
        assert run.exit_status == "finished"
        for m in spec["metrics"]:
            metric = run.get_metric(m["name"], m["context"])
            steps, values = metric.values.sparse_numpy()
            assert steps.tolist() == [p[0] for p in m["points"]]
            assert values.tolist() == [p[1] for p in m["points"]]
            if all(p[2] is not None for p in m["points"]):
                assert metric.epochs.values_list() == [p[2] for p in m["points"]]
    again = _convert(folder, "--repo", target)
    assert again.returncode == 0 and "imported 0 runs" in again.stdout


def test_reader_in_another_interpreter(aim_repo, tmp_path):
    """``--aim-python``: Aim's runs stream back from a subprocess as JSON lines, the same runs."""
    folder, hashes, _ = aim_repo
    target = str(tmp_path / "repo")
    done = _convert(folder, "--repo", target, "--aim-python", AIM_PYTHON)
    assert done.returncode == 0, done.stderr
    assert "imported 2 runs, 40 points" in done.stdout
    runs = {run.name: run for run in Repo(target).iter_runs()}
    assert {name: run["aim_run_hash"] for name, run in runs.items()} == hashes
    metric = runs["baseline"].get_metric("loss", {"subset": "val"})
    assert metric.values.sparse_numpy()[0].tolist() == [0, 10, 20]


def test_without_aim_the_message_says_what_to_do(tmp_path, aim_repo):
    folder, _, _ = aim_repo
    env = {k: v for k, v in os.environ.items() if k != "AIMCOL_AIM_PYTHON"}
    code = "import sys; sys.modules['aim'] = None; from aimcol.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "convert", "aim", folder, "--repo", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert "needs the aim package" in done.stderr and "--aim-python" in done.stderr


def test_not_an_aim_repository(tmp_path):
    done = _convert(str(tmp_path), "--repo", str(tmp_path / "r"))
    assert done.returncode == 1 and "no Aim repository" in done.stderr
