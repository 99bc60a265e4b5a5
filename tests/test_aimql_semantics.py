"""AimQL semantics on real repositories, checked against what Aim 3.29.1 returns.

``AIM_ANSWERS`` are the results of real Aim 3.29.1 for the same queries over the same four
runs (written with ``aim.Run`` and queried with ``repo.query_runs``/``query_metrics`` after
a reindex).  aimcol must give the same answer, except where it deliberately does better
(``DIFFERENT_FROM_AIM``).  Aim's own query tests follow.
"""

from __future__ import annotations

import datetime
import time

import numpy as np
import pytest
from aimql_repos import aim_prefilled, four_runs, metric_label, new_run

import aimcol
from aimcol.errors import AimQLSyntaxError
from aimcol.query import parse_query

ALL_METRICS = [
    "alpha/acc",
    "alpha/loss/train",
    "alpha/loss/val",
    "beta/acc",
    "beta/loss/train",
    "beta/loss/val",
    "delta/acc",
    "delta/loss/train",
    "delta/loss/val",
]
ALL_RUNS = ["alpha", "beta", "delta"]


def of(*runs):
    return [m for m in ALL_METRICS if m.split("/")[0] in runs]


# (query, runs from query_runs, metrics from query_metrics) — as Aim 3.29.1 answered
AIM_ANSWERS = [
    ("", ALL_RUNS, ALL_METRICS),
    ("run.hparams.missing == None", [], []),
    ("run.hparams.missing != 1", ALL_RUNS, ALL_METRICS),
    ("not run.hparams.missing", ALL_RUNS, ALL_METRICS),
    ("run.hparams.missing > 5", [], []),
    ("run.hparams.batch_size == None", ["beta"], of("beta")),
    ("run.hparams.batch_size > 5", ["alpha"], of("alpha")),
    ("not (run.hparams.batch_size > 5)", ["beta", "delta"], of("beta", "delta")),
    ("not (run.hparams.opt > 5)", ALL_RUNS, ALL_METRICS),
    ("run.hparams.opt > 5", [], []),
    ("run.hparams.opt == 5", [], []),
    ("run.hparams.batch_size + 1 > 0", ["alpha"], of("alpha")),
    ("not (run.hparams.batch_size + 1 > 0)", [], []),
    ("metric.context.subset == 'train'", None, ["alpha/loss/train", "beta/loss/train", "delta/loss/train"]),
    ("metric.context.subset != 'train'", None, ["alpha/loss/val", "beta/loss/val", "delta/loss/val"]),
    ("not metric.context.subset", [], []),
    ("metric.context['subset'] == 'val'", None, ["alpha/loss/val", "beta/loss/val", "delta/loss/val"]),
    ("run.name == 'alpha'", ["alpha"], of("alpha")),
    ("run['name'] == 'pname0'", ["alpha"], of("alpha")),
    ("run.name == 'pname0'", [], []),
    ("0.01 >= run.hparams.lr >= 0.0001", ["alpha", "beta"], of("alpha", "beta")),
    ("len(run.tags) > 0", ["alpha"], of("alpha")),
    ("run.experiment != 'default'", ["alpha", "delta"], of("alpha", "delta")),
    ("run.experiment == 'default'", ["beta"], of("beta")),
    ("run.archived == True", ["gamma"], ["gamma/acc", "gamma/loss/train", "gamma/loss/val"]),
    ("run.archived", ["gamma"], ["gamma/acc", "gamma/loss/train", "gamma/loss/val"]),
    ("run.hparams.lr != run.hparams.lr", ["delta"], of("delta")),
    ("run.hparams.lr == run.hparams.lr", ["alpha", "beta"], of("alpha", "beta")),
    ("metric.last > 5", None, ["alpha/loss/train", "beta/loss/train", "delta/loss/train"]),
    ("metric.last_step == 9", None, ALL_METRICS),
    ("metric.first_step == 0", None, ALL_METRICS),
    ("metric.first == 0", None, ["alpha/acc", "alpha/loss/train", "alpha/loss/val", "beta/acc", "delta/acc"]),
    ("metric.min < 0", None, ["alpha/loss/val", "beta/loss/val", "delta/loss/val"]),
    ("metric.max > 0", None, [m for m in ALL_METRICS if m != "alpha/loss/val"]),
    ("run.metrics['loss', {'subset': 'train'}].last > 3", ALL_RUNS, ALL_METRICS),
    ("metric.run['hparams', 'lr'] == 0.01", None, of("beta")),
    ("metric.run.name == 'beta'", None, of("beta")),
    ("run.hparams.flag == True", ["alpha"], of("alpha")),
    ("run.hparams.flag", ["alpha"], of("alpha")),
    ("run.hparams.flag == 1", ["alpha"], of("alpha")),
    ("run['x'] == '5'", ["delta"], of("delta")),
    ("run.x > 4", [], []),
    ("'a' in run.tags", ["alpha"], of("alpha")),
    ("'b' not in run.tags", ALL_RUNS, ALL_METRICS),
    ("run.hparams.opt in ['adam', 'sgd']", ["alpha", "beta"], of("alpha", "beta")),
    ("run.hparams.missing in ['adam']", [], []),
    ("run.hparams.missing not in ['adam']", ALL_RUNS, ALL_METRICS),
    ("run.active", [], []),
    ("not run.active", ALL_RUNS, ALL_METRICS),
    ("run.duration > 0", ALL_RUNS, ALL_METRICS),
    ("run.created_at > datetime(2020,1,1)", ALL_RUNS, ALL_METRICS),
    ("run.created_at < datetime.now() - timedelta(days=1)", [], []),
    ("run.finalized_at > datetime(2020, 2, 2)", ALL_RUNS, ALL_METRICS),  # Aim's documented query
    ("run.finalized_at >= run.created_at", ALL_RUNS, ALL_METRICS),
    ("run.description == None", ALL_RUNS, ALL_METRICS),
    ("run.end_time > 0", ALL_RUNS, ALL_METRICS),
    ("run.hparams == None", [], []),
    ("len(run.hparams) == 4", ["alpha", "beta"], of("alpha", "beta")),
    ("run.hparams['lr'] < 0.005", ["alpha"], of("alpha")),
    ("run.hparams.lr * 1000 >= 1", ["alpha", "beta"], of("alpha", "beta")),
    ("abs(run.hparams.lr) > 0.005", ["beta"], of("beta")),
    ("run.hparams.lr and run.hparams.batch_size", ["alpha"], of("alpha")),
    ("run.hparams.lr or run.hparams.batch_size", ALL_RUNS, ALL_METRICS),
    ("metric.name.startswith('lo')", None, [m for m in ALL_METRICS if "/loss/" in m]),
    ("metric.name in ('loss',)", None, [m for m in ALL_METRICS if "/loss/" in m]),
    ("run.name.upper() == 'ALPHA'", ["alpha"], of("alpha")),
    ("str(run.hparams.batch_size) == 'None'", ["beta"], of("beta")),
    ("run.tags == ['a']", ["alpha"], of("alpha")),
    ("run.hparams.missing.deeper == None", [], []),
    ("metric.context == {}", None, ["alpha/acc", "beta/acc", "delta/acc"]),
    ("not metric.context", None, ["alpha/acc", "beta/acc", "delta/acc"]),
    ("run.hparams.lr > '0'", [], []),
    ("run.hparams.batch_size == 32.0", ["alpha"], of("alpha")),
    ("run.hparams.flag == 1.0", ["alpha"], of("alpha")),
    ("run.hparams.batch_size < 40 < 100", ["alpha"], of("alpha")),
    ("metric.context.is_training == True", [], []),
]

# Where aimcol answers differently from Aim 3.29.1, on purpose.
DIFFERENT_FROM_AIM = [
    # values are real strings (Aim's proxies make these silently match nothing)
    ("run.hparams.opt.startswith('adam')", ["alpha"], of("alpha")),
    ("run.hparams.opt.lower() == 'adam'", ["alpha"], of("alpha")),
    ("metric.context.subset.startswith('tr')", None, ["alpha/loss/train", "beta/loss/train", "delta/loss/train"]),
    # `is` compares the value, not Aim's proxy object
    ("run.hparams.flag is True", ["alpha"], of("alpha")),
    ("run.hparams.batch_size is None", ["beta"], of("beta")),
    ("run.hparams.missing is not None", ALL_RUNS, ALL_METRICS),
    # `re` is available (Aim's sandbox has no `re`)
    ("re.match('al', run.name)", ["alpha"], of("alpha")),
    ("re.search('ET', run.name, re.I) and metric.name == 'acc'", [], ["beta/acc"]),
    # run[...] is the whole params tree, as in the SDK (Aim 3.29.1 fails every run: "Value
    # Ellipsis of type <class 'ellipsis'> is not supported")
    ("run[...]['hparams']['opt'] == 'sgd'", ["beta"], of("beta")),
    ("metric.run[...]['x'] == '5'", None, of("delta")),
    ("'x' in run[...]", ["delta"], of("delta")),
]

# query_runs binds only `run`, as Aim's: a run whose evaluation reaches a `metric` term does not
# match (Aim: NameError, swallowed per run), with Python's short-circuit (answers of Aim 3.29.1)
RUNS_WITH_METRIC_TERMS = [
    ("metric.context.subset == 'train'", []),
    ("metric.last > 10", []),
    ("not metric.name", []),
    ("metric.name == 'acc' and run.hparams.lr < 0.005", []),
    ("run.hparams.lr < 0.005 and metric.name == 'acc'", []),
    ("run.hparams.lr < 0.005 or metric.name == 'acc'", ["alpha"]),
    ("run.hparams.lr > 1 and metric.name == 'acc'", []),
    ("metric.run.name == 'alpha'", []),
    ("metric.run.name == 'alpha' or run.name == 'beta'", []),
    ("run.name == 'beta' or metric.run.name == 'alpha'", ["beta"]),
    ("metric.name == 'acc' if run.hparams.lr > 0.005 else run.name == 'alpha'", ["alpha"]),
]


@pytest.fixture(scope="module")
def repo4(tmp_path_factory):
    root = tmp_path_factory.mktemp("four")
    hashes = four_runs(root)
    return aimcol.Repo(str(root)), {h: n for n, h in hashes.items()}


def _answer(repo, names, query):
    runs = sorted(names[r.run.hash] for r in repo.query_runs(query).iter_runs())
    metrics = sorted(metric_label(m, names) for m in repo.query_metrics(query))
    return runs, metrics


@pytest.mark.parametrize(
    "query,runs,metrics", AIM_ANSWERS + DIFFERENT_FROM_AIM, ids=lambda v: v if isinstance(v, str) else ""
)
def test_same_answer_as_aim(repo4, query, runs, metrics):
    repo, names = repo4
    got_runs, got_metrics = _answer(repo, names, query)
    assert got_metrics == sorted(metrics)
    if runs is not None:
        assert got_runs == sorted(runs)


@pytest.mark.parametrize("query,runs", RUNS_WITH_METRIC_TERMS)
def test_query_runs_with_metric_terms(repo4, query, runs):
    repo, names = repo4
    assert sorted(names[r.run.hash] for r in repo.query_runs(query).iter_runs()) == sorted(runs)


def test_runs_with_a_matching_metric_come_from_query_metrics(repo4):
    repo, names = repo4
    query = "metric.name == 'acc' and run.hparams.lr < 0.005"
    assert [names[c.run.hash] for c in repo.query_metrics(query).iter_runs()] == ["alpha"]
    result = repo.query_runs(query)
    assert len(result) == 0 and "binds only `run`" in result.hint
    assert repo.runs_table(query).num_rows == 0  # the runs table (CLI --runs, TUI) answers the same


def test_three_ways_to_name_a_param(repo4):
    repo, names = repo4
    answers = {
        q: sorted(names[r.run.hash] for r in repo.query_runs(q).iter_runs())
        for q in (
            "run.hparams.lr < 0.005",
            "run['hparams', 'lr'] < 0.005",
            "run['hparams']['lr'] < 0.005",
            "run['hparams'].lr < 0.005",
            "run.hparams['lr'] < 0.005",
        )
    }
    assert set(map(tuple, answers.values())) == {("alpha",)}


def test_property_vs_param(repo4):
    repo, names = repo4
    assert [names[h] for h in repo.query_runs("run.name == 'alpha'").run_hashes] == ["alpha"]
    assert [names[h] for h in repo.query_runs("run['name'] == 'pname0'").run_hashes] == ["alpha"]
    assert len(repo.query_runs("run['name'] == 'alpha'")) == 0


def test_seed_aim_ql_examples(tmp_path):
    """The README's three 'Aim QL examples', verbatim, on data where a careful reader knows the answer."""
    specs = [  # (experiment, batch_size, lr, tags)
        ("default", 64, 0.0005, ["x"]),
        ("resnet", 64, 0.0005, []),
        ("resnet", 16, 0.01, ["x"]),
        ("resnet", 32, 0.00005, ["y"]),
    ]
    hashes = []
    for experiment, batch, lr, tags in specs:
        run = new_run(tmp_path, experiment=experiment)
        run["hparams"] = {"batch_size": batch, "lr": lr}
        for tag in tags:
            run.add_tag(tag)
        for step in range(3):
            run.track(1.0 / (step + 1), name="loss", step=step, context={"subset": "train"})
            run.track(2.0 / (step + 1), name="loss", step=step, context={"subset": "val"})
            run.track(step / 3, name="acc", step=step, context={"subset": "train"})
        run.close()
        hashes.append(run.hash)
    repo = aimcol.Repo(str(tmp_path))

    query = "run['hparams', 'batch_size'] > 30 and metric.name = 'loss' and metric.context['subset'] == 'train'"
    got = [(m.run.hash, m.name, dict(m.context)) for m in repo.query_metrics(query)]
    assert got == [
        (hashes[3], "loss", {"subset": "train"}),
        (hashes[1], "loss", {"subset": "train"}),
        (hashes[0], "loss", {"subset": "train"}),
    ]  # newest run first

    query = "run.experiment != 'default' and metric.name = 'loss' and len(run.tags) > 0"
    got = sorted((m.run.hash, m.context["subset"]) for m in repo.query_metrics(query))
    assert got == sorted([(hashes[2], "train"), (hashes[2], "val"), (hashes[3], "train"), (hashes[3], "val")])

    query = "0.001 >= run.hparams.lr >= 0.0001"
    assert repo.query_runs(query).run_hashes == [hashes[1], hashes[0]]
    assert {m.run.hash for m in repo.query_metrics(query)} == {hashes[0], hashes[1]}


def test_undefined_params(repo4):
    repo, names = repo4
    for query in (
        "run.nothing",
        "run.nothing == None",
        "run.nothing > 0",
        "run.nothing < 0",
        "run.nothing == 0",
        "run['hparams', 'nothing'] == None",
        "run.nothing in ['a']",
        "run.nothing.deeper.still == 1",
    ):
        assert len(repo.query_runs(query)) == 0, query
    for query in ("run.nothing != None", "not run.nothing", "not (run.nothing > 0)", "run.nothing not in ['a']"):
        assert len(repo.query_runs(query)) == 3, query
    # arithmetic or a call on undefined fails the row, even under `not`
    assert len(repo.query_runs("not (run.nothing + 1 > 0)")) == 0
    assert len(repo.query_runs("not len(run.nothing)")) == 0


def test_runtime_errors_do_not_abort(repo4):
    repo, names = repo4
    assert len(repo.query_runs("1 / 0 == 1")) == 0
    assert len(repo.query_runs("run.hparams.opt + 1 == 6")) == 0  # gamma is archived: 5 + 1 not seen
    assert len(repo.query_runs("run.archived and run.hparams.opt + 1 == 6")) == 1
    # short-circuit: the erroring side is never evaluated for rows it does not reach
    assert sorted(names[h] for h in repo.query_runs("run.name == 'alpha' or 1 / 0").run_hashes) == ["alpha"]
    assert len(repo.query_runs("run.name == 'alpha' and 1 / 0")) == 0
    assert len(repo.query_runs("run.hparams.lr > 1 < 1 / 0")) == 0


def test_metric_stats_and_run_metrics(repo4):
    repo, names = repo4
    metrics = {metric_label(m, names): m for m in repo.query_metrics("metric.name == 'loss'")}
    assert metrics["beta/loss/train"].last == 10.0
    got = sorted(metric_label(m, names) for m in repo.query_metrics("metric.last_step == 9 and metric.max >= 11"))
    assert got == ["delta/loss/train"]
    got = sorted(names[h] for h in repo.query_runs("run.metrics['loss', {'subset': 'val'}].min < -8").run_hashes)
    assert got == ["alpha"]
    assert len(repo.query_runs("run.metrics['loss'].last > 0")) == 0  # no loss with context {}
    assert len(repo.query_runs("run.metrics['acc'].last_step == 9")) == 3
    assert len(repo.query_runs("run.metrics['acc', {}].count == 10")) == 3


def test_missing_context_key_is_no_match(repo4):
    repo, names = repo4
    for query in ("metric.context.subset != 'x'", "metric.context['subset'] or True", "not metric.context.subset"):
        got = {metric_label(m, names).split("/")[1] for m in repo.query_metrics(query)}
        assert "acc" not in got, query


def test_datetime_and_duration(tmp_path):
    run = new_run(tmp_path)
    run.track(1.0, name="x")
    repo = aimcol.Repo(str(tmp_path))
    assert len(repo.query_runs("run.active")) == 1
    assert len(repo.query_runs("run.end_time == None and run.duration >= 0")) == 1
    assert len(repo.query_runs("run.created_at > datetime.now() - timedelta(minutes=5)")) == 1
    assert len(repo.query_runs("run.created_at.year == datetime.now().year")) == 1
    assert len(repo.query_runs("datetime.now() - run.created_at < timedelta(hours=1)")) == 1
    assert len(repo.query_runs(f"run.creation_time < {time.time() + 1}")) == 1
    run.close()
    assert len(repo.query_runs("run.active")) == 0  # never cached: asked again each query
    assert len(repo.query_runs("not run.active and run.end_time > run.creation_time")) == 1


def test_active_status_of_a_crashed_run(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import os, aimcol\n"
        f"r = aimcol.Run(repo={str(tmp_path)!r}, system_tracking_interval=None, capture_terminal_logs=False)\n"
        "r.track(1.0, name='x'); r.flush(); print(r.hash, flush=True); os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    run_hash = out.stdout.strip()
    repo = aimcol.Repo(str(tmp_path))
    assert repo.query_runs("not run.active and run.end_time == None").run_hashes == [run_hash]
    assert repo.query_runs("run.finalized_at == None").run_hashes == [run_hash]  # a crashed run never finalised
    assert repo.query_runs("run.duration >= 0").run_hashes == [run_hash]
    assert os.path.exists(repo.layout.manifest_path(run_hash))


def test_params_of_many_types(tmp_path):
    run = new_run(tmp_path)
    run["p"] = {
        "i": 3,
        "f": 2.5,
        "s": "abc",
        "b": True,
        "n": None,
        "l": [1, 2, 3],
        "d": {"k": "v"},
        "e": {},
        "big": 2**63 + 5,
        "bytes": b"\x00\x01",
        "np": np.int64(7),
        "nan": float("nan"),
    }
    run.close()
    repo = aimcol.Repo(str(tmp_path))
    true_queries = [
        "run.p.i == 3",
        "run.p.i + run.p.f == 5.5",
        "run.p.s.endswith('bc')",
        "'b' in run.p.s",
        "run.p.b is True",
        "run.p.n is None",
        "run.p.l == [1, 2, 3]",
        "2 in run.p.l",
        "len(run.p.l) == 3",
        "run.p.l[-1] == 3",
        "run.p.d.k == 'v'",
        "run.p.d == {'k': 'v'}",
        "run.p.e == {}",
        "not run.p.e",
        "run.p.big > 2**63",
        "run.p.big == 2**63 + 5",
        "run.p.big - 5 == 2**63",
        "run.p.bytes == b'\\x00\\x01'",
        "run.p.np == 7",
        "run.p.nan != run.p.nan",
        "run.p.s * 2 == 'abcabc'",
        "run.p.s[1:] == 'bc'",
        "'k' in run.p.d",
        "run.p.d.get('k') == 'v'",
        "sorted(run.p.l, reverse=True) == [3, 2, 1]",
        "sum(run.p.l) == 6",
        "max(run.p.l) == 3",
        "int(run.p.f) == 2",
        "round(run.p.f) == 2",
        "float(run.p.i) == 3.0",
        "str(run.p.i) == '3'",
        "run.p.i if run.p.b else 0",
        "run.p.i // 2 == 1 and run.p.i % 2 == 1 and run.p.i ** 2 == 9",
        "-run.p.i == -3",
        "run.p.f / 2 == 1.25",
    ]
    for query in true_queries:
        assert len(repo.query_runs(query)) == 1, query
    false_queries = [
        "run.p.l < 5",
        "run.p.d > run.p.d",
        "run.p.n > 0",
        "run.p.s > 1",
        "run.p.i / 0 > 0",
        "run.p.l.k",
        "run.p.s.k",
        "'x' in run.p.i",
        "run.p.e.k == None",
        "run.p.i is 3 == 3",
    ]
    for query in false_queries:
        try:
            assert len(repo.query_runs(query)) == 0, query
        except AimQLSyntaxError:
            assert query == "run.p.i is 3 == 3"


# ---- Aim's own query tests (tests/sdk/test_query.py in Aim), on the same data ---------------------


@pytest.fixture(scope="module")
def prefilled(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefilled")
    aim_prefilled(root)
    return aimcol.Repo(str(root))


def test_aim_query_metrics(prefilled):
    q = "run.hparams.batch_size == None and metric.context.is_training == True"
    count = 0
    for trc in prefilled.query_metrics(query=q):
        assert trc.run["hparams"]["batch_size"] is None
        assert trc.context["is_training"]
        count += 1
    assert count == 20


def test_aim_query_metrics_empty_query(prefilled):
    assert sum(1 for _ in prefilled.query_metrics(query="")) == 40


def test_aim_query_runs(prefilled):
    q = "run.hparams.lr < 0.01 and run.run_index >= 5"
    count = 0
    for run_collection in prefilled.query_runs(query=q).iter_runs():
        run = run_collection.run
        assert run[("hparams", "lr")] < 0.01
        assert run["run_index"] >= 5
        count += 1
    assert count == 5


def test_aim_query_runs_empty_query(prefilled):
    assert sum(1 for _ in prefilled.query_runs(query="").iter_runs()) == 10


def test_aim_query_run_structured_params(prefilled):
    runs = [r.run for r in prefilled.query_runs(query='run.name == "Run # 2"').iter_runs()]
    assert [r.name for r in runs] == ["Run # 2"]


@pytest.mark.parametrize(
    "query, n_runs, n_metrics, n_metric_runs",
    [
        # Aim's test only runs these; the counts follow from the data (10 runs with lr=0.001 and
        # batch_size=None; loss in contexts train/val/not-training, accuracy not-training).
        # query_runs binds only `run` (as Aim): a query reaching a `metric` term selects no run.
        ("run.hparams.batch_size == None and metric.context.is_training == True", 0, 20, 10),
        ("run.hparams.batch_size == None and run.hparams.lr == 0.01", 0, 0, 0),
        ("run.hparams.batch_size == None and run.hparams.lr == 0.001", 10, 40, 10),
        ('metric.context["is_training"] == False', 0, 20, 10),
        ('metric.context.is_training == False and metric.name == "loss"', 0, 10, 10),
        ('run["hparams","lr"] == 0.01', 0, 0, 0),
        ('run["hparams","lr"] == 0.001', 10, 40, 10),
        ('run["hparams"]["lr"] == 0.001', 10, 40, 10),
        ('run["hparams"].lr == 0.001', 10, 40, 10),
        ("metric.run[...]['hparams']['lr'] == 0.001 and metric.name == 'accuracy'", 0, 10, 10),
        ("run[...]['run_index'] < 3", 3, 12, 3),
    ],
)
def test_aim_query_execution(prefilled, query, n_runs, n_metrics, n_metric_runs):
    metrics = list(prefilled.query_metrics(query))
    assert len(metrics) == n_metrics
    assert len({m.run.hash for m in metrics}) == n_metric_runs
    assert len(list(prefilled.query_runs(query).iter_runs())) == n_runs


def test_aim_invalid_query(prefilled):
    with pytest.raises(AimQLSyntaxError, match="unknown name 'invalid_varialble'"):
        next(iter(prefilled.query_metrics('invalid_varialble.get("hparams", "batch_size") == None')))


def test_aim_query_raise_syntax_error(prefilled):
    q = 'run.hash == "x" && metric.name == "y"'
    with pytest.raises(SyntaxError):
        next(iter(prefilled.query_metrics(q)))
    with pytest.raises(SyntaxError):
        next(iter(prefilled.query_runs(q)))


def test_aim_syntax_error_handling():
    with pytest.raises(SyntaxError) as info:
        parse_query('run.hash == "x" && metric.name == "y"')
    assert info.value.offset == 18  # Aim says 19, counting the "(" it wraps the query in
    assert info.value.lineno == 1


def test_aim_default_expression_hides_archived(tmp_path):
    aim_prefilled(tmp_path)
    repo = aimcol.Repo(str(tmp_path))
    target = next(iter(repo.query_runs("run.run_index == 3").iter_runs())).run.hash
    with aimcol.Run(target, repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False) as run:
        run.archived = True
    assert target not in [r.run.hash for r in repo.query_runs().iter_runs()]
    assert target not in [m.run.hash for m in repo.query_metrics()]
    archived = [r.run for r in repo.query_runs("run.archived == True").iter_runs()]
    assert [r.hash for r in archived] == [target] and archived[0].archived
    hashes = [m.run.hash for m in repo.query_metrics('metric.name == "accuracy"')]
    assert target not in hashes and len(hashes) == 9


def test_archived_mentioned_through_metric_run(repo4):
    repo, names = repo4
    got = {names[m.run.hash] for m in repo.query_metrics("metric.run.archived or not metric.run.archived")}
    assert got == {"alpha", "beta", "gamma", "delta"}
    assert len(repo.query_runs("run.archived == False")) == 3


def test_created_at_matches_run_property(repo4):
    repo, names = repo4
    for run_result in repo.query_runs("").iter_runs():
        run = run_result.run
        stamp = run.created_at
        q = (
            f"run.created_at == datetime({stamp.year}, {stamp.month}, {stamp.day}, {stamp.hour}, "
            f"{stamp.minute}, {stamp.second}, {stamp.microsecond})"
        )
        assert repo.query_runs(q).run_hashes == [run.hash]
        assert isinstance(stamp, datetime.datetime)


def test_exit_status_is_queryable(tmp_path):
    """How the writing script ended (issue 11, item 8), from real scripts: finished, failed, interrupted."""
    import subprocess
    import sys

    endings = {"finished": "", "failed": "raise RuntimeError('boom')", "interrupted": "raise KeyboardInterrupt"}
    hashes = {}
    for status, ending in endings.items():
        code = (
            "import sys\nfrom aimcol import Run\n"
            "run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)\n"
            "print(run.hash, flush=True)\nrun.track(1.0, name='loss')\n" + ending
        )
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
        hashes[status] = done.stdout.split()[0]
    repo = aimcol.Repo(str(tmp_path))
    for status, run_hash in hashes.items():
        assert repo.query_runs(f"run.exit_status == {status!r}").run_hashes == [run_hash]
        assert [m.run.hash for m in repo.query_metrics(f"metric.run.exit_status == {status!r}")] == [run_hash]
    assert set(repo.query_runs("run.exit_status in ['failed', 'interrupted']").run_hashes) == {
        hashes["failed"],
        hashes["interrupted"],
    }
    assert repo.query_runs("run['exit_status'] == 'failed'").run_hashes == []  # a param, not the property
