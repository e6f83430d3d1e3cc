"""``tradeloom serve``: one HTTP server for health, metrics, the status page and the kill button.

The server only *reads* the runners' status files (``adapters.status``) and, for
the kill button, *writes* the kill flag the runners poll (``adapters.safety``):
no shared memory, no connection to a runner, so it can be restarted at any time.

==================  ======================================================  =========
endpoint            what                                                    token
==================  ======================================================  =========
``GET /health``     consolidated JSON, HTTP 200 all healthy / 503 otherwise  never
``GET /metrics``    Prometheus text exposition (``tradeloom.serve.metrics``)  if set
``GET /``           the status page (``tradeloom.serve.page``)              if set
``GET /api/status`` every runner's status and health, JSON                  if set
``POST /api/kill``  ``{"runner_id": ...}`` -> kill flag of its account       if set
``POST /login``     form field ``token`` -> cookie for the page              -
``GET /builder``    the strategy builder and its ``/api/builder`` API        if set
==================  ======================================================  =========

The strategy builder (``tradeloom.serve.builder``) reads the catalog and writes rule
files into the rules folder (``ServerSettings.catalog``, ``rules_dir``).

**Binding and token.** The default bind is 127.0.0.1. Any other host (``0.0.0.0``,
a LAN address) needs a token (:func:`bind_policy` refuses to start without one).
When a token is configured it is required everywhere but ``/health``: as
``Authorization: Bearer <token>`` (Prometheus ``bearer_token``), ``X-Tradeloom-Token``,
or the ``tradeloom_token`` cookie the page's login form sets (HttpOnly,
SameSite=Strict). The token comes from ``$TRADELOOM_TOKEN`` or ``--token-file``
(not readable by group/others); it is never logged, echoed or put in a URL.

**Kill requests** must be JSON (``Content-Type: application/json``) and, when the
browser sends an ``Origin``, same-origin: a page on another site cannot press the
button through the operator's browser.

Health is ``adapters.status.assess`` per runner; a session that stopped cleanly is
listed as ``stopped`` (``active: false``) and never makes ``/health`` fail while another
runs. No runner publishing at all, or none active, is unhealthy (503: nothing is
trading, or the state directory is wrong).

**Access log.** Request lines are logged without their query string (and a
``Referer``'s), so a token someone put in a URL (``?token=...``) never reaches a log.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from tradeloom.adapters.clock import SystemClock
from tradeloom.adapters.live.safety import write_kill_flag
from tradeloom.adapters.ops.status import Health, RunnerStatus, assess, read_statuses
from tradeloom.engine.errors import ConfigError
from tradeloom.serve.builder import add_builder_routes
from tradeloom.serve.metrics import exposition
from tradeloom.serve.page import login_page, render_page

log = logging.getLogger(__name__)

TOKEN_ENV = "TRADELOOM_TOKEN"
TOKEN_HEADER = "X-Tradeloom-Token"
TOKEN_COOKIE = "tradeloom_token"
MIN_TOKEN_CHARS = 16
_GEN_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True, repr=False)
class ServerSettings:
    """What the app needs: where the status files are, the token (``None``: none), a clock."""

    state_dir: Path
    token: str | None = None
    now_ms: Callable[[], int] = SystemClock().now_ms
    refresh_s: float = 3.0
    catalog: Path | None = None
    rules_dir: Path | None = None

    def __repr__(self) -> str:  # the token must never reach a log line
        return (f"ServerSettings(state_dir={self.state_dir!r}, token={'set' if self.token else None}, "
                f"catalog={self.catalog!r}, rules_dir={self.rules_dir!r})")


_SETTINGS = web.AppKey("settings", ServerSettings)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; False for wildcards and everything else."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_policy(host: str, token: str | None) -> bool:
    """Whether requests need the token; ``ConfigError`` for a non-loopback bind without one."""
    if token:
        return True
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host}: off 127.0.0.1 a token is required; set "
            f"{TOKEN_ENV} or pass --token-file FILE (create one with {_GEN_HINT} > FILE; "
            "chmod 600 FILE), or bind --host 127.0.0.1")
    return False


def load_token(token_file: Path | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The token from ``token_file`` (if given) else ``$TRADELOOM_TOKEN``; None if neither."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        if not token_file.is_file():
            raise ConfigError(f"--token-file {token_file} does not exist; create it with "
                              f"{_GEN_HINT} > {token_file} && chmod 600 {token_file}")
        mode = token_file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"--token-file {token_file} is readable by other users "
                              f"(mode {stat.filemode(mode)}); run: chmod 600 {token_file}")
        token = token_file.read_text(encoding="utf-8").strip()
        source = f"--token-file {token_file}"
    else:
        token = env.get(TOKEN_ENV, "").strip()
        source = f"${TOKEN_ENV}"
        if not token:
            return None
    if len(token) < MIN_TOKEN_CHARS or any(ch.isspace() for ch in token):
        raise ConfigError(f"the token from {source} has {len(token)} characters or contains "
                          f"spaces; use at least {MIN_TOKEN_CHARS} characters, e.g. {_GEN_HINT}")
    return token


# ---------------------------------------------------------------------------- reports

def runner_health(s: RunnerStatus, h: Health) -> dict[str, Any]:
    """The ``/health`` entry of one runner."""
    return {
        "runner_id": s.runner_id, "account": s.account, "mode": s.mode, "state": s.state,
        "healthy": h.healthy, "active": h.active, "problems": list(h.problems),
        "last_event_age_s": _round(h.last_event_age_s), "status_age_s": _round(h.status_age_s),
        "exchange": {"last_ok_age_s": _round(h.exchange_ok_age_s),
                     "consecutive_errors": s.link.consecutive_errors,
                     "last_error": s.link.last_error},
        "clock_drift_ms": s.clock_drift_ms, "max_drift_ms": s.max_drift_ms,
        "breakers": {b.name: {"tripped": b.tripped, "since": b.since} for b in s.breakers},
        "reconciliation": {"status": s.reconciliation.status,
                           "last_ms": s.reconciliation.last_ms,
                           "problems": list(s.reconciliation.problems)},
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def health_report(state_dir: Path, now_ms: int) -> dict[str, Any]:
    """The ``/health`` body: overall verdict, per-runner entries, file problems."""
    problems: list[str] = []
    statuses = read_statuses(state_dir, problems)
    runners = [runner_health(s, assess(s, now_ms)) for s in statuses]
    _nothing_running(state_dir, statuses, runners, problems)
    healthy = not problems and all(r["healthy"] for r in runners)
    return {"healthy": healthy, "checked_ms": now_ms, "runners": runners, "problems": problems}


def _nothing_running(state_dir: Path, statuses: list[RunnerStatus],
                     runners: list[dict[str, Any]], problems: list[str]) -> None:
    """Add the problem of a state dir where no session is active (none publishing, or
    every session stopped cleanly): nothing is trading there."""
    if not statuses:
        problems.append(f"no runner status in {state_dir / 'status'}: nothing is publishing "
                        "(is a runner started with this state_dir?)")
    elif not any(r["active"] for r in runners):
        problems.append(f"no runner is running in {state_dir}: {len(runners)} session(s) "
                        "stopped cleanly (start one, or point --state-dir elsewhere)")


def status_report(state_dir: Path, now_ms: int) -> dict[str, Any]:
    """The ``/api/status`` body (and ``tradeloom status --json``): statuses with health."""
    problems: list[str] = []
    statuses = read_statuses(state_dir, problems)
    runners = []
    for s in statuses:
        h = assess(s, now_ms)
        entry = json.loads(s.to_json())
        entry["health"] = runner_health(s, h)
        runners.append(entry)
    _nothing_running(state_dir, statuses, [r["health"] for r in runners], problems)
    healthy = not problems and all(r["health"]["healthy"] for r in runners)
    return {"healthy": healthy, "now_ms": now_ms, "runners": runners, "problems": problems}


# ---------------------------------------------------------------------------- app

def _given_token(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip()
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE, "")


def _token_ok(settings: ServerSettings, given: str) -> bool:
    expected = settings.token
    return expected is None or hmac.compare_digest(given.encode(), expected.encode())


@web.middleware
async def _auth(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    settings = request.app[_SETTINGS]
    if request.path in ("/health", "/login") or _token_ok(settings, _given_token(request)):
        return await handler(request)
    if request.path in _PAGES:
        return web.Response(status=401, text=login_page(next_path=request.path),
                            content_type="text/html")
    return web.json_response({"error": "token required: send 'Authorization: Bearer <token>'"},
                             status=401)


_PAGES = ("/", "/builder")  # pages that answer a missing token with the login form


async def _health(request: web.Request) -> web.Response:
    settings = request.app[_SETTINGS]
    body = health_report(settings.state_dir, settings.now_ms())
    return web.json_response(body, status=200 if body["healthy"] else 503)


async def _metrics(request: web.Request) -> web.Response:
    settings = request.app[_SETTINGS]
    data = exposition(settings.state_dir, settings.now_ms)
    return web.Response(body=data, headers={"Content-Type": "text/plain; version=0.0.4; "
                                                            "charset=utf-8"})


async def _page(request: web.Request) -> web.Response:
    settings = request.app[_SETTINGS]
    initial = status_report(settings.state_dir, settings.now_ms())
    return web.Response(text=render_page(initial, refresh_s=settings.refresh_s),
                        content_type="text/html",
                        headers={"Cache-Control": "no-store",
                                 "Content-Security-Policy": _CSP})


_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'")


async def _status(request: web.Request) -> web.Response:
    settings = request.app[_SETTINGS]
    return web.json_response(status_report(settings.state_dir, settings.now_ms()),
                             headers={"Cache-Control": "no-store"})


async def _kill(request: web.Request) -> web.Response:
    settings = request.app[_SETTINGS]
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return web.json_response({"error": "cross-origin kill request refused"}, status=403)
    if request.content_type != "application/json":
        return web.json_response({"error": "send JSON: {\"runner_id\": \"...\"}"}, status=415)
    try:
        body = await request.json()
        runner_id = str(body["runner_id"])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "body must be JSON {\"runner_id\": \"...\"}"},
                                 status=400)
    found = [s for s in read_statuses(settings.state_dir) if s.runner_id == runner_id]
    if not found:
        return web.json_response({"error": f"no runner {runner_id!r} in "
                                           f"{settings.state_dir / 'status'}"}, status=404)
    account = found[0].account
    reason = f"status page: kill {runner_id} (from {request.remote})"
    path = write_kill_flag(settings.state_dir, account, reason=reason)
    log.warning("kill flag %s written for runner %s (account %s) from the status page",
                path, runner_id, account)
    return web.json_response({"ok": True, "runner_id": runner_id, "account": account,
                              "flag": path.name,
                              "note": f"every runner of account {account} stops trading; "
                                      f"delete {path} to trade again"})


async def _login(request: web.Request) -> web.Response:
    settings = request.app[_SETTINGS]
    form = await request.post()
    given = str(form.get("token", ""))
    if settings.token is None or not _token_ok(settings, given):
        back = str(form.get("next", "/"))
        return web.Response(status=401, text=login_page("wrong token", back if back in _PAGES else "/"),
                            content_type="text/html")
    target = str(form.get("next", "/"))
    response = web.Response(status=303, headers={"Location": target if target in _PAGES else "/"})
    response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="Strict", path="/")
    return response


def make_app(settings: ServerSettings) -> web.Application:
    """The aiohttp application (see the module docstring for the endpoints)."""
    app = web.Application(middlewares=[_auth], client_max_size=64 * 1024)
    app[_SETTINGS] = settings
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/", _page)
    app.router.add_get("/api/status", _status)
    app.router.add_post("/api/kill", _kill)
    app.router.add_post("/login", _login)
    add_builder_routes(app, settings.catalog, settings.rules_dir)
    return app


class SafeAccessLogger(AbstractAccessLogger):
    """One access-log line per request without the query string: a token someone put in
    a URL (``/?token=...``) is never logged. The ``Referer`` loses its query too.

    >>> SafeAccessLogger.without_query("http://h/?token=abc#x")
    'http://h/'
    """

    @staticmethod
    def without_query(url: str) -> str:
        return url.split("?", 1)[0].split("#", 1)[0]

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        referer = self.without_query(request.headers.get("Referer", "-"))
        self.logger.info('%s "%s %s HTTP/%d.%d" %d %s %.3fs "%s"', request.remote or "-",
                         request.method, request.path, request.version.major,
                         request.version.minor, response.status,
                         response.body_length, time, referer)


async def start_server(settings: ServerSettings, host: str = "127.0.0.1",
                       port: int = 8765) -> tuple[web.AppRunner, str]:
    """Start serving (``port=0``: any free port); returns the runner and the base URL."""
    bind_policy(host, settings.token)
    runner = web.AppRunner(make_app(settings), access_log=log,
                           access_log_class=SafeAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    url_host = f"[{bound[0]}]" if ":" in str(bound[0]) else str(bound[0])
    return runner, f"http://{url_host}:{bound[1]}"


async def serve_forever(settings: ServerSettings, host: str, port: int,
                        announce: Callable[[str], None] = print) -> None:
    """Serve until cancelled (Ctrl-C / SIGTERM in ``tradeloom serve``)."""
    runner, url = await start_server(settings, host, port)
    token_note = "token required" if settings.token else "loopback only, no token"
    announce(f"serving {settings.state_dir} on {url} ({token_note}); health {url}/health")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


__all__ = ["SafeAccessLogger", "ServerSettings", "bind_policy", "health_report", "is_loopback", "load_token",
           "make_app", "runner_health", "serve_forever", "start_server", "status_report"]
