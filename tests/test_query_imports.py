"""AimQL's layer: ``aimcol.query`` imports ``aimcol.format`` and ``aimcol.errors`` only, never the SDK.

Checked on the source (every import statement, including those inside functions), since
importing ``aimcol.query`` at run time loads the ``aimcol`` package, which loads the SDK.
"""

from __future__ import annotations

import ast
from pathlib import Path

import aimcol.query

ALLOWED_AIMCOL = ("aimcol.query", "aimcol.format", "aimcol.errors")


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            if node.module == "aimcol":
                names += [f"aimcol.{alias.name}" for alias in node.names]
    return names


def test_query_imports_only_format_and_errors():
    folder = Path(aimcol.query.__file__).parent
    modules = sorted(folder.glob("*.py"))
    assert len(modules) >= 10
    for path in modules:
        for name in imported_modules(path):
            if name == "aimcol" or name.startswith("aimcol."):
                assert name.startswith(ALLOWED_AIMCOL), f"{path.name} imports {name}"


def test_the_check_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from aimcol.sdk.tracking_values import freeze\n", encoding="utf-8")
    assert "aimcol.sdk.tracking_values" in imported_modules(bad)
