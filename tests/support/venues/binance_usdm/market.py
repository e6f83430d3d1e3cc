"""Market state of one perpetual: last and mark price, bars, the funding-rate series.

- Klines (USDⓈ-M "Kline/Candlestick Data", ``GET /fapi/v1/klines``): rows ``[open
  time, open, high, low, close, volume, close time, quote volume, trades, taker buy
  base volume, taker buy quote volume, "0"]``; "Mark Price Kline/Candlestick Data"
  (``GET /fapi/v1/markPriceKlines``) has the same layout with volume fields "0".
  Without startTime/endTime: the most recent; ``limit`` default 500, max 1500.
- Funding (USDⓈ-M "Mark Price" / premiumIndex and "Get Funding Rate History"):
  funding every 8 hours at 00:00, 08:00 and 16:00 UTC; ``nextFundingTime`` is the
  next of those after the clock; ``fundingRate`` history rows ``{symbol,
  fundingTime, fundingRate, markPrice}`` for settled times, oldest first, ``limit``
  default 100, max 1000.

>>> next_funding_time(1_700_000_000_000)   # 2023-11-14 22:13:20 UTC -> 15 Nov 00:00
1700006400000
>>> next_funding_time(1_700_006_400_000)   # on a funding time: the one after it
1700035200000
"""

from __future__ import annotations

from dataclasses import dataclass, field

from venues.common.money import ZERO, Decimal, plain

FUNDING_INTERVAL_MS = 8 * 3_600_000
DEFAULT_KLINES, MAX_KLINES = 500, 1500
TIMEFRAMES_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                 "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                 "8h": 28_800_000, "1d": 86_400_000}


def next_funding_time(now_ms: int) -> int:
    """The first funding time strictly after ``now_ms``."""
    return (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def funding_times_between(after_ms: int, until_ms: int) -> list[int]:
    """Funding times ``t`` with ``after_ms < t <= until_ms``."""
    first = next_funding_time(after_ms)
    return list(range(first, until_ms + 1, FUNDING_INTERVAL_MS))


@dataclass(frozen=True, slots=True)
class Kline:
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def row(self, tf_ms: int, *, mark: bool) -> list[object]:
        close_time = self.open_time + tf_ms - 1
        prices = [plain(self.open), plain(self.high), plain(self.low), plain(self.close)]
        if mark:
            return [self.open_time, *prices, "0", close_time, "0", 0, "0", "0", "0"]
        quote = plain(self.volume * (self.open + self.close) / 2)
        return [self.open_time, *prices, plain(self.volume), close_time, quote, 0,
                "0", "0", "0"]


@dataclass(frozen=True, slots=True)
class SettledFunding:
    time: int
    rate: Decimal
    mark: Decimal


@dataclass(slots=True)
class MarketState:
    """Prices, bars and funding of one symbol."""

    market_id: str
    last: Decimal = ZERO
    mark: Decimal = ZERO
    bars: list[Kline] = field(default_factory=list)
    mark_bars: list[Kline] = field(default_factory=list)
    rates: dict[int, Decimal] = field(default_factory=dict)
    settled: list[SettledFunding] = field(default_factory=list)

    def rate_for(self, funding_time: int) -> Decimal | None:
        return self.rates.get(funding_time)

    def predicted_rate(self, now_ms: int) -> Decimal:
        """premiumIndex ``lastFundingRate``: the rate set for the next funding time,
        else the last settled one, else 0 (assumption: NOTES.md)."""
        upcoming = self.rates.get(next_funding_time(now_ms))
        if upcoming is not None:
            return upcoming
        return self.settled[-1].rate if self.settled else ZERO


def select(rows: list, *, time_of, start: int | None, end: int | None,
           limit: int) -> list:
    """The docs' window rule: from ``start`` oldest first, else the latest up to ``end``."""
    if start is not None:
        rows = [r for r in rows if time_of(r) >= start]
    if end is not None:
        rows = [r for r in rows if time_of(r) <= end]
    return rows[:limit] if start is not None else rows[-limit:]
