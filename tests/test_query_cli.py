"""``aimcol query``: output formats, files, and one clear line (or a caret) for user mistakes."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest
from aimql_repos import four_runs

from aimcol.cli import main


def run_cli(*argv) -> int:
    return main(["query", *argv])


@pytest.fixture(scope="module")
def repo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return root, four_runs(root)


def test_table_of_sequences(repo_dir, capsys):
    root, h = repo_dir
    assert run_cli("metric.name = 'loss' and run.hparams.lr < 0.005", "--repo", str(root)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["run", "run_name", "experiment", "name"]
    assert len(out) == 2 + 2 + 1  # header, rule, two sequences, row count
    assert h["alpha"] in out[2] and "loss" in out[2]
    assert out[-1] == "(2 rows)"


def test_table_of_runs(repo_dir, capsys):
    root, h = repo_dir
    assert run_cli("run.hparams.batch_size > 1", "--runs", "--repo", str(root)) == 0
    out = capsys.readouterr().out
    assert h["alpha"] in out and h["beta"] not in out and "hparams.batch_size" in out


def test_runs_csv_and_json(repo_dir, capsys):
    root, h = repo_dir
    assert run_cli("", "--runs", "-f", "csv", "--repo", str(root)) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["run"] for r in rows] == [h["delta"], h["beta"], h["alpha"]]
    assert run_cli("", "--runs", "-f", "json", "--repo", str(root)) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[2]["hparams.opt"] == "adam" and records[0]["hparams.lr"] is None  # NaN → null


def test_points_to_files(repo_dir, tmp_path, capsys):
    root, _ = repo_dir
    pq = pytest.importorskip("pyarrow.parquet")
    target = tmp_path / "loss.parquet"
    assert run_cli("metric.name == 'loss'", "-o", str(target), "--repo", str(root)) == 0
    assert "wrote 60 rows" in capsys.readouterr().err
    table = pq.read_table(target)
    assert table.num_rows == 60 and {"run", "name", "step", "value"} <= set(table.column_names)
    target = tmp_path / "acc.arrow"
    assert run_cli("metric.name == 'acc'", "-o", str(target), "--repo", str(root)) == 0
    with pa.memory_map(str(target)) as source:
        assert pa.ipc.open_file(source).read_all().num_rows == 30
    target = tmp_path / "acc.csv"
    assert run_cli("metric.name == 'acc'", "-o", str(target), "--summary", "--repo", str(root)) == 0
    assert len(target.read_text().splitlines()) == 4


def test_syntax_error_prints_caret_and_exits_1(repo_dir, capsys):
    root, _ = repo_dir
    assert run_cli('run.hash == "x" && metric.name == "y"', "--repo", str(root)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        'run.hash == "x" && metric.name == "y"',
        " " * 17 + "^",
        "AimQLSyntaxError: '&&' is not AimQL: use 'and'",
    ]


def test_user_mistakes_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("run.a == 1") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no .aimcol repository" in err[0] and err[0].startswith("aimcol:")
    assert run_cli("", "--repo", str(tmp_path / "nowhere")) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    (tmp_path / ".aimcol").mkdir()
    assert run_cli("", "-o", str(tmp_path / "no" / "such" / "dir.csv")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aimcol: cannot write")


def test_empty_result(repo_dir, capsys):
    root, _ = repo_dir
    assert run_cli("run.nothing", "--repo", str(root)) == 0
    assert capsys.readouterr().out == "(no matches)\n"


def test_runs_with_metric_columns_sorted_and_limited(repo_dir, capsys):
    """Issue 10: `aimcol query --runs` with `loss.last`-style columns, --sort and --limit (MLflow's search_runs)."""
    root, h = repo_dir
    args = ("", "--runs", "--metric", "loss", "--metric", "acc.max", "-f", "json", "--repo", str(root))
    assert run_cli(*args, "--sort", "loss:val.last desc", "--limit", "2") == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 2
    for stat in ("last", "min", "max"):
        assert f"loss:train.{stat}" in records[0] and f"loss:val.{stat}" in records[0]
    assert "acc.max" in records[0] and "acc.last" not in records[0]
    lasts = [r["loss:val.last"] for r in records]
    assert lasts == sorted(lasts, reverse=True) and None not in lasts
    # the SDK call behind it: the same columns, joinable on "run" with the points
    from aimcol import Repo

    table = Repo(str(root)).runs_table("", metrics=["loss.min"])
    assert table.schema.field("run").type == pa.string() and "loss:train.min" in table.column_names
    assert set(table.column("run").to_pylist()) == {h["delta"], h["beta"], h["alpha"]}
    points = Repo(str(root)).query_metrics("metric.name == 'acc'").to_arrow()
    assert set(points.column("run").to_pylist()) <= set(table.column("run").to_pylist())


def test_sort_names_a_missing_column_and_metric_needs_runs(repo_dir, capsys):
    root, _ = repo_dir
    assert run_cli("", "--runs", "--sort", "hparams.lrr", "--repo", str(root)) == 1
    err = capsys.readouterr().err
    assert "no column 'hparams.lrr'" in err and "hparams.lr" in err
    assert run_cli("", "--metric", "loss", "--repo", str(root)) == 1
    assert "--runs" in capsys.readouterr().err


def test_an_unknown_output_extension_is_a_clear_error(repo_dir, tmp_path, capsys):
    root, _ = repo_dir
    target = tmp_path / "loss.xlsx"
    assert run_cli("metric.name == 'loss'", "-o", str(target), "--repo", str(root)) == 1
    err = capsys.readouterr().err
    assert ".xlsx" in err and "--format" in err and len(err.strip().splitlines()) == 1
    assert not target.exists()  # never a plain-text file under a spreadsheet's name
