"""The vectorised engine and the row-by-row reference evaluator agree on random queries and data.

Repositories are random manifests (mixed types, missing keys, None, NaN, inf, big ints,
non-ASCII strings, lists and maps, strings vs numbers) turned into index tables with the
same code the run index uses; queries are random AimQL over the same vocabulary.  A second,
smaller test writes random runs through the SDK into a real repository and compares the
public ``query_runs``/``query_metrics`` with the reference on the manifests on disk.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from aimql_repos import new_run
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import aimcol
from aimcol.errors import AimQLCostError, AimQLSyntaxError
from aimcol.format import manifest as manifest_io
from aimcol.format.repo_layout import RepoLayout
from aimcol.format.run_index import IndexSnapshot, ManifestRecord, build_tables
from aimcol.query import match_runs, match_sequences, parse_query
from aimcol.query.reference import RunRecord, reference_runs, reference_sequences

NOW = 1_760_000_000.0

# ---- data ------------------------------------------------------------------------------------------

KEYS = ["a", "b", "lr", "opt"]
TEXT = st.text(alphabet="aAbß_1 éİ", max_size=4)
INTS = st.one_of(st.integers(-3, 40), st.sampled_from([0, 1, 2**53 + 1, -(2**63), 2**63 - 1, 2**63 + 7]))
FLOATS = st.one_of(
    st.floats(-50, 50, allow_nan=False), st.sampled_from([0.5, -0.0, math.nan, math.inf, -math.inf, 1e300, 2.0**53])
)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT, st.just(b"\x01"))
LEAVES = st.one_of(SCALARS, st.lists(st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT), max_size=3))
TREES = st.recursive(
    LEAVES, lambda children: st.dictionaries(st.sampled_from(KEYS), children, max_size=3), max_leaves=6
)
PARAMS = st.dictionaries(st.sampled_from(KEYS + ["hp"]), TREES, max_size=4)
CONTEXTS = st.dictionaries(
    st.sampled_from(["subset", "k"]),
    st.one_of(
        st.sampled_from(["train", "val", ""]), st.booleans(), INTS, st.none(), st.lists(st.integers(0, 2), max_size=2)
    ),
    max_size=2,
)


@st.composite
def sequences(draw, n):
    out = []
    for i in range(n):
        dtype = draw(st.sampled_from(["int", "float"]))
        count = draw(st.integers(0, 5))
        stat = (lambda: float(draw(st.integers(-5, 5)))) if dtype == "int" else (lambda: draw(FLOATS))
        out.append(
            {
                "id": i,
                "name": draw(st.sampled_from(["loss", "acc", "lr"])),
                "context": draw(CONTEXTS),
                "dtype": dtype,
                "count": count,
                "first": stat() if count else None,
                "last": stat() if count else None,
                "min": stat() if count else None,
                "max": stat() if count else None,
                "first_step": draw(st.integers(0, 3)) if count else None,
                "last_step": draw(st.integers(0, 9)) if count else None,
            }
        )
    return out


@st.composite
def manifests(draw):
    n = draw(st.integers(1, 5))
    runs = []
    for i in range(n):
        created = NOW - draw(st.floats(0, 3 * 86400))
        end = draw(st.one_of(st.none(), st.floats(0, 3600).map(lambda d, c=created: c + d)))
        m = {
            "format": 1,
            "hash": f"{i:024x}",
            "name": draw(st.one_of(st.none(), TEXT)),
            "description": draw(st.one_of(st.none(), TEXT)),
            "experiment": draw(st.one_of(st.none(), TEXT)),
            "tags": draw(st.lists(st.sampled_from(["a", "b", "x"]), max_size=2, unique=True)),
            "archived": draw(st.booleans()),
            "creation_time": created,
            "end_time": end,
            "exit_status": None if end is None else draw(st.sampled_from([None, "finished", "failed", "interrupted"])),
            "params": draw(PARAMS),
            "sequences": draw(sequences(draw(st.integers(0, 3)))),
            "segments": [],
        }
        active = end is None and draw(st.booleans())
        if draw(st.booleans()):  # a crashed run ends at its newest point; without the key, at creation
            m["last_point_time"] = created + draw(st.floats(0, 100))
        last_write = created + draw(st.floats(0, 100))  # the manifest's mtime, which no duration uses
        runs.append((m, active, last_write))
    return runs


# ---- queries ----------------------------------------------------------------------------------------

CONSTS = st.one_of(
    st.sampled_from(
        [
            "None",
            "True",
            "False",
            "0",
            "1",
            "2",
            "-1",
            "0.5",
            "3.0",
            "2**53",
            "10**6",
            "9007199254740993",
            "float('nan')",
            "float('inf')",
            "9007199254740992.0",
            "''",
            "'a'",
            "'A'",
            "'ß'",
            "'x'",
            "'1'",
            "'train'",
            "'val'",
            "[]",
            "[1, 2]",
            "['a', 1]",
            "(1,)",
            "{}",
            "{'a': 1}",
            "b'\\x01'",
            "datetime(2025, 10, 1)",
            "timedelta(days=1)",
            "datetime.now()",
            "run.created_at - timedelta(hours=1)",
        ]
    ),
    st.integers(-3, 40).map(str),
)
RUN_LEAVES = st.sampled_from(
    [
        "run.name",
        "run.hash",
        "run.experiment",
        "run.description",
        "run.exit_status",
        "run.tags",
        "run.archived",
        "run.active",
        "run.creation_time",
        "run.end_time",
        "run.duration",
        "run.created_at",
        "run.finalized_at",
        "run.a",
        "run.b",
        "run.lr",
        "run.opt",
        "run.hp",
        "run.hp.a",
        "run.hp.b",
        "run['hp', 'lr']",
        "run['hp']['opt']",
        "run.hp.a.b",
        "run['a', 'a']",
        "run.missing",
        "run.a[0]",
        "run.hp.lr[1:]",
        "run.metrics['loss', {'subset': 'train'}].last",
        "run.metrics['acc'].max",
        "run.metrics['lr', {}].count",
        "run[...]",
        "run[...]['hp']",
        "run[...].a",
    ]
)
METRIC_LEAVES = st.sampled_from(
    [
        "metric.name",
        "metric.context",
        "metric.context.subset",
        "metric.context['k']",
        "metric.last",
        "metric.first",
        "metric.min",
        "metric.max",
        "metric.last_step",
        "metric.first_step",
        "metric.count",
        "metric.run.name",
        "metric.run.hp.a",
    ]
)
CMP = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in", "="])
ARITH = st.sampled_from(["+", "-", "*", "/", "//", "%", "**"])


def expressions(with_metric: bool):
    leaves = st.one_of(RUN_LEAVES, CONSTS, METRIC_LEAVES) if with_metric else st.one_of(RUN_LEAVES, CONSTS)

    predicates = st.tuples(leaves, CMP, leaves).map(lambda t: f"({t[0]} {t[1]} {t[2]})")

    def extend(children):
        return st.one_of(
            predicates,
            st.tuples(predicates, st.sampled_from(["and", "or"]), predicates).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(children, CMP, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(children, CMP, children, CMP, children).map(lambda t: f"({t[0]} {t[1]} {t[2]} {t[3]} {t[4]})"),
            st.tuples(children, ARITH, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(children, st.sampled_from(["and", "or"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            children.map(lambda c: f"(not {c})"),
            children.map(lambda c: f"(-{c})"),
            st.tuples(children, st.sampled_from(["None", "True", "False"]), st.sampled_from(["is", "is not"])).map(
                lambda t: f"({t[0]} {t[2]} {t[1]})"
            ),
            st.tuples(
                st.sampled_from(["len", "abs", "str", "int", "float", "bool", "sorted", "sum", "round", "any"]),
                children,
            ).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(st.sampled_from(["min", "max"]), children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(
                children,
                st.sampled_from(
                    [
                        "startswith('a')",
                        "endswith('')",
                        "lower()",
                        "upper()",
                        "strip()",
                        "split('a')",
                        "get('a')",
                        "count('a')",
                        "find('b')",
                        "replace('a', 'b')",
                        "isdigit()",
                        "startswith(('a', 'b'))",
                        "total_seconds()",
                        "timestamp()",
                    ]
                ),
            ).map(lambda t: f"{t[0]}.{t[1]}"),
            st.tuples(children, st.lists(children, max_size=3)).map(lambda t: f"({t[0]} in [{', '.join(t[1])}])"),
            st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
            st.tuples(
                st.sampled_from(["'a'", "'^[a-z]+$'", "'(?i)B'", "'['"]),
                children,
                st.sampled_from(["match", "search", "fullmatch"]),
            ).map(lambda t: f"re.{t[2]}({t[0]}, {t[1]})"),
            st.tuples(children, st.sampled_from(["[0]", "['a']", "[-1]", "[:2]", ".year", ".days", ".a"])).map(
                lambda t: f"{t[0]}{t[1]}"
            ),
        )

    return st.recursive(leaves, extend, max_leaves=8)


def snapshot_of(runs) -> tuple[IndexSnapshot, list[RunRecord], np.ndarray]:
    records = [ManifestRecord(m, (i, 0, int(last_write * 1e9), 0), NOW) for i, (m, _, last_write) in enumerate(runs)]
    runs_table, seqs_table = build_tables(records)
    snap = IndexSnapshot.from_tables(runs_table, seqs_table, RepoLayout("/nonexistent/.aimcol"))
    refs = [RunRecord(m, active) for m, active, _ in runs]
    active = np.array([a for _, a, _ in runs], dtype=bool)
    return snap, refs, active


def check_agreement(snap, refs, active, query: str) -> None:
    try:
        parsed = parse_query(query)
    except AimQLSyntaxError:
        return  # the generator can build a few invalid queries (`is` with a non-constant, …)
    hashes = snap.runs.column("hash").to_pylist()
    run_col = snap.seqs.column("run").to_pylist()
    ids = snap.seqs.column("seq_id").to_pylist()
    for engine, reference in (
        (lambda: [h for h, m in zip(hashes, match_runs(parsed, snap, NOW, active)) if m], reference_runs),
        (
            lambda: [(run_col[i], ids[i]) for i in np.flatnonzero(match_sequences(parsed, snap, NOW, active))],
            reference_sequences,
        ),
    ):
        try:
            expected = reference(parsed, refs, NOW)
        except AimQLCostError:
            # the engine evaluates at least the rows the reference does: it refuses too
            with pytest.raises(AimQLCostError):
                engine()
            continue
        try:
            got = engine()
        except AimQLCostError:
            continue  # it evaluates a branch the reference short-circuits past (e.g. `x and 'a' * 10**7`)
        assert got == expected, query


def _run(params, **extra):
    m = {
        "format": 1,
        "hash": "0" * 24,
        "name": "İx",
        "description": None,
        "experiment": None,
        "tags": ["a"],
        "archived": False,
        "creation_time": NOW - 10,
        "end_time": None,
        "params": params,
        "segments": [],
        "sequences": [
            {
                "id": 0,
                "name": "loss",
                "context": {"subset": "train"},
                "dtype": "int",
                "count": 2,
                "first": 1.0,
                "last": 2.0,
                "min": 1.0,
                "max": 2.0,
                "first_step": 0,
                "last_step": 1,
            }
        ],
    }
    m.update(extra)
    return (m, False, NOW - 5)


EDGE_CASES = [_run({"a": 2**53 + 1, "b": 2.0**53, "s": "ßİ", "n": math.nan, "z": None, "l": [math.nan]})]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(runs=manifests(), queries=st.lists(expressions(with_metric=True), min_size=1, max_size=4))
@example(
    runs=EDGE_CASES,
    queries=[
        "run.a == run.b",
        "run.a > run.b",
        "run.a == 9007199254740992.0",
        "run.n",
        "not run.n",
        "run.s.lower() == 'ssi̇'",
        "run.s.upper()",
        "run.name.lower()",
        "run.z or 1 / 0",
        "run.z and 1 / 0",
        "run.l == run.l",
        "run.l[0] != run.l[0]",
        "run.a - 1 == 2**53",
        "run.a * 3 > 0",
        "-run.a < 0",
        "run.b // 0",
        "'a' in run.tags and metric.last == 2",
        "metric.last is None",
        "metric.last == 2.0",
        "run.metrics['loss', {'subset': 'train'}].max == 2",
        "metric.context.k == 1",
        "((1 / run.z) or run.a) or (run.a == run.a)",
        "(run.z + 1 if run.a else 0) or run.z is None",
        "(run.a and run.z + 1) or run.a > 0",
    ],
)
def test_engines_agree_on_random_queries(runs, queries):
    snap, refs, active = snapshot_of(runs)
    for query in queries:
        check_agreement(snap, refs, active, query)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(runs=manifests(), query=expressions(with_metric=False))
def test_engines_agree_on_run_queries(runs, query):
    snap, refs, active = snapshot_of(runs)
    check_agreement(snap, refs, active, query)


# ---- through the SDK and a real repository ---------------------------------------------------------------

SDK_PARAMS = st.dictionaries(
    st.sampled_from(KEYS + ["hp"]),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-3, 40), FLOATS, TEXT, st.lists(st.integers(0, 3), max_size=2)),
        lambda c: st.dictionaries(st.sampled_from(KEYS), c, max_size=2),
        max_leaves=4,
    ),
    max_size=3,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    specs=st.lists(
        st.tuples(
            SDK_PARAMS,
            st.lists(
                st.tuples(st.sampled_from(["loss", "acc"]), CONTEXTS, st.lists(FLOATS, min_size=1, max_size=3)),
                max_size=3,
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=4,
    ),
    queries=st.lists(expressions(with_metric=True), min_size=1, max_size=5),
)
def test_sdk_repository_agrees_with_reference(tmp_path_factory, specs, queries):
    root = tmp_path_factory.mktemp("diff")
    for params, tracks, archived in specs:
        run = new_run(root)
        for key, value in params.items():
            run[key] = value
        for name, context, values in tracks:
            for value in values:
                run.track(value, name=name, context=context)
        if archived:
            run.archived = True
        run.close()
    repo = aimcol.Repo(str(root))
    refs = []
    for run_hash in repo.run_hashes():
        refs.append(RunRecord(manifest_io.read_manifest(repo.layout, run_hash), False))
    refs.sort(key=lambda r: -r.manifest["creation_time"])
    now = time.time()
    for query in queries:
        try:
            parsed = parse_query(query)
        except AimQLSyntaxError:
            continue
        if "datetime.now()" in query or "duration" in query:
            continue  # the clock moves between the two evaluations
        assert repo.query_runs(query).run_hashes == reference_runs(parsed, refs, now), query
        got = [(m.run.hash, m._entry["id"]) for m in repo.query_metrics(query)]
        assert got == reference_sequences(parsed, refs, now), query
