"""Funding of a session's perpetuals, read from the venue as the engine's ``FundingEvent``s.

Why one module for both modes: paper and backtest must book funding identically, and
live must book what the venue booked. Both go through the engine's one funding step
(``engine.run.perp_step``: a ``FundingEvent`` ordered after every bar closing at its
time), only the source differs:

- **paper** (``FundingSource(..., live=False)``): the venue's funding-rate history (ccxt
  ``fetch_funding_rate_history``, Binance ``GET /fapi/v1/fundingRate``: ``fundingTime``,
  ``fundingRate`` and ``markPrice``) gives the rate and the mark at each funding time;
  the engine charges ``qty * mark * rate`` on the simulated position, the very
  arithmetic of a backtest over the stored funding history (the store's rows are the
  same endpoint's answers). Without a mark in the answer the engine marks at the
  symbol's latest close, as a backtest does without a stored mark.
- **live** (``live=True``): the account's funding payments (ccxt ``fetch_funding_history``,
  Binance ``GET /fapi/v1/income`` with ``incomeType=FUNDING_FEE``: ``tranId``, ``time``,
  ``income``) are the amounts booked (``FundingEvent.amount``), each payment once, keyed
  by the venue's id (``tranId``; its time and symbol when a venue gives none); the rate
  and the mark of the same funding time come from the rate history and are recorded
  beside the amount (the results' funding table). While the session is flat in a
  symbol the venue pays nothing, and each published funding time becomes an event of
  amount 0 carrying its rate: the strategy sees the rate (``ctx.funding_rate``) as it
  does in paper and backtests, and nothing is booked.

**When it asks.** A symbol's next funding time is the first multiple of its contract's
``funding_interval_ms`` after its cursor (the session start, then the last funding
booked). ``events(until)`` asks the venue only for symbols whose next funding time is at
or before ``until`` (the latest bar close the runner is about to step), so a session
makes one request per symbol per funding period, not one per bar. A funding time the
venue has not published yet is asked for again next round; one that stays missing for a
whole interval, with nothing later published either, is passed over with a
``funding_missing`` report (live: only while the session holds a position in the
symbol; a flat one is paid nothing); once a later funding time is published, the
history is complete up to it and the cursor moves there.

>>> FundingSource.next_due(cursor=0, interval_ms=28_800_000)
28800000
>>> FundingSource.next_due(cursor=28_800_000, interval_ms=28_800_000)
57600000
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import ccxt

from tradeloom.adapters.ccxt.exchange import map_ccxt_error
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.events import FundingEvent

#: ``report(kind, payload)``: a feed problem worth journaling (``funding_missing``).
Report = Callable[[str, dict[str, Any]], None]

#: A payment's time may trail the funding time by a few ms on Binance; a rate-history row
#: within this window of a payment is that payment's rate.
_SAME_FUNDING_MS = 60_000


@dataclass(frozen=True, slots=True)
class VenueFunding:
    """One funding event as read from the venue: the engine event plus the venue's id."""

    event: FundingEvent
    venue_id: str | None


def payment_key(symbol: str, row: Mapping[str, Any]) -> str:
    """One funding payment's identity: the venue's id (Binance ``tranId``), else its
    symbol and time (one payment per symbol per funding time).

    >>> payment_key("BTC/USDT:USDT", {"id": "9000000002", "timestamp": 1700035200000})
    '9000000002'
    >>> payment_key("BTC/USDT:USDT", {"id": None, "timestamp": 1700035200000})
    'BTC/USDT:USDT@1700035200000'
    """
    return str(row.get("id") or f"{symbol}@{int(row['timestamp'])}")


def _finite(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    number = float(value)
    return number if math.isfinite(number) else math.nan


class FundingSource:
    """The funding events of ``markets``' perpetuals (see the module docstring)."""

    def __init__(self, client: Any, markets: Mapping[str, MarketSpec], *, live: bool,
                 report: Report | None = None,
                 holds: Callable[[str], bool] | None = None) -> None:
        self.client = client
        self.live = live
        self.report = report
        #: Whether the session holds a position in a symbol (live: a venue pays nothing on
        #: a flat symbol, so a missing payment is worth a report only while one is held).
        self.holds = holds
        self.intervals = {s: spec.contract.funding_interval_ms
                          for s, spec in sorted(markets.items()) if spec.contract is not None}
        self.cursor: dict[str, int] = {}
        self.seen: set[str] = set()

    @property
    def symbols(self) -> list[str]:
        return list(self.intervals)

    @staticmethod
    def next_due(cursor: int, interval_ms: int) -> int:
        """The first funding time after ``cursor`` on an ``interval_ms`` grid (UTC)."""
        return cursor - cursor % interval_ms + interval_ms

    def start(self, ts: int) -> None:
        """Funding after ``ts`` (the session's start) is this session's."""
        self.cursor = dict.fromkeys(self.intervals, int(ts))

    def due(self, until: int) -> bool:
        """True when a funding time of some symbol is at or before ``until``."""
        return any(self.next_due(self.cursor[s], self.intervals[s]) <= until
                   for s in self.cursor)

    async def events(self, until: int) -> list[VenueFunding]:
        """The funding events in ``(cursor, until]`` of every symbol, oldest first."""
        out: list[VenueFunding] = []
        for symbol in self.symbols:
            interval = self.intervals[symbol]
            due = self.next_due(self.cursor[symbol], interval)
            if due > until:
                continue
            found = await (self._payments(symbol, until) if self.live
                           else self._rates(symbol, until))
            out += found
            if found:
                self.cursor[symbol] = max(f.event.ts for f in found)
            elif until >= due + interval:  # a whole interval later: the venue paid nothing
                expected = not self.live or self.holds is None or self.holds(symbol)
                if self.report is not None and expected:
                    self.report("funding_missing", {"symbol": symbol, "ts": due, "until": until,
                                                    "live": self.live})
                self.cursor[symbol] = due
        return sorted(out, key=lambda f: (f.event.ts, f.event.symbol))

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self.client, method)(*args)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc, context=f"{self.client.id} {method} {args[0]}") from exc

    async def _rate_rows(self, symbol: str, until: int) -> list[dict[str, Any]]:
        since = self.cursor[symbol] + 1
        rows = await self._call("fetch_funding_rate_history", symbol, since, 100)
        return [r for r in rows if r.get("timestamp") is not None
                and since <= int(r["timestamp"]) <= until]

    async def _rates(self, symbol: str, until: int) -> list[VenueFunding]:
        out = []
        for row in await self._rate_rows(symbol, until):
            info = row.get("info") or {}
            event = FundingEvent(symbol, int(row["timestamp"]), _finite(row.get("fundingRate")),
                                 _finite(info.get("markPrice")))
            if math.isfinite(event.rate):
                out.append(VenueFunding(event, None))
        return out

    async def _payments(self, symbol: str, until: int) -> list[VenueFunding]:
        since = self.cursor[symbol] + 1
        rows = await self._call("fetch_funding_history", symbol, since, 100)
        paid = [r for r in rows if r.get("timestamp") is not None
                and since <= int(r["timestamp"]) <= until and r.get("amount") is not None]
        flat = self.holds is not None and not self.holds(symbol)
        if not paid and not flat:
            return []  # a position is held: wait for the venue's payment
        rates = await self._rate_rows(symbol, until)
        out = []
        for row in paid:
            ts = int(row["timestamp"])
            key = payment_key(symbol, row)
            if key in self.seen:
                continue
            self.seen.add(key)
            rate_row = min(rates, key=lambda r: abs(int(r["timestamp"]) - ts), default=None)
            rate = mark = math.nan
            if rate_row is not None and abs(int(rate_row["timestamp"]) - ts) <= _SAME_FUNDING_MS:
                rate = _finite(rate_row.get("fundingRate"))
                mark = _finite((rate_row.get("info") or {}).get("markPrice"))
            out.append(VenueFunding(FundingEvent(symbol, ts, rate, mark,
                                                 float(row["amount"])), key))
        if flat:
            out += self._unpaid(symbol, rates, [int(r["timestamp"]) for r in paid])
        return out

    @staticmethod
    def _unpaid(symbol: str, rates: list[dict[str, Any]], paid: list[int]) -> list[VenueFunding]:
        """A flat account's funding times: the venue paid nothing (amount 0), and the
        published rate still reaches the strategy (``ctx.funding_rate``: a carry enters on
        it); a time with a payment of its own is that payment's."""
        out = []
        for row in rates:
            ts = int(row["timestamp"])
            if any(abs(ts - p) <= _SAME_FUNDING_MS for p in paid):
                continue
            event = FundingEvent(symbol, ts, _finite(row.get("fundingRate")),
                                 _finite((row.get("info") or {}).get("markPrice")), 0.0)
            if math.isfinite(event.rate):
                out.append(VenueFunding(event, None))
        return out


def funding_payload(item: VenueFunding, engine_ts: int) -> dict[str, Any]:
    """The journal's ``funding`` record: the event as the venue gave it and when the
    engine stepped it (``engine_ts``; later than ``ts`` only when it arrived late)."""
    e = item.event
    return {"symbol": e.symbol, "ts": int(e.ts), "engine_ts": int(engine_ts),
            "rate": e.rate if math.isfinite(e.rate) else None,
            "mark": e.mark if math.isfinite(e.mark) else None,
            "amount": e.amount if math.isfinite(e.amount) else None,
            "venue_id": item.venue_id}


def funding_from_payload(p: Mapping[str, Any]) -> FundingEvent:
    """The ``FundingEvent`` a ``funding`` record stepped (at its ``engine_ts``).

    >>> e = FundingEvent("BTC/USDT:USDT", 28_800_000, 0.0001, 30_000.0, -3.0)
    >>> funding_from_payload(funding_payload(VenueFunding(e, "t1"), 28_800_000)) == e
    True
    """
    nan = math.nan

    def num(key: str) -> float:
        value = p.get(key)
        return nan if value is None else float(value)

    return FundingEvent(str(p["symbol"]), int(p.get("engine_ts", p["ts"])), num("rate"),
                        num("mark"), num("amount"))


__all__ = ["FundingSource", "VenueFunding", "funding_from_payload", "funding_payload",
           "payment_key"]
