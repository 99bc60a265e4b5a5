"""Why a query matched nothing: names it uses that exist nowhere in the repository.

A query over schemaless params cannot tell a typo from a param no run has yet:
``run.hparam.lr < 0.01`` is a valid query that quietly selects nothing, as in Aim.  For a
query that matched nothing, :func:`typo_hint` looks for the likely cause — a param path,
context key, metric name or experiment the query names but no run has — and suggests the
nearest one that exists (case-insensitive equality first, then :mod:`difflib`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from aimcol.format.index_tables import parse_path_column
from aimcol.format.param_tree import dotted
from aimcol.format.run_index import IndexSnapshot
from aimcol.query import ir
from aimcol.query.leaves import experiment_names

UNBOUND_METRIC_HINT = (
    "a runs query binds only `run` (as in Aim): `metric` is undefined there, so a run whose "
    "evaluation reaches a `metric` term does not match; query_metrics(query).iter_runs() "
    "(aimcol query without --runs) gives the runs with a matching metric"
)


def typo_hint(query: ir.ParsedQuery, snap: IndexSnapshot, runs_query: bool = False) -> str | None:
    """One line naming what in ``query`` exists nowhere in ``snap`` and what was likely meant.

    None when every name the query uses exists somewhere (the query is then just selective).
    Meant for a query that matched nothing; the CLI and the TUI print it under the result.
    ``runs_query``: the query selected runs (``query_runs``, the runs table), where a
    ``metric`` term never matches (:data:`UNBOUND_METRIC_HINT`).
    """
    if query.expr is None:
        return None
    nodes = list(ir.walk(query.expr))
    hints: list[str] = []
    hints += _param_hints(query, snap)
    hints += _context_hints(nodes, snap)
    hints += _metric_name_hints(nodes, snap)
    hints += _string_hints(nodes, snap, "experiment", "experiment")
    if runs_query and query.uses_metric:
        hints.append(UNBOUND_METRIC_HINT)
    return "; ".join(hints) if hints else None


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``: equal ignoring case, else difflib's best above 0.6."""
    pool = sorted(set(candidates))
    folded = word.casefold()
    for candidate in pool:
        if candidate.casefold() == folded:
            return candidate
    import difflib

    found = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    return found[0] if found else None


def _existing_paths(snap: IndexSnapshot, table: str) -> set[tuple[str, ...]]:
    prefix = "p" if table == "runs" else "c"
    names = snap.runs.column_names if table == "runs" else snap.seqs_schema.names
    paths: set[tuple[str, ...]] = set()
    for name in names:
        parsed = parse_path_column(name)
        if parsed is not None and parsed[0] == prefix and parsed[2] == "k":
            paths.add(tuple(str(p) for p in parsed[1]))
    return paths


def _param_hints(query: ir.ParsedQuery, snap: IndexSnapshot) -> list[str]:
    if snap.n_runs == 0 or snap.truncated_rows("runs") is not None:
        return []  # some paths live only in the params' msgpack: no column proves absence
    existing = _existing_paths(snap, "runs")
    candidates = [dotted(p) for p in existing] + [p for p in ir.RUN_PROPERTIES]
    hints = []
    for path in query.param_paths:
        if not path or path in existing:
            continue
        best = nearest(dotted(path), candidates)
        hint = f"no run has a param {dotted(path)!r}"
        hints.append(hint + (f"; did you mean run.{best}?" if best else ""))
    return hints


def _context_hints(nodes: list[ir.Node], snap: IndexSnapshot) -> list[str]:
    paths = {n.path for n in nodes if isinstance(n, ir.ContextPath)}
    if not paths or snap.n_seqs == 0 or snap.truncated_rows("seqs") is not None:
        return []
    existing = _existing_paths(snap, "seqs")
    hints = []
    for path in sorted(paths):
        if path in existing:
            continue
        best = nearest(dotted(path), [dotted(p) for p in existing])
        hint = f"no metric has a context key {dotted(path)!r}"
        hints.append(hint + (f"; did you mean metric.context.{best}?" if best else ""))
    return hints


def _compared_strings(nodes: list[ir.Node], wanted: ir.Node) -> list[str]:
    """String constants compared with ``wanted`` by ``==``, ``!=``, ``in [...]``."""
    found: list[str] = []
    for node in nodes:
        if not isinstance(node, ir.Compare):
            continue
        operands = (node.left,) + node.comparators
        for op, left, right in zip(node.ops, operands, operands[1:]):
            for a, b in ((left, right), (right, left)):
                if ir.unwrap(a) != wanted:
                    continue
                if op in ("==", "!=") and isinstance(b, ir.Const) and type(b.value) is str:
                    found.append(b.value)
                elif op in ("in", "not in") and b is right and isinstance(b, ir.SeqDisplay):
                    found += [e.value for e in b.items if isinstance(e, ir.Const) and type(e.value) is str]
    return found


def _metric_name_hints(nodes: list[ir.Node], snap: IndexSnapshot) -> list[str]:
    asked = _compared_strings(nodes, ir.MetricProp("name"))
    asked += [n.name for n in nodes if isinstance(n, ir.RunMetric)]
    if not asked or snap.n_seqs == 0:
        return []
    names: set[str] = set()

    def collect(part: IndexSnapshot) -> np.ndarray:  # a batch at a time, keeping no rows
        names.update(part.seqs.column("name").to_pylist())
        return np.zeros(part.n_seqs, dtype=bool)

    snap.narrow_sequences(collect)
    hints = []
    for name in dict.fromkeys(asked):
        if name in names:
            continue
        best = nearest(name, (n for n in names if not n.startswith("__system__")))
        hint = f"no metric is named {name!r}"
        hints.append(hint + (f"; did you mean {best!r}?" if best else ""))
    return hints


def _string_hints(nodes: list[ir.Node], snap: IndexSnapshot, prop: str, what: str) -> list[str]:
    asked = _compared_strings(nodes, ir.RunProp(prop))
    if not asked or snap.n_runs == 0:
        return []
    column = snap.runs.column(prop).combine_chunks()
    existing = set(experiment_names(column).to_pylist() if prop == "experiment" else column.to_pylist())
    existing.discard(None)
    hints = []
    for value in dict.fromkeys(asked):
        if value in existing:
            continue
        best = nearest(value, existing)
        hint = f"no run has the {what} {value!r}"
        hints.append(hint + (f"; did you mean {best!r}?" if best else ""))
    return hints
