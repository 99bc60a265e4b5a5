"""Typed errors raised by aimcol.

Every error derives from :class:`AimcolError` and also from the builtin exception a caller
would naturally catch (``KeyError`` for a missing run, ``SyntaxError`` for a bad query), so
code written against Aim's exceptions keeps working.  Messages name the offending thing
(run hash, key path, file, query column) and, where useful, the fix.
"""

from __future__ import annotations

from typing import Any


class AimcolError(Exception):
    """Base class of every error aimcol raises on purpose."""


class MissingRunError(AimcolError, KeyError):
    """A run hash that does not exist in the repository."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class RunLockedError(AimcolError, RuntimeError):
    """Another live process holds the run open for writing."""

    def __init__(self, run_hash: str, holder: dict[str, Any] | None):
        self.run_hash = run_hash
        self.holder = holder or {}
        pid = self.holder.get("pid", "?")
        host = self.holder.get("host", "?")
        super().__init__(
            f"run {run_hash} is open for writing by another process (pid {pid} on host {host}); "
            "open it with read_only=True, or close that process first"
        )


class FormatError(AimcolError, ValueError):
    """A file in the repository is not what aimcol wrote (bad magic, truncated, corrupt)."""


class FormatVersionError(FormatError):
    """The repository was written by a newer, incompatible aimcol."""


class RepoNotFoundError(AimcolError, FileNotFoundError):
    """No ``.aimcol`` repository at the given path."""


class UnstorableValueError(AimcolError, ValueError):
    """A value a run cannot store exactly: refused before anything is changed (a str with a
    lone surrogate, params nested deeper than aimcol keeps, an int beyond the exact range)."""


class UntrackableValueError(AimcolError, TypeError, ValueError):
    """``track()`` got a value of a type it cannot track (a str, None, an object without an
    Aim type).  A ``TypeError``, and a ``ValueError`` as Aim raises for it."""


class ReadOnlyRunError(AimcolError, PermissionError):
    """A write was attempted on a run opened with ``read_only=True``."""


class ReadOnlyRepoError(AimcolError, PermissionError):
    """A write was attempted on a repository opened with ``Repo(path, read_only=True)``, or a
    write an operation needs failed because the repository cannot be written (a read-only
    mount, missing permissions); reading still works."""


class AimQLSyntaxError(AimcolError, SyntaxError):
    """An AimQL query that does not parse or uses something outside the whitelist.

    ``query`` holds the query text, ``lineno``/``offset`` (1-based, as ``SyntaxError``)
    point at the offending column, ``col`` is the 0-based column.
    """

    def __init__(self, message: str, query: str = "", col: int = 0, lineno: int = 1):
        self.query = query
        self.col = col
        super().__init__(message, ("<aimql>", lineno, col + 1, query))

    def __str__(self) -> str:
        return f"{self.msg} (column {self.col + 1})"

    def pretty(self) -> str:
        """The query with a caret under the offending column, for terminals."""
        lines = self.query.splitlines() or [""]
        line = lines[min(max(self.lineno or 1, 1), len(lines)) - 1]
        return f"{line}\n{' ' * self.col}^\nAimQLSyntaxError: {self.msg}"


class StorageError(AimcolError, OSError):
    """A storage backend could not do what the format asked (see :mod:`aimcol.format.storage`)."""


class ObjectNotFoundError(StorageError, FileNotFoundError):
    """No object at the key read, stat'ed or ranged-read (also: a live segment sealed and removed)."""


class ObjectExistsError(StorageError, FileExistsError):
    """A create-only-if-absent write found an object already there (another writer won the race)."""


class ObjectWriteError(StorageError):
    """Writing tracked objects (images, audio, figures) in the background failed (disk full):
    raised at the next ``track()`` of an object, ``flush()`` or ``close()``; ``__cause__`` is
    the original error."""


class ClaimLostError(AimcolError, RuntimeError):
    """This writer's claim on a run was released or taken over (fenced): it must stop writing."""


class UnsupportedStorageError(AimcolError, ValueError):
    """A repository location whose scheme (``s3://`` …) no installed storage backend handles,
    or an operation the storage behind a repository cannot do (appends on an object store)."""


class AimQLCostError(AimcolError, ValueError):
    """An AimQL query refused because running it would cost too much.

    ``reason`` names the bound: ``"length"`` (query text too long), ``"depth"`` (nested too
    deeply), ``"size"`` (a value it builds is too large), ``"time"`` (ran past its time
    limit), ``"memory"`` or ``"regex"`` (a pattern the linear-time engine cannot run).
    """

    def __init__(self, message: str, reason: str = "size"):
        self.reason = reason
        super().__init__(message)


class UnknownColumnError(AimcolError, ValueError):
    """A column asked of a table (``Repo.sequences_table(columns=...)``) that it never has."""


class ImportSourceError(AimcolError, ValueError):
    """``aimcol convert``: a source (log dir, tracking store, repository) that cannot be read at all."""


class ChecksumError(FormatError):
    """A file's bytes do not match the checksum recorded when it was written (bit rot, a bad
    copy, a damaged disk).  The message names the file and the part that differs."""


class DamagedRunError(FormatError):
    """A run whose files cannot be trusted: its manifest is not a regular, bounded file, or
    it names a file outside its run folder, or its lock is not a file.  Other runs are not
    affected; ``aimcol check`` reports it by name and nothing deletes its files."""


class DamagedRunWarning(RuntimeWarning):
    """A run was left out of a listing or query because its files are damaged (named in the message)."""


class IndexIncompleteWarning(RuntimeWarning):
    """A query answered before the run index held every run: a repository without an index
    (copied in, or its index deleted) is indexed in the background, and until that is done
    answers leave out the runs not yet read (the message says how many).
    ``Repo.wait_for_index()`` waits for the whole index instead."""
