"""``aimcol.query`` passes mypy in strict mode (the ``[tool.mypy]`` section of pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is in the test extra")

ROOT = Path(__file__).resolve().parent.parent


def test_query_package_is_strictly_typed(monkeypatch):
    monkeypatch.chdir(ROOT)
    out, err, status = api.run(["--config-file", "pyproject.toml", "--no-error-summary", "aimcol/query"])
    assert status == 0, out + err
    out, err, status = api.run(
        ["--strict", "--follow-imports=silent", "--ignore-missing-imports", "--no-error-summary", "aimcol/query"]
    )
    assert status == 0, out + err
