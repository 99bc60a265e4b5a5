"""The vectorised AimQL engine: a checked query evaluated as column operations over the run index.

Each node of a :mod:`~aimcol.query.ir` tree evaluates to a
:class:`~aimcol.query.column.ValueColumn` with one row per run, per sequence or a single
constant; :mod:`~aimcol.query.leaves` builds the leaves from the index, the operators run
as :mod:`~aimcol.query.kernels`, and calls without a kernel run row by row on the scalar
functions of :mod:`~aimcol.query.values`.  String methods and regexes are evaluated once per
distinct string, not once per row.  :func:`match_runs` and :func:`match_sequences` are the
entry points; each runs within a cost budget (``time_limit`` seconds, bounded values).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from aimcol.errors import AimQLCostError
from aimcol.format.arrow_gather import list_values, strings_equal, take
from aimcol.format.arrow_numpy import to_numpy
from aimcol.format.run_index import IndexSnapshot
from aimcol.format.value_kinds import INT, OBJ, STR, UNDEF
from aimcol.query import ir, kernels
from aimcol.query import values as scalar
from aimcol.query.column import CONST, IS_TIME, RUN, SEQ, ValueColumn, select
from aimcol.query.leaves import IndexLeaves
from aimcol.query.values import UNDEFINED, RowError

if TYPE_CHECKING:
    from aimcol.query.array_types import BoolArray


class Evaluator:
    """Evaluates the nodes of one checked query over an index snapshot."""

    def __init__(self, leaves: IndexLeaves, binds_metric: bool = True) -> None:
        self.leaves = leaves
        self.snap = leaves.snap
        self.budget = scalar.current_budget()
        # a runs query binds only ``run`` (as Aim's): a ``metric`` term is an error in every row
        self.binds_metric = binds_metric

    # -- domains --------------------------------------------------------------------------------
    def size(self, domain: int) -> int:
        return 1 if domain == CONST else (self.snap.n_runs if domain == RUN else self.snap.n_seqs)

    def lift(self, v: ValueColumn, domain: int) -> ValueColumn:
        """``v`` repeated into ``domain`` (a constant to every row, a run's value to its sequences)."""
        if v.domain == domain:
            return v
        if v.domain == CONST:
            return v.take(np.zeros(self.size(domain), dtype=np.int64), domain)
        if v.domain == RUN and domain == SEQ:
            return v.take(self.snap.seq_run, SEQ)
        raise AssertionError("cannot lower a sequence column to runs")

    def align(self, *columns: ValueColumn) -> list[ValueColumn]:
        domain = max(v.domain for v in columns)
        return [self.lift(v, domain) for v in columns]

    def lift_mask(self, mask: BoolArray, domain: int, target: int) -> BoolArray:
        if domain == target:
            return mask
        if domain == CONST:
            return np.repeat(mask, self.size(target))
        lifted: BoolArray = mask[self.snap.seq_run]
        return lifted

    # -- nodes ----------------------------------------------------------------------------------
    def evaluate(self, node: ir.Node) -> ValueColumn:
        self.budget.check()
        method: Callable[[Any], ValueColumn] = getattr(self, "eval_" + type(node).__name__)
        return method(node)

    def eval_Const(self, node: ir.Const) -> ValueColumn:
        return ValueColumn.const(node.value)

    def eval_BoolOp(self, node: ir.BoolOp) -> ValueColumn:
        result = self.evaluate(node.values[0])
        for sub in node.values[1:]:
            result, nxt = self.align(result, self.evaluate(sub))
            t = kernels.truthy(result) & ~result.err
            take_next = t if node.op == "and" else (~t & ~result.err)
            err = result.err | (take_next & nxt.err)
            result = select(take_next, nxt, result)
            result.err = err
        return result

    def eval_Not(self, node: ir.Not) -> ValueColumn:
        v = self.evaluate(node.operand)
        return ValueColumn.bools(~kernels.truthy(v), v.err.copy(), v.domain)

    def compare_one(
        self, op: str, left: ValueColumn, comp: ir.Node
    ) -> tuple[BoolArray, BoolArray, int, ValueColumn | None]:
        """One link of a comparison chain: (result, error, domain, right value for the next link)."""
        if op in ("in", "not in") and isinstance(comp, ir.SeqDisplay):
            columns = self.align(left, *(self.evaluate(e) for e in comp.items))
            res = np.zeros(len(columns[0]), dtype=bool)
            err = columns[0].err.copy()
            for element in columns[1:]:
                r, e = kernels.equal(columns[0], element)
                res |= r
                err |= e
            return (~res if op == "not in" else res), err, columns[0].domain, None
        right = self.evaluate(comp)
        if op in ("is", "is not"):
            assert isinstance(comp, ir.Const)
            r, e = kernels.identity(left, comp.value)
            return (~r if op == "is not" else r), e, left.domain, right
        a, b = self.align(left, right)
        if op in ("==", "!="):
            r, e = kernels.equal(a, b)
            r = ~r if op == "!=" else r
        elif op in ("in", "not in"):
            r, e = kernels.contains(a, b, item_is_const=left.domain == CONST)
            r = ~r if op == "not in" else r
        else:
            r, e = kernels.order(op, a, b)
        return r, e, a.domain, right

    def eval_Compare(self, node: ir.Compare) -> ValueColumn:
        if len(node.ops) == 1 and node.ops[0] in ("in", "not in") and _is_tags(node.comparators[0]):
            r, e, domain = self.in_tags(self.evaluate(node.left))
            return ValueColumn.bools(~r if node.ops[0] == "not in" else r, e, domain)
        left = self.evaluate(node.left)
        result: BoolArray | None = None
        err: BoolArray | None = None
        domain = CONST
        for op, comp in zip(node.ops, node.comparators):
            r, e, d, right = self.compare_one(op, left, comp)
            if result is None or err is None:
                result, err, domain = r, e, d
            else:
                target = max(d, domain)
                result, err = self.lift_mask(result, domain, target), self.lift_mask(err, domain, target)
                r, e = self.lift_mask(r, d, target), self.lift_mask(e, d, target)
                domain = target
                # a link after a False one is not evaluated: its errors do not count
                err = err | (result & e)
                result = result & r
            left = right if right is not None else self.evaluate(comp)
        assert result is not None and err is not None
        return ValueColumn.bools(result, err, domain)

    def in_tags(self, item: ValueColumn) -> tuple[BoolArray, BoolArray, int]:
        """``x in run.tags`` without building a list per run: (result, error, domain)."""
        n = self.snap.n_runs
        if item.domain == SEQ:
            a, b = self.align(item, self.leaves.tags())
            r, e = kernels.contains(a, b, item_is_const=False)
            return r, e, SEQ
        tags = self.snap.runs.column("tags").combine_chunks()
        item = self.lift(item, RUN)
        res = np.zeros(n, dtype=bool)
        is_str = (item.kind == STR) & ~item.err
        if is_str.any():
            owners, flat = list_values(tags)
            hit = strings_equal(flat, take(item.strs, owners))
            res = np.bincount(owners[hit], minlength=n) > 0
            res &= is_str
        return res, item.err.copy(), RUN

    def eval_BinOp(self, node: ir.BinOp) -> ValueColumn:
        a, b = self.align(self.evaluate(node.left), self.evaluate(node.right))
        return kernels.binop(node.op, a, b)

    def eval_Unary(self, node: ir.Unary) -> ValueColumn:
        return kernels.unary(node.op, self.evaluate(node.operand))

    def eval_IfExp(self, node: ir.IfExp) -> ValueColumn:
        test, body, orelse = self.align(self.evaluate(node.test), self.evaluate(node.body), self.evaluate(node.orelse))
        t = kernels.truthy(test) & ~test.err
        out = select(t, body, orelse)
        out.err = test.err | (t & body.err) | (~t & ~test.err & orelse.err)
        return out

    # -- calls ----------------------------------------------------------------------------------
    def generic(self, fn: Callable[..., Any], args: list[ValueColumn]) -> ValueColumn:
        """``fn`` row by row over whatever rows have no error in any argument."""
        if not args:
            return kernels.rowwise(fn, [], np.ones(1, dtype=bool), CONST)
        args = self.align(*args)
        err = np.zeros(len(args[0]), dtype=bool)
        for a in args:
            err |= a.err
        out = kernels.rowwise(fn, args, ~err, args[0].domain)
        out.err |= err
        return out

    def _arguments(
        self, args: tuple[ir.Node, ...], kwargs: tuple[tuple[str, ir.Node], ...]
    ) -> tuple[list[ValueColumn], list[str], list[ValueColumn]]:
        return (
            [self.evaluate(a) for a in args],
            [k for k, _ in kwargs],
            [self.evaluate(v) for _, v in kwargs],
        )

    def eval_Builtin(self, node: ir.Builtin) -> ValueColumn:
        if node.name == "len" and len(node.args) == 1 and not node.kwargs and _is_tags(node.args[0]):
            if self.snap.n_runs == 0:
                return ValueColumn.filled(0, INT, RUN)
            return self.leaves.tag_counts()
        args, kw_names, kw_vals = self._arguments(node.args, node.kwargs)
        nargs = len(args)
        if not node.kwargs and nargs == 1:
            fast = kernels.fast_builtin(node.name, args[0])
            if fast is not None:
                return fast

        def call(*vals: Any) -> Any:
            return scalar.call_builtin(node.name, vals[:nargs], dict(zip(kw_names, vals[nargs:])))

        return self.generic(call, args + kw_vals)

    def eval_ReCall(self, node: ir.ReCall) -> ValueColumn:
        args = [self.evaluate(a) for a in node.args]
        pattern_and_flags = [a for i, a in enumerate(args) if i != 1]
        if all(c.domain == CONST and not c.err.any() for c in pattern_and_flags):
            pattern = pattern_and_flags[0].first_py()
            flags = pattern_and_flags[1].first_py() if len(pattern_and_flags) > 1 else 0
            if type(pattern) is str and type(flags) is int:
                try:
                    compiled = scalar.compile_regex(pattern, flags)
                except RowError:
                    compiled = None
                if compiled is not None:
                    return kernels.per_unique_str(args[1], getattr(compiled, node.func))
        return self.generic(lambda *vals: scalar.regex(node.func, *vals), args)

    def eval_Method(self, node: ir.Method) -> ValueColumn:
        obj = self.evaluate(node.obj)
        args, kw_names, kw_vals = self._arguments(node.args, node.kwargs)
        nargs = len(args)
        if all(c.domain == CONST and not c.err.any() for c in args + kw_vals):
            const_args = tuple(c.first_py() for c in args)
            const_kwargs = {k: c.first_py() for k, c in zip(kw_names, kw_vals)}
            fast = kernels.fast_str_method(obj, node.name, const_args, const_kwargs)
            if fast is not None:
                return fast
            if not IS_TIME[obj.kind].any() and not (obj.kind == OBJ).any():
                return kernels.per_unique_str(obj, lambda s: scalar.call_method(s, node.name, const_args, const_kwargs))

        def call(o: Any, *vals: Any) -> Any:
            return scalar.call_method(o, node.name, vals[:nargs], dict(zip(kw_names, vals[nargs:])))

        return self.generic(call, [obj] + args + kw_vals)

    def eval_DatetimeCall(self, node: ir.DatetimeCall) -> ValueColumn:
        now = self.leaves.now
        return self.generic(
            lambda *vals: scalar.datetime_function(node.name, vals, now), [self.evaluate(a) for a in node.args]
        )

    def _constructor(self, node: ir.MakeDatetime | ir.MakeTimedelta, make: Callable[..., Any]) -> ValueColumn:
        args, kw_names, kw_vals = self._arguments(node.args, node.kwargs)
        nargs = len(args)
        return self.generic(lambda *vals: make(vals[:nargs], dict(zip(kw_names, vals[nargs:]))), args + kw_vals)

    def eval_MakeDatetime(self, node: ir.MakeDatetime) -> ValueColumn:
        return self._constructor(node, scalar.make_datetime)

    def eval_MakeTimedelta(self, node: ir.MakeTimedelta) -> ValueColumn:
        return self._constructor(node, scalar.make_timedelta)

    # -- access on computed values ----------------------------------------------------------------
    def eval_Attr(self, node: ir.Attr) -> ValueColumn:
        obj = self.evaluate(node.obj)
        k = obj.kind
        slow = (IS_TIME[k] | (k == OBJ)) & ~obj.err
        out = ValueColumn.filled(len(obj), UNDEF, obj.domain, err=obj.err.copy())
        if slow.any():
            found = kernels.rowwise(lambda x: scalar.get_attr(x, node.name), [obj], slow, obj.domain)
            out = select(slow, found, out)
            out.err |= obj.err
        return out

    def eval_Item(self, node: ir.Item) -> ValueColumn:
        obj, key = self.align(self.evaluate(node.obj), self.evaluate(node.key))
        k = obj.kind
        err = obj.err | key.err
        undefined = (k == UNDEF) & ~err
        slow = ~undefined & ~err & ((k == STR) | (k == OBJ))
        err = err | (~undefined & ~slow)  # None, numbers, dates are not subscriptable
        out = ValueColumn.filled(len(obj), UNDEF, obj.domain, err=err)
        if slow.any():
            out = select(slow, kernels.rowwise(scalar.get_item, [obj, key], slow, obj.domain), out)
            out.err |= err
        return out

    def eval_SliceNode(self, node: ir.SliceNode) -> ValueColumn:
        parts = [node.lower, node.upper, node.step]
        columns = [self.evaluate(p) if p is not None else ValueColumn.const(None) for p in parts]

        def make(lo: Any, hi: Any, st: Any) -> slice:
            if UNDEFINED in (lo, hi, st):
                raise RowError("undefined slice bound")
            return slice(lo, hi, st)

        return self.generic(make, columns)

    def eval_SeqDisplay(self, node: ir.SeqDisplay) -> ValueColumn:
        kind = node.kind
        return self.generic(lambda *vals: scalar.make_sequence(kind, vals), [self.evaluate(e) for e in node.items])

    def eval_DictDisplay(self, node: ir.DictDisplay) -> ValueColumn:
        nk = len(node.keys)
        return self.generic(
            lambda *vals: scalar.make_dict(vals[:nk], vals[nk:]),
            [self.evaluate(k) for k in node.keys] + [self.evaluate(v) for v in node.values],
        )

    # -- leaves ---------------------------------------------------------------------------------
    def eval_RunProp(self, node: ir.RunProp) -> ValueColumn:
        return self.leaves.run_prop(node.name)

    def eval_Param(self, node: ir.Param) -> ValueColumn:
        return self.leaves.param(node.path)

    def eval_RunMetric(self, node: ir.RunMetric) -> ValueColumn:
        return self.leaves.run_metric(node)

    def unbound_metric(self) -> ValueColumn:
        return ValueColumn.filled(1, UNDEF, CONST, err=np.ones(1, dtype=bool))

    def eval_MetricProp(self, node: ir.MetricProp) -> ValueColumn:
        return self.leaves.metric_prop(node.name) if self.binds_metric else self.unbound_metric()

    def eval_ContextAll(self, node: ir.ContextAll) -> ValueColumn:
        return self.leaves.context_all() if self.binds_metric else self.unbound_metric()

    def eval_ContextPath(self, node: ir.ContextPath) -> ValueColumn:
        return self.leaves.context_path(node.path) if self.binds_metric else self.unbound_metric()

    def eval_ViaMetric(self, node: ir.ViaMetric) -> ValueColumn:
        return self.evaluate(node.inner) if self.binds_metric else self.unbound_metric()


def _is_tags(node: ir.Node) -> bool:
    return isinstance(node, ir.RunProp) and node.name == "tags"


# ---- running a query ----------------------------------------------------------------------------------


def _selected(evaluator: Evaluator, expr: ir.Node, domain: int) -> BoolArray:
    """The rows of ``domain`` where ``expr`` is true (and did not fail)."""
    try:
        v = evaluator.lift(evaluator.evaluate(expr), domain)
    except MemoryError:
        raise scalar.out_of_memory() from None
    except RecursionError:
        raise AimQLCostError("query is nested too deeply to evaluate", reason="depth") from None
    selected: BoolArray = kernels.truthy(v) & ~v.err
    return selected


def match_runs(
    query: ir.ParsedQuery,
    snap: IndexSnapshot,
    now: float | None = None,
    active: BoolArray | None = None,
    time_limit: float | None = scalar.QUERY_TIME_LIMIT,
) -> BoolArray:
    """Boolean mask over the runs table: the runs a ``query_runs`` query selects.

    As in Aim, a runs query binds only ``run``: a ``metric`` term is an error in every row
    (Aim's ``NameError``), so a run whose evaluation reaches one does not match (``run.x == 1
    or metric.name == 'loss'`` keeps the runs where ``x == 1``; ``metric.name == 'loss'``
    selects none).  ``query_metrics(q).iter_runs()`` gives the runs with a matching metric.
    Archived runs are left out unless the query mentions ``run.archived``.
    Raises :class:`~aimcol.errors.AimQLCostError` for a query that runs past ``time_limit``
    seconds (None: no limit) or builds values beyond :data:`~aimcol.query.values.MAX_VALUE_SIZE`.
    """
    n = snap.n_runs
    now = time.time() if now is None else now
    with scalar.query_budget(time_limit):
        leaves = IndexLeaves(snap, now, active, _run_metrics(query, snap, now, active))
        evaluator = Evaluator(leaves, binds_metric=False)
        mask = np.ones(n, dtype=bool) if query.expr is None else _selected(evaluator, query.expr, RUN)
    if not query.mentions_archived:
        mask &= ~to_numpy(snap.runs.column("archived"), False)
    return mask


def match_sequences(
    query: ir.ParsedQuery,
    snap: IndexSnapshot,
    now: float | None = None,
    active: BoolArray | None = None,
    time_limit: float | None = scalar.QUERY_TIME_LIMIT,
) -> BoolArray:
    """Boolean mask over the sequences table: the sequences a ``query_metrics`` query selects.

    Cost bounds as :func:`match_runs`.
    """
    n = snap.n_seqs
    valid = snap.seq_run >= 0
    with scalar.query_budget(time_limit):
        evaluator = Evaluator(IndexLeaves(snap, time.time() if now is None else now, active))
        mask = np.ones(n, dtype=bool) if query.expr is None else _selected(evaluator, query.expr, SEQ)
    mask &= valid
    if not query.mentions_archived and n:
        archived = to_numpy(snap.runs.column("archived"), False)
        mask &= ~archived[np.where(valid, snap.seq_run, 0)]
    return mask


def select_sequences(
    query: ir.ParsedQuery,
    snap: IndexSnapshot,
    now: float | None = None,
    active: BoolArray | None = None,
    time_limit: float | None = scalar.QUERY_TIME_LIMIT,
    columns: Sequence[str] | None = None,
) -> IndexSnapshot:
    """``snap`` narrowed to the sequences a ``query_metrics`` query selects (the rows of
    :func:`match_sequences`, in the same order; every row of the result's sequences table
    matches).

    The sequences table is read and filtered one record batch at a time
    (:meth:`~aimcol.format.run_index.IndexSnapshot.narrow_sequences`): memory is the rows
    selected plus one batch, not the whole table (W10: 2.25 million rows).  A sequence's
    row depends only on itself and its run, so each batch is evaluated on its own; what
    holds one value per run (params, properties, ``run.metrics[...]``) is built once and
    shared by the batches.  ``columns``: keep only these columns of the selected rows.
    Cost bounds as :func:`match_runs`, for the whole query.
    """
    now = time.time() if now is None else now
    with scalar.query_budget(time_limit):
        shared = _run_metrics(query, snap, now, active)
        skip_archived = None if query.mentions_archived else to_numpy(snap.runs.column("archived"), False)

        def pick(part: IndexSnapshot) -> BoolArray:
            nonlocal active
            leaves = IndexLeaves(part, now, active, shared)
            if query.expr is None:
                mask = np.ones(part.n_seqs, dtype=bool)
            else:
                mask = _selected(Evaluator(leaves), query.expr, SEQ)
                shared.update(leaves.run_columns())
                active = leaves.active_if_known if active is None else active
            valid = part.seq_run >= 0
            mask &= valid
            if skip_archived is not None and len(mask):
                mask &= ~skip_archived[np.where(valid, part.seq_run, 0)]
            return mask

        return snap.narrow_sequences(pick, columns)


def _run_metrics(
    query: ir.ParsedQuery, snap: IndexSnapshot, now: float, active: BoolArray | None
) -> dict[tuple[Any, ...], ValueColumn]:
    """The ``run.metrics[name, context].stat`` leaves of ``query``, each read from only the
    sequence rows of its name (a batch at a time), for :class:`IndexLeaves` to start from."""
    if query.expr is None:
        return {}
    nodes = [node for node in ir.walk(query.expr) if isinstance(node, ir.RunMetric)]
    if not nodes:
        return {}
    leaves = IndexLeaves(snap.sequences_named(node.name for node in nodes), now, active)
    for node in nodes:
        leaves.run_metric(node)
    return leaves.run_columns()
