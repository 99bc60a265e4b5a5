"""Shared helpers of the CLI commands: repo lookup, run lookup by prefix, tables, progress."""

from __future__ import annotations

import datetime
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


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


def format_times(stamps) -> pa.Array:
    """:func:`format_time` of many timestamps (a float array, NaN for none) as an Arrow string
    array: local time is worked out once per distinct minute in Python (``fromtimestamp`` costs
    ~3 us; 100,000 runs are created within a few thousand minutes), the rest in NumPy and Arrow."""
    import numpy as np

    from aimcol.cli.arrow_text import join, replace_where, string_column, take, where

    ts = np.asarray(stamps, dtype=np.float64)
    valid = ~np.isnan(ts)
    frac, whole = np.modf(np.where(valid, ts, 0.0))
    us = np.round(frac * 1e6)  # as fromtimestamp: microseconds rounded half to even first
    second = whole.astype(np.int64) + (us >= 1_000_000) - (us < 0)
    minute, sec = np.divmod(second, 60)
    distinct, which = np.unique(minute, return_inverse=True)
    prefixes = []
    for m in distinct.tolist():
        start = datetime.datetime.fromtimestamp(m * 60)
        # a zone offset with seconds (historic local mean time) does not split at minutes
        prefixes.append(start.strftime("%Y-%m-%d %H:%M:") if start.second == 0 else None)
    known = np.array([p is not None for p in prefixes], dtype=bool)[which.reshape(-1)]
    texts = join(
        take(string_column([p or "" for p in prefixes]), which.reshape(-1)), take(string_column(_SECONDS), sec)
    )
    odd = valid & ~known
    if odd.any():  # minutes that do not start at a whole minute of local time
        texts = replace_where(texts, odd, [format_time(t) for t in ts[odd].tolist()])
    return where(valid, texts, "-")


_SECONDS = [f"{i:02d}" for i in range(60)]


def format_durations(seconds) -> pa.Array:
    """``format_duration`` of each (a float array, NaN for none; ``-`` for none) as an Arrow
    string array, worked out once per distinct whole second."""
    import numpy as np

    from aimcol.cli.arrow_text import string_column, take, where
    from aimcol.sdk.tables import format_duration

    values = np.asarray(seconds, dtype=np.float64)
    valid = ~np.isnan(values)
    keys = np.maximum(0, np.where(valid, values, 0.0)).astype(np.int64)
    distinct, which = np.unique(keys, return_inverse=True)
    texts = string_column([format_duration(float(k)) or "-" for k in distinct.tolist()])
    return where(valid, take(texts, which.reshape(-1)), "-")


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


def print_columns(headers: list[str], columns: list, out=None, chunk: int = 65536) -> None:
    """:func:`print_table` of columns of text (Arrow string arrays), built in Arrow's kernels and
    written a block of rows at a time."""
    import pyarrow as pa

    from aimcol.cli.arrow_text import PadOptions, call_function, join, write_text_array

    out = out or sys.stdout
    columns = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]
    lengths = [call_function("max", [call_function("utf8_length", [c])]).as_py() for c in columns]
    widths = [max(len(h), n or 0) for h, n in zip(headers, lengths)]
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip() + "\n")
    n = len(columns[0]) if columns else 0
    for start in range(0, n, chunk):
        cells = [c.slice(start, chunk) for c in columns]
        padded = [call_function("utf8_rpad", [c], PadOptions(w)) for c, w in zip(cells[:-1], widths)]
        lines = call_function("utf8_rtrim_whitespace", [join(*padded, cells[-1], sep="  ")])
        write_text_array(out, join(lines, "\n"))


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
