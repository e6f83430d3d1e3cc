"""Public trades from ccxt.pro ``watch_trades``: ticks for the engine, and bars.

Why: issue 7 asks for ticks where the exchange streams them, and for bars built
from trades where it streams trades but no candles. Both read one
:class:`TradeStream` (one ``watch_trades`` task per symbol; a second watcher of the
same symbol on one client would steal the first one's updates).

- :class:`TickFeed` queues ``TradeTick`` events; the runner takes the ones before
  its *horizon* (the close of the next bar it has not stepped), so a tick is never
  stepped after a bar that closes later than it (the engine refuses to go back in
  time). A tick older than the engine's clock (a late or replayed message) is
  returned apart for the runner to report and drop.
- :class:`TradeBarFeed` (a ``BarFeed``) aggregates trades into epoch-aligned bars.
  A bar is delivered only once closed: when a trade of a later bar arrives, or when
  the exchange clock is ``grace_ms`` past its close. A bar the stream did not see
  from its open (the one in progress when the stream (re)subscribed) or a jump over
  bars without trades is read over REST (``fetch_ohlcv``) instead, exactly as
  ``WatchBarFeed`` does after a reconnect; ``bar_from_rest`` reports say which.

Trades are deduplicated per symbol by ``(timestamp, id)``: ccxt.pro resolves the
cached trade list, which may repeat trades already seen. A trade without a finite
positive price and a finite non-negative amount is reported (``bad_trade``) and
dropped; the bars built from trades are checked like every bar the feeds deliver
(``bar_feed.BarRelease.add``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ccxt

from tradeloom.adapters.ccxt.bar_feed import BarRelease, ReleasingFeed, Report
from tradeloom.adapters.ccxt.exchange import map_ccxt_error
from tradeloom.adapters.clock import Clock
from tradeloom.engine.errors import ConfigError, TradeloomError
from tradeloom.engine.orders import Bar
from tradeloom.engine.run.events import TradeTick
from tradeloom.engine.timeframes import timeframe_to_ms

log = logging.getLogger(__name__)

Listener = Callable[[TradeTick], None]


def _no_report(kind: str, payload: dict[str, Any]) -> None:
    log.info("trades %s: %s", kind, payload)


def trade_problem(price: float, amount: float) -> str:
    """What is impossible about a public trade (``""`` when nothing is): its price must
    be finite and > 0, its amount finite and >= 0.

    >>> trade_problem(100.0, 0.5), trade_problem(float("nan"), 0.5)
    ('', 'price nan is not a finite number > 0')
    """
    if not (math.isfinite(price) and price > 0.0):
        return f"price {price!r} is not a finite number > 0"
    if not (math.isfinite(amount) and amount >= 0.0):
        return f"amount {amount!r} is not a finite number >= 0"
    return ""


class TradeStream:
    """``watch_trades`` per symbol, each new trade handed to every listener in order.

    A ``NetworkError`` is reported (``transient_error``) and the watch retried after
    ``retry_s``; listeners get ``on_break(symbol)`` (trades may have been missed).
    Any other ccxt error is kept and raised by :meth:`check`.
    """

    def __init__(self, client: Any, symbols: Sequence[str], *, report: Report | None = None,
                 retry_s: float = 1.0) -> None:
        if not getattr(client, "has", {}).get("watchTrades"):
            raise ConfigError(f"exchange {getattr(client, 'id', '?')!r} has no watch_trades in "
                              "ccxt.pro; set runner.trades = false (ticks need a trade stream)")
        if not symbols:
            raise ConfigError("a trade stream needs at least one symbol")
        self.client = client
        self.symbols = tuple(symbols)
        self.report = report or _no_report
        self.retry_s = retry_s
        self._listeners: list[Listener] = []
        self._breaks: list[Callable[[str], None]] = []
        self._last: dict[str, tuple[int, set[str]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.error: TradeloomError | None = None
        self.received = 0

    def listen(self, on_trade: Listener, on_break: Callable[[str], None] | None = None) -> None:
        self._listeners.append(on_trade)
        if on_break is not None:
            self._breaks.append(on_break)

    def ensure_started(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._watch(s), name=f"watch_trades {s}")
                           for s in self.symbols]

    def check(self) -> None:
        """Raise the stream's fatal error, if any."""
        if self.error is not None:
            raise self.error

    async def _watch(self, symbol: str) -> None:
        while True:
            try:
                trades = await self.client.watch_trades(symbol)
            except ccxt.NetworkError as exc:
                self.report("transient_error", {"symbol": symbol, "stream": "trades",
                                                "error": str(map_ccxt_error(exc))})
                for on_break in self._breaks:
                    on_break(symbol)
                await asyncio.sleep(self.retry_s)
                continue
            except ccxt.BaseError as exc:
                self.error = map_ccxt_error(exc, context=f"{self.client.id} watch_trades {symbol}")
                for on_break in self._breaks:
                    on_break(symbol)
                return
            for raw in trades:
                self._accept(symbol, raw)

    def _accept(self, symbol: str, raw: Mapping[str, Any]) -> None:
        ts, tid = int(raw["timestamp"]), str(raw.get("id"))
        last_ts, ids = self._last.get(symbol, (-1, set()))
        if ts < last_ts or (ts == last_ts and tid in ids):
            return  # already seen (ccxt.pro hands back its cache)
        if ts > last_ts:
            ids = set()
        ids.add(tid)
        self._last[symbol] = (ts, ids)
        self.received += 1
        price, amount = float(raw["price"]), float(raw["amount"])
        problem = trade_problem(price, amount)
        if problem:
            self.report("bad_trade", {"symbol": symbol, "ts": ts, "id": tid, "problem": problem})
            return  # never a tick nor part of a bar
        tick = TradeTick(symbol, ts, price, amount)
        for listener in self._listeners:
            listener(tick)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []


class TickFeed:
    """Ticks from a :class:`TradeStream`, handed out in time order up to a horizon."""

    def __init__(self, stream: TradeStream) -> None:
        self.stream = stream
        self._pending: list[tuple[int, str, int, TradeTick]] = []
        self._seq = 0
        self._ready = asyncio.Event()
        stream.listen(self._on_trade)

    def _on_trade(self, tick: TradeTick) -> None:
        self._seq += 1
        self._pending.append((tick.ts, tick.symbol, self._seq, tick))
        self._ready.set()

    def take(self, before: int, not_before: int) -> tuple[list[TradeTick], list[TradeTick]]:
        """``(ticks with not_before <= ts < before in order, late ticks with ts < not_before)``."""
        self.stream.check()
        self._pending.sort()
        cut = 0
        while cut < len(self._pending) and self._pending[cut][0] < before:
            cut += 1
        out, self._pending = self._pending[:cut], self._pending[cut:]
        ticks = [t for ts, _, _, t in out if ts >= not_before]
        late = [t for ts, _, _, t in out if ts < not_before]
        return ticks, late

    async def wait(self) -> None:
        """Until a trade arrived since the last wait (returns at once if one did)."""
        self.stream.ensure_started()
        await self._ready.wait()
        self._ready.clear()

    async def close(self) -> None:
        await self.stream.close()


class _Building:
    __slots__ = ("close", "complete", "high", "low", "open", "ts", "volume")

    def __init__(self, ts: int, price: float, amount: float, complete: bool) -> None:
        self.ts, self.open, self.high, self.low, self.close = ts, price, price, price, price
        self.volume, self.complete = amount, complete

    def add(self, price: float, amount: float) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += amount

    def bar(self, symbol: str, tf_ms: int) -> Bar:
        return Bar(symbol, self.ts, self.ts + tf_ms, self.open, self.high, self.low, self.close,
                   self.volume)


class TradeBarFeed(ReleasingFeed):
    """Bars aggregated from ``watch_trades`` (see the module docstring); a ``BarFeed``."""

    def __init__(self, client: Any, symbols: Sequence[str], timeframe: str, *, clock: Clock,
                 stream: TradeStream | None = None, grace_ms: int = 5_000, stall_bars: int = 3,
                 report: Report | None = None) -> None:
        self.client = client
        self.timeframe = timeframe
        self.tf_ms = timeframe_to_ms(timeframe)
        self.clock = clock
        self.grace_ms = int(grace_ms)
        self.report = report or _no_report
        self.stream = stream or TradeStream(client, symbols, report=self.report)
        self._rel = BarRelease(symbols, self.tf_ms, stall_bars, self.report)
        self._cur: dict[str, _Building | None] = dict.fromkeys(self._rel.symbols)
        self._continuous: dict[str, bool] = dict.fromkeys(self._rel.symbols, False)
        self._closed: list[tuple[str, _Building, int]] = []  # (symbol, bar, next bar open)
        self._wake = asyncio.Event()
        self.exchange_offset_ms = 0
        self.from_trades = 0
        self.from_rest = 0
        self.stream.listen(self._on_trade, self._on_break)

    def _on_break(self, symbol: str) -> None:
        self._continuous[symbol] = False
        cur = self._cur.get(symbol)
        if cur is not None:
            cur.complete = False

    def _on_trade(self, tick: TradeTick) -> None:
        symbol = tick.symbol
        if symbol not in self._cur:
            return
        open_ts = tick.ts - tick.ts % self.tf_ms
        cur = self._cur[symbol]
        if cur is not None and open_ts < cur.ts:
            self.report("late_trade", {"symbol": symbol, "ts": tick.ts, "bar": cur.ts})
            return
        if cur is not None and open_ts == cur.ts:
            cur.add(tick.price, tick.amount)
            return
        if cur is not None:
            self._closed.append((symbol, cur, open_ts))
        self._cur[symbol] = _Building(open_ts, tick.price, tick.amount,
                                      complete=self._continuous[symbol])
        self._continuous[symbol] = True
        self._wake.set()

    async def _settle(self, ex_now: int) -> None:
        """Queue the closed bars: by a later trade, or by time past ``grace_ms``."""
        for symbol, cur in list(self._cur.items()):
            if cur is not None and cur.ts + self.tf_ms + self.grace_ms <= ex_now:
                self._closed.append((symbol, cur, cur.ts + self.tf_ms))
                self._cur[symbol] = None
        closed, self._closed = self._closed, []
        for symbol, built, next_open in closed:
            end = built.ts + self.tf_ms
            if built.complete:
                self.from_trades += 1
                self._rel.add(built.bar(symbol, self.tf_ms))
                ok = next_open <= end or await self._rest(symbol, end, next_open)
            else:  # not seen from its open: the exchange's own bar (and any gap after it)
                ok = await self._rest(symbol, built.ts, max(end, next_open))
            if not ok:
                built.complete = False  # already added bars are dropped as duplicates
                self._closed.append((symbol, built, next_open))  # again next round

    async def _rest(self, symbol: str, start: int, end: int) -> bool:
        bars = await self._fetch_range(symbol, start, end)
        if bars is None:
            return False
        for bar in bars:
            if self._rel.add(bar):
                self.from_rest += 1
                self.report("bar_from_rest", {"symbol": symbol, "ts": bar.ts})
        return True

    async def next_bars(self, timeout_s: float) -> list[Bar]:
        self.stream.ensure_started()
        self.stream.check()
        ex_now = self.clock.now_ms() + self.exchange_offset_ms
        await self._settle(ex_now)
        bars = self._rel.release(ex_now)
        if bars:
            return bars
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, timeout_s))
        except TimeoutError:
            pass
        self.stream.check()
        ex_now = self.clock.now_ms() + self.exchange_offset_ms
        await self._settle(ex_now)
        return self._rel.release(ex_now)

    async def close(self) -> None:
        await self.stream.close()


__all__ = ["TickFeed", "TradeBarFeed", "TradeStream", "trade_problem"]
