"""The Binance spot emulator: a loopback server plus the controls a test needs.

>>> with BinanceSpotEmulator(["BTC/USDT"]) as emu:
...     acct = emu.add_account("key", "secret", {"USDT": "1000"})
...     emu.set_book("BTC/USDT", bids=[("29990", "1")], asks=[("30000", "1")])
...     emu.api_url.startswith("http://127.0.0.1:"), emu.ws_url.endswith("/stream")
(True, True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from venues.binance_spot.account import Account, FeeSettings
from venues.binance_spot.engine import Engine
from venues.binance_spot.limits import WeightLimiter, route_weight
from venues.binance_spot.rest import BinanceRest
from venues.binance_spot.rules import DEFAULT_RULES, SymbolRules
from venues.binance_spot.ws import UserStreamHub
from venues.common.bars import Bars, price_path, sample_bars
from venues.common.book import Book, Level
from venues.common.money import Decimal, Number, dec
from venues.common.server import Handler, LoopbackServer
from venues.common.urls import ccxt_urls
from venues.common.wallet import Wallet

TIMEFRAMES_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000,
                 "4h": 14_400_000, "1d": 86_400_000}


@dataclass(frozen=True, slots=True)
class BookShape:
    """How :meth:`BinanceSpotEmulator.set_price` lays out other traders' liquidity:
    ``levels`` a side, ``qty`` each, ``spacing_ticks`` ticks apart, best ask at the
    price and best bid one spacing below."""

    levels: int = 5
    qty: Decimal = Decimal("1")
    spacing_ticks: int = 1


class BinanceSpotEmulator(LoopbackServer):
    """Binance spot on 127.0.0.1 for the real ccxt client (see the package docstring)."""

    def __init__(self, symbols: Iterable[str] = ("BTC/USDT",), *,
                 rules: Mapping[str, SymbolRules] | None = None,
                 bars: Mapping[str, Bars] | None = None, timeframe: str = "1h",
                 start_bar: int = 100, shape: BookShape = BookShape(),
                 weight_limit: int = 6000, ban_after: int = 2) -> None:
        super().__init__()
        self.clock_offset_ms = 0
        self.timeframe, self.tf_ms = timeframe, TIMEFRAMES_MS[timeframe]
        self.shape = shape
        self.engine = Engine(self.now_ms, self._sink)
        self.user_stream = UserStreamHub(self)
        self.limiter = WeightLimiter(limit=weight_limit, ban_after=ban_after)
        self.bars: dict[str, Bars] = {}
        self.bar_index: dict[str, int] = {}
        self.book_update_id = 1
        all_rules = {**DEFAULT_RULES, **(rules or {})}
        for symbol in symbols:
            rule = all_rules.get(symbol) or SymbolRules(symbol)
            self.engine.rules[rule.market_id] = rule
            self.bars[rule.market_id] = (bars or {}).get(symbol) or sample_bars(symbol)
            self.bar_index[rule.market_id] = start_bar
            self.set_price(symbol, self.bars[rule.market_id].row(start_bar)[0])

    # -- clocks ------------------------------------------------------------------------
    def now_ms(self) -> int:
        """The exchange clock: wall time plus ``clock_offset_ms`` (set it to make a
        client's signed timestamps stale: -1021)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    # -- addresses for clients ---------------------------------------------------------
    @property
    def api_url(self) -> str:
        """REST base: tradeloom's ``ExchangeSettings.api_url``."""
        return self.http_url

    @property
    def ws_url(self) -> str:
        """Websocket base: tradeloom's ``ExchangeSettings.ws_url``; ``/stream`` in it
        makes ccxt.pro treat the rewritten spot stream URL as spot (``is_spot_url``)."""
        return f"ws://127.0.0.1:{self.port}/stream"

    def ccxt_options(self) -> dict[str, Any]:
        """Options that keep ``load_markets`` to one request (GET exchangeInfo)."""
        return {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                "fetchMargins": False, "warnOnFetchOpenOrdersWithoutSymbol": False}

    def ccxt_config(self, api_key: str | None = None, secret: str | None = None,
                    **extra: Any) -> dict[str, Any]:
        """Constructor config for ``ccxt.binance`` / ``ccxt.pro.binance`` pointed here."""
        config: dict[str, Any] = {"urls": ccxt_urls("binance", self.api_url, self.ws_url),
                                  "options": self.ccxt_options(), **extra}
        if api_key is not None:
            config.update(apiKey=api_key, secret=secret)
        return config

    # -- accounts ----------------------------------------------------------------------
    def add_account(self, api_key: str, secret: str,
                    balances: Mapping[str, Number] | None = None,
                    fees: FeeSettings | None = None) -> Account:
        with self.engine.lock:
            account = Account(api_key, secret, Wallet(balances), fees or FeeSettings(),
                              uid=len(self.engine.accounts) + 1)
            self.engine.accounts[api_key] = account
            return account

    def account(self, api_key: str) -> Account:
        return self.engine.accounts[api_key]

    def set_balance(self, api_key: str, asset: str, free: Number, locked: Number = 0) -> None:
        with self.engine.lock:
            self.account(api_key).wallet.set(asset, dec(free), dec(locked))

    def set_fees(self, api_key: str, **changes: Any) -> None:
        """Change fee settings, e.g. ``set_fees(key, bnb_enabled=True)``."""
        with self.engine.lock:
            account = self.account(api_key)
            values = {k: v if isinstance(v, bool) else dec(v) for k, v in changes.items()}
            account.fees = replace(account.fees, **values)

    def set_bnb_price(self, price: Number, quote: str = "USDT") -> None:
        """The BNB exchange rate (price of 1 BNB in ``quote``) for BNB fee payment."""
        with self.engine.lock:
            self.engine.bnb_prices[quote] = dec(price)

    # -- the market ----------------------------------------------------------------------
    def _mid(self, symbol: str) -> str:
        return symbol.replace("/", "")

    def set_rules(self, symbol: str, **changes: Any) -> SymbolRules:
        """Change a symbol's filters (a venue changing tick/lot sizes mid-session)."""
        with self.engine.lock:
            mid = self._mid(symbol)
            self.engine.rules[mid] = self.engine.symbol(mid).with_(**changes)
            return self.engine.rules[mid]

    def set_book(self, symbol: str, *, bids: Sequence[tuple[Number, Number] | Level] = (),
                 asks: Sequence[tuple[Number, Number] | Level] = ()) -> None:
        """Replace other traders' orders; resting orders the new book crosses fill."""
        self._install(symbol, Book(bids, asks))

    def set_price(self, symbol: str, price: Number) -> None:
        """Move the market to ``price``: a fresh book of :class:`BookShape` around it."""
        rules = self.engine.symbol(self._mid(symbol))
        self._install(symbol, Book.around(dec(price), tick=rules.tick_size,
                                          levels=self.shape.levels, qty=self.shape.qty,
                                          spacing_ticks=self.shape.spacing_ticks))

    def _install(self, symbol: str, book: Book) -> None:
        with self.engine.lock:
            self.engine.set_book(self._mid(symbol), book)
            self.book_update_id += 1

    def step_bar(self, symbol: str, n: int = 1) -> list[Decimal]:
        """Walk the price through the next ``n`` real bars (open, extremes, close);
        returns the prices visited."""
        mid = self._mid(symbol)
        visited: list[Decimal] = []
        for _ in range(n):
            index = self.bar_index[mid]
            if index + 1 >= len(self.bars[mid]):
                raise IndexError(f"{symbol}: no bar after index {index} in the sample data")
            tick = self.engine.symbol(mid).tick_size
            for price in price_path(self.bars[mid].row(index), tick=tick):
                self.set_price(symbol, price)
                visited.append(price)
            self.bar_index[mid] = index + 1
        return visited

    def set_weight_limit(self, limit: int, *, ban_after: int = 2,
                         clock: Callable[[], float] = time.time) -> WeightLimiter:
        """A fresh REQUEST_WEIGHT budget per minute (and ban escalation); pass a fixed
        ``clock`` (seconds) for windows that only move with ``limiter.elapse``."""
        self.limiter = WeightLimiter(limit=limit, ban_after=ban_after, clock=clock)
        return self.limiter

    # -- server ------------------------------------------------------------------------
    def register_routes(self, app: web.Application) -> None:
        BinanceRest(self).register(app)
        self.user_stream.register(app)

    async def venue_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        verdict = self.limiter.charge(route_weight(request.method, request.path,
                                                   dict(request.query)))
        headers = {"X-MBX-USED-WEIGHT-1M": str(verdict.used)}
        if verdict.status != 200:
            headers["Retry-After"] = str(verdict.retry_after_s)
            return web.json_response(verdict.body(), status=verdict.status, headers=headers)
        response = await handler(request)
        response.headers.update(headers)
        return response

    def _sink(self, api_key: str, event: dict[str, Any]) -> None:
        self.user_stream.publish(api_key, event)
