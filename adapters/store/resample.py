"""Bars of a timeframe the store does not hold, resampled from one it does, with DuckDB.

``tradeloom backtest --timeframe 4h`` on a store holding 1h bars runs on 4h bars built
here (and says so), instead of failing. The bars are those the engine's streaming
resampler (``engine.run.resample``) builds from the same 1h bars - same buckets, same
partial-bar rule at gaps, same first and last bucket - and a test holds the two
byte-equal on the bundled sample:

- a bucket ``[start, start + tf)`` counts from the epoch (weeks from Monday
  1970-01-05): ``start = ts - (ts - origin) mod tf``;
- open = the first bar's open, close = the last bar's close, high/low the extremes,
  volume = ``sum(volume ORDER BY ts)`` (a left-to-right sum, as the engine adds);
- a bucket aggregates the bars it has (partial bars at gaps, nothing filled in);
- the first bucket of a symbol is dropped unless its first bar opens at the bucket's
  start, and a bucket the data ends in before it closes is dropped.

Reading goes through the store's public API (``MarketStore.read_arrow``) and the
query runs on a private, single-threaded in-memory DuckDB connection (thread order
would otherwise decide float sums), so equal bars give equal bytes.

>>> import tempfile, pandas as pd
>>> from tradeloom.adapters.store.market_store import MarketStore
>>> store = MarketStore(tempfile.mkdtemp())
>>> H = 3_600_000
>>> hours = pd.DataFrame({"ts": [h * H for h in range(10)], "open": 1.0, "high": 20.0,
...                       "low": 0.5, "close": [h + 1.0 for h in range(10)], "volume": 1.5})
>>> _ = store.write_bars("binance", "1h", "BTC/USDT", hours, source="doctest")
>>> source_timeframe(store, "binance", "4h", ["BTC/USDT"])
'1h'
>>> read_resampled(store, "binance", "4h", "1h", "BTC/USDT").to_pydict()["close"]
[4.0, 8.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from tradeloom.adapters.store.schema import VALUE_COLUMNS
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeframes import bucket_origin, check_resample, timeframe_to_ms

if TYPE_CHECKING:
    from tradeloom.adapters.store.market_store import MarketStore

_QUERY = """
WITH b AS (
    SELECT symbol, ts, open, high, low, close, volume,
           ts - (((ts - $origin) % $tf) + $tf) % $tf AS bucket
    FROM bars
), ends AS (
    SELECT symbol, min(ts) AS first_ts, max(ts) AS last_ts FROM b GROUP BY symbol
), g AS (
    SELECT symbol, bucket, arg_min(open, ts) AS open, max(high) AS high, min(low) AS low,
           arg_max(close, ts) AS close, sum(volume ORDER BY ts) AS volume
    FROM b GROUP BY symbol, bucket
)
SELECT g.bucket AS ts, g.symbol, g.open, g.high, g.low, g.close, g.volume
FROM g JOIN ends USING (symbol)
WHERE NOT (g.bucket < ends.first_ts AND g.bucket + $tf > ends.first_ts)
  AND g.bucket + $tf <= ends.last_ts + $base
ORDER BY ts, symbol
"""


def resample_table(table: pa.Table, timeframe: str, base_timeframe: str,
                   symbol: str | None = None) -> pa.Table:
    """``base_timeframe`` bars (columns ts, [symbol], open, high, low, close, volume) as
    ``timeframe`` bars, sorted by (ts, symbol). Without a ``symbol`` column every row
    is ``symbol``'s and the result has no ``symbol`` column either."""
    check_resample(timeframe, base_timeframe)
    single = "symbol" not in table.column_names
    if single:
        table = table.append_column("symbol", pa.array([symbol or ""] * table.num_rows,
                                                       type=pa.string()))
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        con.register("bars", table)
        cols = con.execute(_QUERY, {
            "tf": timeframe_to_ms(timeframe), "origin": bucket_origin(timeframe),
            "base": timeframe_to_ms(base_timeframe),
        }).fetchnumpy()
    finally:
        con.close()
    names = ["ts", *([] if single else ["symbol"]), *VALUE_COLUMNS]
    arrays = [pa.array(np.asarray(cols["ts"], dtype=np.int64))]
    if not single:
        arrays.append(pa.array([str(s) for s in cols["symbol"]], type=pa.string()))
    arrays += [pa.array(np.asarray(cols[c], dtype=np.float64)) for c in VALUE_COLUMNS]
    return pa.Table.from_arrays(arrays, names=names)


def read_resampled(store: MarketStore, exchange: str, timeframe: str, base_timeframe: str,
                   symbols: str | Sequence[str], start: int | None = None,
                   end: int | None = None) -> pa.Table:
    """``timeframe`` bars built from the stored ``base_timeframe`` bars with
    ``start <= ts < end``; columns as ``MarketStore.read_arrow`` (one symbol as a
    ``str``: no ``symbol`` column)."""
    base = store.read_arrow(exchange, base_timeframe, symbols, start, end)
    return resample_table(base, timeframe, base_timeframe,
                          symbols if isinstance(symbols, str) else None)


def source_timeframe(store: MarketStore, exchange: str, timeframe: str,
                     symbols: Sequence[str]) -> str | None:
    """The stored timeframe to build ``timeframe`` bars of ``symbols`` from: the coarsest
    one held for every symbol that ``timeframe`` is a whole multiple of, or ``None`` when
    the store holds ``timeframe`` itself or nothing it can be built from (then read
    ``timeframe``: the read's error lists what is stored)."""
    held: dict[str, set[str]] = {}
    for d in store.list_datasets():
        if d.exchange == exchange:
            held.setdefault(d.timeframe, set()).add(d.symbol)
    wanted = set(symbols)
    if wanted <= held.get(timeframe, set()):
        return None
    target = timeframe_to_ms(timeframe)
    usable = []
    for tf, have in held.items():
        if not wanted <= have or timeframe_to_ms(tf) >= target:
            continue
        try:
            check_resample(timeframe, tf)
        except ConfigError:  # a stored timeframe that cannot build it
            continue
        usable.append(tf)
    return max(usable, key=timeframe_to_ms) if usable else None


def read_bars_at(store: MarketStore, exchange: str, timeframe: str, symbols: Sequence[str],
                 start: int | None = None, end: int | None = None) -> pd.DataFrame:
    """``MarketStore.read_bars`` at ``timeframe``, resampled when the store holds only a
    finer timeframe (the bars a resampled backtest ran on)."""
    base = source_timeframe(store, exchange, timeframe, symbols)
    if base is None:
        return store.read_bars(exchange, timeframe, list(symbols), start, end)
    return read_resampled(store, exchange, timeframe, base, list(symbols), start, end).to_pandas()


__all__ = ["read_bars_at", "read_resampled", "resample_table", "source_timeframe"]
