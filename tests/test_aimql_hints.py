"""A query that matches nothing because of a likely typo says what it probably meant."""

from __future__ import annotations

import pytest
from aimql_repos import four_runs

import aimcol
from aimcol.cli import main
from aimcol.query.hints import UNBOUND_METRIC_HINT


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("hints")
    four_runs(root)
    return aimcol.Repo(str(root))


@pytest.mark.parametrize(
    "query, hint",
    [
        ("run.hparam.lr < 0.01", "no run has a param 'hparam.lr'; did you mean run.hparams.lr?"),
        ("run.hparams.learning_rate > 0", "no run has a param 'hparams.learning_rate'"),
        ("run.nmae == 'alpha'", "no run has a param 'nmae'; did you mean run.name?"),
        ("metric.name == 'Loss'", "no metric is named 'Loss'; did you mean 'loss'?"),
        ("metric.name in ['los', 'lr']", "no metric is named 'los'; did you mean 'loss'?"),
        ("run.metrics['accc'].last > 0", "no metric is named 'accc'; did you mean 'acc'?"),
        ("metric.context.subst == 'train'", "no metric has a context key 'subst'; did you mean metric.context.subset?"),
        ("run.experiment == 'exp3' and metric.name == 'loss'", "no run has the experiment 'exp3'; did you mean"),
    ],
)
def test_empty_result_names_the_likely_typo(repo, query, hint):
    for result in (repo.query_runs(query), repo.query_metrics(query)):
        assert len(result) == 0
        assert result.hint is not None and result.hint.startswith(hint), result.hint


@pytest.mark.parametrize(
    "query", ["run.hparams.lr > 1", "metric.name == 'loss' and metric.last > 100", "run.name == 'zeta'", ""]
)
def test_no_hint_when_every_name_exists_or_something_matched(repo, query):
    if "metric" in query:  # a runs query binds only `run`: its hint says so
        assert repo.query_runs(query).hint == UNBOUND_METRIC_HINT
    else:
        assert repo.query_runs(query).hint is None
    assert repo.query_metrics(query).hint is None


def test_cli_prints_the_hint(repo, capsys):
    assert main(["query", "metric.name == 'Loss'", "--repo", repo.path]) == 0
    captured = capsys.readouterr()
    assert "(no matches)" in captured.out
    assert captured.err.strip() == "hint: no metric is named 'Loss'; did you mean 'loss'?"


def test_cli_runs_query_with_a_metric_term_says_metric_is_unbound(repo, capsys):
    # `aimcol query --runs` binds only `run`, as Aim's query_runs: no run, and the hint says why
    assert main(["query", "metric.name == 'loss'", "--runs", "--repo", repo.path]) == 0
    captured = capsys.readouterr()
    assert "(no matches)" in captured.out
    assert captured.err.strip() == f"hint: {UNBOUND_METRIC_HINT}"
    assert main(["query", "metric.name == 'loss'", "--repo", repo.path]) == 0  # per sequence: matches
    assert "hint" not in capsys.readouterr().err
