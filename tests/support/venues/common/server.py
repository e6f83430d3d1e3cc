"""A loopback aiohttp server in a background thread, with a request log and fault queue.

Scaffolding adapted from the project's first emulator (``tests/emulator/server.py``):
the server binds 127.0.0.1 on an ephemeral port only, so tests never need a fixed
port and never leave the machine. Venue emulators subclass :class:`LoopbackServer`,
add routes in :meth:`LoopbackServer.register_routes` and may add a venue middleware
(rate limits) through :meth:`LoopbackServer.venue_middleware`.

Faults are consumed by the next matching request before the venue sees it, so any
endpoint can be made to fail (HTTP status, hang, dropped connection) without
touching its handler. The request log records every request with its query and
form/JSON parameters and the status answered.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from aiohttp import web

LOOPBACK = "127.0.0.1"

FaultKind = Literal["status", "hang", "drop"]
Handler = Callable[[web.Request], Any]


@dataclass(frozen=True, slots=True)
class Fault:
    """One way to fail the next matching request: an HTTP ``status`` answer with a
    JSON ``body``, a ``hang`` of ``hang_s`` seconds before answering, or a ``drop``
    of the connection without an answer."""

    kind: FaultKind
    status: int = 500
    body: Any = None
    hang_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Armed:
    fault: Fault
    path: str | None
    remaining: int


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the emulator saw it, and the HTTP status it answered."""

    method: str
    path: str
    params: dict[str, Any]
    status: int


class RequestLog:
    """Every request the emulator received (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
        """All records, or those to ``path`` (and ``method``)."""
        with self._lock:
            return [r for r in self._records
                    if (path is None or r.path == path) and (method is None or r.method == method)]

    def count(self, path: str | None = None, method: str | None = None) -> int:
        return len(self.records(path, method))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class FaultQueue:
    """Faults waiting for the next matching requests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def inject(self, fault: Fault, *, path: str | None = None, times: int = 1) -> None:
        """Fail the next ``times`` requests to ``path`` (any path if ``None``)."""
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        with self._lock:
            self._armed.append(_Armed(fault, path, times))

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for armed in self._armed:
                if armed.path is None or armed.path == path:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                    return armed.fault
            return None


@dataclass
class _Runtime:
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    runner: web.AppRunner
    port: int
    ready: threading.Event = field(default_factory=threading.Event)


async def request_params(request: web.Request) -> dict[str, Any]:
    """Query parameters merged with a form or JSON body (JSON lists kept under ``'_body'``)."""
    params: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "application/x-www-form-urlencoded":
        params.update(await request.post())
    elif request.content_type == "application/json":
        text = await request.text()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text
        if isinstance(body, dict):
            params.update(body)
        elif body is not None:
            params["_body"] = body
    return params


class LoopbackServer:
    """An aiohttp application on 127.0.0.1:<ephemeral> served from a daemon thread."""

    def __init__(self) -> None:
        self.faults = FaultQueue()
        self.log = RequestLog()
        self._runtime: _Runtime | None = None

    # -- subclass hooks --------------------------------------------------------------
    def register_routes(self, app: web.Application) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement register_routes")

    async def venue_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Wraps every request after faults: override for rate limits and headers."""
        return await handler(request)

    # -- lifecycle -------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._runtime is None:
            raise RuntimeError(f"{type(self).__name__} is not running; use it as a context "
                               "manager or call start() first")
        return self._runtime.port

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._runtime is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._runtime.loop

    @property
    def running(self) -> bool:
        return self._runtime is not None

    def start(self) -> Self:
        if self._runtime is not None:
            return self
        loop = asyncio.new_event_loop()
        app = web.Application(middlewares=[self._fault_middleware, self._venue_middleware])
        self.register_routes(app)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        started: dict[str, Any] = {}
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, LOOPBACK, 0)
                loop.run_until_complete(site.start())
                started["port"] = runner.addresses[0][1]
            except BaseException as exc:  # noqa: BLE001 - re-raised by start() in the caller
                started["error"] = exc
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=serve, name=type(self).__name__, daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start within 10 s")
        if "error" in started:
            raise RuntimeError(f"{type(self).__name__} failed to start") from started["error"]
        self._runtime = _Runtime(loop, thread, runner, int(started["port"]))
        return self

    def stop(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is None:
            return
        runtime.loop.call_soon_threadsafe(runtime.loop.stop)
        runtime.thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def attach(self, host: LoopbackServer) -> None:
        """Serve through ``host``'s running server (one server hosting several venues'
        routes): ``port``, ``loop`` and :meth:`call_soon` delegate to it until
        :meth:`detach`. The host owns the lifecycle; do not ``stop()`` an attached
        server."""
        if host._runtime is None:
            raise RuntimeError(f"{type(host).__name__} is not running; start it first")
        self._runtime = host._runtime

    def detach(self) -> None:
        """Undo :meth:`attach` (the host has stopped)."""
        self._runtime = None

    def call_soon(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the server loop (FIFO with every other ``call_soon``)."""
        if self._runtime is not None:
            self._runtime.loop.call_soon_threadsafe(fn)

    # -- request pipeline --------------------------------------------------------------
    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        params = await request_params(request)
        fault = self.faults.take(request.path)
        response: web.StreamResponse
        if fault is None:
            response = await handler(request)
        elif fault.kind == "drop":
            self.log.append(RequestRecord(request.method, request.path, params, 0))
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError("emulator dropped the connection")
        elif fault.kind == "hang":
            await asyncio.sleep(fault.hang_s)
            response = await handler(request)
        else:
            response = web.json_response(fault.body, status=fault.status,
                                         headers=dict(fault.headers))
        self.log.append(RequestRecord(request.method, request.path, params, response.status))
        return response

    @web.middleware
    async def _venue_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        return await self.venue_middleware(request, handler)
