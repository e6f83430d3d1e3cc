"""One page of exchange history per kind: which ccxt call, and its rows as a frame.

Each :class:`PageSource` asks ccxt for the rows at or after a cursor and says how far
the answer reaches, so the ingest loop can tell "no data here" from "no data yet":

============== ======================================== ==========================
kind           ccxt call (Binance endpoint)              answer covers
============== ======================================== ==========================
ohlcv          fetch_ohlcv (``/api/v3/klines``,          everything after cursor
               ``/fapi/v1/klines``)
mark / index   fetch_ohlcv(params={"price": ...})        everything after cursor
               (``/fapi/v1/markPriceKlines``,
               ``/fapi/v1/indexPriceKlines``)
funding        fetch_funding_rate_history                everything after cursor
               (``/fapi/v1/fundingRate``)
open_interest  fetch_open_interest_history               ``limit`` periods
               (``/futures/data/openInterestHist``)
trades         fetch_trades (``aggTrades``: ccxt asks    one hour
               for [since, since + 1 h])
============== ======================================== ==========================

Mark- and index-price candles carry no volume; a missing volume is stored as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.adapters.store.kinds import DataKind, spec
from tradeloom.engine.errors import DataError
from tradeloom.engine.timeutil import format_utc_ms

#: ccxt's Binance trades page spans one hour after ``since``.
TRADES_WINDOW_MS = 3_600_000
#: Binance serves at most 500 open-interest periods per request.
OPEN_INTEREST_LIMIT = 500

Call = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Page:
    """Rows at or after ``cursor`` (sorted by ts) and where the exchange's answer ends:
    ``covers_to`` None means "everything after the cursor was asked for"."""

    frame: pd.DataFrame
    covers_to: int | None
    full: bool


class PageSource:
    """Fetches pages of one kind for one symbol (see the module docstring)."""

    def __init__(self, call: Call, kind: DataKind, exchange: str, symbol: str, timeframe: str,
                 timeframe_ms: int, page_limit: int) -> None:
        self.call, self.kind, self.symbol = call, kind, symbol
        self.timeframe, self.tf_ms = timeframe, timeframe_ms
        self.limit = min(page_limit, OPEN_INTEREST_LIMIT) if kind is DataKind.OPEN_INTEREST \
            else page_limit
        self.context = f"{exchange} {_method(kind)} {symbol}" + (f" {timeframe}" if timeframe
                                                                  else "")

    def fetch(self, cursor: int) -> Page:
        context = f"{self.context} since {format_utc_ms(cursor)}"
        kind = self.kind
        if kind in (DataKind.OHLCV, DataKind.MARK, DataKind.INDEX):
            params = {} if kind is DataKind.OHLCV else {"price": kind.value}
            rows = self.call("fetch_ohlcv", self.symbol, self.timeframe, cursor, self.limit,
                             params, context=context)
            return Page(bar_frame(rows, context, zero_volume=kind is not DataKind.OHLCV), None,
                        len(rows) >= self.limit)
        if kind is DataKind.FUNDING:
            rows = self.call("fetch_funding_rate_history", self.symbol, cursor, self.limit,
                             context=context)
            frame = _frame([(r["timestamp"], r["fundingRate"]) for r in rows], kind, context)
            return Page(frame, None, len(rows) >= self.limit)
        if kind is DataKind.OPEN_INTEREST:
            until = cursor + self.limit * self.tf_ms
            rows = self.call("fetch_open_interest_history", self.symbol, self.timeframe, cursor,
                             self.limit, {"until": until - 1}, context=context)
            frame = _frame([(r["timestamp"], r.get("openInterestAmount"),
                             r.get("openInterestValue")) for r in rows], kind, context)
            return Page(frame, until, len(rows) >= self.limit)
        rows = self.call("fetch_trades", self.symbol, cursor, self.limit, context=context)
        frame = _frame([(t["timestamp"], t["price"], t["amount"], t.get("side"),
                         None if t.get("id") is None else str(t["id"])) for t in rows],
                       kind, context, unique=False)
        return Page(frame, cursor + TRADES_WINDOW_MS, len(rows) >= self.limit)


def _method(kind: DataKind) -> str:
    return {DataKind.FUNDING: "fetch_funding_rate_history",
            DataKind.OPEN_INTEREST: "fetch_open_interest_history",
            DataKind.TRADES: "fetch_trades"}.get(kind, "fetch_ohlcv")


def bar_frame(rows: list[list[Any]], context: str, *, zero_volume: bool = False) -> pd.DataFrame:
    """ccxt OHLCV rows -> bar frame, sorted by ts with duplicate timestamps rejected."""
    cleaned = []
    for r in rows:
        values = list(r[:6])
        if zero_volume and values[5] is None:
            values[5] = 0.0
        cleaned.append(values)
    return _frame(cleaned, DataKind.OHLCV, context)


def empty_frame(kind: DataKind) -> pd.DataFrame:
    """Zero rows of ``kind`` with its column types."""
    return _frame([], kind, "")


def _frame(rows: list[tuple | list], kind: DataKind, context: str,
           unique: bool = True) -> pd.DataFrame:
    ks = spec(kind)
    if not rows:
        return pd.DataFrame({f.name: pd.Series(dtype="int64" if f.name == "ts" else (
            "object" if str(f.type) == "string" else "float64")) for f in ks.schema})
    frame = pd.DataFrame([list(r) for r in rows], columns=list(ks.columns))
    types = {f.name: ("int64" if f.name == "ts" else "object" if str(f.type) == "string"
                      else "float64") for f in ks.schema}
    if frame["ts"].isna().any():
        raise DataError(f"{context}: the exchange sent a row without a time; re-run the "
                        "ingest, and report it if it repeats")
    frame = frame.astype(types)
    for f in ks.schema:
        if str(f.type) == "string":
            frame[f.name] = [None if v is None or (isinstance(v, float) and np.isnan(v))
                             else str(v) for v in frame[f.name]]
    frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
    if unique and frame["ts"].duplicated().any():
        dup = int(frame.loc[frame["ts"].duplicated(), "ts"].iloc[0])
        raise DataError(f"{context}: the exchange sent two rows at {dup}; "
                        "re-run the ingest, and report it if it repeats")
    return frame


__all__ = [
    "OPEN_INTEREST_LIMIT",
    "TRADES_WINDOW_MS",
    "Page",
    "PageSource",
    "bar_frame",
    "empty_frame",
]
