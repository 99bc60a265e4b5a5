"""The web server behind ``aimcol up``: textual-serve's, with the guards a shared machine needs.

Each browser tab that opens the websocket starts one ``aimcol tui`` process (about 85 MB),
which can read and archive every run of the repository.  So:

* **Host check** on a loopback bind: a request must name a loopback host, so a web page
  that re-points its own domain at 127.0.0.1 (DNS rebinding) is refused.
* **Token** on any other bind (``--host 0.0.0.0``): every request must carry the token,
  as ``?token=`` in the printed URL or in the cookie the first page sets.  It is random
  unless ``--token``/``AIMCOL_UP_TOKEN`` gives one, and compared in constant time.
* **Origin check** on the websocket: a browser always sends ``Origin``; it must be the
  page's own (``http://<Host>``), so a page on another site cannot drive the UI.
* **Session cap**: at most ``max_sessions`` app processes at once; more get HTTP 503.

Only this module imports textual-serve and aiohttp (``aimcol[serve]``).
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
import sys
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

COOKIE = "aimcol_up_token"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``[::1]:8080`` → ``::1``)."""
    return (urlsplit(f"//{host_header}").hostname or "").lower()


class GuardedServer(Server):
    """textual-serve's ``Server`` with a token, Host and Origin checks and a session cap."""

    def __init__(self, command: str, *, host: str, port: int, title: str, token: str | None, max_sessions: int):
        super().__init__(command, host=host, port=port, title=title)
        self.token = token
        self.max_sessions = max_sessions
        self.sessions = 0
        self.loopback = is_loopback(host)
        self.ready_message = ""

    # -- checks -------------------------------------------------------------------------------
    def refusal(self, request: web.Request) -> web.Response | None:
        """An HTTP error response for a request that may not proceed, else None."""
        if self.loopback and _host_name(request.host) not in LOOPBACK_NAMES | {self.host.lower()}:
            return web.Response(status=403, text="aimcol up: this server answers only to localhost\n")
        if self.token is not None:
            given = request.query.get("token") or request.cookies.get(COOKIE) or ""
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return web.Response(status=403, text="aimcol up: open the URL with ?token= that `aimcol up` printed\n")
        if request.path == "/ws":
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
                return web.Response(status=403, text=f"aimcol up: websocket from another site ({origin}) refused\n")
        return None

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()

        @web.middleware
        async def guard(request: web.Request, handler):
            if request.path.startswith("/static/"):
                return await handler(request)  # textual-serve's own scripts and fonts
            refused = self.refusal(request)
            if refused is not None:
                return refused
            response = await handler(request)
            if self.token is not None and request.path == "/" and request.query.get("token"):
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
            return response

        app.middlewares.append(guard)
        return app

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        if self.sessions >= self.max_sessions:
            return web.Response(
                status=503,
                text=f"aimcol up: {self.max_sessions} sessions already open (--max-sessions); close a tab\n",
            )
        self.sessions += 1
        try:
            return await super().handle_websocket(request)
        finally:
            self.sessions -= 1

    async def on_startup(self, app: web.Application) -> None:
        print(self.ready_message, file=sys.stderr, flush=True)


def check_port_free(host: str, port: int) -> str | None:
    """None if ``host:port`` can be listened on now, else one line saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot listen on {host!r}: {exc.strerror or exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does: TIME_WAIT is not busy
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                return f"port {port} on {host} is already in use: choose another with --port"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None
