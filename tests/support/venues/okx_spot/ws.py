"""OKX's private websocket (``/ws/v5/private``): login and the ``orders`` channel.

OKX docs: "Login" (auth.py; answer ``{"event": "login", "code": "0", "msg": "",
"connId": ...}``, failures ``{"event": "error", "code": ..., "msg": ..., "connId"}``);
"WS / Order channel": subscribe ``{"op": "subscribe", "args": [{"channel": "orders",
"instType": "SPOT"|"ANY", "instId"?}]}`` answered ``{"event": "subscribe", "arg":
{...}, "connId"}``; "Data will not be pushed when first subscribed"; pushes
``{"arg": {channel, instType, uid, instId?}, "data": [order]}``. A private channel
before login is 60011 "Please log in"; an unknown channel 60018. Text ``ping`` is
answered ``pong`` (OKX's text keep-alive, which ccxt.pro sends).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from venues.okx_spot import auth
from venues.okx_spot.errors import OkxError

if TYPE_CHECKING:
    from venues.okx_spot.emulator import OkxSpotEmulator

PATH = "/ws/v5/private"
_conn_ids = itertools.count(0xA4D3AE55)


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    conn_id: str = field(default_factory=lambda: f"{next(_conn_ids):08x}")
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    account: Any = None
    subscriptions: list[dict[str, str]] = field(default_factory=list)


class PrivateStreamHub:
    def __init__(self, emu: OkxSpotEmulator) -> None:
        self.emu = emu
        self._conns: set[_Conn] = set()

    def register(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.handle)

    @property
    def subscriptions(self) -> int:
        return sum(len(c.subscriptions) for c in list(self._conns))

    def publish(self, api_key: str, order: dict[str, Any]) -> None:
        """Queue an order update for every matching ``orders`` subscription."""
        self.emu.call_soon(lambda: self._deliver(api_key, order))

    def _deliver(self, api_key: str, order: dict[str, Any]) -> None:
        for conn in list(self._conns):
            if conn.account is None or conn.account.api_key != api_key:
                continue
            for arg in conn.subscriptions:
                if arg.get("instType") in ("SPOT", "ANY") and \
                        arg.get("instId") in (None, order["instId"]):
                    push_arg = {**arg, "uid": conn.account.uid}
                    conn.queue.put_nowait(json.dumps({"arg": push_arg, "data": [order]}))

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
                if msg.data == "ping":
                    conn.queue.put_nowait("pong")
                    continue
                for answer in self._answer(conn, msg.data):
                    conn.queue.put_nowait(json.dumps(answer))
        finally:
            self._conns.discard(conn)
            writer.cancel()
        return ws

    async def _writer(self, conn: _Conn) -> None:
        while True:
            text = await conn.queue.get()
            if conn.ws.closed:
                return
            await conn.ws.send_str(text)

    def _error(self, conn: _Conn, err: OkxError, req_id: Any) -> dict[str, Any]:
        out = {"event": "error", "code": err.code, "msg": err.msg, "connId": conn.conn_id}
        return {"id": req_id, **out} if req_id is not None else out

    def _answer(self, conn: _Conn, text: str) -> list[dict[str, Any]]:
        try:
            request = json.loads(text)
        except ValueError:
            return [self._error(conn, OkxError("60012", f"Invalid request: {text}"), None)]
        op, req_id, args = request.get("op"), request.get("id"), request.get("args") or []
        try:
            if op == "login":
                with self.emu.engine.lock:
                    conn.account = auth.check_login(args[0] if args else {},
                                                    self.emu.engine.accounts, self.emu.now_ms())
                return [{"event": "login", "code": "0", "msg": "", "connId": conn.conn_id}]
            if op in ("subscribe", "unsubscribe"):
                return [self._subscribe(conn, op, arg, req_id) for arg in args]
            raise OkxError("60019", f"Invalid op: {op}")
        except OkxError as err:
            return [self._error(conn, err, req_id)]

    def _subscribe(self, conn: _Conn, op: str, arg: dict[str, str], req_id: Any) -> dict:
        if arg.get("channel") != "orders":
            raise OkxError("60018", f"Wrong URL or channel:{arg.get('channel')} doesn't exist. "
                                    "Please use the correct URL, channel and parameters "
                                    "referring to API document.")
        if conn.account is None:
            raise OkxError("60011", "Please log in")
        if op == "subscribe":
            conn.subscriptions.append(dict(arg))
        else:
            conn.subscriptions = [a for a in conn.subscriptions if a != arg]
        out = {"event": op, "arg": arg, "connId": conn.conn_id}
        return {"id": req_id, **out} if req_id is not None else out
