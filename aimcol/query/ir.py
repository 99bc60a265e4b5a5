"""The checked form of an AimQL query: a small tree of nodes both evaluators understand.

The parser turns Python's AST into these nodes after checking every node against the
whitelist, and resolves entity access statically: ``run.hparams.lr``, ``run["hparams",
"lr"]`` and ``run["hparams"]["lr"]`` all become ``Param(("hparams", "lr"))``, ``run.name``
becomes ``RunProp("name")``, ``metric.context.subset`` becomes ``ContextPath(("subset",))``.
Nothing here is executable Python; the evaluators interpret it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RUN_PROPERTIES = (
    "hash", "name", "experiment", "tags", "archived", "active", "creation_time", "created_at",
    "end_time", "duration", "description",
)
"""``run.<x>`` for these is the run property; any other ``run.<x>`` is the param ``x``."""

METRIC_STATS = ("first", "last", "min", "max", "first_step", "last_step", "count")
"""Per-sequence statistics kept in the manifest (and so in the index): no points are read."""

METRIC_ATTRS = ("name", "context", "run") + METRIC_STATS


class Node:
    """Base of every query node."""

    __slots__ = ()

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True)
class Const(Node):
    value: Any


@dataclass(frozen=True)
class RunProp(Node):
    name: str


@dataclass(frozen=True)
class Param(Node):
    """A run param by key path; ``()`` is the whole params tree."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class RunMetric(Node):
    """``run.metrics[name, context].attr``: a statistic of another sequence of the same run."""

    name: str
    context: Any = field(compare=False)  # the dict, for evaluation
    context_key: tuple = ()  # hashable form, for equality of nodes
    attr: str = "last"


@dataclass(frozen=True)
class MetricProp(Node):
    name: str


@dataclass(frozen=True)
class ContextAll(Node):
    pass


@dataclass(frozen=True)
class ContextPath(Node):
    """``metric.context.a.b``; a missing key makes the row fail (as Aim)."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class BoolOp(Node):
    op: str  # "and" | "or"
    values: tuple[Node, ...]

    def children(self):
        return self.values


@dataclass(frozen=True)
class Not(Node):
    operand: Node

    def children(self):
        return (self.operand,)


@dataclass(frozen=True)
class Compare(Node):
    left: Node
    ops: tuple[str, ...]
    comparators: tuple[Node, ...]

    def children(self):
        return (self.left,) + self.comparators


@dataclass(frozen=True)
class BinOp(Node):
    op: str
    left: Node
    right: Node

    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" | "+"
    operand: Node

    def children(self):
        return (self.operand,)


@dataclass(frozen=True)
class Builtin(Node):
    name: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()

    def children(self):
        return self.args + tuple(v for _, v in self.kwargs)


@dataclass(frozen=True)
class ReCall(Node):
    func: str  # match | search | fullmatch
    args: tuple[Node, ...]

    def children(self):
        return self.args


@dataclass(frozen=True)
class DatetimeCall(Node):
    """``datetime.now()``, ``datetime.fromtimestamp(x)`` …"""

    name: str
    args: tuple[Node, ...]

    def children(self):
        return self.args


@dataclass(frozen=True)
class MakeDatetime(Node):
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()

    def children(self):
        return self.args + tuple(v for _, v in self.kwargs)


@dataclass(frozen=True)
class MakeTimedelta(Node):
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()

    def children(self):
        return self.args + tuple(v for _, v in self.kwargs)


@dataclass(frozen=True)
class Method(Node):
    obj: Node
    name: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()

    def children(self):
        return (self.obj,) + self.args + tuple(v for _, v in self.kwargs)


@dataclass(frozen=True)
class Attr(Node):
    """``value.name`` on a computed value (not an entity)."""

    obj: Node
    name: str

    def children(self):
        return (self.obj,)


@dataclass(frozen=True)
class Item(Node):
    """``value[key]`` on a computed value (not an entity path)."""

    obj: Node
    key: Node

    def children(self):
        return (self.obj, self.key)


@dataclass(frozen=True)
class SliceNode(Node):
    lower: Node | None
    upper: Node | None
    step: Node | None

    def children(self):
        return tuple(n for n in (self.lower, self.upper, self.step) if n is not None)


@dataclass(frozen=True)
class IfExp(Node):
    test: Node
    body: Node
    orelse: Node

    def children(self):
        return (self.test, self.body, self.orelse)


@dataclass(frozen=True)
class SeqDisplay(Node):
    kind: str  # "list" | "tuple"
    items: tuple[Node, ...]

    def children(self):
        return self.items


@dataclass(frozen=True)
class DictDisplay(Node):
    keys: tuple[Node, ...]
    values: tuple[Node, ...]

    def children(self):
        return self.keys + self.values


def walk(node: Node):
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children()))


METRIC_NODES = (MetricProp, ContextAll, ContextPath)


@dataclass(frozen=True)
class ParsedQuery:
    """A checked query.  ``expr`` is ``None`` for the empty query (everything matches)."""

    text: str
    expr: Node | None
    mentions_archived: bool
    uses_metric: bool
    param_paths: tuple[tuple[str, ...], ...]
    run_props: tuple[str, ...]

    @classmethod
    def build(cls, text: str, expr: Node | None) -> ParsedQuery:
        nodes = list(walk(expr)) if expr is not None else []
        params: list[tuple[str, ...]] = []
        props: list[str] = []
        for n in nodes:
            if isinstance(n, Param) and n.path not in params:
                params.append(n.path)
            elif isinstance(n, RunProp) and n.name not in props:
                props.append(n.name)
        return cls(
            text=text,
            expr=expr,
            mentions_archived="archived" in props,
            uses_metric=any(isinstance(n, METRIC_NODES) for n in nodes),
            param_paths=tuple(params),
            run_props=tuple(props),
        )
