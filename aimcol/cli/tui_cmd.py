"""``aimcol tui`` (the terminal UI) and ``aimcol up`` (the same UI in a browser tab).

Textual and textual-serve are optional extras: without them these commands print one line
naming the extra to install and exit 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys

from aimcol.cli.child_process import aimcol_command
from aimcol.cli.output import UserError, add_repo_argument, open_repo

DEFAULT_UP_PORT = 43917
"""Our own default (Aim's UI listens on 43800: both can run side by side)."""
DEFAULT_MAX_SESSIONS = 4


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
    p.add_argument("--view", default=None, metavar="NAME", help="open the metrics explorer on a view saved with v")
    p.set_defaults(func=cmd_tui)
    p = sub.add_parser("up", help="serve the terminal UI to a browser tab (needs aimcol[serve])")
    _add_ui_options(p)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1); any other than loopback requires a token",
    )
    p.add_argument("--port", type=int, default=DEFAULT_UP_PORT, help=f"port to listen on (default {DEFAULT_UP_PORT})")
    p.add_argument(
        "--token",
        default=None,
        help="the token a browser must present (default: $AIMCOL_UP_TOKEN, else random when --host is not loopback)",
    )
    p.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        metavar="N",
        help=f"most browser tabs served at once, each one app process (default {DEFAULT_MAX_SESSIONS})",
    )
    p.set_defaults(func=cmd_up)


def _require(module: str, extra: str, command: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"{command} needs {module.replace('_', '-')}: pip install 'aimcol[{extra}]'")


def cmd_tui(args) -> int:
    _require("textual", "tui", "aimcol tui")
    if args.poll < 0:
        raise UserError("--poll must be >= 0")
    _check_theme(args.theme)
    view = _saved_view(getattr(args, "view", None))
    repo = open_repo(args.repo)
    from aimcol.tui.repo_source import RepoSource, avoid_pandas_import

    avoid_pandas_import()  # this process runs the TUI and nothing else; pyarrow would import pandas to probe
    import warnings

    from aimcol.errors import IndexIncompleteWarning

    warnings.simplefilter("ignore", IndexIncompleteWarning)  # the runs screen's status line says it
    source = RepoSource(repo)
    source.preload_runs()  # the first listing, before Textual's import and start-up
    from aimcol.tui.app import run_tui

    return run_tui(source, poll_interval=args.poll, theme=args.theme, open_view=view)


def _saved_view(name: str | None) -> dict | None:
    if name is None:
        return None
    from aimcol.tui.saved_views import SavedViews

    views = SavedViews()
    view = views.get(name)
    if view is None:
        known = ", ".join(views.names()) or "none yet (press v on the metrics screen to save one)"
        raise UserError(f"no saved view {name!r}; saved views: {known}")
    return view


def _check_theme(theme: str | None) -> None:
    if theme is None:
        return
    from textual.theme import BUILTIN_THEMES

    if theme not in BUILTIN_THEMES:
        raise UserError(f"no theme {theme!r}; choose one of {', '.join(sorted(BUILTIN_THEMES))}")


def up_command(repo_path: str, poll: float, theme: str | None) -> str:
    """The shell command each browser session runs: ``aimcol tui`` on the repository."""
    args = ["tui", "--repo", repo_path, "--poll", str(poll)]
    if theme:
        args += ["--theme", theme]
    return shlex.join(aimcol_command(*args))


def cmd_up(args) -> int:
    _require("textual", "tui", "aimcol up")
    _require("textual_serve", "serve", "aimcol up")
    _check_theme(args.theme)
    if args.max_sessions < 1:
        raise UserError("--max-sessions must be >= 1")
    repo = open_repo(args.repo)  # fail here, once, rather than in every browser tab
    from aimcol.cli.up_server import GuardedServer, check_port_free, is_loopback

    problem = check_port_free(args.host, args.port)
    if problem:
        raise UserError(problem)
    token = args.token or os.environ.get("AIMCOL_UP_TOKEN") or None
    loopback = is_loopback(args.host)
    if token is None and not loopback:
        import secrets

        token = secrets.token_urlsafe(24)
    server = GuardedServer(
        up_command(repo.path, args.poll, args.theme),
        host=args.host,
        port=args.port,
        title=f"aimcol · {repo.path}",
        token=token,
        max_sessions=args.max_sessions,
    )
    shown_host = args.host if args.host not in ("0.0.0.0", "::", "") else _this_machine()
    url = f"http://{shown_host}:{args.port}/" + (f"?token={token}" if token else "")
    lines = [f"aimcol up: serving {repo.path} on {url} (Ctrl+C stops)"]
    if not loopback:
        lines.append(f"aimcol up: listening on {args.host}, reachable from other machines; the URL's token is the key")
    server.ready_message = "\n".join(lines)
    try:
        server.serve()
    except OSError as exc:  # lost a race for the port, or the address vanished
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def _this_machine() -> str:
    import socket

    return socket.gethostname() or "localhost"


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
