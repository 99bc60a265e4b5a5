"""The reference AimQL evaluator: plain Python, one run (or sequence) at a time.

It reads manifests directly, not the index, and interprets the query tree with the scalar
functions of :mod:`aimcol.query.values`.  It is slow and obviously correct; the vectorised
engine (:mod:`aimcol.query.engine`) must agree with it on every query and repository,
which ``tests/test_aimql_differential.py`` checks on random ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aimcol.errors import AimQLCostError
from aimcol.format.last_point import recorded_last_point
from aimcol.format.param_tree import lookup
from aimcol.query import ir
from aimcol.query import values as scalar
from aimcol.query.values import UNDEFINED, RowError


@dataclass
class RunRecord:
    """What a query may read of one run: its manifest plus facts that are not in it."""

    manifest: dict[str, Any]
    active: bool = False
    sequences: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.sequences:
            self.sequences = list(self.manifest.get("sequences") or [])


def _last_point(manifest: dict[str, Any]) -> float:
    """The end of a crashed run: its recorded newest point (these records have no segments to read)."""
    created = float(manifest["creation_time"])
    recorded = recorded_last_point(manifest)
    return created if recorded is None else max(created, recorded)


class _Evaluator:
    def __init__(self, now: float):
        self.now = now
        self.budget = scalar.current_budget()

    def run_prop(self, run: RunRecord, name: str) -> Any:
        m = run.manifest
        if name == "hash":
            return m["hash"]
        if name == "name":
            return m.get("name")
        if name == "description":
            return m.get("description")
        if name == "exit_status":
            return m.get("exit_status")
        if name == "experiment":
            return m.get("experiment") or "default"
        if name == "tags":
            return list(m.get("tags") or [])
        if name == "archived":
            return bool(m.get("archived"))
        if name == "active":
            return run.active
        if name == "creation_time":
            return float(m["creation_time"])
        if name == "created_at":
            return scalar.created_at(float(m["creation_time"]))
        if name == "finalized_at":
            end = m.get("end_time")
            return None if end is None else scalar.created_at(float(end))
        if name == "end_time":
            end = m.get("end_time")
            return None if end is None else float(end)
        if name == "duration":
            end = m.get("end_time")
            if end is None:
                end = self.now if run.active else _last_point(m)
            return max(0.0, float(end) - float(m["creation_time"]))
        raise AssertionError(name)

    @staticmethod
    def param(run: RunRecord, path: tuple[str, ...]) -> Any:
        return lookup(run.manifest.get("params") or {}, path, UNDEFINED)

    @staticmethod
    def stat(entry: dict[str, Any], name: str) -> Any:
        if name in ("first_step", "last_step", "count"):
            value = entry.get(name)
            return None if value is None else int(value)
        value = entry.get(name)
        return scalar.stat_value(None if value is None else float(value), entry.get("dtype", "float"))

    def evaluate(self, node: ir.Node, run: RunRecord, seq: dict[str, Any] | None) -> Any:
        ev = self.evaluate
        t = type(node)
        if isinstance(node, ir.Const):
            return node.value
        if isinstance(node, ir.RunProp):
            return self.run_prop(run, node.name)
        if isinstance(node, ir.Param):
            return self.param(run, node.path)
        if isinstance(node, ir.RunMetric):
            for entry in run.sequences:
                if entry["name"] == node.name and scalar.eq(entry.get("context") or {}, node.context):
                    return self.stat(entry, node.attr)
            return UNDEFINED
        if isinstance(node, ir.ViaMetric):
            if seq is None:
                raise RowError("metric is not defined in a runs query")
            return ev(node.inner, run, seq)
        if isinstance(node, ir.MetricProp):
            if seq is None:
                raise RowError("metric is not defined in a runs query")
            if node.name == "name":
                return seq["name"]
            return self.stat(seq, node.name)
        if isinstance(node, ir.ContextAll):
            if seq is None:
                raise RowError("metric is not defined in a runs query")
            return seq.get("context") or {}
        if isinstance(node, ir.ContextPath):
            if seq is None:
                raise RowError("metric is not defined in a runs query")
            value: Any = seq.get("context") or {}
            for part in node.path:
                if type(value) is not dict or part not in value:
                    raise RowError(f"metric context has no key {part!r}")
                value = value[part]
            return value
        if isinstance(node, ir.BoolOp):
            value = ev(node.values[0], run, seq)
            for sub in node.values[1:]:
                if (node.op == "and") != scalar.truthy(value):
                    return value
                value = ev(sub, run, seq)
            return value
        if isinstance(node, ir.Not):
            return not scalar.truthy(ev(node.operand, run, seq))
        if isinstance(node, ir.Compare):
            left = ev(node.left, run, seq)
            for op, comp in zip(node.ops, node.comparators):
                right = ev(comp, run, seq)
                if not scalar.compare(op, left, right):
                    return False
                left = right
            return True
        if isinstance(node, ir.BinOp):
            return scalar.binop(node.op, ev(node.left, run, seq), ev(node.right, run, seq))
        if isinstance(node, ir.Unary):
            return scalar.unary(node.op, ev(node.operand, run, seq))
        if isinstance(node, ir.Builtin):
            args = tuple(ev(a, run, seq) for a in node.args)
            kwargs = {k: ev(v, run, seq) for k, v in node.kwargs}
            return scalar.call_builtin(node.name, args, kwargs)
        if isinstance(node, ir.ReCall):
            return scalar.regex(node.func, *(ev(a, run, seq) for a in node.args))
        if isinstance(node, ir.DatetimeCall):
            return scalar.datetime_function(node.name, tuple(ev(a, run, seq) for a in node.args), self.now)
        if isinstance(node, ir.MakeDatetime):
            return scalar.make_datetime(
                tuple(ev(a, run, seq) for a in node.args), {k: ev(v, run, seq) for k, v in node.kwargs}
            )
        if isinstance(node, ir.MakeTimedelta):
            return scalar.make_timedelta(
                tuple(ev(a, run, seq) for a in node.args), {k: ev(v, run, seq) for k, v in node.kwargs}
            )
        if isinstance(node, ir.Method):
            obj = ev(node.obj, run, seq)
            args = tuple(ev(a, run, seq) for a in node.args)
            kwargs = {k: ev(v, run, seq) for k, v in node.kwargs}
            return scalar.call_method(obj, node.name, args, kwargs)
        if isinstance(node, ir.Attr):
            return scalar.get_attr(ev(node.obj, run, seq), node.name)
        if isinstance(node, ir.Item):
            return scalar.get_item(ev(node.obj, run, seq), ev(node.key, run, seq))
        if isinstance(node, ir.SliceNode):
            parts = [None if p is None else ev(p, run, seq) for p in (node.lower, node.upper, node.step)]
            if UNDEFINED in parts:
                raise RowError("undefined slice bound")
            return slice(*parts)
        if isinstance(node, ir.IfExp):
            return ev(node.body, run, seq) if scalar.truthy(ev(node.test, run, seq)) else ev(node.orelse, run, seq)
        if isinstance(node, ir.SeqDisplay):
            return scalar.make_sequence(node.kind, [ev(e, run, seq) for e in node.items])
        if isinstance(node, ir.DictDisplay):
            return scalar.make_dict([ev(k, run, seq) for k in node.keys], [ev(v, run, seq) for v in node.values])
        raise AssertionError(f"unknown node {t.__name__}")

    def matches(self, expr: ir.Node | None, run: RunRecord, seq: dict[str, Any] | None) -> bool:
        if expr is None:
            return True
        self.budget.check()
        try:
            return scalar.truthy(self.evaluate(expr, run, seq))
        except RowError:
            return False
        except AimQLCostError:
            raise  # the whole query is refused
        except MemoryError:
            raise scalar.out_of_memory() from None
        except Exception:  # nothing else a row does may abort the query
            return False


def reference_runs(
    query: ir.ParsedQuery, runs: list[RunRecord], now: float, time_limit: float | None = None
) -> list[str]:
    """Hashes of the runs ``query_runs`` selects, in the order of ``runs``."""
    with scalar.query_budget(time_limit):
        return _reference_runs(query, runs, now)


def _reference_runs(query: ir.ParsedQuery, runs: list[RunRecord], now: float) -> list[str]:
    ev = _Evaluator(now)
    out = []
    for run in runs:
        if not query.mentions_archived and run.manifest.get("archived"):
            continue
        if ev.matches(query.expr, run, None):  # only ``run`` is bound: a ``metric`` term fails
            out.append(run.manifest["hash"])
    return out


def reference_sequences(
    query: ir.ParsedQuery, runs: list[RunRecord], now: float, time_limit: float | None = None
) -> list[tuple[str, int]]:
    """``(run hash, sequence id)`` of the sequences ``query_metrics`` selects."""
    with scalar.query_budget(time_limit):
        return _reference_sequences(query, runs, now)


def _reference_sequences(query: ir.ParsedQuery, runs: list[RunRecord], now: float) -> list[tuple[str, int]]:
    ev = _Evaluator(now)
    out = []
    for run in runs:
        if not query.mentions_archived and run.manifest.get("archived"):
            continue
        for seq in run.sequences:
            if ev.matches(query.expr, run, seq):
                out.append((run.manifest["hash"], int(seq["id"])))
    return out
