"""Shared helpers of the CLI commands: repo lookup, run lookup by prefix, tables, progress."""

from __future__ import annotations

import datetime
import math
import os
import sys


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 1."""


def add_repo_argument(parser) -> None:
    parser.add_argument(
        "--repo",
        default=None,
        help="repository folder (the project folder or its .aimcol); default: nearest .aimcol upwards from cwd",
    )


def open_repo(path: str | None, *, init: bool = False):
    from aimcol import Repo
    from aimcol.errors import RepoNotFoundError
    from aimcol.sdk.repo import REPO_DIRNAME

    if path is None:
        found = Repo.default_repo_path()  # the nearest folder holding a .aimcol, else the cwd
        if not os.path.isdir(os.path.join(found, REPO_DIRNAME)):
            if init:
                return Repo(os.getcwd(), init=True)
            raise UserError("no .aimcol repository here or in any parent folder (use --repo PATH, or `aimcol init`)")
        return Repo(found)
    try:
        return Repo(path, init=init)
    except RepoNotFoundError as exc:
        raise UserError(str(exc)) from None


def resolve_run_hash(repo, prefix: str) -> str:
    """A full run hash from a unique prefix of it."""
    hashes = repo.run_hashes()
    if prefix in hashes:
        return prefix
    matches = [h for h in hashes if h.startswith(prefix)]
    if not matches:
        raise UserError(f"no run {prefix!r} in {repo.path}")
    if len(matches) > 1:
        raise UserError(f"run prefix {prefix!r} is ambiguous: {', '.join(sorted(matches)[:5])}")
    return matches[0]


def format_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _whole_second(ts: float) -> int:
    """The second ``datetime.fromtimestamp(ts)`` falls in: it rounds to microseconds first
    (half to even), so ``-6e-08`` is second 0, not -1."""
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    second = int(whole)
    if us >= 1_000_000:
        second += 1
    elif us < 0:
        second -= 1
    return second


def format_times(stamps: list[float | None]) -> list[str]:
    """:func:`format_time` of many timestamps: local time is worked out once per minute
    (``fromtimestamp`` costs ~3 us; 100,000 runs are created within a few thousand minutes)."""
    minutes: dict[int, str | None] = {}
    out = []
    for ts in stamps:
        if ts is None or ts != ts:
            out.append("-")
            continue
        minute, second = divmod(_whole_second(ts), 60)
        prefix = minutes.get(minute, "")
        if prefix == "":
            start = datetime.datetime.fromtimestamp(minute * 60)
            # a zone offset with seconds (historic local mean time) does not split at minutes
            prefix = minutes[minute] = start.strftime("%Y-%m-%d %H:%M") if start.second == 0 else None
        out.append(f"{prefix}:{second:02d}" if prefix is not None else format_time(ts))
    return out


def format_durations(seconds: list[float | None]) -> list[str]:
    """``format_duration`` of each (``-`` for none), once per distinct whole second."""
    from aimcol.sdk.tables import format_duration

    cache: dict[int, str] = {}
    out = []
    for value in seconds:
        if value is None or value != value:
            out.append("-")
            continue
        key = max(0, int(value))
        text = cache.get(key)
        if text is None:
            text = cache[key] = format_duration(float(key)) or "-"
        out.append(text)
    return out


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def print_table(headers: list[str], rows: list[list], out=None) -> None:
    """A plain, aligned text table (no colour: works in any terminal and in pipes)."""
    out = out or sys.stdout
    cells = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), file=out)
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip(), file=out)


def print_columns(headers: list[str], columns: list[list[str]], out=None, chunk: int = 8192) -> None:
    """:func:`print_table` of columns of text, written a block of rows at a time."""
    out = out or sys.stdout
    widths = [max([len(h), *map(len, col)]) for h, col in zip(headers, columns)]
    last = len(columns) - 1
    template = "  ".join(f"%-{w}s" if i < last else "%s" for i, w in enumerate(widths))
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip() + "\n")
    n = len(columns[0]) if columns else 0
    for start in range(0, n, chunk):
        lines = map(template.__mod__, zip(*(col[start : start + chunk] for col in columns)))
        out.write("\n".join(line.rstrip() for line in lines) + "\n")


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, label: str):
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.enabled = sys.stderr.isatty()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.enabled:
            width = 30
            filled = int(width * self.done / self.total)
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
