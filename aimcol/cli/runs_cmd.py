"""``aimcol runs ls|show|rm|close``: list, inspect, delete and finalise runs."""

from __future__ import annotations

import json
import math

from aimcol.cli.output import (
    UserError,
    add_repo_argument,
    format_durations,
    format_time,
    format_times,
    format_value,
    open_repo,
    print_columns,
    print_table,
    resolve_run_hash,
)


def register(sub) -> None:
    runs = sub.add_parser("runs", help="list, show, delete or close runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION")
    runs.set_defaults(func=lambda args: runs.print_help() or 1)

    p = runs_sub.add_parser("ls", help="list runs, newest first")
    add_repo_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON object per run")
    p.add_argument("--all", action="store_true", help="include archived runs")
    p.set_defaults(func=cmd_ls)

    p = runs_sub.add_parser("show", help="params tree and sequences (with last values) of a run")
    add_repo_argument(p)
    p.add_argument("hash", help="run hash or a unique prefix of it")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = runs_sub.add_parser("rm", help="delete runs (refuses a run a live process is writing)")
    add_repo_argument(p)
    p.add_argument("hashes", nargs="+", metavar="HASH")
    p.set_defaults(func=cmd_rm)

    p = runs_sub.add_parser("logs", help="the terminal output a run captured (stdout/stderr lines)")
    add_repo_argument(p)
    p.add_argument("hash", help="run hash or a unique prefix of it")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines while the run is active")
    p.add_argument("--interval", type=float, default=1.0, help=argparse_suppress())
    p.set_defaults(func=cmd_logs)

    p = runs_sub.add_parser("close", help="finalise runs whose writer died (seal data, stamp end time)")
    add_repo_argument(p)
    p.add_argument("hashes", nargs="+", metavar="HASH")
    p.set_defaults(func=cmd_close)


def cmd_ls(args) -> int:
    """From the run index (``runs_listing``), never by opening every run: 100,000 runs list
    in well under a second once the index exists.  Both forms are built column by column in
    Arrow's kernels and written in blocks as they are made."""
    import sys

    from aimcol.cli.arrow_text import call_function, text, to_strings, write_text_array
    from aimcol.cli.json_lines import json_lines
    from aimcol.sdk.query_results import runs_listing
    from aimcol.sdk.tables import column_numpy

    repo = open_repo(args.repo)
    table = runs_listing(repo, include_archived=args.all)
    out = sys.stdout
    if args.json:
        names = _LS_COLUMNS[:-1]
        for block in json_lines(table.select(names), ("hash", *names[1:])):
            write_text_array(out, block)
        return 0
    column = table.column
    columns = [
        column("run"),
        call_function("coalesce", [column("name"), text("")]),
        column("experiment"),
        format_times(column_numpy(column("creation_time"), math.nan)),
        format_durations(column_numpy(column("duration"), math.nan)),
        column("status"),
        to_strings(column("sequences")),
    ]
    print_columns(["HASH", "NAME", "EXPERIMENT", "CREATED", "DURATION", "STATUS", "SEQS"], columns, out)
    return 0


_LS_COLUMNS = (
    "run",
    "name",
    "experiment",
    "tags",
    "creation_time",
    "end_time",
    "active",
    "status",
    "archived",
    "sequences",
    "duration",
)
"""The columns ``runs ls`` reads; ``--json`` prints all but ``duration``, with ``run`` named ``hash``."""


def _params_lines(tree, indent=0):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield "  " * indent + f"{key}:"
            yield from _params_lines(value, indent + 1)
        else:
            yield "  " * indent + f"{key}: {format_value(value)}"


def cmd_show(args) -> int:
    from aimcol.sdk.tables import duration_of, format_duration
    from aimcol.sdk.tables import status_of as run_status

    repo = open_repo(args.repo)
    run = repo.get_run(resolve_run_hash(repo, args.hash))
    metrics = run.metrics()
    if args.json:
        print(
            json.dumps(
                {
                    "hash": run.hash,
                    "name": run.name,
                    "experiment": run.experiment,
                    "description": run.description,
                    "notes": run.notes,
                    "tags": run.tags,
                    "archived": run.archived,
                    "status": run_status(run),
                    "creation_time": run.creation_time,
                    "end_time": run.end_time,
                    "params": run.params,
                    "sequences": [
                        {
                            "name": m.name,
                            "context": dict(m.context),
                            "last": m.last,
                            "last_step": m.last_step(),
                            "min": m.min,
                            "max": m.max,
                        }
                        for m in metrics
                    ],
                },
                default=str,
            )
        )
        return 0
    print(f"run         {run.hash}")
    print(f"name        {run.name}")
    print(f"experiment  {run.experiment}")
    if run.description:
        print(f"description {run.description}")
    print(f"tags        {', '.join(run.tags) or '-'}")
    print(f"status      {run_status(run)}{' (archived)' if run.archived else ''}")
    print(f"created     {format_time(run.creation_time)}   duration {format_duration(duration_of(run)) or '-'}")
    if run.notes:
        print("\nnotes")
        print("\n".join("  " + line for line in run.notes.splitlines()))
    print("\nparams")
    lines = list(_params_lines(run.params, 1))
    print("\n".join(lines) if lines else "  (none)")
    print()
    table = [
        [
            m.name,
            json.dumps(dict(m.context), sort_keys=True),
            m.last_step() if m.last_step() is not None else "-",
            format_value(m.last),
            format_value(m.min),
            format_value(m.max),
        ]
        for m in metrics
    ]
    print_table(["SEQUENCE", "CONTEXT", "LAST STEP", "LAST", "MIN", "MAX"], table)
    return 0


def cmd_rm(args) -> int:
    repo = open_repo(args.repo)
    hashes = [resolve_run_hash(repo, h) for h in args.hashes]
    _, remaining = repo.delete_runs(hashes)
    for run_hash in hashes:
        if run_hash in remaining:
            print(f"aimcol: not deleted: {run_hash} is open for writing by a live process")
        else:
            print(f"deleted {run_hash}")
    return 1 if remaining else 0


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def cmd_logs(args) -> int:
    """Print the run's captured lines; with ``--follow``, new ones as they come until the run ends."""
    import sys
    import time

    repo = open_repo(args.repo)
    run_hash = resolve_run_hash(repo, args.hash)
    shown = 0
    while True:
        run = repo.get_run(run_hash)
        if run is None:
            raise UserError(f"run {run_hash} was deleted")
        lines = run.get_terminal_logs()
        for line in lines[shown:]:
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
        sys.stdout.flush()
        shown = max(shown, len(lines))
        if not args.follow or not run.active:
            return 0
        time.sleep(args.interval)


def cmd_close(args) -> int:
    from aimcol import Run
    from aimcol.errors import RunLockedError

    repo = open_repo(args.repo)
    failed = False
    for prefix in args.hashes:
        run_hash = resolve_run_hash(repo, prefix)
        existing = repo.get_run(run_hash)
        if existing.end_time is not None and not existing.active:
            print(f"{run_hash} is already closed")
            continue
        # A crashed run ended at its newest point, not when someone closes it (its duration
        # must not grow with the time it waited for `runs close`).
        ended_at = existing.creation_time + existing.duration
        try:
            run = Run(run_hash, repo=repo, system_tracking_interval=None, capture_terminal_logs=False)
        except RunLockedError as exc:
            print(f"aimcol: not closed: {exc}")
            failed = True
            continue
        run._close_with_status(existing.exit_status or "finished", existing.exit_error, end_time=ended_at)
        print(f"closed {run_hash}")
    if failed:
        raise UserError("some runs are still being written by a live process")
    return 0
