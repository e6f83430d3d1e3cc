"""Binance's websocket API (``/ws-api/v3``) as far as the user data stream needs it.

web-socket-api.md:

- requests are JSON text frames ``{"id", "method", "params"}``; answers echo ``id``
  with ``status`` (HTTP-like) and ``result`` or ``error: {code, msg}`` ("Request
  format", "Response format", "Status codes");
- ``userDataStream.subscribe.signature`` (params ``apiKey``, ``timestamp``,
  ``signature``, optional ``recvWindow``; signed as auth.py ``ws_payload``) answers
  ``{"subscriptionId": n}``; "You can have only one active subscription for a given
  account on a given connection" ("User Data Stream subscription");
- ``userDataStream.unsubscribe`` (optional ``subscriptionId``: none closes all),
  ``session.subscriptions``, ``ping``, ``time``;
- events arrive as ``{"subscriptionId": n, "event": {...}}`` text frames ("Event
  format"), the event payloads being user-data-stream.md's.

Served at ``/ws-api/v3`` and, for clients whose websocket base is the emulator's
``ws_url`` (``.../stream``), at ``/stream/ws-api/v3``. Methods the emulator does not
implement answer status 400 with -1100-style text naming the method (emulator text,
not Binance's: the docs list no code for an unknown method).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from venues.binance_spot import auth
from venues.binance_spot.errors import BinanceError

if TYPE_CHECKING:
    from venues.binance_spot.emulator import BinanceSpotEmulator

PATHS = ("/ws-api/v3", "/stream/ws-api/v3")


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    #: subscriptionId -> api key
    subscriptions: dict[int, str] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=itertools.count)


class UserStreamHub:
    """Websocket API connections and the user data events they are owed."""

    def __init__(self, emu: BinanceSpotEmulator) -> None:
        self.emu = emu
        self._conns: set[_Conn] = set()
        self.events_sent = 0

    def register(self, app: web.Application) -> None:
        for path in PATHS:
            app.router.add_get(path, self.handle)

    @property
    def subscriptions(self) -> int:
        """Active user data subscriptions over all connections."""
        return sum(len(c.subscriptions) for c in list(self._conns))

    # -- any thread: the engine's event sink -------------------------------------------
    def publish(self, api_key: str, event: dict[str, Any]) -> None:
        """Queue ``event`` for every subscription of ``api_key`` (order preserved)."""
        self.emu.call_soon(lambda: self._deliver(api_key, event))

    def _deliver(self, api_key: str, event: dict[str, Any]) -> None:
        for conn in list(self._conns):
            for sub_id, key in conn.subscriptions.items():
                if key == api_key:
                    conn.queue.put_nowait({"subscriptionId": sub_id, "event": event})

    def disconnect_all(self) -> None:
        """Drop every connection without a close frame (a network fault)."""
        def abort() -> None:
            for conn in list(self._conns):
                if conn.request.transport is not None:
                    conn.request.transport.abort()
        self.emu.call_soon(abort)

    # -- server loop -----------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, request)
        self._conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await conn.queue.put(self._answer(conn, msg.data))
        finally:
            self._conns.discard(conn)
            writer.cancel()
        return ws

    async def _writer(self, conn: _Conn) -> None:
        while True:
            item = await conn.queue.get()
            if conn.ws.closed:
                return
            await conn.ws.send_str(json.dumps(item))
            if "event" in item:
                self.events_sent += 1

    def _answer(self, conn: _Conn, text: str) -> dict[str, Any]:
        try:
            request = json.loads(text)
        except ValueError:
            return {"id": None, "status": 400,
                    "error": {"code": -1100, "msg": "Illegal characters found in a parameter."}}
        req_id = request.get("id")
        method = str(request.get("method", "")).removeprefix("v3/")
        params = request.get("params") or {}
        try:
            result = self._call(conn, method, params)
        except BinanceError as err:
            return {"id": req_id, "status": err.status, "error": err.body()}
        return {"id": req_id, "status": 200, "result": result}

    def _call(self, conn: _Conn, method: str, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.emu.now_ms()}
        if method == "userDataStream.subscribe.signature":
            return self._subscribe(conn, params)
        if method == "userDataStream.unsubscribe":
            sub_id = params.get("subscriptionId")
            if sub_id is None:
                conn.subscriptions.clear()
            else:
                conn.subscriptions.pop(int(sub_id), None)
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": s} for s in sorted(conn.subscriptions)]
        raise BinanceError(-1100, f"Method '{method}' is not implemented by the emulator.")

    def _subscribe(self, conn: _Conn, params: dict[str, Any]) -> dict[str, int]:
        with self.emu.engine.lock:
            account = auth.check_key(params.get("apiKey"), self.emu.engine.accounts)
            auth.check_signature(account.secret, auth.ws_payload(params),
                                 params.get("signature"))
            auth.check_timing(timestamp=params.get("timestamp"),
                              recv_window=params.get("recvWindow"), server_ms=self.emu.now_ms())
        if account.api_key in conn.subscriptions.values():  # emulator text, see docstring
            raise BinanceError(-1100, "This account is already subscribed on this connection.")
        sub_id = next(conn.ids)
        conn.subscriptions[sub_id] = account.api_key
        return {"subscriptionId": sub_id}
