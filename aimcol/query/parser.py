"""Parse AimQL safely: token pass, ``ast.parse`` in eval mode, then a whitelist walk.

Every AST node is checked and turned into a :mod:`aimcol.query.ir` node; anything outside
the whitelist (imports, lambdas, comprehensions, ``:=``, names other than ``run`` and
``metric``, attributes starting with ``_``, calls to anything but the allowed builtins,
``re``/``datetime`` functions and string/dict/list/date methods) raises
:class:`~aimcol.errors.AimQLSyntaxError` with the query, line and column.  No user text is
ever given to ``eval``/``exec``/``compile``: the tree is interpreted by the evaluators.
"""

from __future__ import annotations

import ast
import re
import threading
import warnings
from functools import lru_cache
from typing import Any

from aimcol.errors import AimQLCostError, AimQLSyntaxError
from aimcol.format.contexts import freeze
from aimcol.query import ir
from aimcol.query import values as scalar
from aimcol.query.tokens import SourceMap, TokenPassError, rewrite_equals, strip_select

MAX_DEPTH = 150
"""Deepest expression accepted: the evaluators recurse over the tree."""

MAX_QUERY_LENGTH = 100_000
"""Longest query text accepted, in characters (parsing costs about 4 s per MB)."""

_TOO_DEEP = f"query is nested too deeply: AimQL accepts at most {MAX_DEPTH} levels of nesting"

_COMPARE_OPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_BIN_OPS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_REFUSED_BIN_OPS = {
    ast.BitAnd: "'&' is not supported: use 'and'",
    ast.BitOr: "'|' is not supported: use 'or'",
    ast.BitXor: "'^' is not supported",
    ast.LShift: "'<<' is not supported",
    ast.RShift: "'>>' is not supported",
    ast.MatMult: "'@' is not supported",
}
_REFUSED_NODES = {
    ast.Lambda: "lambda is not allowed in a query",
    ast.NamedExpr: "':=' is not allowed in a query",
    ast.ListComp: "comprehensions are not supported in AimQL",
    ast.SetComp: "comprehensions are not supported in AimQL",
    ast.DictComp: "comprehensions are not supported in AimQL",
    ast.GeneratorExp: "comprehensions are not supported in AimQL",
    ast.JoinedStr: "f-strings are not supported in AimQL",
    ast.Set: "set literals are not supported in AimQL: use a list",
    ast.Await: "await is not allowed in a query",
    ast.Yield: "yield is not allowed in a query",
    ast.YieldFrom: "yield is not allowed in a query",
    ast.Starred: "'*' unpacking is not supported in AimQL",
}

Chain = list[tuple[str, Any, ast.AST]]
"""An attribute/subscript chain: ("attr", name, node) or ("item", key AST, node) links, outermost last."""

_KNOWN_FUNCTIONS = sorted(scalar.BUILTINS) + ["datetime", "timedelta", "re.match", "re.search", "re.fullmatch"]


class _Parser:
    def __init__(self, query: str, smap: SourceMap, sequence_name: str = "metric"):
        self.query = query
        self.smap = smap
        self.seq = sequence_name
        self.lines = smap.rewritten.split("\n")

    # -- errors ----------------------------------------------------------------------------
    def error(self, message: str, node: ast.AST | None = None) -> AimQLSyntaxError:
        """An error at ``node``; for an attribute, at the attribute's name; for an operator, at it."""
        line, col = 1, 0
        if node is not None and hasattr(node, "lineno"):
            if isinstance(node, ast.Attribute) and node.end_lineno is not None:
                end_col = node.end_col_offset or 0
                line, col = self.position(node.end_lineno, end_col, back=len(node.attr.encode()))
            elif isinstance(node, ast.BinOp) and node.left.end_lineno is not None:
                line, col = self.operator_position(node)
            else:
                line, col = self.position(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))
        return AimQLSyntaxError(message, self.query, col, line)

    def position(self, lineno: int, col_bytes: int, back: int = 0) -> tuple[int, int]:
        # wrapped as "(\n" + text + "\n)": AST line L is line L-1 of the rewritten text
        rline = max(lineno - 1, 1)
        text_line = self.lines[rline - 1] if rline - 1 < len(self.lines) else ""
        col_chars = len(text_line.encode("utf-8")[: max(col_bytes - back, 0)].decode("utf-8", "replace"))
        return self.smap.to_original(rline, col_chars)

    def operator_position(self, node: ast.BinOp) -> tuple[int, int]:
        left_end = node.left.end_lineno or 1
        rline = max(left_end - 1, 1)
        text_line = self.lines[rline - 1] if rline - 1 < len(self.lines) else ""
        raw = text_line.encode("utf-8")
        start = node.left.end_col_offset or 0
        stop = node.right.col_offset if node.right.lineno == left_end else len(raw)
        gap = raw[start:stop]
        # skip blanks and closing brackets of the left operand
        offset = start + next((i for i, b in enumerate(gap) if chr(b) not in " \t)]"), 0)
        return self.position(left_end, offset)

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: ast.AST, depth: int = 0) -> ir.Node:
        if depth > MAX_DEPTH:
            raise self.error(_TOO_DEEP, node)
        d = depth + 1
        refused = _REFUSED_NODES.get(type(node))
        if refused:
            raise self.error(refused, node)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.BoolOp):
            bool_op = "and" if isinstance(node.op, ast.And) else "or"
            return ir.BoolOp(bool_op, tuple(self.expr(v, d) for v in node.values))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return ir.Not(self.expr(node.operand, d))
            if isinstance(node.op, ast.USub):
                return ir.Unary("-", self.expr(node.operand, d))
            if isinstance(node.op, ast.UAdd):
                return ir.Unary("+", self.expr(node.operand, d))
            raise self.error("'~' is not supported: use 'not'", node)
        if isinstance(node, ast.BinOp):
            op = _BIN_OPS.get(type(node.op))
            if op is None:
                raise self.error(_REFUSED_BIN_OPS.get(type(node.op), "operator not supported"), node)
            return ir.BinOp(op, self.expr(node.left, d), self.expr(node.right, d))
        if isinstance(node, ast.Compare):
            return self.compare(node, d)
        if isinstance(node, ast.IfExp):
            return ir.IfExp(self.expr(node.test, d), self.expr(node.body, d), self.expr(node.orelse, d))
        if isinstance(node, (ast.List, ast.Tuple)):
            kind = "list" if isinstance(node, ast.List) else "tuple"
            return ir.SeqDisplay(kind, tuple(self.expr(e, d) for e in node.elts))
        if isinstance(node, ast.Dict):
            keys = [k for k in node.keys if k is not None]
            if len(keys) != len(node.keys):
                raise self.error("'**' unpacking is not supported in AimQL", node)
            return ir.DictDisplay(tuple(self.expr(k, d) for k in keys), tuple(self.expr(v, d) for v in node.values))
        if isinstance(node, ast.Call):
            return self.call(node, d)
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Name)):
            return self.access(node, d)
        if isinstance(node, ast.Slice):
            raise self.error("a slice is only allowed inside [ ]", node)
        raise self.error(f"{type(node).__name__} is not allowed in a query", node)

    def constant(self, node: ast.Constant) -> ir.Const:
        value = node.value
        if value is Ellipsis or isinstance(value, complex):
            raise self.error(f"constant {value!r} is not supported in AimQL", node)
        return ir.Const(value)

    def compare(self, node: ast.Compare, d: int) -> ir.Compare:
        ops = []
        for op, right in zip(node.ops, node.comparators):
            name = _COMPARE_OPS[type(op)]
            if name in ("is", "is not") and not (
                isinstance(right, ast.Constant)
                and right.value in (None, True, False)
                and type(right.value) in (bool, type(None))
            ):
                raise self.error(f"'{name}' is only allowed with None, True or False: use '==' or '!='", right)
            ops.append(name)
        return ir.Compare(self.expr(node.left, d), tuple(ops), tuple(self.expr(c, d) for c in node.comparators))

    def keywords(
        self, node: ast.Call, allowed: frozenset[str] | None, what: str, d: int
    ) -> tuple[tuple[str, ir.Node], ...]:
        out = []
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error("'**' unpacking is not supported in AimQL", kw.value)
            if kw.arg.startswith("_") or (allowed is not None and kw.arg not in allowed):
                raise self.error(f"{what}() got an unexpected keyword argument {kw.arg!r}", kw.value)
            out.append((kw.arg, self.expr(kw.value, d)))
        return tuple(out)

    def args(self, node: ast.Call, d: int) -> tuple[ir.Node, ...]:
        return tuple(self.expr(a, d) for a in node.args)

    def call(self, node: ast.Call, d: int) -> ir.Node:
        func = node.func
        if isinstance(func, ast.Name):
            name = func.id
            if name.startswith("_"):
                raise self.error(f"{name!r}: names starting with '_' are not allowed in AimQL", func)
            if name in scalar.BUILTINS:
                kwargs = self.keywords(node, scalar.BUILTIN_KWARGS.get(name, frozenset()), name, d)
                return ir.Builtin(name, self.args(node, d), kwargs)
            if name == "datetime":
                return ir.MakeDatetime(self.args(node, d), self.keywords(node, scalar.DATETIME_KWARGS, name, d))
            if name == "timedelta":
                return ir.MakeTimedelta(self.args(node, d), self.keywords(node, scalar.TIMEDELTA_KWARGS, name, d))
            if name in ("run", self.seq):
                raise self.error(f"'{name}' is not callable", func)
            raise self.error(f"{name!r} is not a function AimQL knows; allowed: {', '.join(_KNOWN_FUNCTIONS)}", func)
        if isinstance(func, ast.Attribute):
            self.check_attr_name(func)
            base = func.value
            if isinstance(base, ast.Name) and base.id == "re":
                if func.attr not in scalar.RE_FUNCTIONS:
                    raise self.error(f"re.{func.attr} is not allowed; use re.match, re.search or re.fullmatch", func)
                args = list(self.args(node, d))
                for _key, v in self.keywords(node, frozenset({"flags"}), f"re.{func.attr}", d):
                    args.append(v)
                if not 2 <= len(args) <= 3:
                    raise self.error(f"re.{func.attr}() takes a pattern, a string and optional flags", node)
                return ir.ReCall(func.attr, tuple(args))
            if isinstance(base, ast.Name) and base.id == "datetime":
                if func.attr not in scalar.DATETIME_FUNCTIONS:
                    raise self.error(
                        f"datetime.{func.attr} is not allowed; use one of {', '.join(sorted(scalar.DATETIME_FUNCTIONS))}",
                        func,
                    )
                if node.keywords:
                    raise self.error(f"datetime.{func.attr}() takes no keyword arguments", node)
                return ir.DatetimeCall(func.attr, self.args(node, d))
            if func.attr not in scalar.METHODS:
                raise self.error(f"unknown method .{func.attr}(); AimQL allows str, dict, list and date methods", func)
            obj = self.expr(base, d)
            return ir.Method(obj, func.attr, self.args(node, d), self.keywords(node, None, func.attr, d))
        raise self.error("only named functions and methods can be called", func)

    def check_attr_name(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise self.error(f"{node.attr!r}: names starting with '_' are not allowed in AimQL", node)

    # -- entity access -------------------------------------------------------------------------
    def access(self, node: ast.AST, d: int) -> ir.Node:
        """Attribute/subscript chains: resolve ``run…`` and ``metric…`` statically."""
        chain: list[tuple[str, Any, ast.AST]] = []
        base = node
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            if isinstance(base, ast.Attribute):
                self.check_attr_name(base)
                chain.append(("attr", base.attr, base))
            else:
                chain.append(("item", base.slice, base))
            base = base.value
        chain.reverse()
        if isinstance(base, ast.Name):
            if base.id == "run":
                return self.run_chain(chain, base, d)
            if base.id == self.seq:
                return self.metric_chain(chain, base, d)
            if base.id == "re" and len(chain) == 1 and chain[0][0] == "attr" and chain[0][1] in scalar.RE_FLAGS:
                return ir.Const(int(scalar.RE_FLAGS[chain[0][1]]))
            if base.id in ("re", "datetime", "timedelta") or base.id in scalar.BUILTINS:
                raise self.error(f"{base.id!r} can only be called", base)
            if base.id.startswith("_"):
                raise self.error(f"{base.id!r}: names starting with '_' are not allowed in AimQL", base)
            raise self.error(f"unknown name {base.id!r}: a query refers to run and {self.seq}", base)
        return self.apply_chain(self.expr(base, d), chain, d)

    def apply_chain(self, value: ir.Node, chain: Chain, d: int) -> ir.Node:
        for kind, key, _node in chain:
            if kind == "attr":
                value = ir.Attr(value, key)
            else:
                value = ir.Item(value, self.subscript(key, d))
        return value

    def subscript(self, key: ast.AST, d: int) -> ir.Node:
        if isinstance(key, ast.Slice):
            parts = [None if p is None else self.expr(p, d) for p in (key.lower, key.upper, key.step)]
            return ir.SliceNode(*parts)
        return self.expr(key, d)

    @staticmethod
    def const_keys(key: ast.AST) -> tuple[str, ...] | None:
        """A subscript key made of str constants (``["a"]`` or ``["a", "b"]``), else None."""
        if isinstance(key, ast.Constant) and type(key.value) is str:
            return (key.value,)
        if isinstance(key, ast.Tuple) and key.elts:
            keys = [e.value for e in key.elts if isinstance(e, ast.Constant) and type(e.value) is str]
            return tuple(keys) if len(keys) == len(key.elts) else None
        return None

    def param_chain(self, path: tuple[str, ...], chain: Chain, d: int) -> ir.Node:
        """Extend a param path while keys are constant strings; the rest applies to the value."""
        i = 0
        while i < len(chain):
            kind, key, node = chain[i]
            if kind == "attr":
                path += (key,)
            else:
                keys = self.const_keys(key)
                if keys is None:
                    break
                path += keys
            i += 1
        return self.apply_chain(ir.Param(path), chain[i:], d)

    def run_chain(self, chain: Chain, base: ast.AST, d: int) -> ir.Node:
        if not chain:
            raise self.error("use run.<property> or run[...] in a query, not run itself", base)
        kind, key, node = chain[0]
        if kind == "item" and isinstance(key, ast.Constant) and key.value is Ellipsis:
            return self.param_chain((), chain[1:], d)  # run[...]: the whole params tree, as in the SDK
        if kind == "attr" and key in ir.RUN_PROPERTIES:
            return self.apply_chain(ir.RunProp(key), chain[1:], d)
        if kind == "attr" and key == "metrics":
            return self.run_metrics(chain, node, d)
        return self.param_chain((), chain, d)

    def run_metrics(self, chain: Chain, node: ast.AST, d: int) -> ir.Node:
        usage = "use run.metrics['name'].last or run.metrics['name', {'subset': 'train'}].last"
        if len(chain) < 3 or chain[1][0] != "item" or chain[2][0] != "attr":
            raise self.error(usage, node)
        key = chain[1][1]
        parts = key.elts if isinstance(key, ast.Tuple) else [key]
        name = parts[0].value if parts and isinstance(parts[0], ast.Constant) else None
        if not 1 <= len(parts) <= 2 or type(name) is not str:
            raise self.error(usage, chain[1][2])
        context: Any = {}
        if len(parts) == 2:
            context = self.literal(parts[1])
            if type(context) is not dict:
                raise self.error("run.metrics[name, context]: the context must be a dict literal", parts[1])
        attr = chain[2][1]
        if attr not in ir.METRIC_STATS:
            raise self.error(
                f"run.metrics[...] has no attribute {attr!r}; use one of {', '.join(ir.METRIC_STATS)}", chain[2][2]
            )
        stat = ir.RunMetric(name, context, freeze(context), attr)
        return self.apply_chain(stat, chain[3:], d)

    def literal(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and not isinstance(node.value, complex) and node.value is not Ellipsis:
            return node.value
        if isinstance(node, ast.Dict):
            keys = [k for k in node.keys if k is not None]
            if len(keys) == len(node.keys):
                return {self.literal(k): self.literal(v) for k, v in zip(keys, node.values)}
        if isinstance(node, ast.List):
            return [self.literal(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return -self.literal(node.operand)
        raise self.error("expected a constant here", node)

    def metric_chain(self, chain: Chain, base: ast.AST, d: int) -> ir.Node:
        if not chain or chain[0][0] != "attr":
            raise self.error(f"use {self.seq}.name, {self.seq}.context… or {self.seq}.run… in a query", base)
        key, node = chain[0][1], chain[0][2]
        if key == "run":
            return ir.ViaMetric(self.run_chain(chain[1:], node, d))
        if key == "name" or key in ir.METRIC_STATS:
            return self.apply_chain(ir.MetricProp(key), chain[1:], d)
        if key == "context":
            path: tuple[str, ...] = ()
            i = 1
            while i < len(chain):
                kind, k, _ = chain[i]
                if kind == "attr":
                    path += (k,)
                else:
                    keys = self.const_keys(k)
                    if keys is None:
                        break
                    path += keys
                i += 1
            head = ir.ContextPath(path) if path else ir.ContextAll()
            return self.apply_chain(head, chain[i:], d)
        raise self.error(f"{self.seq} has no attribute {key!r}; use one of {', '.join(ir.METRIC_ATTRS)}", node)


def _syntax_error_from_python(exc: SyntaxError, query: str, smap: SourceMap) -> AimQLSyntaxError:
    line = (exc.lineno or 2) - 1  # the parse input was wrapped as "(\n" + text + "\n)"
    col = max((exc.offset or 1) - 1, 0)
    rlines = smap.rewritten.split("\n")
    if line < 1:
        line, col = 1, 0
    elif line > len(rlines):
        line, col = len(rlines), len(rlines[-1])
    oline, ocol = smap.to_original(line, col)
    message = _user_line_numbers(exc.msg or "invalid syntax", query)
    if message.startswith("invalid syntax. Perhaps you forgot a comma"):
        message = "invalid syntax"
    return AimQLSyntaxError(message, query, ocol, oline)


def _user_line_numbers(message: str, query: str) -> str:
    """Python's "line N" in a message counts the wrapping "(" line: count the user's lines instead,
    and say nothing about lines for a one-line query."""
    if "\n" not in query:
        return re.sub(r" \(detected at line \d+\)| on line \d+", "", message)
    return re.sub(r"\bline (\d+)", lambda m: f"line {max(int(m.group(1)) - 1, 1)}", message)


@lru_cache(maxsize=256)
def parse_query(query: str | None, sequence_name: str = "metric") -> ir.ParsedQuery:
    """Check an AimQL query and return its :class:`~aimcol.query.ir.ParsedQuery`.

    ``sequence_name`` is the name the query calls the sequence by: ``metric`` for
    ``query_metrics``, ``images``/``texts``/``distributions``/``audios``/``figures`` for the
    object queries (Aim's names); it means the same attributes whatever its name.

    Raises :class:`~aimcol.errors.AimQLSyntaxError` (a ``SyntaxError``) for anything that does
    not parse or is outside the whitelist, with the column in the text the user typed, and
    :class:`~aimcol.errors.AimQLCostError` for a query longer than :data:`MAX_QUERY_LENGTH`.
    Prints nothing (Python's warnings about the text, such as ``1and``, are not the user's
    concern: the query means what Python would make of it).
    """
    if query is None:
        query = ""
    if not isinstance(query, str):
        raise TypeError(f"an AimQL query must be a str, got {type(query).__name__}")
    if len(query) > MAX_QUERY_LENGTH:
        raise AimQLCostError(
            f"query is {len(query):,} characters long; AimQL accepts at most {MAX_QUERY_LENGTH:,}", reason="length"
        )
    text, start = strip_select(query)
    smap = SourceMap(query, start=start)
    if not text.strip():
        return ir.ParsedQuery.build(query, None)
    try:
        rewritten, inserted = rewrite_equals(text)
    except TokenPassError as exc:
        smap.rewritten = text
        line, col = smap.to_original(exc.line, exc.col)
        raise AimQLSyntaxError(exc.message, query, col, line) from None
    smap.inserted = inserted
    smap.rewritten = rewritten
    try:
        tree = _python_ast(rewritten)
    except SyntaxError as exc:
        if not inserted:  # the token pass may have been skipped: it names unbalanced brackets better
            try:
                rewrite_equals(text, force=True)
            except TokenPassError as tok_exc:
                line, col = smap.to_original(tok_exc.line, tok_exc.col)
                raise AimQLSyntaxError(tok_exc.message, query, col, line) from None
        raise _syntax_error_from_python(exc, query, smap) from None
    except (RecursionError, MemoryError):  # CPython's parser gives up on deep nesting, often with no message
        raise AimQLSyntaxError(_TOO_DEEP, query, 0, 1) from None
    except ValueError as exc:  # e.g. a NUL character
        raise AimQLSyntaxError(f"cannot parse query: {exc}", query, 0, 1) from None
    if sequence_name in ("run", "re", "datetime", "timedelta") or not sequence_name.isidentifier():
        raise ValueError(f"{sequence_name!r} cannot name the sequence in a query")
    parser = _Parser(query, smap, sequence_name)
    try:
        expr = parser.expr(tree.body)
    except RecursionError:
        raise AimQLSyntaxError(_TOO_DEEP, query, 0, 1) from None
    return ir.ParsedQuery.build(query, expr)


_warnings_lock = threading.Lock()


def _python_ast(text: str) -> ast.Expression:
    """Python's AST of ``(text)``, without the warnings Python prints about source text.

    ``1and x`` (``SyntaxWarning: invalid decimal literal``) or ``'\\d'`` (invalid escape
    sequence) are valid Python and valid AimQL; the warning would reach the user's stderr.
    """
    with _warnings_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse("(\n" + text + "\n)", mode="eval")
