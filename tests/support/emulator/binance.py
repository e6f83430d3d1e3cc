"""A Binance spot emulator on 127.0.0.1, serving real bars to the real ccxt client.

Public market data: ``GET /api/v3/exchangeInfo`` (PRICE_FILTER, LOT_SIZE,
NOTIONAL filters as Binance sends them), ``GET /api/v3/time`` (a simulated clock)
and ``GET /api/v3/klines`` (Binance's startTime/endTime/limit rules, with the
still-open bar last and partial, as Binance does). Signed trading endpoints
(orders, trades, account) are in :mod:`.binance_trading`, kline websocket streams
in :mod:`.binance_ws`. Move the clock with :meth:`BinanceEmulator.advance_to` /
:meth:`BinanceEmulator.step_bar` to match resting orders and publish klines.

Layout, so signed trading endpoints and a websocket can be added later:

- :class:`BinanceState` holds everything the exchange knows (clock, markets and
  their bars; later balances, orders, trades) behind one lock;
- :class:`BinanceEmulator` maps HTTP routes to methods; new endpoints are one
  method plus one line in :meth:`BinanceEmulator.register_routes`;
- faults and the request log come from :class:`~emulator.server.EmulatorServer`.

>>> with BinanceEmulator(["BTC/USDT"]) as emu:          # doctest: +SKIP
...     settings = ExchangeSettings(id="binance", api_url=emu.base_url)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from aiohttp import web

from .binance_routes import TradingRoutes
from .binance_trading import Account, TradingDesk
from .binance_ws import KlineStreams
from .server import EmulatorServer

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_DIR = REPO_ROOT / "datasets" / "sample" / "binance"

INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000,
               "4h": 14_400_000, "1d": 86_400_000}
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
OHLCV_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """The exchangeInfo filters of one symbol, as Binance publishes them."""

    tick_size: str = "0.01"
    step_size: str = "0.00001"
    min_qty: str = "0.00001"
    min_notional: str = "5.00000000"
    base_precision: int = 8
    quote_precision: int = 8


# Values as Binance spot reported them for these pairs; others get SymbolRules().
KNOWN_RULES: Mapping[str, SymbolRules] = {
    "BTC/USDT": SymbolRules("0.01", "0.00001", "0.00001", "5.00000000"),
    "ETH/USDT": SymbolRules("0.01", "0.0001", "0.0001", "5.00000000"),
    "SOL/USDT": SymbolRules("0.01", "0.001", "0.001", "5.00000000"),
    "XRP/USDT": SymbolRules("0.0001", "0.1", "0.1", "5.00000000"),
    "ADA/USDT": SymbolRules("0.0001", "0.1", "0.1", "5.00000000"),
}


def sample_bars_path(symbol: str, timeframe: str = "1h") -> Path:
    """The bundled sample file for ``symbol`` (``datasets/sample/binance`` in the repository)."""
    base, quote = symbol.split("/")
    bundled = SAMPLE_DIR / f"{base}-{quote}_{timeframe}.parquet"
    if bundled.exists():
        return bundled
    raise FileNotFoundError(
        f"no {timeframe} bars for {symbol}: expected {bundled}; "
        "pass bars= to BinanceEmulator to serve your own frame"
    )


def load_sample_bars(symbol: str, timeframe: str = "1h") -> pd.DataFrame:
    """Bars (ts int64 ms open, open, high, low, close, volume float64) sorted by ts."""
    frame = pd.read_parquet(sample_bars_path(symbol, timeframe))
    return normalize_bars(frame)


def normalize_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce a bar frame to the emulator's columns, accepting a datetime ``ts``/index."""
    if "ts" not in frame.columns:
        for name in ("timestamp", "date", "datetime", "open_time"):
            if name in frame.columns:
                frame = frame.rename(columns={name: "ts"})
                break
        else:
            frame = frame.reset_index().rename(columns={frame.index.name or "index": "ts"})
    ts = frame["ts"]
    if pd.api.types.is_datetime64_any_dtype(ts):
        ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts
        frame = frame.assign(ts=ts.astype("datetime64[ms, UTC]").astype("int64"))
    out = frame[OHLCV_COLUMNS].astype({"ts": "int64", "open": "float64", "high": "float64",
                                        "low": "float64", "close": "float64",
                                        "volume": "float64"})
    return out.sort_values("ts").drop_duplicates("ts").reset_index(drop=True)


def _num(value: float) -> str:
    """Shortest decimal text that parses back to exactly ``value`` (Binance sends strings)."""
    return np.format_float_positional(value, unique=True, trim="-")


@dataclass
class _Market:
    symbol: str
    market_id: str
    rules: SymbolRules
    timeframe: str
    bars: pd.DataFrame
    ts: np.ndarray
    values: np.ndarray  # open, high, low, close, volume as float64 rows


class BinanceState:
    """What the emulated exchange knows. Every access goes through ``lock``.

    ``now_ms`` is the exchange's clock: ``/api/v3/time`` reports it and klines never
    show a bar that opens after it; the bar containing it is served partial.
    """

    def __init__(self, markets: Iterable[_Market], now_ms: int) -> None:
        self.lock = threading.RLock()
        self.markets: dict[str, _Market] = {m.market_id: m for m in markets}
        self._now_ms = int(now_ms)

    @property
    def now_ms(self) -> int:
        with self.lock:
            return self._now_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        with self.lock:
            self._now_ms = int(value)


class BinanceEmulator(EmulatorServer):
    """Binance spot on 127.0.0.1: point ccxt at it with ``api_url=emu.base_url``.

    ``symbols`` are unified names (``'BTC/USDT'``); their bars come from
    ``bars[symbol]`` if given, else the sample data (see :func:`sample_bars_path`).
    ``now_ms`` defaults to the middle of the last available bar, so that bar is
    the open one.
    """

    def __init__(self, symbols: Iterable[str] = ("BTC/USDT", "ETH/USDT"), *,
                 timeframe: str = "1h", bars: Mapping[str, pd.DataFrame] | None = None,
                 rules: Mapping[str, SymbolRules] | None = None,
                 now_ms: int | None = None) -> None:
        super().__init__()
        if timeframe not in INTERVAL_MS:
            raise ValueError(f"timeframe {timeframe!r}: use one of {sorted(INTERVAL_MS)}")
        bars = dict(bars or {})
        rules = {**KNOWN_RULES, **(rules or {})}
        markets = []
        for symbol in symbols:
            frame = normalize_bars(bars[symbol]) if symbol in bars else load_sample_bars(
                symbol, timeframe)
            markets.append(_Market(symbol, symbol.replace("/", ""),
                                   rules.get(symbol, SymbolRules()), timeframe, frame,
                                   frame["ts"].to_numpy(),
                                   frame[OHLCV_COLUMNS[1:]].to_numpy("float64")))
        if not markets:
            raise ValueError("BinanceEmulator needs at least one symbol")
        self.timeframe = timeframe
        self.tf_ms = INTERVAL_MS[timeframe]
        if now_ms is None:
            now_ms = max(int(m.ts[-1]) for m in markets) + self.tf_ms // 2
        self.state = BinanceState(markets, now_ms)
        self.trading = TradingDesk(self.state, self.tf_ms)
        self.streams = KlineStreams(self)

    # -- trading and streams ---------------------------------------------------------
    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>/stream``: pass as ``ExchangeSettings.ws_url`` (see binance_ws)."""
        return f"{self.ws_base_url}/stream"

    def add_account(self, api_key: str, secret: str,
                    balances: Mapping[str, float] | None = None) -> Account:
        """An account for ``api_key`` (default 10,000 USDT)."""
        return self.trading.add_account(api_key, secret, dict(balances or {"USDT": 10_000.0}))

    def advance_to(self, ts: int) -> None:
        """Move the clock to ``ts``: match resting orders on bars that closed, publish klines."""
        with self.state.lock:
            self.state.now_ms = max(int(ts), self.state.now_ms)
            self.trading.catch_up()
        self.streams.publish()

    def step_bar(self, n: int = 1) -> int:
        """Advance the clock by ``n`` bars; returns the new ``now_ms``."""
        self.advance_to(self.now_ms + n * self.tf_ms)
        return self.now_ms

    # -- conveniences for tests ----------------------------------------------------
    @property
    def now_ms(self) -> int:
        return self.state.now_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self.state.now_ms = value

    def bars(self, symbol: str) -> pd.DataFrame:
        """The full source bars of ``symbol`` (including ones after the clock)."""
        return self.state.markets[symbol.replace("/", "")].bars.copy()

    def closed_bars(self, symbol: str, start: int | None = None,
                    end: int | None = None) -> pd.DataFrame:
        """Bars closed at the current clock with ``start <= ts < end`` (what ingest must store)."""
        frame = self.bars(symbol)
        mask = frame["ts"] + self.tf_ms <= self.now_ms
        if start is not None:
            mask &= frame["ts"] >= start
        if end is not None:
            mask &= frame["ts"] < end
        return frame[mask].reset_index(drop=True)

    # -- routes --------------------------------------------------------------------
    def register_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v3/ping", self.ping)
        app.router.add_get("/api/v3/time", self.time)
        app.router.add_get("/api/v3/exchangeInfo", self.exchange_info)
        app.router.add_get("/api/v3/klines", self.klines)
        app.router.add_post("/_emu/advance", self.advance)
        TradingRoutes(self.trading).register(app)
        self.streams.register(app)

    @staticmethod
    def error(code: int, msg: str, status: int = 400) -> web.Response:
        """A Binance error body, e.g. ``{"code": -1121, "msg": "Invalid symbol."}``."""
        return web.json_response({"code": code, "msg": msg}, status=status)

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def advance(self, request: web.Request) -> web.Response:
        """Test control (not Binance): ``POST /_emu/advance?ts=MS`` is ``advance_to(ts)``,
        for a runner in another process whose manual clock drives this one."""
        await asyncio.to_thread(self.advance_to, int(request.query["ts"]))
        return web.json_response({"serverTime": self.state.now_ms})

    async def time(self, request: web.Request) -> web.Response:
        with self.state.lock:
            return web.json_response({"serverTime": self.trading.served_time()})

    async def exchange_info(self, request: web.Request) -> web.Response:
        with self.state.lock:
            symbols = [self._symbol_info(m) for m in self.state.markets.values()]
            now = self.state.now_ms
        return web.json_response({
            "timezone": "UTC",
            "serverTime": now,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                 "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        })

    @staticmethod
    def _symbol_info(market: _Market) -> dict:
        base, quote = market.symbol.split("/")
        r = market.rules
        return {
            "symbol": market.market_id,
            "status": "TRADING",
            "baseAsset": base,
            "baseAssetPrecision": r.base_precision,
            "quoteAsset": quote,
            "quotePrecision": r.quote_precision,
            "quoteAssetPrecision": r.quote_precision,
            "baseCommissionPrecision": r.base_precision,
            "quoteCommissionPrecision": r.quote_precision,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT",
                           "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": r.tick_size,
                 "maxPrice": "1000000.00000000", "tickSize": r.tick_size},
                {"filterType": "LOT_SIZE", "minQty": r.min_qty, "maxQty": "9000.00000000",
                 "stepSize": r.step_size},
                {"filterType": "NOTIONAL", "minNotional": r.min_notional,
                 "applyMinToMarket": True, "maxNotional": "9000000.00000000",
                 "applyMaxToMarket": False, "avgPriceMins": 5},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    async def klines(self, request: web.Request) -> web.Response:
        """Binance rules: startTime picks the first bars from it, endTime alone the last
        bars up to it, neither the latest bars; ``limit`` 1..1000, default 500."""
        q = request.query
        market = self.state.markets.get(q.get("symbol", ""))
        if market is None:
            return self.error(-1121, "Invalid symbol.")
        if q.get("interval") != market.timeframe:
            return self.error(-1120, f"Invalid interval; this emulator serves "
                                     f"{market.timeframe} for {market.symbol}.")
        try:
            limit = int(q.get("limit", DEFAULT_LIMIT))
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
        except ValueError:
            return self.error(-1100, "Illegal characters found in a parameter.")
        if not 1 <= limit <= MAX_LIMIT:
            return self.error(-1130, f"Illegal characters found in parameter 'limit'; "
                                     f"legal range is '{MAX_LIMIT}'.")
        now = self.state.now_ms
        tf = INTERVAL_MS[market.timeframe]
        ts = market.ts
        visible_end = int(np.searchsorted(ts, now, side="right"))  # bars opened by now
        if end is not None:
            visible_end = min(visible_end, int(np.searchsorted(ts, end, side="right")))
        if start is not None:
            lo = int(np.searchsorted(ts, start, side="left"))
            hi = min(visible_end, lo + limit)
        else:
            hi = visible_end
            lo = max(0, hi - limit)
        rows = [self._kline(market, i, tf, now) for i in range(lo, max(lo, hi))]
        return web.json_response(rows)

    @staticmethod
    def _kline(market: _Market, i: int, tf: int, now: int) -> list:
        t = int(market.ts[i])
        o, h, lo, c, v = (float(x) for x in market.values[i])
        if t + tf > now:  # still open: what has traded so far
            frac = (now - t) / tf
            c = o + (c - o) * frac
            h, lo, v = max(o, c), min(o, c), v * frac
        return [t, _num(o), _num(h), _num(lo), _num(c), _num(v), t + tf - 1,
                _num(v * c), 1000, _num(v / 2), _num(v * c / 2), "0"]
