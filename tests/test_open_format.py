"""Sealed segments are plain Arrow IPC files that other tools read without aimcol (DESIGN §3).

The reading happens in a separate Python process in which importing aimcol is made to
fail, so nothing there can lean on aimcol code.  The guarantee itself is written down in
``aimcol/format/FORMAT.md``.
"""

from __future__ import annotations

import glob
import json
import math
import os
import subprocess
import sys

import pytest

from aimcol import Repo, Run

# What a reader without aimcol runs.  It prints one JSON document.
NO_AIMCOL_PRELUDE = r"""
import importlib.abc, json, sys

class _NoAimcol(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "aimcol" or name.startswith("aimcol."):
            raise ImportError("this process must not use aimcol")
        return None

sys.meta_path.insert(0, _NoAimcol())
files = json.loads(sys.argv[1])
out = {}
"""

PYARROW_AND_POLARS = (
    NO_AIMCOL_PRELUDE
    + r"""
import pyarrow as pa
import pyarrow.dataset as ds
import polars as pl

dataset = ds.dataset(files, format="ipc")
table = dataset.to_table()
out["schema"] = [[f.name, str(f.type), f.nullable] for f in dataset.schema]
out["rows"] = {col: table.column(col).to_pylist() for col in table.column_names}
out["files"] = []
for path in files:
    with pa.memory_map(path) as source:
        reader = pa.ipc.open_file(source)
        meta = {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()}
        part = reader.read_all()
    out["files"].append({
        "metadata": json.loads(meta["aimcol"]),
        "seq": part.column("seq").to_pylist(),
        "step": part.column("step").to_pylist(),
    })
frame = pl.read_ipc(files[0])
out["polars_dtypes"] = {name: str(dtype) for name, dtype in frame.schema.items()}
scanned = pl.scan_ipc(sys.argv[2]).sort(["seq", "step"]).collect()
out["polars_rows"] = scanned.height
out["polars_value_sum"] = float(scanned.filter(pl.col("value").is_finite())["value"].sum())
out["polars_null_epochs"] = int(scanned["epoch"].null_count())
out["aimcol_imported"] = any(m == "aimcol" or m.startswith("aimcol.") for m in sys.modules)
print(json.dumps(out))
"""
)

DUCKDB = (
    NO_AIMCOL_PRELUDE
    + r"""
import duckdb
import pyarrow.dataset as ds

points = ds.dataset(files, format="ipc")
con = duckdb.connect()
con.register("points", points)
out["per_seq"] = con.execute("select seq, count(*), max(step) from points group by seq order by seq").fetchall()
print(json.dumps(out))
"""
)

NAMES = ("loss", "acc", "lr")
SUBSETS = ("train", "val")
STEPS = 700


def _value(name: str, subset: str, step: int) -> float:
    if name == "lr" and step == 13:
        return math.inf if subset == "train" else math.nan
    return NAMES.index(name) * 100 + SUBSETS.index(subset) * 10 + step / 8


@pytest.fixture(scope="module")
def sealed_run(tmp_path_factory):
    """A closed run whose points went into several sealed segments; returns (run dir, hash, expected)."""
    repo = str(tmp_path_factory.mktemp("open") / "project")
    expected = {}
    with Run(
        repo=repo, system_tracking_interval=None, capture_terminal_logs=False, flush_points=250, seal_rows=1500
    ) as run:
        for step in range(STEPS):
            for name in NAMES:
                for subset in SUBSETS:
                    epoch = step // 100 if name != "lr" else None  # lr has no epochs: nulls
                    run.track(_value(name, subset, step), name=name, step=step, epoch=epoch, context={"subset": subset})
                    expected[(name, subset, step)] = (_value(name, subset, step), epoch)
            if step % 20 == 19:
                run.flush()  # deterministic batches (the background flusher's timing is not)
        run.track(-1.0, name="loss", step=5, context={"subset": "train"})  # re-tracked: the latest write wins
        expected[("loss", "train", 5)] = (-1.0, None)
    run_dir = Repo(repo).layout.run_dir(run.hash)
    return run_dir, run.hash, expected


def _read_elsewhere(script: str, run_dir: str) -> dict:
    files = sorted(glob.glob(os.path.join(run_dir, "seg-*.arrow")))
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(files), os.path.join(run_dir, "seg-*.arrow")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=run_dir,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_sealed_segments_read_with_pyarrow_and_polars_alone(sealed_run):
    run_dir, run_hash, expected = sealed_run
    assert not glob.glob(os.path.join(run_dir, "live-*"))
    assert len(glob.glob(os.path.join(run_dir, "seg-*.arrow"))) >= 3  # sealed more than once
    got = _read_elsewhere(PYARROW_AND_POLARS, run_dir)
    assert got["aimcol_imported"] is False

    assert got["schema"] == [
        ["seq", "uint32", False],
        ["step", "int64", False],
        ["value", "double", False],
        ["epoch", "int64", True],
        ["time", "double", False],
    ]
    assert got["polars_dtypes"] == {
        "seq": "UInt32",
        "step": "Int64",
        "value": "Float64",
        "epoch": "Int64",
        "time": "Float64",
    }

    # every file names the run and the sequences whose ids it holds, and is sorted by (seq, step)
    names = {}
    for part in got["files"]:
        assert part["metadata"]["run"] == run_hash
        sequences = part["metadata"]["sequences"]
        for seq_id in set(part["seq"]):
            names[seq_id] = (sequences[str(seq_id)]["name"], sequences[str(seq_id)]["context"]["subset"])
        keys = list(zip(part["seq"], part["step"]))
        assert keys == sorted(keys) and len(set(keys)) == len(keys)

    # files in name (= manifest) order: a step re-tracked after its first row was sealed is in
    # a later file too, and the later row wins
    rows = got["rows"]
    seen, repeated = {}, []
    for seq_id, step, value, epoch, when in zip(rows["seq"], rows["step"], rows["value"], rows["epoch"], rows["time"]):
        key = (*names[seq_id], step)
        if key in seen:
            repeated.append(key)
        seen[key] = (value, epoch)
        assert when > 1e9  # seconds since the Unix epoch
    assert repeated == [("loss", "train", 5)]
    assert seen.keys() == expected.keys()
    for key, (value, epoch) in expected.items():
        got_value, got_epoch = seen[key]
        assert got_epoch == epoch, key
        if math.isnan(value):
            assert math.isnan(got_value), key
        else:
            assert got_value == value, key

    assert got["polars_rows"] == len(expected) + 1
    finite = [v for v, _ in expected.values() if math.isfinite(v)] + [_value("loss", "train", 5)]
    assert got["polars_value_sum"] == pytest.approx(sum(finite))
    assert got["polars_null_epochs"] == STEPS * len(SUBSETS) + 1  # lr, and the re-tracked row


def test_sealed_segments_query_with_duckdb(sealed_run):
    run_dir, _, _ = sealed_run
    got = _read_elsewhere(DUCKDB, run_dir)
    per_seq = {row[0]: row[1:] for row in got["per_seq"]}
    assert sorted(per_seq.values()) == [[STEPS, STEPS - 1]] * (len(NAMES) * len(SUBSETS) - 1) + [[STEPS + 1, STEPS - 1]]


def test_format_md_documents_the_guarantee():
    import aimcol.format

    text = open(os.path.join(os.path.dirname(aimcol.format.__file__), "FORMAT.md"), encoding="utf-8").read()
    for phrase in (
        "pyarrow.dataset",
        "polars",
        "seq",
        "uint32",
        "epoch",
        "zstd",
        "live_rows",
        "FORMAT",
        "manifest.msgpack",
        "lock",
    ):
        assert phrase in text, phrase
