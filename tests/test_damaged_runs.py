"""Damaged runs stay damaged runs (issue 9 #3, #11, #13): reported by name, never a hang, a
traceback, a deleted file outside the run, an overwritten sealed file; the other runs unaffected.

Everything that could hang (a FIFO) or crash runs in a child process with a timeout.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from damage_tools import aimcol_cli, closed_run, crashed_run, manifest_of, python, rewrite_manifest, sequences_of

from aimcol import Repo, Run
from aimcol.errors import DamagedRunError, FormatError


def _runs_dir(project: str, run_hash: str) -> str:
    return os.path.join(project, ".aimcol", "runs", run_hash)


# ---- #3: a manifest naming a path outside its run --------------------------------------------------


@pytest.mark.parametrize("field", ["live", "segment"])
@pytest.mark.parametrize("name", ["ABSOLUTE", "../../victim", "../other-run/seg-000001.arrow", "manifest.msgpack"])
def test_a_manifest_naming_a_path_outside_its_run_never_unlinks_it(tmp_path, field, name):
    project = str(tmp_path / "project")
    victim = str(tmp_path / "victim")
    with open(victim, "w") as fh:
        fh.write("precious")
    run_hash = crashed_run(project, batches=2, rows=10)
    name = victim if name == "ABSOLUTE" else name
    if field == "live":
        rewrite_manifest(project, run_hash, live=name)
    else:
        entry = {"file": name, "rows": 1, "ranges": [[0, 0, 1]], "batches": [1]}
        rewrite_manifest(project, run_hash, segments=[entry], live=None)
    shutil.copyfile(victim, os.path.join(project, ".aimcol", "victim"))  # what "../../victim" may reach
    before = set(os.listdir(_runs_dir(project, run_hash)))

    with pytest.raises(DamagedRunError, match=run_hash):
        Run(run_hash, repo=project, system_tracking_interval=None, capture_terminal_logs=False)
    with pytest.raises(DamagedRunError):
        Repo(project).get_run(run_hash)
    for args in (["runs", "close", run_hash], ["repair"], ["check"]):
        code, out, err = aimcol_cli(*args, "--repo", project)
        assert "Traceback" not in err, err
        assert run_hash in out + err
    code, out, _ = aimcol_cli("check", "--repo", project)
    assert code == 1 and "damaged run" in out

    assert open(victim).read() == "precious"
    assert os.path.exists(os.path.join(project, ".aimcol", "victim"))
    assert set(os.listdir(_runs_dir(project, run_hash))) == before  # nothing of the run deleted either


def test_a_run_folder_name_from_the_index_or_a_user_is_never_a_path():
    layout = Repo.__new__(Repo)
    from aimcol.format.repo_layout import RepoLayout

    layout = RepoLayout("/tmp/x/.aimcol")
    for bad in ("..", "../x", "/etc", "a/b", "", ".deleted-x"):
        with pytest.raises(DamagedRunError):
            layout.run_dir(bad)
    with pytest.raises(DamagedRunError):
        layout.segment_path("a" * 24, "../../victim")


# ---- #11: manifests that are not regular, bounded files ---------------------------------------------

_READ_ALL = """
import json, sys, warnings
from aimcol import Repo
repo = Repo(sys.argv[1])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    runs = [r.hash for r in repo.iter_runs()]
    found = repo.query_runs("run.hparams.lr > 0").run_hashes
    metrics = sorted({m.run.hash for m in repo.query_metrics("metric.name == 'm0'")})
print(json.dumps({"iter_runs": runs, "query_runs": found, "query_metrics": metrics,
                  "warnings": [str(w.message) for w in caught]}))
"""


def _make_odd(path: str, kind: str) -> None:
    os.unlink(path)
    if kind == "directory":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_zero":
        os.symlink("/dev/zero", path)
    elif kind == "oversized":
        with open(path, "wb") as fh:
            fh.truncate(3 << 30)  # sparse: 3 GB that must never be read


@pytest.mark.parametrize("kind", ["directory", "fifo", "dev_zero", "oversized"])
def test_an_odd_manifest_is_a_damaged_run_and_the_others_still_read(tmp_path, kind):
    project = str(tmp_path / "project")
    good = closed_run(project, names=1, steps=50)
    bad = closed_run(project, names=1, steps=50)
    _make_odd(os.path.join(_runs_dir(project, bad), "manifest.msgpack"), kind)

    proc = python(_READ_ALL, project, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["iter_runs"] == [good] and seen["query_runs"] == [good] and seen["query_metrics"] == [good]
    assert any(bad in w for w in seen["warnings"]), seen["warnings"]  # queries say which run they left out

    code, out, err = aimcol_cli("runs", "ls", "--repo", project)
    assert code == 0 and good in out and "Traceback" not in err
    code, out, err = aimcol_cli("check", "--repo", project)
    assert code == 1 and f"{bad}: ERROR" in out and ("regular file" in out or "bytes" in out), out + err


# ---- #13: a wrong next_segment, a lock that is a directory, read-only repositories -----------------


def test_a_wrong_next_segment_never_overwrites_a_sealed_file(tmp_path):
    project = str(tmp_path / "project")
    run_hash = closed_run(project, names=2, steps=500)
    want = sequences_of(project, run_hash)
    (sealed,) = glob.glob(os.path.join(_runs_dir(project, run_hash), "seg-*.arrow"))
    with open(sealed, "rb") as fh:
        sealed_bytes = fh.read()
    number = int(os.path.basename(sealed)[4:10])
    rewrite_manifest(project, run_hash, next_segment=number - 1)  # live: number - 1, then sealed: number
    run = Run(run_hash, repo=project, system_tracking_interval=None, capture_terminal_logs=False)
    run.track_array(np.arange(10.0), name="m0", steps=np.arange(500, 510), context={"k": 0})
    run.close()
    with open(sealed, "rb") as fh:
        assert fh.read() == sealed_bytes
    got = sequences_of(project, run_hash)
    assert np.array_equal(got["m0"][0], np.arange(510)) and np.array_equal(got["m0"][1][:500], want["m0"][1])
    assert np.array_equal(got["m1"][1], want["m1"][1])


def test_a_lock_that_is_a_directory_is_one_clear_error(tmp_path):
    project = str(tmp_path / "project")
    run_hash = crashed_run(project, batches=1, rows=10)
    lock = os.path.join(_runs_dir(project, run_hash), "lock")
    os.unlink(lock)
    os.mkdir(lock)
    with pytest.raises(DamagedRunError, match="lock"):
        Run(run_hash, repo=project, system_tracking_interval=None, capture_terminal_logs=False)
    for args in (["runs", "close", run_hash], ["repair"]):
        code, out, err = aimcol_cli(*args, "--repo", project)
        assert code == 1 and "Traceback" not in err and "lock" in out + err, (args, out, err)
    assert len(sequences_of(project, run_hash)["m0"][0]) == 10  # still readable


def _read_only_mount_works() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind /tmp /tmp && mount -o remount,ro,bind /tmp"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


def _in_read_only_mount(path: str, *aimcol_args: str) -> subprocess.CompletedProcess:
    """``aimcol ARGS`` in a private mount namespace where ``path`` is mounted read-only."""
    from damage_tools import ENV, PYTHON

    script = f'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "{PYTHON}" -m aimcol "$@"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", path, *aimcol_args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )


@pytest.mark.skipif(not _read_only_mount_works(), reason="needs root and unshare to mount a folder read-only")
def test_repair_and_a_missing_format_on_a_read_only_mount_are_one_line(tmp_path):
    project = str(tmp_path / "project")
    run_hash = crashed_run(project, batches=2, rows=10)
    proc = _in_read_only_mount(project, "repair", "--repo", project)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "read-only" in proc.stderr.lower() or "read-only" in proc.stdout.lower()
    os.unlink(os.path.join(project, ".aimcol", "FORMAT"))
    proc = _in_read_only_mount(project, "runs", "ls", "--repo", project)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "FORMAT" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert manifest_of(project, run_hash)["live"]  # nothing changed


def test_a_damaged_manifest_checksum_is_a_typed_error(tmp_path):
    project = str(tmp_path / "project")
    run_hash = closed_run(project, names=1, steps=20)
    path = os.path.join(_runs_dir(project, run_hash), "manifest.msgpack")
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x01
    open(path, "wb").write(bytes(data))
    with pytest.raises(FormatError, match="manifest"):
        Repo(project).get_run(run_hash)
