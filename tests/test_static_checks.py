"""Static checks that run with the tests, so that the README's test command fails on them:
mypy strict on aimcol.format, and the storage boundary — the
format reaches the filesystem only through its local storage backend."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_format_package_is_strictly_typed():
    """``mypy --strict`` (pyproject.toml) on aimcol.format; aimcol.query: tests/test_query_types.py."""
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-error-summary",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "aimcol/format",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache")},
    )
    assert result.returncode == 0, result.stdout + result.stderr


FILESYSTEM_MODULES = {"os", "fcntl", "shutil", "mmap", "tempfile", "pathlib", "io"}
"""Modules whose import in a format module would mean it reads or writes files itself."""

ALLOWED = {
    "local_storage.py": FILESYSTEM_MODULES | {"open()"},  # the local backend is where the filesystem is used
    "regular_files.py": {"os"},  # the local backend's safe open (only local_storage imports it)
    "new_files.py": {"os"},  # the local backend's create-if-absent publish (only local_storage imports it)
    "object_storage.py": {"os", "io"},  # a backend: os.environ for its settings, io.UnsupportedOperation
    "storage.py": {"os"},  # os.fspath of a location
    "repo_layout.py": {"os"},  # resolving a user's path to a repository location
    "index_builder.py": {"os"},  # os.environ and the package's folder for the background builder process
}


@pytest.mark.parametrize("module", sorted(p.name for p in (ROOT / "aimcol" / "format").glob("*.py")))
def test_the_format_reaches_files_only_through_its_storage(module):
    tree = ast.parse((ROOT / "aimcol" / "format" / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
            imported.add("open()")
    forbidden = (imported & (FILESYSTEM_MODULES | {"open()"})) - ALLOWED.get(module, set())
    assert not forbidden, f"aimcol/format/{module} uses {sorted(forbidden)}: go through aimcol.format.storage"
