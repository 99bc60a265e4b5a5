"""``aimcol tui`` / ``aimcol up`` command lines, optional extras, and import hygiene."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request

from aimcol import Repo, Run
from aimcol.cli import main


def test_core_sdk_and_cli_never_import_textual():
    code = (
        "import sys\n"
        "import aimcol, aimcol.sdk.run, aimcol.sdk.repo, aimcol.sdk.sequence, aimcol.cli\n"
        "import aimcol.cli.tui_cmd\n"
        "import aimcol.tui, aimcol.tui.repo_source, aimcol.tui.downsample, aimcol.tui.smoothing\n"
        "import aimcol.tui.braille, aimcol.tui.axes, aimcol.tui.formatting, aimcol.tui.query_history\n"
        "from aimcol.cli import build_parser; build_parser()\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.') or m.startswith('rich'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _block_module(monkeypatch, blocked: str):
    from aimcol.cli import tui_cmd

    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == blocked or name.startswith(blocked + "."):
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(tui_cmd.importlib.util, "find_spec", find_spec)


def test_tui_without_textual_names_the_extra(tmp_path, monkeypatch, capsys):
    Repo(str(tmp_path), init=True)
    _block_module(monkeypatch, "textual")
    assert main(["tui", "--repo", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "aimcol[tui]" in err


def test_up_without_textual_serve_names_the_extra(tmp_path, monkeypatch, capsys):
    Repo(str(tmp_path), init=True)
    _block_module(monkeypatch, "textual_serve")
    assert main(["up", "--repo", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "aimcol[serve]" in err


def test_tui_without_a_repository_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["tui"]) == 1
    err = capsys.readouterr().err
    assert "no .aimcol repository" in err and "Traceback" not in err
    assert main(["tui", "--repo", str(tmp_path / "missing")]) == 1


def test_tui_rejects_negative_poll(tmp_path, capsys):
    Repo(str(tmp_path), init=True)
    assert main(["tui", "--repo", str(tmp_path), "--poll", "-1"]) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_up_serves_the_app_page_on_localhost(tmp_path):
    run = Run(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)
    run.close()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimcol", "up", "--repo", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, TERM="dumb"),
    )
    try:
        deadline = time.monotonic() + 30
        page = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert page is not None, proc.stderr.read1().decode() if proc.poll() is not None else "no answer"
        assert "aimcol" in page and "ws" in page  # the page that opens the websocket to the app
    finally:
        proc.terminate()
        proc.wait(timeout=10)
