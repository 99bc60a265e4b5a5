"""``aimcol query "<AimQL>"``: run a query and print or save what it selects.

What is written:

* ``--runs``: one row per matching run (properties and params);
* ``--summary``, or the default for ``--format table``: one row per matching sequence
  (run, metric name, context, count, last value …);
* otherwise (csv, json, arrow, parquet): every point of every matching sequence, one row
  per point, ready for pandas / Polars / DuckDB.

A bad query prints the query with a caret under the offending column and exits with 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

FORMATS = ("table", "csv", "json", "arrow", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "table",
}
MAX_CELL = 40


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``query`` subcommand to an ``argparse`` subparsers object."""
    from aimcol.cli.output import add_repo_argument

    parser = subparsers.add_parser(
        "query",
        help="run an AimQL query",
        description='Run an AimQL query over a repository, e.g.  aimcol query "run.hparams.lr < 0.01 and '
        "metric.name == 'loss'\".  Without --runs it selects metric sequences.",
    )
    parser.add_argument("query", help="AimQL expression ('' selects everything not archived)")
    parser.add_argument("--runs", action="store_true", help="one row per matching run instead of per sequence")
    parser.add_argument(
        "--summary",
        action="store_true",
        help="one row per sequence (the default for --format table) instead of one per point",
    )
    parser.add_argument(
        "--format", "-f", choices=FORMATS, default=None, help="output format (default: from -o's extension, else table)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", default=None, help="write to FILE instead of stdout")
    parser.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME[.STAT]",
        help="with --runs: add metric columns, e.g. --metric loss (loss.last/min/max) --metric accuracy.max",
    )
    parser.add_argument(
        "--sort",
        default=None,
        metavar="'COLUMN [asc|desc]'",
        help="order rows by a column, e.g. --sort 'loss:val.last' or --sort 'hparams.lr desc' (nulls last)",
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="keep the first N rows (after --sort)")
    add_repo_argument(parser)
    parser.set_defaults(func=run_query)
    return parser


def run_query(args) -> int:
    """The ``query`` command; a bad query prints a caret under its column and returns 1."""
    from aimcol.cli.output import UserError, open_repo
    from aimcol.errors import AimQLSyntaxError
    from aimcol.sdk.query_results import check_query

    try:
        check_query(args.query)  # reported before the repository is even opened
    except AimQLSyntaxError as exc:
        print(exc.pretty(), file=sys.stderr)
        return 1
    if args.metric and not args.runs:
        raise UserError("--metric adds columns to the runs table: use it with --runs")
    if args.limit is not None and args.limit < 0:
        raise UserError("--limit must be >= 0")
    fmt = _choose_format(args)
    if fmt in ("arrow", "parquet") and not args.output and sys.stdout.isatty():
        raise UserError(f"{fmt} output is binary: write it to a file with -o FILE")
    repo = open_repo(args.repo)
    table = _order(_select(repo, args, fmt), args.sort, args.limit)
    if table.num_rows == 0:
        from aimcol.sdk.query_results import query_hint

        hint = query_hint(repo, args.query, runs_query=bool(args.runs))
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
    if args.output:
        try:
            _write_file(table, fmt, args.output)
        except OSError as exc:
            raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"wrote {table.num_rows} rows to {args.output}", file=sys.stderr)
    else:
        _write_stdout(table, fmt)
    return 0


def _choose_format(args) -> str:
    from aimcol.cli.output import UserError

    if args.format:
        return args.format
    if args.output:
        ext = os.path.splitext(args.output)[1].lower()
        if ext in _EXTENSIONS:
            return _EXTENSIONS[ext]
        known = ", ".join(sorted(_EXTENSIONS))
        raise UserError(
            f"cannot tell the format of {args.output!r} from {ext or 'no extension'}: use one of {known}, "
            f"or --format {{{','.join(FORMATS)}}}"
        )
    return "table"


def _order(table, sort: str | None, limit: int | None):
    """``table`` sorted by ``sort`` ("COLUMN [asc|desc]", nulls last) and cut to ``limit`` rows."""
    from aimcol.cli.output import UserError

    if sort:
        column, _, direction = sort.strip().rpartition(" ")
        if not column or direction.lower() not in ("asc", "desc"):
            column, direction = sort.strip(), "asc"
        if column not in table.column_names:
            import difflib

            near = difflib.get_close_matches(column, table.column_names, n=1)
            extra = f"; did you mean {near[0]!r}?" if near else ""
            raise UserError(f"--sort: no column {column!r}{extra}")
        order = "descending" if direction.lower() == "desc" else "ascending"
        table = table.sort_by([(column, order)])
    if limit is not None:
        table = table.slice(0, limit)
    return table


def _select(repo, args, fmt: str):
    from aimcol.sdk.query_results import query_metrics, runs_table, sequences_table

    if args.runs:
        return runs_table(repo, args.query, args.metric)
    if args.summary or fmt == "table":
        return sequences_table(repo, args.query)
    return query_metrics(repo, args.query).to_arrow()


def _write_file(table, fmt: str, path: str) -> None:
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif fmt == "arrow":
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            _write_text(table, fmt, fh)


def _write_stdout(table, fmt: str) -> None:
    import pyarrow as pa

    if fmt in ("arrow", "parquet"):
        sink = pa.BufferOutputStream()
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, sink)
        else:
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        sys.stdout.buffer.write(sink.getvalue().to_pybytes())
        sys.stdout.buffer.flush()
        return
    _write_text(table, fmt, sys.stdout)
    sys.stdout.flush()


def _write_text(table, fmt: str, out) -> None:
    if fmt == "csv":
        import csv

        writer = csv.writer(out)
        writer.writerow(table.column_names)
        for row in _rows(table):
            writer.writerow(["" if v is None else _cell_text(v) for v in row])
    elif fmt == "json":
        out.write("[")
        for i, record in enumerate(table.to_pylist()):
            out.write(",\n" if i else "\n")
            out.write(json.dumps({k: _json_value(v) for k, v in record.items()}, default=str))
        out.write("\n]\n" if table.num_rows else "]\n")
    else:
        _write_table(table, out)


def _rows(table):
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return zip(*columns)


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _cell_text(value) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def _write_table(table, out) -> None:
    if table.num_rows == 0:
        out.write("(no matches)\n")
        return
    names = [n for n in table.column_names if n not in ("seq_id", "context")]
    table = table.select(names)
    cells = [[_short(n) for n in names]]
    for row in _rows(table):
        cells.append([_short(_display(name, v)) for name, v in zip(names, row)])
    widths = [max(len(r[i]) for r in cells) for i in range(len(names))]
    for j, row in enumerate(cells):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")
        if j == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
    out.write(f"({table.num_rows} rows)\n")


def _display(column: str, value) -> str:
    """A cell for people: times as local date and time, floats short, lists as JSON."""
    if value is None:
        return ""
    if column in ("creation_time", "end_time", "time") and isinstance(value, float) and math.isfinite(value):
        import datetime

        return datetime.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    if column == "duration" and isinstance(value, float):
        from aimcol.sdk.tables import format_duration

        return format_duration(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return _cell_text(value)


def _short(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
