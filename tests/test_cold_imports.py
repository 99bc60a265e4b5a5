"""What a fresh process imports to answer its first query: never pyarrow.compute, never pandas.

Importing ``pyarrow.compute`` costs 0.3–0.5 s on a slow machine and pandas more; a cold
``query_runs`` takes well under that, so either import would dominate it (and the TUI's
first paint).  pyarrow loads ``pyarrow.compute`` behind ``Array.take``, ``cast``,
``Table.filter`` … and pandas behind ``pa.array``/``pa.scalar``, so a stray call reintroduces
them silently; this test runs the cold paths in a new process and checks ``sys.modules``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

COLD_PATHS = textwrap.dedent(
    """
    import sys
    from aimcol import Repo
    from aimcol.tui.repo_source import RepoSource, last_values, metric_keys

    repo = Repo(sys.argv[1])
    for q in ("", "run.hparams.batch_size > 32", "run.experiment == 'a' and 'fast' in run.tags",
              "run.name != 'x' or run.hparams.opt == 'adam'", "len(run.tags) > 0 and not run.archived"):
        for group in repo.query_runs(q).iter_runs():
            group.metrics()
    for q in ("metric.name == 'loss' and metric.context.subset == 'train'",
              "run.hparams.batch_size > 32 and metric.name == 'loss'", "metric.last < 0.5"):
        for metric in repo.query_metrics(q):
            metric.sparse_numpy()
            metric.epochs.values_numpy()
            metric.timestamps.values_numpy()
    repo.runs_table("")
    repo.sequences_table("")
    # no sequence selected: an empty table of the index's schema (pyarrow's empty_table imports pandas)
    assert len(repo.query_metrics("metric.name == 'no such metric'")) == 0
    repo.runs_table("", metrics=["loss", "no such metric"])
    repo.sequences_table("metric.name == 'no such metric'", columns=["run", "name"])
    source = RepoSource(repo)
    runs = source.load_runs("", include_archived=False)
    sequences = source.load_sequences()
    for key in metric_keys(sequences):
        last_values(sequences, key, runs.column("run"))
    bad = sorted(m for m in ("pyarrow.compute", "pandas", "numpy.ma") if m in sys.modules)
    assert not bad, bad
    """
)


def _write_runs(make_run) -> list:
    runs = []
    for i, (experiment, tags) in enumerate((("a", ["fast"]), ("b", []), (None, ["fast", "gpu"]))):
        run = make_run(experiment=experiment)
        run.name = f"run-{i}"
        run["hparams"] = {
            "batch_size": 16 * 2**i,
            "opt": ("adam", "sgd", "adam")[i],
            "lr": 0.1 / (i + 1),
            "flag": i % 2 == 0,
            "none": None,
            "layers": [1, 2],
        }
        for tag in tags:
            run.add_tag(tag)
        for step in range(5):
            for subset in ("train", "val"):
                run.track(1.0 / (step + 1 + i), name="loss", step=step, context={"subset": subset}, epoch=step // 2)
        run.close()
        runs.append(run)
    return runs


def test_cold_query_and_listing_import_neither_pyarrow_compute_nor_pandas(make_run, repo_path):
    runs = _write_runs(make_run)
    # the first process builds the index file ...
    subprocess.run([sys.executable, "-c", COLD_PATHS, repo_path], check=True, timeout=120)
    # ... and after a run changed, the next one updates it (re-reads one manifest)
    resumed = make_run(runs[1].hash)
    resumed["hparams", "batch_size"] = 64
    resumed.close()
    subprocess.run([sys.executable, "-c", COLD_PATHS, repo_path], check=True, timeout=120)
