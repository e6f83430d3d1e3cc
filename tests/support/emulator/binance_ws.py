"""Binance spot market streams on the emulator: kline and trade events over a websocket.

ccxt.pro's Binance client connects to ``<ws spot url>/<n>`` (``.../ws/0``) and sends
``{"method": "SUBSCRIBE", "params": ["btcusdt@kline_1h"], "id": N}``; it tells spot
from futures by ``/stream`` in the URL. So point ``ExchangeSettings.ws_url`` at
:attr:`BinanceEmulator.ws_url` (``ws://127.0.0.1:<port>/stream``): the spot URL
becomes ``ws://127.0.0.1:<port>/stream/ws/0``, served here (``/ws/...`` too).

Events follow the emulator clock: when :meth:`BinanceEmulator.advance_to` moves it,
every subscriber gets each bar that closed since its last event (``"x": true``, the
full bar) and then the bar now open (``"x": false``, as klines shows it partial). A
new subscription gets the open bar at once. :meth:`KlineStreams.disconnect_all`
aborts every connection (the websocket-disconnect fault).

``<symbol>@trade`` streams carry the replayed bars' trades (:mod:`.binance_trades`,
Binance's ``{"e": "trade", ...}`` payload): a subscription gets every trade after
the clock at the time it subscribed, each clock move the ones up to the new clock.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import WSMsgType, web

from .binance_trades import trades_between

if TYPE_CHECKING:
    from .binance import BinanceEmulator, _Market


def _num(value: float) -> str:
    return np.format_float_positional(float(value), unique=True, trim="-")


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    #: stream -> first unsent bar open (klines) or first unsent trade time (trades)
    next_bar: dict[str, int] = field(default_factory=dict)


class KlineStreams:
    """Websocket subscribers and the kline events they are owed."""

    def __init__(self, emulator: BinanceEmulator) -> None:
        self.emu = emulator
        self._conns: set[_Conn] = set()
        self.messages_sent = 0

    def register(self, app: web.Application) -> None:
        for path in ("/ws", "/ws/{tail:.*}", "/stream/ws", "/stream/ws/{tail:.*}"):
            app.router.add_get(path, self.handle)

    @property
    def connections(self) -> int:
        return len(self._conns)

    # -- called from the test thread --------------------------------------------------
    def publish(self) -> None:
        """Send every subscriber what the clock move owes it (thread-safe)."""
        self._call(self._publish_all)

    def disconnect_all(self) -> None:
        """Abort every websocket connection without a close frame (thread-safe)."""
        def abort() -> None:
            for conn in list(self._conns):
                if conn.request.transport is not None:
                    conn.request.transport.abort()
        self._call(abort)

    def _call(self, fn) -> None:
        runtime = self.emu._runtime
        if runtime is None:
            return
        done = asyncio.run_coroutine_threadsafe(self._run(fn), runtime.loop)
        done.result(5)

    @staticmethod
    async def _run(fn) -> None:
        result = fn()
        if asyncio.iscoroutine(result):
            await result

    # -- on the server loop -----------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = _Conn(ws, request)
        self._conns.add(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    await ws.send_json({"error": {"code": 2, "msg": "Invalid JSON"}})
                    continue
                await self._command(conn, data)
        finally:
            self._conns.discard(conn)
        return ws

    async def _command(self, conn: _Conn, data: dict[str, Any]) -> None:
        method, params, req_id = data.get("method"), data.get("params") or [], data.get("id")
        if method == "SUBSCRIBE":
            fresh = [s for s in params if s not in conn.next_bar]
            for stream in fresh:
                market = self._stream_market(stream)
                if market is None:
                    await conn.ws.send_json({"error": {"code": 2, "msg": f"Invalid request: "
                                                       f"unknown stream {stream}"},
                                             "id": req_id})
                    return
                conn.next_bar[stream] = (self.emu.state.now_ms + 1 if _is_trade(stream)
                                         else self._open_bar_ts(market))
            await conn.ws.send_json({"result": None, "id": req_id})
            await self._publish(conn, fresh)
        elif method == "UNSUBSCRIBE":
            for stream in params:
                conn.next_bar.pop(stream, None)
            await conn.ws.send_json({"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            await conn.ws.send_json({"result": sorted(conn.next_bar), "id": req_id})
        else:
            await conn.ws.send_json({"error": {"code": 2, "msg": f"Invalid request: method "
                                               f"{method!r}"}, "id": req_id})

    def _stream_market(self, stream: str) -> _Market | None:
        name, _, kind = stream.partition("@")
        market = self.emu.state.markets.get(name.upper())
        if market is None or kind not in (f"kline_{market.timeframe}", "trade"):
            return None
        return market

    def _open_bar_ts(self, market: _Market) -> int:
        now = self.emu.state.now_ms
        return now - (now - int(market.ts[0])) % self.emu.tf_ms

    async def _publish_all(self) -> None:
        for conn in list(self._conns):
            await self._publish(conn, list(conn.next_bar))

    async def _publish(self, conn: _Conn, streams: list[str]) -> None:
        tf = self.emu.tf_ms
        for stream in streams:
            market = self._stream_market(stream)
            if market is None:
                continue
            if _is_trade(stream):
                await self._publish_trades(conn, stream, market)
                continue
            with self.emu.state.lock:
                now = self.emu.state.now_ms
                lo = int(np.searchsorted(market.ts, conn.next_bar[stream], side="left"))
                hi = int(np.searchsorted(market.ts, now - tf, side="right"))  # closed bars
                events = [self._event(market, i, now, closed=True) for i in range(lo, hi)]
                cur = int(np.searchsorted(market.ts, now, side="right")) - 1
                if cur >= 0 and int(market.ts[cur]) + tf > now:
                    events.append(self._event(market, cur, now, closed=False))
                if hi > lo:
                    conn.next_bar[stream] = int(market.ts[hi - 1]) + tf
            for event in events:
                if conn.ws.closed:
                    return
                await conn.ws.send_str(json.dumps(event))
                self.messages_sent += 1

    async def _publish_trades(self, conn: _Conn, stream: str, market: _Market) -> None:
        with self.emu.state.lock:
            now = self.emu.state.now_ms
            trades = trades_between(market.ts, market.values, self.emu.tf_ms,
                                    conn.next_bar[stream], now + 1)
            conn.next_bar[stream] = max(conn.next_bar[stream], now + 1)
        for t in trades:
            if conn.ws.closed:
                return
            await conn.ws.send_str(json.dumps({
                "e": "trade", "E": now, "s": market.market_id, "t": t.id, "p": _num(t.price),
                "q": _num(t.qty), "T": t.ts, "m": t.buyer_maker, "M": True}))
            self.messages_sent += 1

    def _event(self, market: _Market, i: int, now: int, *, closed: bool) -> dict[str, Any]:
        tf = self.emu.tf_ms
        t = int(market.ts[i])
        o, h, lo, c, v = (float(x) for x in market.values[i])
        if not closed:  # what has traded so far, as /api/v3/klines shows the open bar
            frac = (now - t) / tf
            c = o + (c - o) * frac
            h, lo, v = max(o, c), min(o, c), v * frac
        return {"e": "kline", "E": now, "s": market.market_id, "k": {
            "t": t, "T": t + tf - 1, "s": market.market_id, "i": market.timeframe,
            "f": 0, "L": 0, "o": _num(o), "c": _num(c), "h": _num(h), "l": _num(lo),
            "v": _num(v), "n": 1000, "x": closed, "q": _num(v * c), "V": _num(v / 2),
            "Q": _num(v * c / 2), "B": "0"}}


def _is_trade(stream: str) -> bool:
    return stream.endswith("@trade")
