"""Live bars from an exchange through ccxt, delivered only once closed.

Why this module: a live strategy must see exactly the bars a backtest sees, at the
moment a backtest would see them (the bar's close), and never the still-open bar.
Two sources produce the same ``Bar`` values:

- :class:`PollingBarFeed` (REST, every exchange): shortly after each expected
  close (``poll_delay_ms``) it reads the exchange clock (``fetch_time``) and
  ``fetch_ohlcv(since=next expected open)``; bars whose close is after the
  exchange's clock are dropped (Binance returns the open bar last), bars already
  delivered are dropped (dedupe), and bars missed during an outage or a slow poll
  are backfilled by the ``since`` request itself (looping while the exchange
  returns a full page). A bar the exchange is late to publish is asked for again
  every ``retry_delay_ms``.
- :class:`WatchBarFeed` (ccxt.pro ``watch_ohlcv``, where the exchange has it): a
  candle is delivered when the next candle starts, or when the exchange clock has
  passed its close by ``grace_ms`` with no newer candle (then read over REST: the
  stream's last update may be a stale snapshot, e.g. after a disconnect); a jump of more than one
  bar (a reconnect) is backfilled over REST. Late updates of an already delivered
  candle are reported and ignored.

**Several symbols.** Bars are released in ``(close_ts, symbol)`` order, and a close
time is released only when every symbol has delivered it or a later bar, because
the engine refuses to go back in time. A symbol with no bar for ``stall_bars``
bars past its expected close is reported and no longer waited for; its bars that
arrive after later bars were released are reported as ``late_bar`` and dropped.

Both feeds report what an operator should know (``gap``, ``late_bar``,
``transient_error``, ``stall``, ``bad_bar``) through ``report(kind, payload)``; the
runner journals it. A bar that breaks the rules stored bars obey (finite OHLCV, low <=
open/close <= high, volume >= 0, close after open: ``checks.bar_problem``) is a
``bad_bar``, dropped like a bar never published. Transient exchange errors are retried on the next round; every other
error propagates, mapped once by ``map_ccxt_error``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import ccxt

from tradeloom.adapters.ccxt.exchange import map_ccxt_error
from tradeloom.adapters.clock import Clock
from tradeloom.adapters.store.checks import bar_problem
from tradeloom.engine.errors import ConfigError, TransientExchangeError
from tradeloom.engine.orders import Bar
from tradeloom.engine.timeframes import timeframe_to_ms

log = logging.getLogger(__name__)

Report = Callable[[str, dict[str, Any]], None]


def _no_report(kind: str, payload: dict[str, Any]) -> None:
    log.info("feed %s: %s", kind, payload)


def bar_from_row(symbol: str, row: Sequence[Any], tf_ms: int) -> Bar:
    """A ``Bar`` from one ccxt OHLCV row ``[ts, open, high, low, close, volume]``."""
    ts = int(row[0])
    return Bar(symbol, ts, ts + tf_ms, float(row[1]), float(row[2]), float(row[3]),
               float(row[4]), float(row[5] or 0.0))


class BarFeed(Protocol):
    """What the runner reads bars from."""

    exchange_offset_ms: int

    def start_after(self, last_open_ts: Mapping[str, int]) -> None:
        """Deliver bars opening after ``last_open_ts[symbol]`` (the warm-up's last bar)."""

    async def next_bars(self, timeout_s: float) -> list[Bar]:
        """Closed bars ready now, in ``(close_ts, symbol)`` order; ``[]`` after ``timeout_s``."""

    async def close(self) -> None:
        """Stop background work (the client is closed by its owner)."""


class BarRelease:
    """Per-symbol pending bars and the in-order release rule (shared by every bar feed):
    every bar a feed delivers enters through ``add``."""

    def __init__(self, symbols: Sequence[str], tf_ms: int, stall_bars: int, report: Report) -> None:
        if not symbols:
            raise ConfigError("a bar feed needs at least one symbol")
        self.symbols = tuple(symbols)
        self.tf_ms = tf_ms
        self.stall_ms = stall_bars * tf_ms
        self.report = report
        self.last: dict[str, int | None] = dict.fromkeys(self.symbols)  # last open ts seen
        self.pending: dict[str, list[Bar]] = {s: [] for s in self.symbols}
        self.released_close = -1  # close time of the last released step
        self.stalled: set[str] = set()

    def start_after(self, last_open_ts: Mapping[str, int]) -> None:
        """Mark bars up to ``last_open_ts[symbol]`` as released (they were stepped already)."""
        for symbol, ts in last_open_ts.items():
            if symbol in self.last:
                self.last[symbol] = int(ts)
        closes = [int(ts) + self.tf_ms for ts in last_open_ts.values()]
        if closes:
            self.released_close = max(closes)

    def add(self, bar: Bar) -> bool:
        """Queue a closed bar unless it is a duplicate, too late or bad; True if queued.

        A bad bar (the rules the store applies to every bar: ``checks.bar_problem``) is
        reported as ``bad_bar`` and dropped, as if the exchange had not published it:
        the strategy never decides on it, indicators never take it.
        """
        last = self.last[bar.symbol]
        if last is not None and bar.ts <= last:
            return False
        problem = bar_problem(bar)
        if problem:
            ohlcv = " ".join(repr(v) for v in (bar.open, bar.high, bar.low, bar.close, bar.volume))
            self.report("bad_bar", {"symbol": bar.symbol, "ts": bar.ts, "problem": problem,
                                    "ohlcv": ohlcv})  # text: the journal refuses NaN
            self.last[bar.symbol] = bar.ts
            return False
        if bar.close_ts <= self.released_close:
            self.report("late_bar", {"symbol": bar.symbol, "ts": bar.ts,
                                     "released_until": self.released_close})
            self.last[bar.symbol] = bar.ts
            return False
        if last is not None and bar.ts > last + self.tf_ms:
            self.report("gap", {"symbol": bar.symbol, "after_ts": last, "next_ts": bar.ts,
                                "missing": (bar.ts - last) // self.tf_ms - 1})
        self.last[bar.symbol] = bar.ts
        self.pending[bar.symbol].append(bar)
        self.stalled.discard(bar.symbol)
        return True

    def expected_close(self, symbol: str) -> int | None:
        last = self.last[symbol]
        return None if last is None else last + 2 * self.tf_ms

    def release(self, exchange_now: int) -> list[Bar]:
        """Bars every (non-stalled) symbol has reached, in (close_ts, symbol) order."""
        for symbol in self.symbols:
            due = self.expected_close(symbol)
            if (symbol not in self.stalled and due is not None
                    and exchange_now >= due + self.stall_ms and not self.pending[symbol]):
                self.stalled.add(symbol)
                self.report("stall", {"symbol": symbol, "expected_close": due,
                                      "exchange_now": exchange_now})
        reach = [
            (self.last[s] + self.tf_ms) if self.last[s] is not None else -1
            for s in self.symbols if s not in self.stalled
        ]
        horizon = min(reach) if reach else max(
            (b.close_ts for q in self.pending.values() for b in q), default=-1)
        out: list[Bar] = []
        for symbol in self.symbols:
            queue = self.pending[symbol]
            keep = [b for b in queue if b.close_ts > horizon]
            out.extend(b for b in queue if b.close_ts <= horizon)
            self.pending[symbol] = keep
        out.sort(key=lambda b: (b.close_ts, b.symbol))
        if out:
            self.released_close = max(self.released_close, out[-1].close_ts)
        return out


class ReleasingFeed:
    """What every bar feed shares: its symbols, where it resumes, and REST backfill."""

    _rel: BarRelease
    client: Any
    timeframe: str
    tf_ms: int
    report: Report

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._rel.symbols

    def start_after(self, last_open_ts: Mapping[str, int]) -> None:
        """Deliver only bars opening after ``last_open_ts[symbol]`` (already stepped)."""
        self._rel.start_after(last_open_ts)

    async def _fetch_range(self, symbol: str, start: int, end: int) -> list[Bar] | None:
        """Closed bars with ``start <= ts < end`` over REST; None (reported) on a ccxt error."""
        try:
            rows = await self.client.fetch_ohlcv(symbol, self.timeframe, since=start,
                                                 limit=max(1, min(1000, (end - start) // self.tf_ms)))
        except ccxt.BaseError as exc:
            self.report("transient_error", {"symbol": symbol, "error": str(map_ccxt_error(exc))})
            return None
        bars = (bar_from_row(symbol, row, self.tf_ms) for row in rows)
        return [bar for bar in bars if start <= bar.ts < end]


class PollingBarFeed(ReleasingFeed):
    """REST polling aligned to bar close (see the module docstring).

    ``client`` is an async ccxt client (``make_client(settings, async_=True)``).
    ``exchange_offset_ms`` (exchange clock minus local clock) is kept up to date by
    every poll and used to schedule the next one.
    """

    def __init__(self, client: Any, symbols: Sequence[str], timeframe: str, *, clock: Clock,
                 poll_delay_ms: int = 1_500, retry_delay_ms: int = 1_000, limit: int = 1000,
                 stall_bars: int = 3, report: Report | None = None) -> None:
        self.client = client
        self.timeframe = timeframe
        self.tf_ms = timeframe_to_ms(timeframe)
        self.clock = clock
        self.poll_delay_ms = int(poll_delay_ms)
        self.retry_delay_ms = int(retry_delay_ms)
        self.limit = int(limit)
        self.report = report or _no_report
        self._rel = BarRelease(symbols, self.tf_ms, stall_bars, self.report)
        self.exchange_offset_ms = 0
        self._next_poll_local: int | None = None  # None: poll at once
        self.polls = 0

    def next_due_local_ms(self) -> int:
        """Local time of the next poll."""
        if self._next_poll_local is not None:
            return self._next_poll_local
        return self.clock.now_ms()

    async def next_bars(self, timeout_s: float) -> list[Bar]:
        """Poll when due (sleeping at most ``timeout_s`` first); the bars released."""
        wait_ms = self.next_due_local_ms() - self.clock.now_ms()
        if wait_ms > timeout_s * 1000:
            await self.clock.sleep(timeout_s)
            return []
        if wait_ms > 0:
            await self.clock.sleep(wait_ms / 1000)
        return await self.poll()

    async def exchange_time(self) -> int:
        """The exchange clock (``fetch_time``); also updates ``exchange_offset_ms``."""
        local_before = self.clock.now_ms()
        try:
            server = int(await self.client.fetch_time())
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc, context=f"{self.client.id} fetch_time") from exc
        local_after = self.clock.now_ms()
        self.exchange_offset_ms = server - (local_before + local_after) // 2
        return server

    async def poll(self) -> list[Bar]:
        """One round: read every symbol's new closed bars, release what is complete."""
        self.polls += 1
        try:
            ex_now = await self.exchange_time()
            for symbol in self.symbols:
                await self._fetch_symbol(symbol, ex_now)
        except TransientExchangeError as err:
            self.report("transient_error", {"error": str(err)})
            self._next_poll_local = self.clock.now_ms() + self.retry_delay_ms
            return []
        bars = self._rel.release(ex_now)
        self._schedule(ex_now)
        return bars

    async def _fetch_symbol(self, symbol: str, ex_now: int) -> None:
        while True:
            last = self._rel.last[symbol]
            since = None if last is None else last + self.tf_ms
            if since is not None and since + self.tf_ms > ex_now:
                return  # nothing can have closed yet
            try:
                rows = await self.client.fetch_ohlcv(symbol, self.timeframe, since=since,
                                                     limit=self.limit)
            except ccxt.BaseError as exc:
                raise map_ccxt_error(
                    exc, context=f"{self.client.id} fetch_ohlcv {symbol} {self.timeframe}") from exc
            added = 0
            for row in rows:
                bar = bar_from_row(symbol, row, self.tf_ms)
                if bar.close_ts > ex_now:
                    break  # the open bar (and anything after it) is never delivered
                added += self._rel.add(bar)
            if len(rows) < self.limit or added == 0:
                return  # a full page that added bars: more may be missing, read on

    def _schedule(self, ex_now: int) -> None:
        """Next poll: at the earliest expected close + delay, or soon if a bar is late."""
        dues = [d for s in self.symbols if (d := self._rel.expected_close(s)) is not None
                and s not in self._rel.stalled]
        if not dues:
            target_ex = ex_now + self.retry_delay_ms
        else:
            first = min(dues)
            target_ex = first + self.poll_delay_ms
            if ex_now >= first + self.poll_delay_ms:  # the exchange is late with that bar
                target_ex = ex_now + self.retry_delay_ms
        self._next_poll_local = target_ex - self.exchange_offset_ms

    async def close(self) -> None:
        return None


class WatchBarFeed(ReleasingFeed):
    """ccxt.pro ``watch_ohlcv`` feed (see the module docstring).

    One task per symbol reads candles; :meth:`next_bars` releases closed ones.
    The exchange clock is estimated as the local clock plus ``exchange_offset_ms``
    (set by the runner's drift check).
    """

    def __init__(self, client: Any, symbols: Sequence[str], timeframe: str, *, clock: Clock,
                 grace_ms: int = 5_000, stall_bars: int = 3, report: Report | None = None) -> None:
        if not getattr(client, "has", {}).get("watchOHLCV"):
            raise ConfigError(
                f"exchange {getattr(client, 'id', '?')!r} has no watch_ohlcv in ccxt.pro; "
                "use feed = 'poll'")
        self.client = client
        self.timeframe = timeframe
        self.tf_ms = timeframe_to_ms(timeframe)
        self.clock = clock
        self.grace_ms = int(grace_ms)
        self.report = report or _no_report
        self._rel = BarRelease(symbols, self.tf_ms, stall_bars, self.report)
        self._current: dict[str, Bar | None] = dict.fromkeys(self._rel.symbols)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._error: BaseException | None = None
        self.exchange_offset_ms = 0

    def _ensure_started(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._watch(s), name=f"watch_ohlcv {s}")
                           for s in self.symbols]

    async def _watch(self, symbol: str) -> None:
        try:
            while True:
                try:
                    candles = await self.client.watch_ohlcv(symbol, self.timeframe)
                except ccxt.NetworkError as exc:
                    self.report("transient_error", {"symbol": symbol,
                                                    "error": str(map_ccxt_error(exc))})
                    await asyncio.sleep(1.0)
                    continue
                for row in candles:
                    await self._on_candle(bar_from_row(symbol, row, self.tf_ms))
                self._wake.set()
        except asyncio.CancelledError:
            raise
        except ccxt.BaseError as exc:
            self._error = map_ccxt_error(exc, context=f"{self.client.id} watch_ohlcv {symbol}")
            self._wake.set()

    async def _on_candle(self, bar: Bar) -> None:
        symbol = bar.symbol
        cur = self._current[symbol]
        last = self._rel.last[symbol]
        if last is not None and bar.ts <= last:
            if cur is None or bar.ts < cur.ts:
                self.report("late_update", {"symbol": symbol, "ts": bar.ts})
            return
        if cur is not None and bar.ts > cur.ts:
            self._rel.add(cur)  # a newer candle started: the current one is closed
            if bar.ts > cur.ts + self.tf_ms:
                await self._backfill(symbol, cur.ts + self.tf_ms, bar.ts)
        elif cur is None and last is not None and bar.ts > last + self.tf_ms:
            await self._backfill(symbol, last + self.tf_ms, bar.ts)
        self._current[symbol] = bar

    async def _backfill(self, symbol: str, start: int, end: int) -> bool:
        """REST bars with ``start <= ts < end`` (missed while disconnected); False on error."""
        bars = await self._fetch_range(symbol, start, end)
        if bars is None:
            return False
        for bar in bars:
            self._rel.add(bar)
        return True

    async def _close_by_time(self, ex_now: int) -> None:
        """Candles past their close by ``grace_ms`` with no newer one: closed.

        The stream never said they were over, so their last update may be any snapshot
        (after a disconnect, one from hours before the close): the closed bar is read
        over REST instead; on an error the candle waits for the next round.
        """
        for symbol, cur in list(self._current.items()):
            if cur is None or cur.close_ts + self.grace_ms > ex_now:
                continue
            if await self._backfill(symbol, cur.ts, cur.close_ts) and self._current[symbol] is cur:
                self._current[symbol] = None

    async def next_bars(self, timeout_s: float) -> list[Bar]:
        self._ensure_started()
        if self._error is not None:
            raise self._error
        ex_now = self.clock.now_ms() + self.exchange_offset_ms
        await self._close_by_time(ex_now)
        bars = self._rel.release(ex_now)
        if bars:
            return bars
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, timeout_s))
        except TimeoutError:
            pass
        if self._error is not None:
            raise self._error
        ex_now = self.clock.now_ms() + self.exchange_offset_ms
        await self._close_by_time(ex_now)
        return self._rel.release(ex_now)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []


__all__ = ["BarFeed", "BarRelease", "PollingBarFeed", "Report", "WatchBarFeed", "bar_from_row"]
