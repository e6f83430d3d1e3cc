"""The USDⓈ-M user data stream: listenKey management and the event websocket.

USDⓈ-M "User Data Streams": ``POST /fapi/v1/listenKey`` starts a stream (answers
``{"listenKey": ...}``; "If the account has an active listenKey, that listenKey will
be returned and its validity will be extended for 60 minutes"), ``PUT`` keeps it
alive, ``DELETE`` closes it; these are USER_STREAM endpoints (API key header, no
signature). Events arrive on ``wss://fstream.binance.com/private/ws?listenKey=<key>``
(the URL ccxt 4.5.90 ``pro/binance.get_private_ws_url('linear', key)`` builds) and
on the legacy ``/ws/<listenKey>``, as bare JSON event objects (events.py). A closed
listenKey's connections receive ``{"e": "listenKeyExpired", ...}`` and are closed.
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


class UsdmUserStream:
    """listenKeys and the websocket connections that carry their events."""

    def __init__(self, emu: BinanceUsdmEmulator) -> None:
        self.emu = emu
        self.listen_keys: dict[str, str] = {}  # listenKey -> api key
        self._conns: set[_Conn] = set()
        self.events_sent = 0

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/fapi/v1/listenKey", self._rest(self.start))
        r.add_put("/fapi/v1/listenKey", self._rest(self.keepalive))
        r.add_delete("/fapi/v1/listenKey", self._rest(self.close))
        r.add_get("/private/ws", self.handle)
        r.add_get("/ws/{listen_key}", self.handle)

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
                    return web.json_response(fn(account.api_key))
            except BinanceError as err:
                return web.json_response(err.body(), status=err.status)
        return handler

    def _key_of(self, api_key: str) -> str | None:
        return next((k for k, v in self.listen_keys.items() if v == api_key), None)

    def start(self, api_key: str) -> dict[str, str]:
        key = self._key_of(api_key) or secrets.token_hex(32)
        self.listen_keys[key] = api_key
        return {"listenKey": key}

    def keepalive(self, api_key: str) -> dict[str, str]:
        key = self._key_of(api_key)
        if key is None:
            raise BinanceError(-1125, "This listenKey does not exist.")
        return {"listenKey": key}

    def close(self, api_key: str) -> dict[str, Any]:
        key = self._key_of(api_key)
        if key is not None:
            del self.listen_keys[key]
            self.emu.call_soon(lambda: self._expire(key))
        return {}

    def _expire(self, key: str) -> None:
        for conn in list(self._conns):
            if conn.listen_key == key:
                conn.queue.put_nowait({"e": "listenKeyExpired", "E": self.emu.now_ms(),
                                       "listenKey": key})
                conn.queue.put_nowait(None)

    # -- events ------------------------------------------------------------------------
    def publish(self, api_key: str, event: dict[str, Any]) -> None:
        """Queue ``event`` for every connection of ``api_key`` (order preserved)."""
        self.emu.call_soon(lambda: self._deliver(api_key, event))

    def _deliver(self, api_key: str, event: dict[str, Any]) -> None:
        for conn in list(self._conns):
            if conn.api_key == api_key:
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
        api_key = self.listen_keys.get(key)
        if api_key is None:
            return web.json_response({"code": -1125, "msg": "This listenKey does not exist."},
                                     status=400)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, request, api_key, key)
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
