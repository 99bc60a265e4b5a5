"""The checked form of an AimQL query: a small tree of nodes both evaluators understand.

The parser turns Python's AST into these nodes after checking every node against the
whitelist, and resolves entity access statically: ``run.hparams.lr``, ``run["hparams",
"lr"]`` and ``run["hparams"]["lr"]`` all become ``Param(("hparams", "lr"))``, ``run.name``
becomes ``RunProp("name")``, ``metric.context.subset`` becomes ``ContextPath(("subset",))``.
Nothing here is executable Python; the evaluators interpret it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

RUN_PROPERTIES = (
    "hash",
    "name",
    "experiment",
    "tags",
    "archived",
    "active",
    "creation_time",
    "created_at",
    "end_time",
    "finalized_at",
    "duration",
    "description",
    "exit_status",
)
"""``run.<x>`` for these is the run property; any other ``run.<x>`` is the param ``x``."""

METRIC_STATS = ("first", "last", "min", "max", "first_step", "last_step", "count")
"""Per-sequence statistics kept in the manifest (and so in the index): no points are read."""

METRIC_ATTRS = ("name", "context", "run") + METRIC_STATS


class Record:
    """An immutable record whose fields are its class annotations: ``@dataclass(frozen=True)``
    semantics (positional or keyword construction, defaults from class attributes, equality
    and hash over the compared fields, repr, no assignment).

    Written out once here because ``@dataclass`` generates and compiles the methods of every
    class at import: 25 ms for the classes below, a fifth of a cold ``query_runs``.
    ``class X(Record, uncompared=("f",))`` leaves field ``f`` out of equality and hash.
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _defaults: dict[str, Any] = {}
    _compared: tuple[str, ...] = ()

    def __init_subclass__(cls, uncompared: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = tuple(cls.__dict__.get("__annotations__", {}))
        cls._fields = cls._fields + own
        cls._defaults = {**cls._defaults, **{f: cls.__dict__[f] for f in own if f in cls.__dict__}}
        cls._compared = cls._compared + tuple(f for f in own if f not in uncompared)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} arguments, got {len(args)}")
        values = dict(zip(fields, args))
        for key, value in kwargs.items():
            if key not in fields or key in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated argument {key!r}")
            values[key] = value
        for name in fields:
            if name in values:
                object.__setattr__(self, name, values[name])
            elif name in self._defaults:
                object.__setattr__(self, name, self._defaults[name])
            else:
                raise TypeError(f"{type(self).__name__} needs {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of an immutable {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of an immutable {type(self).__name__}")

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._compared)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Record):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields)})"


class Node(Record):
    """Base of every query node."""

    __slots__ = ()

    def children(self) -> tuple[Node, ...]:
        return ()


class Const(Node):
    value: Any


class RunProp(Node):
    name: str


class Param(Node):
    """A run param by key path; ``()`` is the whole params tree."""

    path: tuple[str, ...]


class RunMetric(Node, uncompared=("context",)):
    """``run.metrics[name, context].attr``: a statistic of another sequence of the same run."""

    name: str
    context: Any  # the dict, for evaluation
    context_key: tuple[Any, ...] = ()  # hashable form, for equality of nodes
    attr: str = "last"


class MetricProp(Node):
    name: str


class ViaMetric(Node):
    """``metric.run…``: the run's value, read through ``metric`` (unbound in a runs query, as in Aim)."""

    inner: Node

    def children(self) -> tuple[Node, ...]:
        return (self.inner,)


class ContextAll(Node):
    pass


class ContextPath(Node):
    """``metric.context.a.b``; a missing key makes the row fail (as Aim)."""

    path: tuple[str, ...]


class BoolOp(Node):
    op: str  # "and" | "or"
    values: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.values


class Not(Node):
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


class Compare(Node):
    left: Node
    ops: tuple[str, ...]
    comparators: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return (self.left,) + self.comparators


class BinOp(Node):
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


class Unary(Node):
    op: str  # "-" | "+"
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


class Builtin(Node):
    name: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()

    def children(self) -> tuple[Node, ...]:
        return self.args + tuple(v for _, v in self.kwargs)


class ReCall(Node):
    func: str  # match | search | fullmatch
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


class DatetimeCall(Node):
    """``datetime.now()``, ``datetime.fromtimestamp(x)`` …"""

    name: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


class MakeDatetime(Node):
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()

    def children(self) -> tuple[Node, ...]:
        return self.args + tuple(v for _, v in self.kwargs)


class MakeTimedelta(Node):
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()

    def children(self) -> tuple[Node, ...]:
        return self.args + tuple(v for _, v in self.kwargs)


class Method(Node):
    obj: Node
    name: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()

    def children(self) -> tuple[Node, ...]:
        return (self.obj,) + self.args + tuple(v for _, v in self.kwargs)


class Attr(Node):
    """``value.name`` on a computed value (not an entity)."""

    obj: Node
    name: str

    def children(self) -> tuple[Node, ...]:
        return (self.obj,)


class Item(Node):
    """``value[key]`` on a computed value (not an entity path)."""

    obj: Node
    key: Node

    def children(self) -> tuple[Node, ...]:
        return (self.obj, self.key)


class SliceNode(Node):
    lower: Node | None
    upper: Node | None
    step: Node | None

    def children(self) -> tuple[Node, ...]:
        return tuple(n for n in (self.lower, self.upper, self.step) if n is not None)


class IfExp(Node):
    test: Node
    body: Node
    orelse: Node

    def children(self) -> tuple[Node, ...]:
        return (self.test, self.body, self.orelse)


class SeqDisplay(Node):
    kind: str  # "list" | "tuple"
    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


class DictDisplay(Node):
    keys: tuple[Node, ...]
    values: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.keys + self.values


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children()))


METRIC_NODES = (MetricProp, ContextAll, ContextPath, ViaMetric)


def unwrap(node: Node) -> Node:
    """``node`` without a :class:`ViaMetric` around it (``metric.run.x`` means ``run.x`` where ``metric`` is bound)."""
    return node.inner if isinstance(node, ViaMetric) else node


class ParsedQuery(Record):
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
