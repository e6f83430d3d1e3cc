"""The Binance USDⓈ-M emulator: a loopback server plus the controls a test needs.

Two clocks: the *venue clock* (``now_ms``; set by :meth:`BinanceUsdmEmulator.set_time`
and :meth:`~BinanceUsdmEmulator.step_bar`) stamps orders, trades, funding and
``/fapi/v1/time``; signed requests' ``timestamp``/``recvWindow`` are checked against
the wall clock plus ``clock_offset_ms`` (``request_clock_ms``), so the real ccxt
client (which signs with its own wall-clock time) works while a test replays 2023.

>>> with BinanceUsdmEmulator(["BTC/USDT:USDT"], start_ms=1_700_000_000_000) as emu:
...     _ = emu.add_account("key", "secret", {"USDT": "1000"})
...     emu.set_price("BTC/USDT:USDT", "30000")
...     emu.api_url.startswith("http://127.0.0.1:"), emu.now_ms()
(True, 1700000000000)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from venues.binance_usdm.account import FuturesAccount
from venues.binance_usdm.engine import Engine
from venues.binance_usdm.limits import (
    REQUEST_WEIGHT_LIMIT,
    WeightLimiter,
    route_weight,
    usdm_verdict,
)
from venues.binance_usdm.market import (
    FUNDING_INTERVAL_MS,
    TIMEFRAMES_MS,
    Kline,
    MarketState,
    funding_times_between,
)
from venues.binance_usdm.rest import UsdmRest
from venues.binance_usdm.rules import ContractRules, rules_for
from venues.binance_usdm.ws import UsdmUserStream
from venues.common.bars import price_path
from venues.common.book import Book
from venues.common.money import Decimal, Number, dec
from venues.common.server import Handler, LoopbackServer
from venues.common.urls import ccxt_urls

#: 2023-11-14 22:13:20 UTC: a fixed default start, so runs are reproducible
DEFAULT_START_MS = 1_700_000_000_000

Bar = tuple[int, Number, Number, Number, Number, Number]


@dataclass(frozen=True, slots=True)
class BookShape:
    """How :meth:`BinanceUsdmEmulator.set_price` lays out other traders' liquidity:
    best ask at the price, best bid one tick below, ``levels`` of ``qty`` a side."""

    levels: int = 5
    qty: Decimal = Decimal("10")
    spacing_ticks: int = 1


class BinanceUsdmEmulator(LoopbackServer):
    """Binance USDⓈ-M perpetuals on 127.0.0.1 for the real ccxt client."""

    def __init__(self, symbols: Iterable[str] = ("BTC/USDT:USDT",), *,
                 rules: Mapping[str, ContractRules] | None = None, timeframe: str = "1h",
                 start_ms: int = DEFAULT_START_MS, shape: BookShape = BookShape()) -> None:
        super().__init__()
        if timeframe not in TIMEFRAMES_MS:
            raise ValueError(f"timeframe {timeframe!r} is not one of {sorted(TIMEFRAMES_MS)}")
        self.timeframe, self.tf_ms = timeframe, TIMEFRAMES_MS[timeframe]
        self.clock_offset_ms = 0
        self._now = start_ms
        self._clock_set = False
        self.shape = shape
        self.book_update_id = 1
        self.user_stream = UsdmUserStream(self)
        self.limiter = WeightLimiter(limit=REQUEST_WEIGHT_LIMIT)
        self.engine = Engine(self.now_ms, self._sink)
        for symbol in symbols:
            rule = (rules or {}).get(symbol) or rules_for(symbol)
            self.engine.rules[rule.market_id] = rule
            self.engine.markets[rule.market_id] = MarketState(rule.market_id)
            self.engine.books[rule.market_id] = Book()

    # -- clocks ------------------------------------------------------------------------
    def now_ms(self) -> int:
        """The venue clock (server time)."""
        return self._now

    def request_clock_ms(self) -> int:
        """What signed request timestamps are checked against (-1021 outside it)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def set_time(self, ts_ms: int) -> None:
        """Move the venue clock to ``ts_ms``; every funding time crossed (``now <
        t <= ts_ms``) settles at the mark price current then. The first move may go
        anywhere (the clock starts at an arbitrary fixed instant); later ones only
        forward."""
        with self.engine.lock:
            self._advance(ts_ms, settle_last=True)

    def _advance(self, ts_ms: int, *, settle_last: bool) -> None:
        if not self._clock_set:
            self._clock_set = True
            self._now = ts_ms
            if settle_last and ts_ms % FUNDING_INTERVAL_MS == 0:
                self._settle(ts_ms)
            return
        if ts_ms < self._now:
            raise ValueError(f"the venue clock cannot go back from {self._now} to {ts_ms}")
        for funding_time in funding_times_between(self._now, ts_ms):
            self._now = funding_time
            if funding_time < ts_ms or settle_last:
                self._settle(funding_time)
        self._now = ts_ms

    def _settle(self, funding_time: int) -> None:
        for market_id in self.engine.markets:
            self.engine.settle_funding(market_id, funding_time)

    # -- addresses for clients ---------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.http_url

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def ccxt_options(self) -> dict[str, Any]:
        """Options that keep ccxt binanceusdm on this server (NOTES.md)."""
        return {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False,
                "fetchMargins": False, "warnOnFetchOpenOrdersWithoutSymbol": False}

    @staticmethod
    def ccxt_exceptions() -> dict[str, Any]:
        """ccxt's USDⓈ-M error table lifted to the top level.

        ccxt 4.5.90 ``binance.get_exceptions_by_url`` picks ``exceptions['linear']``
        only for URLs starting ``https://fapi.binance.com/``; on any other host a
        futures code (-2019, -2022, -4164, ...) falls through to a plain
        ``ExchangeError``. Passing this as ``config['exceptions']`` makes a client on
        the emulator raise what it raises against the venue (NOTES.md)."""
        import ccxt

        linear = ccxt.binanceusdm().exceptions["linear"]
        return {"exact": dict(linear.get("exact", {})), "broad": dict(linear.get("broad", {}))}

    def ccxt_config(self, api_key: str | None = None, secret: str | None = None,
                    **extra: Any) -> dict[str, Any]:
        """Constructor config for ``ccxt.binanceusdm`` / ``ccxt.pro.binanceusdm``:
        URLs, :meth:`ccxt_options`, no currencies call, and :meth:`ccxt_exceptions`."""
        config: dict[str, Any] = {"urls": ccxt_urls("binanceusdm", self.api_url, self.ws_url),
                                  "options": self.ccxt_options(),
                                  "has": {"fetchCurrencies": False},
                                  "exceptions": self.ccxt_exceptions(), **extra}
        if api_key is not None:
            config.update(apiKey=api_key, secret=secret)
        return config

    # -- accounts ----------------------------------------------------------------------
    def add_account(self, api_key: str, secret: str,
                    balances: Mapping[str, Number] | None = None) -> FuturesAccount:
        with self.engine.lock:
            account = FuturesAccount(api_key, secret, uid=len(self.engine.accounts) + 1)
            for asset, amount in (balances or {}).items():
                account.deposit(asset, dec(amount), time=self._now)
            self.engine.accounts[api_key] = account
            return account

    def account(self, api_key: str) -> FuturesAccount:
        return self.engine.accounts[api_key]

    # -- the market --------------------------------------------------------------------
    def _mid(self, symbol: str) -> str:
        for market_id, rule in self.engine.rules.items():
            if symbol in (rule.symbol, market_id):
                return market_id
        raise KeyError(f"{symbol!r} is not served by this emulator "
                       f"({sorted(r.symbol for r in self.engine.rules.values())})")

    def set_price(self, symbol: str, price: Number, *, mark: Number | None = None) -> None:
        """Last price ``price`` (a fresh book around it) and mark ``mark`` (default:
        the same); resting orders reached fill, liquidations run."""
        market_id = self._mid(symbol)
        with self.engine.lock:
            last = dec(price)
            rule = self.engine.rules[market_id]
            book = Book.around(last, tick=rule.tick_size, levels=self.shape.levels,
                               qty=self.shape.qty, spacing_ticks=self.shape.spacing_ticks)
            self.engine.markets[market_id].mark = dec(mark) if mark is not None else last
            self.engine.set_book(market_id, book, last)
            self.book_update_id += 1

    def set_book(self, symbol: str, *, bids: Sequence[tuple[Number, Number]] = (),
                 asks: Sequence[tuple[Number, Number]] = ()) -> None:
        """Replace other traders' book; the last price becomes the best ask (and the
        mark too while no mark has been set)."""
        market_id = self._mid(symbol)
        with self.engine.lock:
            book = Book(bids, asks)
            last = book.asks[0].price if book.asks else book.bids[0].price
            market = self.engine.markets[market_id]
            if not market.mark:
                market.mark = last
            self.engine.set_book(market_id, book, last)
            self.book_update_id += 1

    def set_mark_price(self, symbol: str, mark: Number) -> None:
        """Move the mark price only (liquidation checks run)."""
        with self.engine.lock:
            self.engine.set_mark(self._mid(symbol), dec(mark))

    def set_funding_rates(self, symbol: str, rates: Iterable[tuple[int, Number]]) -> None:
        """The rate that settles at each funding time (ms, a multiple of 8 h)."""
        market = self.engine.markets[self._mid(symbol)]
        with self.engine.lock:
            for ts, rate in rates:
                if ts % (8 * 3_600_000):
                    raise ValueError(f"{ts} is not a funding time (00:00/08:00/16:00 UTC)")
                market.rates[int(ts)] = dec(rate)

    def step_bar(self, symbol: str, bar: Bar,
                 mark: tuple[Number, Number, Number, Number] | None = None) -> list[Decimal]:
        """Replay one bar ``(open time ms, o, h, l, c, volume)`` of last prices, with
        ``mark`` (o, h, l, c) or the mark equal to last. The clock moves to the open
        time, the prices move to the bar's open, then a funding time at the open
        settles (at the mark open: the mark at that instant); the prices walk the
        nearer extreme, the farther extreme and the close (resting orders fill,
        liquidations run), and the clock ends at the bar's close time (open + tf - 1),
        when the bar appears in klines/markPriceKlines. Returns the last prices."""
        market_id = self._mid(symbol)
        ts, o, h, low, c, v = bar
        row = (dec(o), dec(h), dec(low), dec(c), dec(v))
        mark_row = tuple(dec(x) for x in mark) if mark is not None else row[:4]
        tick = self.engine.rules[market_id].tick_size
        lasts = price_path(row, tick=tick)
        marks = price_path((*mark_row, Decimal(0)), tick=tick)
        with self.engine.lock:
            self._advance(int(ts), settle_last=False)
            self.set_price(symbol, lasts[0], mark=marks[0])
            if int(ts) % FUNDING_INTERVAL_MS == 0:
                self._settle(int(ts))
            for last, mark_price in zip(lasts[1:], marks[1:], strict=True):
                self.set_price(symbol, last, mark=mark_price)
            market = self.engine.markets[market_id]
            market.bars.append(Kline(int(ts), *row))
            market.mark_bars.append(Kline(int(ts), *mark_row, Decimal(0)))
            self._advance(int(ts) + self.tf_ms - 1, settle_last=True)
        return lasts

    # -- server ------------------------------------------------------------------------
    def register_routes(self, app: web.Application) -> None:
        UsdmRest(self).register(app)
        self.user_stream.register(app)

    def set_weight_limit(self, limit: int, *, ban_after: int = 2,
                         clock: Callable[[], float] = time.time) -> WeightLimiter:
        """A fresh REQUEST_WEIGHT budget per minute (limits.py); pass a fixed ``clock``
        (seconds) for windows that only move with ``limiter.elapse``."""
        self.limiter = WeightLimiter(limit=limit, ban_after=ban_after, clock=clock)
        return self.limiter

    async def venue_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Request weight (429/418, ``X-MBX-USED-WEIGHT-1M``) on ``/fapi``; listenKeys
        expire on every request too, as the venue's timer would."""
        with self.engine.lock:
            self.user_stream.expire_due()
        if not request.path.startswith("/fapi/"):
            return await handler(request)
        verdict = usdm_verdict(
            self.limiter.charge(route_weight(request.method, request.path,
                                             dict(request.query))),
            limit=self.limiter.limit)
        headers = {"X-MBX-USED-WEIGHT-1M": str(verdict.used)}
        if verdict.status != 200:
            headers["Retry-After"] = str(verdict.retry_after_s)
            return web.json_response(verdict.body(), status=verdict.status, headers=headers)
        response = await handler(request)
        response.headers.update(headers)
        return response

    def _sink(self, api_key: str, event: dict[str, Any]) -> None:
        self.user_stream.publish(api_key, event)
