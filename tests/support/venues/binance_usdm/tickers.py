"""Ticker answers of the USDⓈ-M emulator: 24 h statistics, best bid/ask, last price.

Shapes: USDⓈ-M "24hr Ticker Price Change Statistics" (``GET /fapi/v1/ticker/24hr``:
``priceChange``, ``priceChangePercent``, ``weightedAvgPrice``, ``lastPrice``,
``lastQty``, ``openPrice``, ``highPrice``, ``lowPrice``, ``volume``, ``quoteVolume``,
``openTime``, ``closeTime``, ``firstId``, ``lastId``, ``count``), "Symbol Order Book
Ticker" (``/fapi/v1/ticker/bookTicker``) and "Symbol Price Ticker"
(``/fapi/v1/ticker/price``); ccxt's fetch_ticker(s), fetch_bids_asks. The 24 h window
is built from the replayed bars that opened in the last 24 hours of the venue clock
(their volume; VWAP from each bar's mid), with the current last price as close; with no
bar in the window, open = high = low = last and the volumes are 0 (assumption).

>>> from venues.binance_usdm.market import Kline, MarketState
>>> m = MarketState("BTCUSDT", last=Decimal("30500"))
>>> m.bars.append(Kline(0, Decimal("30000"), Decimal("31000"), Decimal("29000"),
...                     Decimal("30400"), Decimal("2")))
>>> t = ticker_24h(m, now=3_600_000)
>>> t["openPrice"], t["highPrice"], t["priceChange"], t["volume"]
('30000', '31000', '500', '2')
"""

from __future__ import annotations

from typing import Any

from venues.binance_usdm.market import MarketState
from venues.common.book import Book
from venues.common.money import ZERO, Decimal, plain

DAY_MS = 86_400_000


def ticker_24h(market: MarketState, *, now: int) -> dict[str, Any]:
    bars = [b for b in market.bars if now - DAY_MS < b.open_time <= now]
    last = market.last
    open_ = bars[0].open if bars else last
    high = max([last, *(b.high for b in bars)])
    low = min([last, *(b.low for b in bars)])
    volume = sum((b.volume for b in bars), ZERO)
    quote = sum((b.volume * (b.high + b.low) / 2 for b in bars), ZERO)
    change = last - open_
    percent = (change / open_ * 100).quantize(Decimal("0.001")) if open_ else ZERO
    return {"symbol": market.market_id, "priceChange": plain(change),
            "priceChangePercent": f"{percent:f}",
            "weightedAvgPrice": plain(quote / volume if volume else last),
            "lastPrice": plain(last), "lastQty": "0", "openPrice": plain(open_),
            "highPrice": plain(high), "lowPrice": plain(low), "volume": plain(volume),
            "quoteVolume": plain(quote), "openTime": now - DAY_MS + 1, "closeTime": now,
            "firstId": 0, "lastId": 0, "count": 0}


def book_ticker(market_id: str, book: Book, *, now: int) -> dict[str, Any]:
    bid = book.bids[0] if book.bids else None
    ask = book.asks[0] if book.asks else None
    return {"symbol": market_id, "bidPrice": plain(bid.price) if bid else "0",
            "bidQty": plain(bid.qty) if bid else "0",
            "askPrice": plain(ask.price) if ask else "0",
            "askQty": plain(ask.qty) if ask else "0", "time": now}


def price_ticker(market: MarketState, *, now: int) -> dict[str, Any]:
    return {"symbol": market.market_id, "price": plain(market.last), "time": now}
