"""``aimcol tui`` (the terminal UI) and ``aimcol up`` (the same UI in a browser tab).

Textual and textual-serve are optional extras: without them these commands print one line
naming the extra to install and exit 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys

from aimcol.cli.output import UserError, add_repo_argument, open_repo


def _add_ui_options(parser: argparse.ArgumentParser) -> None:
    add_repo_argument(parser)
    parser.add_argument(
        "--poll",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often active runs are re-read (default 2; 0 turns live refresh off)",
    )
    parser.add_argument("--theme", default=None, help="a Textual theme, e.g. textual-light (default textual-dark)")


def register(sub) -> None:
    p = sub.add_parser("tui", help="browse runs, query them and plot metrics in the terminal")
    _add_ui_options(p)
    p.set_defaults(func=cmd_tui)
    p = sub.add_parser("up", help="serve the terminal UI to a browser tab (needs aimcol[serve])")
    _add_ui_options(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=43800, help="port to listen on (default 43800)")
    p.set_defaults(func=cmd_up)


def _require(module: str, extra: str, command: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"{command} needs {module.replace('_', '-')}: pip install 'aimcol[{extra}]'")


def cmd_tui(args) -> int:
    _require("textual", "tui", "aimcol tui")
    if args.poll < 0:
        raise UserError("--poll must be >= 0")
    _check_theme(args.theme)
    repo = open_repo(args.repo)
    from aimcol.tui.repo_source import RepoSource, avoid_pandas_import

    avoid_pandas_import()  # this process runs the TUI and nothing else; pyarrow would import pandas to probe
    source = RepoSource(repo)
    source.preload_runs()  # the first listing, before Textual's import and start-up
    from aimcol.tui.app import run_tui

    return run_tui(source, poll_interval=args.poll, theme=args.theme)


def _check_theme(theme: str | None) -> None:
    if theme is None:
        return
    from textual.theme import BUILTIN_THEMES

    if theme not in BUILTIN_THEMES:
        raise UserError(f"no theme {theme!r}; choose one of {', '.join(sorted(BUILTIN_THEMES))}")


def cmd_up(args) -> int:
    _require("textual", "tui", "aimcol up")
    _require("textual_serve", "serve", "aimcol up")
    _check_theme(args.theme)
    repo = open_repo(args.repo)  # fail here, once, rather than in every browser tab
    from textual_serve.server import Server

    command = [sys.executable, "-m", "aimcol.tui", "--repo", repo.path, "--poll", str(args.poll)]
    if args.theme:
        command += ["--theme", args.theme]
    server = Server(shlex.join(command), host=args.host, port=args.port, title=f"aimcol · {repo.path}")
    print(f"aimcol up: serving {repo.path} on http://{args.host}:{args.port} (Ctrl+C stops)", file=sys.stderr)
    server.serve()
    return 0


def main_tui(argv: list[str]) -> int:
    """Entry point of ``python -m aimcol.tui``: the ``tui`` command alone, with the CLI's error handling."""
    parser = argparse.ArgumentParser(prog="aimcol tui")
    _add_ui_options(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_tui(args)
    except UserError as exc:
        print(f"aimcol: {exc}", file=sys.stderr)
        return 1
