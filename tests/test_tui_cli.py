"""``aimcol tui`` / ``aimcol up`` command lines, optional extras, and import hygiene."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

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


def _start_up(tmp_path, *extra: str, port: int | None = None):
    """``aimcol up`` in a subprocess; returns (process, port, the URL it printed)."""
    if not os.path.isdir(tmp_path / ".aimcol"):
        Run(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False).close()
    port = port or _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimcol", "up", "--repo", str(tmp_path), "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ, TERM="dumb"),
    )
    deadline = time.monotonic() + 60
    line = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if b"serving" in line or not line:
            break
    assert b"serving" in line, line + proc.stderr.read()
    url = line.decode().split(" on ", 1)[1].split(" ", 1)[0]
    while time.monotonic() < deadline:  # the line is printed as the server starts: wait until it listens
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, port, url


def _stop(proc) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def _get(url: str, headers: dict | None = None) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def _websocket_status(url: str, headers: dict | None = None) -> int:
    """The HTTP status of a websocket handshake (101 when it opened; closed again at once)."""
    import asyncio

    import aiohttp

    async def attempt() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url, headers=headers or {}) as ws:
                    await ws.close()
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    return asyncio.run(attempt())


def test_up_default_port_is_its_own_not_aims():
    from aimcol.cli import build_parser

    args = build_parser().parse_args(["up"])
    assert args.port != 43800 and args.host == "127.0.0.1"


def test_up_on_a_busy_port_says_so_in_one_line(tmp_path):
    Repo(str(tmp_path), init=True)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "aimcol", "up", "--repo", str(tmp_path), "--port", str(port)],
            capture_output=True,
            timeout=60,
            env=dict(os.environ, TERM="dumb"),
        )
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert err.count("\n") == 1 and "in use" in err and str(port) in err and "Traceback" not in err
    assert "serving" not in err  # no URL announced for a server that never listened


def test_up_beyond_loopback_requires_the_printed_token(tmp_path):
    proc, port, url = _start_up(tmp_path, "--host", "0.0.0.0")
    try:
        assert "?token=" in url
        token = url.split("?token=", 1)[1]
        base = f"http://127.0.0.1:{port}"
        assert _get(base + "/")[0] == 403
        assert _get(base + "/?token=wrong")[0] == 403
        status, page, headers = _get(f"{base}/?token={token}")
        assert status == 200 and "aimcol" in page
        assert "aimcol_up_token" in headers.get("Set-Cookie", "") and "HttpOnly" in headers["Set-Cookie"]
        assert _websocket_status(f"ws://127.0.0.1:{port}/ws") == 403  # no token
        # a page on another site cannot open the websocket, even knowing the token
        evil = {"Origin": "http://evil.example"}
        assert _websocket_status(f"ws://127.0.0.1:{port}/ws?token={token}", evil) == 403
    finally:
        _stop(proc)


def test_up_on_loopback_checks_host_and_origin_and_caps_sessions(tmp_path):
    proc, port, url = _start_up(tmp_path, "--max-sessions", "1")
    try:
        assert "token" not in url
        assert _get(f"http://127.0.0.1:{port}/")[0] == 200
        # DNS rebinding: a foreign name pointed at 127.0.0.1
        assert _get(f"http://127.0.0.1:{port}/", {"Host": f"evil.example:{port}"})[0] == 403
        ws = f"ws://127.0.0.1:{port}/ws"
        assert _websocket_status(ws, {"Origin": "http://evil.example"}) == 403
        import asyncio

        import aiohttp

        async def two_sessions() -> tuple[int, int]:
            async with aiohttp.ClientSession() as session:
                own = {"Origin": f"http://127.0.0.1:{port}"}
                async with session.ws_connect(ws, headers=own) as first:
                    try:
                        async with session.ws_connect(ws, headers=own):
                            second = 101
                    except aiohttp.WSServerHandshakeError as exc:
                        second = exc.status
                    await first.close()
                    return 101, second

        assert asyncio.run(two_sessions()) == (101, 503)
    finally:
        _stop(proc)


def _shadow_folder(tmp_path) -> str:
    """A working directory holding an ``aimcol/`` package that must never be imported."""
    shadow = tmp_path / "work"
    (shadow / "aimcol").mkdir(parents=True)
    (shadow / "aimcol" / "__init__.py").write_text("raise ImportError('the folder in cwd was imported')\n")
    (shadow / "aimcol" / "__main__.py").write_text("raise SystemExit('the folder in cwd was run')\n")
    return str(shadow)


def test_child_processes_ignore_an_aimcol_folder_in_the_working_directory(tmp_path):
    from aimcol.cli.child_process import aimcol_command
    from aimcol.cli.tui_cmd import up_command

    cwd = _shadow_folder(tmp_path)
    result = subprocess.run(aimcol_command("--version"), cwd=cwd, capture_output=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith(b"aimcol "), result.stderr
    # aimcol up's sessions start through the same bootstrap
    command = up_command(str(tmp_path), 2.0, None)
    import shlex

    assert shlex.split(command)[:3] == aimcol_command()[:3]
    # aimcol demo's workers (one of which is killed on purpose) too
    script = os.path.join(os.path.dirname(sys.executable), "aimcol")
    result = subprocess.run(
        [script, "demo", "--repo", str(tmp_path / "demo"), "--runs-per-experiment", "1", "--steps", "100"],
        cwd=cwd,
        capture_output=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr.decode()[-500:]


def test_up_opens_a_real_image_in_the_browser_behind_the_token(tmp_path):
    """``aimcol up`` end to end: a browser's websocket drives the app to a run's images (enter,
    ``o``, ``3``, ``v``); the app delivers the image, the server announces the single-use
    ``/download/<key>`` the page opens in a new tab, and that URL answers with the stored PNG
    bytes, only with the token."""
    import asyncio
    import json

    import aiohttp
    import numpy as np

    from aimcol import Image

    pytest.importorskip("PIL.Image")
    run = Run(repo=str(tmp_path), system_tracking_interval=None, capture_terminal_logs=False)
    pixels = np.zeros((16, 24, 3), np.uint8)
    pixels[..., 2] = 255
    image = Image(pixels, caption="blue")
    run.track(image, name="pic", step=0)
    run.close()
    proc, port, url = _start_up(tmp_path, "--host", "0.0.0.0")
    token = url.split("?token=", 1)[1]
    base = f"http://127.0.0.1:{port}"

    async def drive() -> tuple[int, int, dict, bytes]:
        """The download's status without and with the token, its headers and bytes (fetched
        while the websocket is open: the app process streams the file through it)."""
        async with aiohttp.ClientSession() as session:
            ws_url = f"ws://127.0.0.1:{port}/ws?token={token}&width=100&height=30"
            async with session.ws_connect(ws_url, headers={"Origin": base}) as ws:

                async def until_key(seconds: float) -> str | None:
                    try:
                        async with asyncio.timeout(seconds):
                            async for message in ws:
                                if message.type == aiohttp.WSMsgType.TEXT:
                                    envelope = json.loads(message.data)
                                    if envelope[0] == "deliver_file_start":
                                        return envelope[1]
                    except TimeoutError:
                        return None
                    return None

                await until_key(8)  # the app starts and lists the run
                for _ in range(4):  # keys sent before a screen has loaded are lost: retry the walk
                    for key, wait in (("\r", 4), ("o", 4), ("3", 2)):
                        await ws.send_json(["stdin", key])
                        await until_key(wait)
                    await ws.send_json(["stdin", "v"])
                    key = await until_key(10)
                    if key is not None:
                        async with aiohttp.ClientSession() as fetch:  # no cookie: only ?token= counts
                            async with fetch.get(f"{base}/download/{key}") as refused:
                                denied = refused.status
                            async with fetch.get(f"{base}/download/{key}?token={token}") as response:
                                return denied, response.status, dict(response.headers), await response.read()
                    for _ in range(3):
                        await ws.send_json(["stdin", "\x1b"])
                        await until_key(1)
                raise AssertionError("the app never delivered the image")

    try:
        denied, status, headers, body = asyncio.run(drive())
        assert denied == 403  # without the token: refused
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert headers["Content-Disposition"].startswith("inline")  # shown in the tab, not saved
        assert body == image.data
    finally:
        _stop(proc)
