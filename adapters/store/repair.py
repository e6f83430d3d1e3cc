"""Repair one dataset: clean up after killed writers, drop damaged files, re-fetch holes.

``repair_dataset`` does, in order:

1. ``recover``: temporary files and backups a killed writer left are settled;
2. ``drop_damaged``: files that no longer read, or no longer match their catalog
   fingerprint (changed outside tradeloom), are removed with their catalog rows, in
   one atomic write: their ranges become holes;
3. unless offline: an ingest over the dataset's stored span (or ``since``/``until``)
   fetches every missing range, holes and dropped files alike;
4. reports the ranges still missing (the exchange had nothing, or offline).

A dataset imported from a file cannot be re-fetched: re-import the file instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradeloom.adapters.store.kinds import check_kind, check_kind_timeframe
from tradeloom.engine.errors import UnknownSymbol
from tradeloom.engine.timeframes import timeframe_to_ms

if TYPE_CHECKING:
    from tradeloom.adapters.ccxt.exchange import ExchangeSettings
    from tradeloom.adapters.store.ingest import IngestSummary
    from tradeloom.adapters.store.market_store import MarketStore


@dataclass(frozen=True, slots=True)
class RepairReport:
    """What a repair did and what is still missing."""

    recovered: tuple[str, ...]
    dropped: tuple[str, ...]
    ingest: IngestSummary | None
    still_missing: tuple[tuple[int, int], ...]
    span: tuple[int, int]


def repair_dataset(store: MarketStore, kind: str, exchange: str, timeframe: str, symbol: str,
                   *, settings: ExchangeSettings | None, now_ms: Callable[[], int],
                   run_id: str, since: int | None = None, until: int | None = None,
                   **ingest_kwargs) -> RepairReport:
    """Repair one dataset (see the module docstring); ``settings=None`` works offline."""
    kind_ = check_kind(kind)
    timeframe = check_kind_timeframe(kind_, timeframe)
    found = [d for d in store.list_datasets(kind=kind_)
             if (d.exchange, d.timeframe, d.symbol) == (exchange, timeframe, symbol)]
    if not found and since is None:
        raise UnknownSymbol(
            f"no {kind_.value} dataset {exchange} {symbol} {timeframe} is stored; give --since "
            "to fetch it from scratch, or check the names with 'tradeloom data list'")
    step = timeframe_to_ms(timeframe) if timeframe else 1
    lo = since if since is not None else found[0].first_ts
    hi = until if until is not None else (found[0].last_ts + step if found else lo + step)
    recovered = tuple(store.recover(kind_, exchange, timeframe, symbol)) if found else ()
    dropped = tuple(store.drop_damaged(kind_, exchange, timeframe, symbol)) if found else ()
    summary = None
    if settings is not None:
        from tradeloom.adapters.store.ingest import ingest

        summary = ingest(store, settings, [symbol], timeframe, lo, hi, kind=kind_,
                         now_ms=now_ms, run_id=run_id, **ingest_kwargs)
    if store.list_datasets(kind=kind_) and any(
            (d.exchange, d.timeframe, d.symbol) == (exchange, timeframe, symbol)
            for d in store.list_datasets(kind=kind_)):
        missing, _ = store.missing(kind_, exchange, timeframe, symbol, lo, hi)
    else:
        missing = [(lo, hi)]
    return RepairReport(recovered, dropped, summary, tuple(missing), (lo, hi))


__all__ = ["RepairReport", "repair_dataset"]
