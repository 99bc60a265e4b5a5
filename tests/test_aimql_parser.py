"""The AimQL parser: the ``=`` token pass, ``SELECT … IF``, the whitelist and error positions."""

from __future__ import annotations

import builtins
import subprocess
import sys
import warnings

import pytest

from aimcol.errors import AimQLSyntaxError
from aimcol.query import ir, parse_query
from aimcol.query.tokens import rewrite_equals, strip_select


def expr(query: str) -> ir.Node:
    return parse_query(query).expr


def error(query: str) -> AimQLSyntaxError:
    with pytest.raises(AimQLSyntaxError) as info:
        parse_query(query)
    return info.value


# ---- the token pass ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,rewritten",
    [
        ("metric.name = 'loss'", "metric.name == 'loss'"),
        ("a = 1 and b = 2", "a == 1 and b == 2"),
        ("(a = 1)", "(a == 1)"),
        ("a = b = c", "a == b == c"),
        ("a == 1", "a == 1"),
        ("a <= 1 and b >= 2 and c != 3", "a <= 1 and b >= 2 and c != 3"),
        ("timedelta(days=1) = x", "timedelta(days=1) == x"),
        ("f(x = 1, y=2)", "f(x = 1, y=2)"),
        ("f(a.b = 1)", "f(a.b == 1)"),
        ("x['='] = '='", "x['='] == '='"),
        ("\n  a = 1\n and b = 2\n", "\n  a == 1\n and b == 2\n"),
    ],
)
def test_bare_equals_becomes_equality(query, rewritten):
    assert rewrite_equals(query)[0] == rewritten


def test_select_if_is_stripped():
    assert strip_select("SELECT metric IF run.x == 1") == (" run.x == 1", 16)
    assert strip_select("select diff if run.x") == (" run.x", 14)  # "diff" is not "if"
    assert strip_select("SELECT everything")[0] == ""
    assert strip_select("selector == 1") == ("selector == 1", 0)
    assert expr("SELECT m IF run.hparams.lr = 1") == expr("run.hparams.lr == 1")
    assert parse_query("SELECT metric").expr is None


def test_seed_queries_parse():
    q = "run['hparams', 'batch_size'] > 30 and metric.name = 'loss' and metric.context['subset'] == 'train'"
    node = expr(q)
    assert isinstance(node, ir.BoolOp) and node.op == "and"
    assert node.values[0] == ir.Compare(ir.Param(("hparams", "batch_size")), (">",), (ir.Const(30),))
    assert node.values[1] == ir.Compare(ir.MetricProp("name"), ("==",), (ir.Const("loss"),))
    assert node.values[2] == ir.Compare(ir.ContextPath(("subset",)), ("==",), (ir.Const("train"),))
    node = expr("run.experiment != 'default' and metric.name = 'loss' and len(run.tags) > 0")
    assert node.values[2].left == ir.Builtin("len", (ir.RunProp("tags"),))
    assert expr("0.001 >= run.hparams.lr >= 0.0001") == ir.Compare(
        ir.Const(0.001), (">=", ">="), (ir.Param(("hparams", "lr")), ir.Const(0.0001))
    )
    seed = "\nmetric.run['params', 'foo'] == 'bar' and metric.name = 'ordinals' and metric.context['odds'] = True\n"
    node = expr(seed)
    assert node.values[0].left == ir.ViaMetric(ir.Param(("params", "foo")))
    assert node.values[2] == ir.Compare(ir.ContextPath(("odds",)), ("==",), (ir.Const(True),))


# ---- entity resolution --------------------------------------------------------------------------------


def test_param_spellings_resolve_to_one_path():
    spellings = [
        "run.hparams.lr",
        "run['hparams', 'lr']",
        "run['hparams']['lr']",
        "run['hparams'].lr",
        "run.hparams['lr']",
    ]
    assert {expr(s) for s in spellings} == {ir.Param(("hparams", "lr"))}
    # through `metric` (bound in query_metrics, unbound in a runs query, as in Aim)
    via = {expr("metric.run.hparams.lr"), expr("metric.run['hparams', 'lr']")}
    assert via == {ir.ViaMetric(ir.Param(("hparams", "lr")))}


def test_properties_and_params():
    assert expr("run.name") == ir.RunProp("name")
    assert expr("run['name']") == ir.Param(("name",))
    assert expr("run.hash") == ir.RunProp("hash")
    assert expr("run['__system_params']") == ir.Param(("__system_params",))  # a legal param key
    assert expr("run.metrics['loss', {'subset': 'train'}].last") == ir.RunMetric(
        "loss", {"subset": "train"}, (("subset", "train"),), "last"
    )
    assert expr("run.metrics['loss'].max").context == {}
    assert expr("metric.context") == ir.ContextAll()
    assert expr("metric.context.a['b'].c") == ir.ContextPath(("a", "b", "c"))
    assert expr("run.hparams.layers[0]") == ir.Item(ir.Param(("hparams", "layers")), ir.Const(0))
    assert expr("run.name.upper()") == ir.Method(ir.RunProp("name"), "upper", ())
    assert parse_query("run.archived or 1").mentions_archived
    assert not parse_query("run['archived'] == 'run.archived'").mentions_archived
    assert parse_query("metric.run.archived").mentions_archived
    assert parse_query("metric.name == 'x'").uses_metric
    assert parse_query("metric.run.name == 'x'").uses_metric  # `metric` is named: unbound in a runs query
    assert not parse_query("run.name == 'x'").uses_metric


def test_empty_query():
    assert parse_query("").expr is None
    assert parse_query("   \n ").expr is None
    assert parse_query(None).expr is None


# ---- the whitelist ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,col,words",
    [
        ("run.__class__", 4, "starting with '_'"),
        ("run.name.__len__()", 9, "starting with '_'"),
        ("run._secret", 4, "starting with '_'"),
        ("__import__('os')", 0, "starting with '_'"),
        ("import os", 0, "invalid syntax"),
        ("lambda: 1", 0, "lambda"),
        ("(x := 1)", 1, ":="),
        ("[x for x in run.tags]", 0, "comprehensions"),
        ("any(t == 'a' for t in run.tags)", 3, "comprehensions"),
        ("foo == 1", 0, "unknown name 'foo'"),
        ("eval('1')", 0, "not a function"),
        ("open('/etc/passwd')", 0, "not a function"),
        ("getattr(run, 'name')", 0, "not a function"),
        ("run.name.format(1)", 9, "unknown method"),
        ("run(1)", 0, "not callable"),
        ("run == 1", 0, "run itself"),
        ("metric.foo", 7, "metric has no attribute 'foo'"),
        ("metric['name']", 0, "metric.name"),
        ("re.compile('a')", 3, "re.compile is not allowed"),
        ("re", 0, "can only be called"),
        ("datetime.max", 0, "can only be called"),
        ("run.a & run.b", 6, "use 'and'"),
        ("run.a | run.b", 6, "use 'or'"),
        ("~run.a", 0, "use 'not'"),
        ("run.a << 2", 6, "not supported"),
        ("{1, 2}", 0, "set literals"),
        ("f'{run.name}'", 0, "f-strings"),
        ("run.x is 1", 9, "only allowed with None"),
        ("run.metrics['loss']", 4, "run.metrics"),
        ("run.metrics['loss'].values", 20, "no attribute 'values'"),
        ("run.metrics['loss', 'train'].last", 20, "dict literal"),
        ("len(*run.tags)", 4, "unpacking"),
        ("timedelta(dayz=1)", 15, "unexpected keyword"),
        ("sorted(run.tags, key=len)", 21, "unexpected keyword"),
        ("...", 0, "not supported"),
        ("1j", 0, "not supported"),
    ],
)
def test_refused(query, col, words):
    err = error(query)
    assert words in err.msg, err.msg
    assert err.col == col, (err.col, err.pretty())
    assert isinstance(err, SyntaxError)


def test_c_style_operators():
    err = error('run.hash == "x" && metric.name == "y"')
    assert err.msg == "'&&' is not AimQL: use 'and'"
    assert (err.lineno, err.offset, err.col) == (1, 18, 17)
    assert "use 'or'" in error("run.a || run.b").msg
    assert "use 'not'" in error("!run.a").msg
    assert error("run.a != 1").msg if False else parse_query("run.a != 1")


def test_positions_point_into_the_users_text():
    # the inserted "=" and the stripped SELECT do not shift the column
    err = error("SELECT x IF run.a = 1 and foo")
    assert err.col == 26 and err.pretty().splitlines()[1] == " " * 26 + "^"
    err = error("run.a = 1 and run.b = 2 and bar")
    assert err.col == 28
    err = error("run.a == 1 and\n  run.b == )")
    assert err.lineno == 2
    err = error("run.a == 'é' and foo")
    assert err.col == 17  # characters, not UTF-8 bytes
    err = error("run.a)")
    assert (err.col, err.msg) == (5, "unmatched ')'")
    err = error("run.a == (1")
    assert err.lineno == 1


def test_pretty_has_a_caret_under_the_column():
    err = error("run.hparams.lr > 1 and boom")
    assert (
        err.pretty()
        == "run.hparams.lr > 1 and boom\n" + " " * 23
        + "^\nAimQLSyntaxError: unknown name 'boom': a query "
        "refers to run and metric"
    )
    assert "column 24" in str(err)


def test_deep_nesting_is_a_syntax_error():
    with pytest.raises(AimQLSyntaxError):
        parse_query("(" * 500 + "1" + ")" * 500)
    with pytest.raises(AimQLSyntaxError):
        parse_query("not " * 400 + "run.a")
    with pytest.raises(AimQLSyntaxError):
        parse_query(" + ".join(["run.a"] * 3000))


def test_not_a_string():
    with pytest.raises(TypeError):
        parse_query(42)


def test_nothing_is_evaluated(monkeypatch, tmp_path):
    """Parsing and running a query never calls eval/exec on user text, nor compiles it to code."""
    import ast

    from aimql_repos import new_run

    import aimcol

    run = new_run(tmp_path)
    run["hparams"] = {"lr": 0.1}
    run.track(1.0, name="loss")
    run.close()
    repo = aimcol.Repo(str(tmp_path))
    calls = []

    def trap(name):
        real = getattr(builtins, name)

        def spy(*args, **kwargs):
            flags = args[3] if len(args) > 3 else kwargs.get("flags", 0)
            only_ast = name == "compile" and flags & ast.PyCF_ONLY_AST  # what ast.parse does
            if args and isinstance(args[0], str) and "hparams" in args[0] and not only_ast:
                calls.append(name)
            return real(*args, **kwargs)

        return spy

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, trap(name))
    parse_query.cache_clear()
    q = "run.hparams.lr > 0.01 and metric.name == 'loss' and re.match('l', metric.name)"
    assert len(repo.query_metrics(q)) == 1
    assert calls == []


@pytest.mark.parametrize("query", ["run.hparams.lr == 1and run.name == 'x'", r"re.match('\d+', run.name)"])
def test_parsing_prints_nothing(query):
    """Python warns about ``1and`` and ``'\\d'`` when it parses them; the user must not see that."""
    code = f"from aimcol.query import parse_query; parse_query({query!r})"
    proc = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse_query.cache_clear()
        expr = parse_query(query).expr
    if "1and" in query:
        assert isinstance(expr, ir.BoolOp) and expr.op == "and"  # what Python makes of it, as in Aim


def test_whole_params_tree():
    """``run[...]`` is the whole params tree, as ``Run.__getitem__(...)`` is in the SDK."""
    assert parse_query("run[...]").expr == ir.Param(())
    assert parse_query("metric.run[...]['hparams']['lr'] == 1").expr.left == ir.ViaMetric(ir.Param(("hparams", "lr")))
    assert parse_query("run[...].hparams.lr").expr == ir.Param(("hparams", "lr"))
    assert parse_query("'hparams' in run[...].keys()").expr.comparators[0] == ir.Method(ir.Param(()), "keys", ())
