"""The OKX spot emulator: a loopback server plus the controls a test needs.

>>> with OkxSpotEmulator(["BTC/USDT"]) as emu:
...     acct = emu.add_account("key", "secret", "pass", {"USDT": "1000"})
...     emu.set_book("BTC/USDT", bids=[("29990", "1")], asks=[("30000", "1")])
...     emu.ccxt_config("key", "secret", "pass")["urls"]["api"]["rest"] == emu.api_url
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web

from venues.common.bars import Bars, price_path, sample_bars
from venues.common.book import Book, Level
from venues.common.money import Decimal, Number, dec
from venues.common.server import LoopbackServer
from venues.common.urls import ccxt_urls
from venues.common.wallet import Wallet
from venues.okx_spot.engine import Account, Engine
from venues.okx_spot.rest import OkxLimiter, OkxRest
from venues.okx_spot.rules import DEFAULT_INSTRUMENTS, Instrument
from venues.okx_spot.ws import PrivateStreamHub

#: ccxt timeframe -> milliseconds (the replayed bars' timeframe; candles serve only it).
TIMEFRAMES_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000,
                 "4h": 14_400_000, "1d": 86_400_000}


class OkxSpotEmulator(LoopbackServer):
    """OKX spot on 127.0.0.1 for the real ccxt client (see the package docstring).

    Real bars come from the Binance sample files (the bundle has no OKX history); the
    same replayed prices drive both venues' books.
    """

    def __init__(self, symbols: Iterable[str] = ("BTC/USDT",), *,
                 instruments: Mapping[str, Instrument] | None = None,
                 bars: Mapping[str, Bars] | None = None, start_bar: int = 100,
                 levels: int = 5, level_qty: Number = "1", timeframe: str = "1h") -> None:
        super().__init__()
        self.clock_offset_ms = 0
        self.timeframe, self.tf_ms = timeframe, TIMEFRAMES_MS[timeframe]
        self.levels, self.level_qty = levels, dec(level_qty)
        self.engine = Engine(self.now_ms, self._sink)
        self.private_stream = PrivateStreamHub(self)
        self.limiter = OkxLimiter()
        self.bars: dict[str, Bars] = {}
        self.bar_index: dict[str, int] = {}
        known = {**DEFAULT_INSTRUMENTS, **(instruments or {})}
        for symbol in symbols:
            inst = known.get(symbol) or Instrument(symbol)
            self.engine.instruments[inst.inst_id] = inst
            self.bars[inst.inst_id] = (bars or {}).get(symbol) or sample_bars(symbol)
            self.bar_index[inst.inst_id] = start_bar
            self.set_price(symbol, self.bars[inst.inst_id].row(start_bar)[0])

    def now_ms(self) -> int:
        """Exchange clock: wall time plus ``clock_offset_ms`` (stale signatures: 50102)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    @property
    def api_url(self) -> str:
        return self.http_url

    @property
    def ws_url(self) -> str:
        """Websocket base: ccxt's ``wss://ws.okx.com:443/ws/v5`` becomes ``<this>/ws/v5``."""
        return f"ws://127.0.0.1:{self.port}"

    def ccxt_options(self) -> dict[str, Any]:
        """Spot markets only (one GET /api/v5/public/instruments in ``load_markets``)."""
        return {"fetchMarkets": {"types": ["spot"]}}

    def ccxt_config(self, api_key: str | None = None, secret: str | None = None,
                    password: str | None = None, **extra: Any) -> dict[str, Any]:
        """Constructor config for ``ccxt.okx`` / ``ccxt.pro.okx`` pointed here;
        ``has.fetchCurrencies`` off (it is a private call in ``load_markets``)."""
        config: dict[str, Any] = {"urls": ccxt_urls("okx", self.api_url, self.ws_url),
                                  "options": self.ccxt_options(),
                                  "has": {"fetchCurrencies": False}, **extra}
        if api_key is not None:
            config.update(apiKey=api_key, secret=secret, password=password)
        return config

    # -- accounts ----------------------------------------------------------------------
    def add_account(self, api_key: str, secret: str, passphrase: str,
                    balances: Mapping[str, Number] | None = None, *,
                    maker: Number = "0.0008", taker: Number = "0.001") -> Account:
        with self.engine.lock:
            account = Account(api_key, secret, passphrase, Wallet(balances), dec(maker),
                              dec(taker))
            self.engine.accounts[api_key] = account
            return account

    def set_balance(self, api_key: str, ccy: str, free: Number, locked: Number = 0) -> None:
        with self.engine.lock:
            self.engine.accounts[api_key].wallet.set(ccy, dec(free), dec(locked))

    # -- the market --------------------------------------------------------------------
    def _inst_id(self, symbol: str) -> str:
        return symbol.replace("/", "-")

    def set_instrument(self, symbol: str, **changes: Any) -> Instrument:
        """Change tickSz/lotSz/minSz... (the venue changing its rules mid-session)."""
        with self.engine.lock:
            inst_id = self._inst_id(symbol)
            self.engine.instruments[inst_id] = self.engine.instrument(inst_id).with_(**changes)
            return self.engine.instruments[inst_id]

    def set_book(self, symbol: str, *, bids: Sequence[tuple[Number, Number] | Level] = (),
                 asks: Sequence[tuple[Number, Number] | Level] = ()) -> None:
        self.engine.set_book(self._inst_id(symbol), Book(bids, asks))

    def set_price(self, symbol: str, price: Number) -> None:
        inst = self.engine.instrument(self._inst_id(symbol))
        self.engine.set_book(inst.inst_id, Book.around(dec(price), tick=inst.tick_sz,
                                                       levels=self.levels, qty=self.level_qty))

    def step_bar(self, symbol: str, n: int = 1) -> list[Decimal]:
        """Walk the price through the next ``n`` real bars; returns the prices visited."""
        inst_id, visited = self._inst_id(symbol), []
        for _ in range(n):
            index = self.bar_index[inst_id]
            tick = self.engine.instrument(inst_id).tick_sz
            for price in price_path(self.bars[inst_id].row(index), tick=tick):
                self.set_price(symbol, price)
                visited.append(price)
            self.bar_index[inst_id] = index + 1
        return visited

    def set_rate_limits(self, limits: dict[str, int], *, default: int = 60,
                        clock: Callable[[], float] = time.time) -> OkxLimiter:
        """Requests per 2 s per endpoint path (fixed ``clock`` for deterministic tests)."""
        self.limiter = OkxLimiter(limits, default, clock)
        return self.limiter

    # -- server ------------------------------------------------------------------------
    def register_routes(self, app: web.Application) -> None:
        OkxRest(self).register(app)
        self.private_stream.register(app)

    def _sink(self, api_key: str, order: dict[str, Any]) -> None:
        self.private_stream.publish(api_key, order)
