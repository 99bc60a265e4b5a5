"""A plain wheel holds the whole product: every subpackage, the TUI as ``aimcol.tui`` and the
compiled fast path, and nothing installs as a generic top-level ``tui`` module."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_every_package_and_imports_on_its_own(tmp_path):
    # build from a copy without build outputs: setuptools would reuse a stale build/ folder
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "benchmarks", "__pycache__", "*.so", "*.pyd", ".aimcol"
        ),
    )
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)], check=True, timeout=600
    )
    (wheel,) = out.glob("aimcol-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not any(name.startswith("tui/") for name in names)
    source_packages = {"aimcol/" + str(init.parent.relative_to(ROOT)) for init in ROOT.glob("tui/**/__init__.py")}
    source_packages |= {str(init.parent.relative_to(ROOT)) for init in ROOT.glob("aimcol/**/__init__.py")}
    for package in source_packages:
        assert f"{package}/__init__.py" in names, f"{package} is missing from the wheel"
    assert any(name.startswith("aimcol/sdk/_fastpath.") and name.endswith((".so", ".pyd")) for name in names)
    styles = {"aimcol/" + str(path.relative_to(ROOT)) for path in ROOT.glob("tui/**/*.tcss")}
    assert styles and styles <= set(names), f"TUI styles missing from the wheel: {styles - set(names)}"

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    check = (
        "import aimcol, aimcol.tui.app, aimcol.tui.screens.runs, aimcol.tui.components.runs_table;"
        "from aimcol.sdk.run import ACCELERATED;"
        "import os; from aimcol.tui.app import AimcolApp;"
        "assert os.path.isfile(os.path.join(os.path.dirname(aimcol.tui.app.__file__), AimcolApp.CSS_PATH));"
        f"assert aimcol.__file__.startswith({str(site)!r}), aimcol.__file__;"
        "assert ACCELERATED"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    subprocess.run([sys.executable, "-c", check], check=True, env=env, cwd=tmp_path, timeout=120)
