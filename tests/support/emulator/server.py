"""Generic parts of an exchange emulator: a loopback aiohttp server in a thread,
a fault queue and a request log.

Exchange-specific emulators (``binance.py``) subclass :class:`EmulatorServer` and
register their routes in :meth:`EmulatorServer.register_routes`. The server only
ever binds 127.0.0.1 on an ephemeral port, so tests never need a fixed port and
never leave the machine.

Faults are consumed by the next matching requests *before* the route runs, so
any endpoint (present or added later: signed trading endpoints, websockets) can
be made to fail without touching its handler.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Self

from aiohttp import web

LOOPBACK = "127.0.0.1"

FaultKind = Literal["status", "hang", "drop", "drop_after", "hang_after"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One way to fail a request.

    - ``status``: answer ``status`` with a JSON ``body`` (and ``Retry-After`` if set);
    - ``hang``: wait ``hang_s`` seconds before answering normally (client timeouts);
    - ``drop``: close the TCP connection without answering;
    - ``drop_after``: let the route run (an order *is* placed), then close the
      connection without sending its answer: the client sees a network error;
    - ``hang_after``: let the route run, then wait ``hang_s`` before answering
      (the client times out although the exchange acted).
    """

    kind: FaultKind
    status: int = 500
    body: dict | None = None
    retry_after_s: int | None = None
    hang_s: float = 0.0

    @classmethod
    def http(cls, status: int, body: dict | None = None) -> Fault:
        """An HTTP error answer, e.g. ``Fault.http(503)``."""
        return cls("status", status=status, body=body)

    @classmethod
    def rate_limit(cls, retry_after_s: int = 1, status: int = 429) -> Fault:
        """A 429 (or 418) with a ``Retry-After`` header, as Binance sends when a limit is hit."""
        body = {
            "code": -1003,
            "msg": "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
            "minute. Please use the websocket for live updates to avoid bans.",
        }
        return cls("status", status=status, body=body, retry_after_s=retry_after_s)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Delay the answer by ``seconds`` (longer than the client's timeout to cause one)."""
        return cls("hang", hang_s=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without an answer."""
        return cls("drop")

    @classmethod
    def drop_after(cls) -> Fault:
        """Process the request, then close the connection instead of answering."""
        return cls("drop_after")

    @classmethod
    def hang_after(cls, seconds: float) -> Fault:
        """Process the request, then delay the answer by ``seconds``."""
        return cls("hang_after", hang_s=seconds)


@dataclass(slots=True)
class _Armed:
    fault: Fault
    path: str | None
    skip: int
    remaining: int
    method: str | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the emulator saw it (query and form parameters merged)."""

    method: str
    path: str
    params: dict[str, str]
    fault: FaultKind | None


class FaultQueue:
    """Faults waiting for the next matching requests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def inject(self, fault: Fault, *, path: str | None = None, after: int = 0,
               times: int = 1, method: str | None = None) -> None:
        """Fail ``times`` requests to ``path`` (any path if ``None``) after letting ``after`` pass.

        ``method`` (e.g. ``"POST"``) narrows it to one HTTP method (any if ``None``).
        Faults fire in the order they were injected; one request consumes at most one fault.
        """
        if times < 1 or after < 0:
            raise ValueError(f"inject: times must be >= 1 and after >= 0, got {times}, {after}")
        with self._lock:
            self._armed.append(_Armed(fault, path, after, times,
                                      None if method is None else method.upper()))

    def take(self, path: str, method: str | None = None) -> Fault | None:
        """The fault for a ``method`` request to ``path``, or ``None``; counts skips."""
        with self._lock:
            for armed in self._armed:
                if armed.path is not None and armed.path != path:
                    continue
                if armed.method is not None and armed.method != method:
                    continue
                if armed.skip > 0:
                    armed.skip -= 1
                    return None
                armed.remaining -= 1
                if armed.remaining == 0:
                    self._armed.remove(armed)
                return armed.fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def pending(self) -> int:
        """How many fault firings are still armed."""
        with self._lock:
            return sum(a.remaining for a in self._armed)


class RequestLog:
    """Every request the emulator received, for assertions (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self, path: str | None = None) -> list[RequestRecord]:
        """All records, or those to one path (e.g. ``'/api/v3/klines'``)."""
        with self._lock:
            return [r for r in self._records if path is None or r.path == path]

    def count(self, path: str | None = None) -> int:
        return len(self.records(path))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.records())


@dataclass
class _Runtime:
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    runner: web.AppRunner
    port: int
    ready: threading.Event = field(default_factory=threading.Event)


class EmulatorServer:
    """An aiohttp application served on 127.0.0.1:<ephemeral> from a background thread.

    Use as a context manager (``with BinanceEmulator() as emu: ...``) or call
    :meth:`start`/:meth:`stop`. Subclasses add routes in :meth:`register_routes`.
    """

    def __init__(self) -> None:
        self.faults = FaultQueue()
        self.log = RequestLog()
        self._runtime: _Runtime | None = None

    # -- subclass hook -------------------------------------------------------------
    def register_routes(self, app: web.Application) -> None:
        """Add the exchange's routes to ``app``."""
        raise NotImplementedError(f"{type(self).__name__} must implement register_routes")

    # -- lifecycle -----------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._runtime is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self._runtime.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: pass as ``ExchangeSettings.api_url``."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_base_url(self) -> str:
        """``ws://127.0.0.1:<port>``: pass as ``ExchangeSettings.ws_url``."""
        return f"ws://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        if self._runtime is not None:
            return self
        loop = asyncio.new_event_loop()
        app = web.Application(middlewares=[self._middleware])
        self.register_routes(app)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        started: dict[str, object] = {}
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

        thread = threading.Thread(target=serve, name=f"{type(self).__name__}", daemon=True)
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

    # -- request pipeline ----------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        params = dict(request.query)
        if request.can_read_body and request.content_type == "application/x-www-form-urlencoded":
            params.update(await request.post())
        fault = self.faults.take(request.path, request.method)
        self.log.append(RequestRecord(request.method, request.path, params,
                                      fault.kind if fault else None))
        if fault is not None:
            if fault.kind == "drop":
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError("emulator dropped the connection")
            if fault.kind == "status":
                headers = {}
                if fault.retry_after_s is not None:
                    headers["Retry-After"] = str(fault.retry_after_s)
                if fault.body is None:  # a gateway-style error page, not a Binance JSON error
                    return web.Response(text=f"emulator fault: HTTP {fault.status}",
                                        status=fault.status, headers=headers)
                return web.json_response(fault.body, status=fault.status, headers=headers)
            if fault.kind == "hang":
                await asyncio.sleep(fault.hang_s)
                return await handler(request)
            response = await handler(request)  # drop_after / hang_after: the exchange acts
            if fault.kind == "drop_after":
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError("emulator dropped the answer after acting")
            await asyncio.sleep(fault.hang_s)
            return response
        return await handler(request)
