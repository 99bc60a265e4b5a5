"""AimQL's cost is bounded: what a hostile or careless query can make the engine spend.

Each query below ran forever or filled memory before (issue 9, item 9): a catastrophic
regex, values blown up by repetition, ``sum``, ``join`` or ``replace``, a megabyte of query
text, ten thousand ``not``.  Now each is refused with an :class:`AimQLCostError` naming the
bound, within a second or two, by both evaluators; the CLI prints one line.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from aimql_repos import new_run

import aimcol
from aimcol.errors import AimcolError, AimQLCostError, AimQLSyntaxError
from aimcol.format.run_index import run_index
from aimcol.query import match_runs, parse_query
from aimcol.query import values as scalar
from aimcol.query.reference import RunRecord, reference_runs


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("cost")
    for i in range(3):
        run = new_run(root)
        run.name = f"run{i}"
        run["hparams"] = {"lr": 0.1 * i, "tag": "a" * 10}
        run.track(1.0, name="loss")
        run.close()
    return aimcol.Repo(str(root))


def refused(repo, query: str, reason: str, seconds: float = 5.0) -> AimQLCostError:
    """The query is refused by query_runs and query_metrics, for ``reason``, within ``seconds``."""
    start = time.perf_counter()
    with pytest.raises(AimQLCostError) as info:
        repo.query_runs(query)
    assert info.value.reason == reason, info.value
    with pytest.raises(AimQLCostError):
        list(repo.query_metrics(query))
    assert time.perf_counter() - start < seconds, query
    return info.value


BLOW_UPS = [
    ("len(str([[0] * 10**6] * 10**6)) > 0", "'*'"),
    ("len(sum([[0] * 10**6] * 100, [])) > 0", "'*'"),
    ("len(''.join(['a' * 10**6] * 2000)) > 0", "list display"),
    ("len(('x' * 10**5).join(['a'] * 100)) > 0", ".join()"),
    ("len(('a' * 10**5).replace('a', 'a' * 1000)) > 0", ".replace()"),
    ("len(run.name.zfill(10**9)) > 0", ".zfill()"),
    ("len(run.hparams.tag * 10**8) > 0", "'*'"),
    ("10 ** 10**7 > 0", "'**'"),
    ("(3 ** 90000) > 0", "'**'"),
    ("(2 ** 60000) * (2 ** 60000) > 0", "'*'"),
    ("len(str([run.hparams.tag * 10**4] * 11)) > 0", "'*'"),
    ("len([run.name * 150000, run.name * 150000]) > 0", "list display"),
]


@pytest.mark.parametrize("query, names", BLOW_UPS)
def test_values_a_query_builds_are_bounded(repo, query, names):
    err = refused(repo, query, "size")
    assert names in str(err)


def test_sum_of_lists_is_linear(repo):
    start = time.perf_counter()
    assert len(repo.query_runs("len(sum([[0] * 5000] * 99, [])) == 495000")) == 3
    assert len(repo.query_runs("sum([(1,), (2,)], ()) == (1, 2) and sum([1, 2], 3) == 6")) == 3
    assert len(repo.query_runs("sum([[1], (2,)], [])")) == 0  # Python's TypeError: the row fails
    assert time.perf_counter() - start < 5


def test_catastrophic_regex_runs_in_linear_time(repo):
    start = time.perf_counter()
    assert repo.query_runs("re.match('(a+)+$', 'a' * 32 + 'b')").run_hashes == []
    assert len(repo.query_runs("re.match('(a+)+$', run.hparams.tag)").run_hashes) == 3
    assert repo.query_runs("re.search('(x+x+)+y', 'x' * 5000)").run_hashes == []
    assert time.perf_counter() - start < 5


def test_regex_features_only_a_backtracking_engine_has_are_refused_by_name(repo):
    err = refused(repo, r"re.match(r'(a)\1', run.name)", "regex")
    assert "RE2" in str(err) and "(a)\\\\1" in str(err)
    refused(repo, "re.search('a(?=b)', run.name)", "regex")
    refused(repo, "re.match('a', run.name, re.X)", "regex")


def test_regex_flags_and_invalid_patterns(repo):
    assert len(repo.query_runs("re.match('RUN[0-9]', run.name, re.I)")) == 3
    assert len(repo.query_runs("re.match('RUN[0-9]', run.name)")) == 0
    assert len(repo.query_runs("re.fullmatch('run.', run.name, flags=re.IGNORECASE)")) == 3
    assert len(repo.query_runs("re.search('^1', 'a\\n1', re.M)")) == 3
    assert len(repo.query_runs("re.search('a.1', 'a\\n1', re.S)")) == 3
    assert len(repo.query_runs("re.search('a.1', 'a\\n1')")) == 0
    # an invalid pattern fails the row, as in Aim: nothing matches, no error
    assert repo.query_runs("not re.match('[', run.name)").run_hashes == []


def test_query_text_length_is_capped():
    with pytest.raises(AimQLCostError) as info:
        parse_query("run.a == 1 or " * 10**5 + "run.a == 2")
    assert info.value.reason == "length" and "at most 100,000" in str(info.value)


@pytest.mark.parametrize(
    "query", ["not " * 10000 + "run.a", "-" * 10000 + "1", "(" * 300 + "1" + ")" * 300, "run.a" + ".b" * 10000]
)
def test_deep_nesting_says_so(query):
    with pytest.raises(AimQLSyntaxError) as info:
        parse_query(query)
    assert "nested too deeply" in str(info.value) or "too many nested parentheses" in str(info.value)


def test_each_query_has_a_deadline(repo):
    parsed = parse_query("run.hparams.tag.count('a') > 0 and run.name.lower() == run.name")
    snap = run_index(repo.layout).refresh()
    with pytest.raises(AimQLCostError) as info:
        match_runs(parsed, snap, time_limit=-1.0)
    assert info.value.reason == "time" and "time limit" in str(info.value)
    assert match_runs(parsed, snap, time_limit=None).sum() == 3


def test_reference_evaluator_refuses_the_same(repo):
    records = [RunRecord({"hash": "h", "params": {"s": "ab"}, "creation_time": 0.0, "sequences": []})]
    with pytest.raises(AimQLCostError):
        reference_runs(parse_query("len(run.s * 10**7) > 0"), records, 0.0)
    assert reference_runs(parse_query("len(run.s * 10) == 20"), records, 0.0) == ["h"]


def test_cost_error_is_an_aimcol_value_error():
    assert issubclass(AimQLCostError, AimcolError) and issubclass(AimQLCostError, ValueError)
    assert scalar.size_of([[0] * 10] * 10) == 10 + 10 * 10 + 100 * 0 + 100


def test_cli_prints_one_line(repo, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "aimcol", "query", "len(''.join(['a' * 10**6] * 2000)) > 0", "--repo", repo.path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("aimcol: ") and "Traceback" not in proc.stderr
    assert "characters/items" in proc.stderr


def test_without_google_re2_a_regex_is_refused_clearly(repo, monkeypatch):
    monkeypatch.setitem(sys.modules, "re2", None)  # as on a platform where its wheel did not install
    scalar.compile_regex.cache_clear()
    try:
        err = refused(repo, "re.match('run', run.name)", "regex")
        assert "google-re2" in str(err)
        assert len(repo.query_runs("run.name.startswith('run')")) == 3  # the rest of AimQL works
    finally:
        scalar.compile_regex.cache_clear()
