"""The USDⓈ-M user data stream: listenKey management and the event websocket.

USDⓈ-M "User Data Streams" pages: ``POST /fapi/v1/listenKey`` starts a stream
(``{"listenKey": ...}``; "Doing a POST on an account with an active listenKey will
return the currently active listenKey and extend its validity for 60 minutes");
"A User Data Stream listenKey is valid for 60 minutes after creation"; ``PUT``
extends it by 60 minutes and answers ``{"listenKey": ...}``, or -1125 "This listenKey
does not exist." once it is gone; ``DELETE`` "will close the stream and invalidate the
listenKey". These are USER_STREAM endpoints (API key header, no signature). When a
key expires, its connections get ``{"e": "listenKeyExpired", "E", "listenKey"}`` and
"No more user data event will be updated after this event received until a new valid
listenKey used" (the socket stays open: "This event is not related to the websocket
disconnection"). Events arrive on ``/ws/<listenKey>`` (the docs' URL) and on
``/private/ws?listenKey=<key>`` (the URL ccxt 4.5.90
``pro/binance.get_private_ws_url('linear', key)`` builds), as bare JSON event objects
(events.py). Validity runs on the request clock (wall time + ``clock_offset_ms``),
like ccxt's keepalive timer (``options.listenKeyRefreshRate`` 20 minutes).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from venues.binance_spot import auth
from venues.binance_spot.errors import BinanceError

if TYPE_CHECKING:
    from venues.binance_usdm.emulator import BinanceUsdmEmulator


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    api_key: str
    listen_key: str
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    #: False after listenKeyExpired: no more events on this connection
    live: bool = True


#: "A User Data Stream listenKey is valid for 60 minutes"
VALIDITY_MS = 60 * 60_000


@dataclass(slots=True)
class _Key:
    api_key: str
    expires_ms: int


class UsdmUserStream:
    """listenKeys and the websocket connections that carry their events."""

    def __init__(self, emu: BinanceUsdmEmulator) -> None:
        self.emu = emu
        self.listen_keys: dict[str, _Key] = {}
        self._conns: set[_Conn] = set()
        self.events_sent = 0

    def register(self, app: web.Application, *, ws_prefixes: tuple[str, ...] = ("",)) -> None:
        """Routes; the websocket paths under each of ``ws_prefixes`` (a server whose
        ``ws_url`` has a path, like the spot+perp one's ``/stream``, needs it)."""
        r = app.router
        r.add_post("/fapi/v1/listenKey", self._rest(self.start))
        r.add_put("/fapi/v1/listenKey", self._rest(self.keepalive))
        r.add_delete("/fapi/v1/listenKey", self._rest(self.close))
        for prefix in ws_prefixes:
            r.add_get(f"{prefix}/private/ws", self.handle)
            r.add_get(f"{prefix}/ws/{{listen_key}}", self.handle)

    @property
    def connections(self) -> int:
        return len(self._conns)

    # -- listenKey REST ------------------------------------------------------------------
    def _rest(self, fn: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            try:
                with self.emu.engine.lock:
                    account = auth.check_key(request.headers.get("X-MBX-APIKEY"),
                                             self.emu.engine.accounts)
                    self.expire_due()
                    return web.json_response(fn(account.api_key))
            except BinanceError as err:
                return web.json_response(err.body(), status=err.status)
        return handler

    def _key_of(self, api_key: str) -> str | None:
        return next((k for k, v in self.listen_keys.items() if v.api_key == api_key), None)

    def _deadline(self) -> int:
        return self.emu.request_clock_ms() + VALIDITY_MS

    def start(self, api_key: str) -> dict[str, str]:
        key = self._key_of(api_key) or secrets.token_hex(32)
        self.listen_keys[key] = _Key(api_key, self._deadline())
        return {"listenKey": key}

    def keepalive(self, api_key: str) -> dict[str, str]:
        key = self._key_of(api_key)
        if key is None:
            raise BinanceError(-1125, "This listenKey does not exist.")
        self.listen_keys[key].expires_ms = self._deadline()
        return {"listenKey": key}

    def close(self, api_key: str) -> dict[str, Any]:
        key = self._key_of(api_key)
        if key is not None:
            del self.listen_keys[key]
            self.emu.call_soon(lambda: self._end(key, close=True))
        return {}

    def expire_due(self) -> list[str]:
        """Expire every listenKey past its validity (request clock); returns them."""
        now = self.emu.request_clock_ms()
        gone = [k for k, v in self.listen_keys.items() if v.expires_ms <= now]
        for key in gone:
            del self.listen_keys[key]
            self.emu.call_soon(lambda key=key: self._end(key, close=False))
        return gone

    def _end(self, key: str, *, close: bool) -> None:
        for conn in list(self._conns):
            if conn.listen_key == key and conn.live:
                conn.live = False
                conn.queue.put_nowait({"e": "listenKeyExpired", "E": self.emu.now_ms(),
                                       "listenKey": key})
                if close:
                    conn.queue.put_nowait(None)

    # -- events ------------------------------------------------------------------------
    def publish(self, api_key: str, event: dict[str, Any]) -> None:
        """Queue ``event`` for every live connection of ``api_key`` (order kept)."""
        self.expire_due()
        self.emu.call_soon(lambda: self._deliver(api_key, event))

    def _deliver(self, api_key: str, event: dict[str, Any]) -> None:
        for conn in list(self._conns):
            if conn.api_key == api_key and conn.live:
                conn.queue.put_nowait(event)

    def disconnect_all(self) -> None:
        """Drop every connection without a close frame (a network fault)."""
        def abort() -> None:
            for conn in list(self._conns):
                if conn.request.transport is not None:
                    conn.request.transport.abort()
        self.emu.call_soon(abort)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info.get("listen_key") or request.query.get("listenKey", "")
        with self.emu.engine.lock:
            self.expire_due()
            record = self.listen_keys.get(key)
        if record is None:
            return web.json_response({"code": -1125, "msg": "This listenKey does not exist."},
                                     status=400)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, request, record.api_key, key)
        self._conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for _ in ws:
                pass  # the user data stream takes no requests
        finally:
            self._conns.discard(conn)
            writer.cancel()
        return ws

    async def _writer(self, conn: _Conn) -> None:
        while True:
            item = await conn.queue.get()
            if item is None:
                await conn.ws.close()
                return
            if conn.ws.closed:
                return
            await conn.ws.send_str(json.dumps(item))
            self.events_sent += 1
