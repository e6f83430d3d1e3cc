"""A Binance USD-M futures emulator on 127.0.0.1: perpetual market data for the real ccxt
client (``ExchangeSettings(id="binance", market_type="swap", api_url=emu.base_url)``).

Public endpoints, following Binance's USD-M futures documentation:

- ``GET /fapi/v1/time``, ``GET /fapi/v1/exchangeInfo`` (``contractType`` PERPETUAL,
  ``marginAsset``, PRICE_FILTER / LOT_SIZE / MIN_NOTIONAL filters);
- ``GET /fapi/v1/klines``, ``/fapi/v1/markPriceKlines`` (``symbol``),
  ``/fapi/v1/indexPriceKlines`` (``pair``): startTime/endTime/limit (default 500, max
  1500), the bar containing the clock served partial and last; mark and index
  candles have volume ``"0"``;
- ``GET /fapi/v1/fundingRate``: symbol, startTime, endTime, limit (default 100, max
  1000), ascending from startTime; rows ``fundingTime``/``fundingRate``/``markPrice``;
- ``GET /fapi/v1/aggTrades``: symbol, startTime/endTime (at most one hour apart),
  limit (default 500, max 1000); rows ``a p q f l T m``;
- ``GET /futures/data/openInterestHist``: symbol, period, limit (default 30, max
  500), startTime/endTime; rows ``sumOpenInterest``/``sumOpenInterestValue``/``timestamp``.

Data: real sample bars, mark bars and funding (``datasets/sample/binance/*-USDT-USDT_*``)
unless given; index candles default to the mark candles; trades are four per trade bar
(:mod:`.binance_trades`); open interest is a deterministic function of the period
start (see :func:`open_interest_at`). The clock (``now_ms``) hides everything after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from aiohttp import web

from .binance import INTERVAL_MS, SAMPLE_DIR, _num, normalize_bars
from .binance_trades import trades_between
from .server import EmulatorServer

INTERVALS = {**INTERVAL_MS, "30m": 1_800_000, "2h": 7_200_000, "6h": 21_600_000,
             "8h": 28_800_000, "12h": 43_200_000}
OI_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")


def sample_path(symbol: str, what: str) -> Path:
    """``BTC/USDT:USDT`` + ``5m`` -> ``datasets/sample/binance/BTC-USDT-USDT_5m.parquet``."""
    base, rest = symbol.split("/")
    quote, settle = rest.split(":")
    return SAMPLE_DIR / f"{base}-{quote}-{settle}_{what}.parquet"


def open_interest_at(ts: int) -> tuple[float, float]:
    """The emulator's open interest (contracts, quote value) for a period starting at ``ts``."""
    contracts = 80_000.0 + float(ts // 60_000 % 997) * 2.5
    return contracts, contracts * 100.0


@dataclass
class _Perp:
    symbol: str
    market_id: str
    timeframe: str
    bars: pd.DataFrame
    mark_timeframe: str
    mark: pd.DataFrame
    index: pd.DataFrame
    funding: pd.DataFrame


class BinanceFuturesEmulator(EmulatorServer):
    """Binance USD-M perpetuals on 127.0.0.1 (see the module docstring)."""

    def __init__(self, symbols: Iterable[str] = ("BTC/USDT:USDT", "ETH/USDT:USDT"), *,
                 timeframe: str = "5m", mark_timeframe: str = "8h",
                 bars: Mapping[str, pd.DataFrame] | None = None,
                 funding: Mapping[str, pd.DataFrame] | None = None,
                 now_ms: int | None = None) -> None:
        super().__init__()
        self.markets: dict[str, _Perp] = {}
        for symbol in symbols:
            frame = normalize_bars(bars[symbol] if bars and symbol in bars else pd.read_parquet(
                sample_path(symbol, timeframe)))
            mark = normalize_bars(pd.read_parquet(sample_path(symbol, f"mark-{mark_timeframe}")))
            rates = (funding[symbol] if funding and symbol in funding
                     else pd.read_parquet(sample_path(symbol, "funding")))
            market_id = symbol.split(":")[0].replace("/", "")
            self.markets[market_id] = _Perp(symbol, market_id, timeframe, frame, mark_timeframe,
                                            mark, mark.copy(), rates.reset_index(drop=True))
        self.tf_ms = INTERVALS[timeframe]
        last = max(int(m.bars["ts"].iloc[-1]) for m in self.markets.values())
        self.now_ms = now_ms if now_ms is not None else last + self.tf_ms // 2

    # -- conveniences for tests ----------------------------------------------------
    def market(self, symbol: str) -> _Perp:
        return self.markets[symbol.split(":")[0].replace("/", "")]

    def closed(self, frame: pd.DataFrame, tf_ms: int, start: int | None = None,
               end: int | None = None) -> pd.DataFrame:
        """Rows of a bar frame closed by the clock with ``start <= ts < end``."""
        mask = frame["ts"] + tf_ms <= self.now_ms
        if start is not None:
            mask &= frame["ts"] >= start
        if end is not None:
            mask &= frame["ts"] < end
        return frame[mask].reset_index(drop=True)

    # -- routes --------------------------------------------------------------------
    def register_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/fapi/v1/ping", self.ping)
        r.add_get("/fapi/v1/time", self.time)
        r.add_get("/fapi/v1/exchangeInfo", self.exchange_info)
        r.add_get("/fapi/v1/klines", self.klines)
        r.add_get("/fapi/v1/markPriceKlines", self.mark_klines)
        r.add_get("/fapi/v1/indexPriceKlines", self.index_klines)
        r.add_get("/fapi/v1/fundingRate", self.funding_rate)
        r.add_get("/fapi/v1/aggTrades", self.agg_trades)
        r.add_get("/futures/data/openInterestHist", self.open_interest_hist)

    @staticmethod
    def error(code: int, msg: str, status: int = 400) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status)

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self.now_ms})

    async def exchange_info(self, request: web.Request) -> web.Response:
        symbols = []
        for m in self.markets.values():
            base, quote = m.symbol.split(":")[0].split("/")
            symbols.append({
                "symbol": m.market_id, "pair": m.market_id, "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": 1569398400000,
                "status": "TRADING", "baseAsset": base, "quoteAsset": quote,
                "marginAsset": quote, "pricePrecision": 2, "quantityPrecision": 3,
                "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
                "triggerProtect": "0.0500", "liquidationFee": "0.012500",
                "marketTakeBound": "0.05",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764",
                     "tickSize": "0.10"},
                    {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000",
                     "stepSize": "0.001"},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120",
                     "stepSize": "0.001"},
                    {"filterType": "MIN_NOTIONAL", "notional": "100"},
                ],
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                               "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            })
        return web.json_response({"timezone": "UTC", "serverTime": self.now_ms,
                                  "rateLimits": [], "exchangeFilters": [], "assets": [],
                                  "symbols": symbols})

    # -- klines ----------------------------------------------------------------------
    def _find(self, request: web.Request, key: str = "symbol") -> _Perp | web.Response:
        market = self.markets.get(request.query.get(key, ""))
        if market is None:
            return self.error(-1121, "Invalid symbol.")
        return market

    async def klines(self, request: web.Request) -> web.Response:
        market = self._find(request)
        if isinstance(market, web.Response):
            return market
        return self._klines(request, market.bars, market.timeframe, zero_volume=False)

    async def mark_klines(self, request: web.Request) -> web.Response:
        market = self._find(request)
        if isinstance(market, web.Response):
            return market
        return self._klines(request, market.mark, market.mark_timeframe, zero_volume=True)

    async def index_klines(self, request: web.Request) -> web.Response:
        market = self._find(request, "pair")
        if isinstance(market, web.Response):
            return market
        return self._klines(request, market.index, market.mark_timeframe, zero_volume=True)

    def _klines(self, request: web.Request, frame: pd.DataFrame, timeframe: str, *,
                zero_volume: bool) -> web.Response:
        q = request.query
        if q.get("interval") != timeframe:
            return self.error(-1120, f"Invalid interval; this emulator serves {timeframe}.")
        try:
            limit = int(q.get("limit", 500))
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
        except ValueError:
            return self.error(-1100, "Illegal characters found in a parameter.")
        if not 1 <= limit <= 1500:
            return self.error(-1130, "Data sent for parameter 'limit' is not valid.")
        tf = INTERVALS[timeframe]
        ts = frame["ts"].to_numpy()
        values = frame[["open", "high", "low", "close", "volume"]].to_numpy("float64")
        hi = int(np.searchsorted(ts, self.now_ms, side="right"))
        if end is not None:
            hi = min(hi, int(np.searchsorted(ts, end, side="right")))
        if start is not None:
            lo = int(np.searchsorted(ts, start, side="left"))
            hi = min(hi, lo + limit)
        else:
            lo = max(0, hi - limit)
        rows = []
        for i in range(lo, max(lo, hi)):
            t = int(ts[i])
            o, h, low, c, v = (float(x) for x in values[i])
            if t + tf > self.now_ms:
                frac = (self.now_ms - t) / tf
                c = o + (c - o) * frac
                h, low, v = max(o, c), min(o, c), v * frac
            volume = "0" if zero_volume else _num(v)
            rows.append([t, _num(o), _num(h), _num(low), _num(c), volume, t + tf - 1,
                         "0" if zero_volume else _num(v * c), 0 if zero_volume else 100,
                         "0" if zero_volume else _num(v / 2),
                         "0" if zero_volume else _num(v * c / 2), "0"])
        return web.json_response(rows)

    # -- funding, trades, open interest -------------------------------------------------
    async def funding_rate(self, request: web.Request) -> web.Response:
        q = request.query
        market = self._find(request)
        if isinstance(market, web.Response):
            return market
        limit = int(q.get("limit", 100))
        if not 1 <= limit <= 1000:
            return self.error(-1130, "Data sent for parameter 'limit' is not valid.")
        frame = market.funding
        mask = frame["ts"] <= self.now_ms
        if "startTime" in q:
            mask &= frame["ts"] >= int(q["startTime"])
        if "endTime" in q:
            mask &= frame["ts"] <= int(q["endTime"])
        rows = frame[mask]
        rows = rows.head(limit) if "startTime" in q else rows.tail(limit)
        marks = market.mark.set_index("ts")["close"]
        return web.json_response([
            {"symbol": market.market_id, "fundingTime": int(t),
             "fundingRate": np.format_float_positional(float(r), trim="-", precision=8),
             "markPrice": _num(float(marks.asof(int(t))))}
            for t, r in zip(rows["ts"], rows["funding_rate"])])

    async def agg_trades(self, request: web.Request) -> web.Response:
        q = request.query
        market = self._find(request)
        if isinstance(market, web.Response):
            return market
        limit = int(q.get("limit", 500))
        if not 1 <= limit <= 1000:
            return self.error(-1130, "Data sent for parameter 'limit' is not valid.")
        start = int(q.get("startTime", self.now_ms - 3_600_000))
        end = int(q.get("endTime", start + 3_600_000))
        if end - start > 3_600_000:
            return self.error(-1127, "More than 1 hours between startTime and endTime.")
        end = min(end, self.now_ms)
        ts = market.bars["ts"].to_numpy()
        values = market.bars[["open", "high", "low", "close", "volume"]].to_numpy("float64")
        trades = trades_between(ts, values, self.tf_ms, start, end + 1)[:limit]
        return web.json_response([
            {"a": t.id, "p": _num(t.price), "q": _num(t.qty), "f": t.id, "l": t.id, "T": t.ts,
             "m": t.buyer_maker} for t in trades])

    async def open_interest_hist(self, request: web.Request) -> web.Response:
        q = request.query
        market = self._find(request)
        if isinstance(market, web.Response):
            return market
        period = q.get("period", "")
        if period not in OI_PERIODS:
            return self.error(-1120, "Invalid period.")
        limit = int(q.get("limit", 30))
        if not 1 <= limit <= 500:
            return self.error(-1130, "Data sent for parameter 'limit' is not valid.")
        step = INTERVALS[period]
        first = int(market.bars["ts"].iloc[0])
        first += (-first) % step
        last_closed = self.now_ms - step  # periods that have ended
        start = int(q["startTime"]) if "startTime" in q else None
        end = int(q["endTime"]) if "endTime" in q else last_closed
        end = min(end, last_closed)
        if start is None:
            start = end - (limit - 1) * step
        start = max(start + (-start) % step, first)
        rows = []
        t = start
        while t <= end and len(rows) < limit:
            contracts, value = open_interest_at(t)
            rows.append({"symbol": market.market_id, "sumOpenInterest": _num(contracts),
                         "sumOpenInterestValue": _num(value), "timestamp": t})
            t += step
        return web.json_response(rows)


__all__ = ["INTERVALS", "BinanceFuturesEmulator", "open_interest_at", "sample_path"]
