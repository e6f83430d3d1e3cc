"""Public market-data routes of the USDⓈ-M emulator.

"Exchange Information" (weight limits as published: REQUEST_WEIGHT 2400/min, ORDERS
1200/min and 300/10 s; ``assets`` USDT), "Order Book" (``lastUpdateId``, ``E``, ``T``,
default 500 levels; the account's own resting orders are in it), klines and mark-price
klines (market.py), "Mark Price" (premiumIndex; one object with ``symbol``, a list
without), "Get Funding Rate History" (settled rates ascending, limit 100/1000) and the
tickers (tickers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from venues.binance_spot.errors import BinanceError
from venues.binance_usdm import tickers
from venues.binance_usdm.market import DEFAULT_KLINES, MAX_KLINES, next_funding_time, select
from venues.binance_usdm.params import Params, integer, page_limit, required
from venues.common.money import ZERO, Decimal, plain

if TYPE_CHECKING:
    from venues.binance_usdm.emulator import BinanceUsdmEmulator


#: "Order Book": "Default 500; Valid limits:[5, 10, 20, 50, 100, 500, 1000]" (-4021)
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


class PublicData:
    """Handlers of the NONE-security routes; callers hold the engine lock."""

    def __init__(self, emu: BinanceUsdmEmulator) -> None:
        self.emu = emu
        self.engine = emu.engine

    def _market(self, p: Params) -> str:
        market_id = required(p, "symbol")
        self.engine.symbol(market_id)
        return market_id

    def exchange_info(self, p: Params) -> dict[str, Any]:
        return {
            "timezone": "UTC", "serverTime": self.emu.now_ms(), "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.emu.limiter.limit},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 300}],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": 0}],
            "symbols": [r.symbol_info() for r in self.engine.rules.values()]}

    def depth(self, p: Params) -> dict[str, Any]:
        market_id = self._market(p)
        book = self.engine.books[market_id]
        limit = integer(p, "limit") or 500
        if limit not in DEPTH_LIMITS:
            raise BinanceError(-4021, f"'{limit}' is not valid depth limit.")
        own = [o for o in self.engine.orders.values()
               if o.symbol == market_id and o.is_open and o.type == "LIMIT"]
        bids: dict[Decimal, Decimal] = {lv.price: lv.qty for lv in book.bids}
        asks: dict[Decimal, Decimal] = {lv.price: lv.qty for lv in book.asks}
        for o in own:
            side = bids if o.side == "BUY" else asks
            side[o.price] = side.get(o.price, ZERO) + o.remaining
        now = self.emu.now_ms()
        best_bids = sorted(bids.items(), reverse=True)[:limit]
        best_asks = sorted(asks.items())[:limit]
        return {"lastUpdateId": self.emu.book_update_id, "E": now, "T": now,
                "bids": [[plain(k), plain(v)] for k, v in best_bids],
                "asks": [[plain(k), plain(v)] for k, v in best_asks]}

    def klines(self, p: Params, *, mark: bool) -> list[list]:
        market_id = self._market(p)
        if p.get("interval") != self.emu.timeframe:
            raise BinanceError(-1120, "Invalid interval.")
        market = self.engine.markets[market_id]
        rows = market.mark_bars if mark else market.bars
        chosen = select(rows, time_of=lambda k: k.open_time, start=integer(p, "startTime"),
                        end=integer(p, "endTime"),
                        limit=page_limit(p, DEFAULT_KLINES, MAX_KLINES))
        return [k.row(self.emu.tf_ms, mark=mark) for k in chosen]

    def _premium(self, market_id: str) -> dict[str, Any]:
        market, now = self.engine.markets[market_id], self.emu.now_ms()
        return {"symbol": market_id, "markPrice": plain(market.mark),
                "indexPrice": plain(market.mark), "estimatedSettlePrice": plain(market.mark),
                "lastFundingRate": plain(market.predicted_rate(now)),
                "interestRate": "0.00010000", "nextFundingTime": next_funding_time(now),
                "time": now}

    def premium_index(self, p: Params) -> Any:
        if p.get("symbol"):
            return self._premium(self._market(p))
        return [self._premium(m) for m in self.engine.rules]

    def ticker_24h(self, p: Params) -> Any:
        return self._ticker(p, tickers.ticker_24h)

    def price_ticker(self, p: Params) -> Any:
        return self._ticker(p, tickers.price_ticker)

    def _ticker(self, p: Params, fn: Callable[..., dict[str, Any]]) -> Any:
        now = self.emu.now_ms()
        if p.get("symbol"):
            return fn(self.engine.markets[self._market(p)], now=now)
        return [fn(m, now=now) for m in self.engine.markets.values()]

    def book_ticker(self, p: Params) -> Any:
        now = self.emu.now_ms()
        if p.get("symbol"):
            market_id = self._market(p)
            return tickers.book_ticker(market_id, self.engine.books[market_id], now=now)
        return [tickers.book_ticker(m, b, now=now) for m, b in self.engine.books.items()]

    def funding_rate(self, p: Params) -> list[dict[str, Any]]:
        wanted = p.get("symbol")
        if wanted:
            self.engine.symbol(wanted)
        rows = [(m, s) for m, market in self.engine.markets.items()
                for s in market.settled if not wanted or m == wanted]
        rows.sort(key=lambda row: row[1].time)
        chosen = select(rows, time_of=lambda row: row[1].time, start=integer(p, "startTime"),
                        end=integer(p, "endTime"), limit=page_limit(p, 100, 1000))
        return [{"symbol": m, "fundingTime": s.time, "fundingRate": f"{s.rate:.8f}",
                 "markPrice": f"{s.mark:.8f}"} for m, s in chosen]

