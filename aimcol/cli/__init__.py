"""The ``aimcol`` command line: ``init``, ``runs``, ``demo``, ``check``/``repair``, and the
``query``, ``tui`` and ``up`` commands registered by their own modules.

Exit codes: 0 ok, 1 a user mistake or a refused operation (one line on stderr, never a
traceback), 2 bad command-line syntax (argparse).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from aimcol.cli.output import UserError

_COMMAND_MODULES = ("repo_cmds", "runs_cmd", "demo_cmd", "query_cmd", "tui_cmd", "convert_cmd", "sync_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aimcol",
        description="Aim-compatible experiment tracking on open Arrow files.",
    )
    from aimcol import __version__

    parser.add_argument("--version", action="version", version=f"aimcol {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"aimcol.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"aimcol.cli.{name}":
                continue  # an optional command module that is not part of this build
            raise
        module.register(sub)
    return parser


def _one_line_warnings() -> None:
    """aimcol's own warnings (a damaged run left out, an index still being built) as one
    ``aimcol: ...`` line on stderr, not Python's ``file:line: Category`` form."""
    import warnings

    from aimcol.errors import DamagedRunWarning, IndexIncompleteWarning

    plain = warnings.formatwarning
    if getattr(plain, "aimcol_one_line", False):
        return

    def formatwarning(message, category, filename, lineno, line=None):
        if issubclass(category, (DamagedRunWarning, IndexIncompleteWarning)):
            return f"aimcol: {message}\n"
        return plain(message, category, filename, lineno, line)

    formatwarning.aimcol_one_line = True  # type: ignore[attr-defined]
    warnings.formatwarning = formatwarning


def main(argv: list[str] | None = None) -> int:
    _one_line_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"aimcol: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aimcol: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a user-facing error from the SDK: one line, no traceback
        from aimcol.errors import AimcolError

        if isinstance(exc, (AimcolError, FileNotFoundError, PermissionError, ValueError, TypeError, KeyError)):
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"aimcol: {message}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
