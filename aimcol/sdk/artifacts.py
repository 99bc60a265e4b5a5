"""Run artifacts (Aim's ``set_artifacts_uri`` / ``log_artifact``): files copied to a store
outside the repository, listed in the run's manifest.

Only ``file://`` stores exist yet: a file is copied to ``<store>/<run hash>/<name>`` under a
temporary name and renamed, so a reader never sees half a file.  A store of another scheme
(``s3://`` …) can be set, as in Aim, but ``log_artifact`` into it is refused with a clear
error (before anything is written) rather than silently writing somewhere unexpected.  The
manifest keeps ``artifacts_uri`` (the store, as set) and ``artifacts`` (``name -> {path,
uri}``: where the file came from and where it went).
"""

from __future__ import annotations

import os
import shutil
import uuid
from urllib.parse import unquote, urlparse


class Artifact:
    """One logged file: ``name`` (its key in the run), ``path`` (the source), ``uri`` (the copy)."""

    __slots__ = ("name", "path", "uri")

    def __init__(self, name: str, path: str, uri: str):
        self.name, self.path, self.uri = name, path, uri

    @property
    def local_path(self) -> str:
        """The copy on this machine (``file://`` stores)."""
        return file_uri_path(self.uri)

    def __repr__(self) -> str:
        return f"<Artifact {self.name!r} at {self.uri}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Artifact) and (self.name, self.path, self.uri) == (other.name, other.path, other.uri)


def check_store_uri(uri: str) -> str:
    """``uri`` if it is a store URI (with a scheme), else ``ValueError`` saying why."""
    if not isinstance(uri, str):
        raise TypeError(f"artifacts URI must be a str, got {type(uri).__name__}")
    if not urlparse(uri).scheme:
        raise ValueError(f"artifacts URI must start with a scheme, e.g. file://; got {uri!r}")
    return uri


def check_writable_store(uri: str) -> None:
    """``ValueError`` unless aimcol can write artifacts to the store ``uri`` (``file://`` only yet)."""
    scheme = urlparse(uri).scheme
    if scheme != "file":
        raise ValueError(
            f"cannot log artifacts to {uri!r}: artifacts URI scheme {scheme!r} is not supported yet (only file://)"
        )


def file_uri_path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.netloc + parsed.path) if parsed.netloc not in ("", "localhost") else unquote(parsed.path)


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def copy_artifact(source: str, run_uri: str, name: str) -> str:
    """Copy the file ``source`` to ``<run_uri>/<name>``; its URI."""
    check_writable_store(run_uri)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"artifact {source!r} is not a file")
    parts = [p for p in name.replace(os.sep, "/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"artifact name {name!r} must be a relative path without '.' or '..' parts")
    uri = join_uri(run_uri, *parts)
    target = file_uri_path(uri)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.{uuid.uuid4().hex[:12]}.partial"
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return uri
