"""The DuckDB query behind the universe filters: per-symbol figures over a trailing window.

One SQL statement over the store's hive-partitioned Parquet files
(``ohlcv/exchange=<id>/timeframe=<tf>/symbol=<BASE-QUOTE>/<year>.parquet``) computes,
for every symbol of one exchange and timeframe, over the bars that *closed* in
``(as_of - window, as_of]`` (open ``ts`` with ``ts + tf <= as_of``):

- ``bars``: how many bars closed in the window (coverage = bars / window bars);
- ``quote_volume``: ``sum(close * volume)``, the liquidity figure (quote currency);
- ``range_median``: median of ``(high - low) / close``, the *spread proxy*: bars
  carry no bid/ask, so the typical intrabar range stands in for how expensive it
  is to trade (wide ranges go with wide books and large impact);
- ``realized_vol``: sample std of log close-to-close returns inside the window,
  annualised with ``sqrt(bars per year)`` (crypto never closes). The first bar of
  the window has no previous close inside it, so ``bars - 1`` returns are used; a
  gap in the data makes one multi-bar return (not filled in).

Causality: the WHERE clause is the only place time enters, and it keeps only bars
closed by ``as_of``; files of years after ``as_of`` are not even opened.
Determinism: the connection runs on one thread (DuckDB sums floats in thread
order otherwise) and sums are ordered by ``ts``, so equal bars give equal bytes.

The connection is explicit: pass one (``duckdb.connect(config={"threads": 1})``) or
let :func:`window_figures` open and close a private one. Nothing is global.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tradeloom.adapters.store.schema import symbol_dirname

MS_PER_YEAR = 365 * 24 * 3_600_000

_QUERY = """
WITH bars AS (
    SELECT symbol AS sdir, ts, high, low, close, volume
    FROM read_parquet($files, hive_partitioning = true, union_by_name = true)
    WHERE ts + $tf_ms <= $as_of AND ts + $tf_ms > $as_of - $window_ms
), rets AS (
    SELECT sdir, ts, close * volume AS qv, (high - low) / close AS rng,
           ln(close / lag(close) OVER (PARTITION BY sdir ORDER BY ts)) AS r
    FROM bars
)
SELECT sdir, count(*) AS bars, sum(qv ORDER BY ts) AS quote_volume,
       median(rng) AS range_median, stddev_samp(r ORDER BY ts) AS vol
FROM rets GROUP BY sdir ORDER BY sdir
"""


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """The raw figures of one symbol over the trailing window (see the module docs)."""

    symbol: str
    bars: int
    quote_volume: float
    range_median: float
    realized_vol: float  # annualised; NaN with fewer than 3 bars in the window


@contextmanager
def private_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory, single-threaded DuckDB connection, closed on exit."""
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        yield con
    finally:
        con.close()


def partition_files(root: Path, exchange: str, timeframe: str, symbols: Sequence[str],
                    first_year: int, last_year: int) -> list[str]:
    """Existing year files of ``symbols`` between the two years (inclusive), sorted."""
    base = Path(root) / "ohlcv" / f"exchange={exchange}" / f"timeframe={timeframe}"
    files = []
    for symbol in sorted(symbols):
        for year in range(first_year, last_year + 1):
            path = base / f"symbol={symbol_dirname(symbol)}" / f"{year}.parquet"
            if path.is_file():
                files.append(str(path))
    return files


def window_figures(files: Sequence[str], dir_to_symbol: dict[str, str], *, tf_ms: int,
                   as_of: int, window_ms: int,
                   con: duckdb.DuckDBPyConnection | None = None) -> dict[str, WindowFigures]:
    """Figures per symbol over the bars closed in ``(as_of - window_ms, as_of]``.

    ``dir_to_symbol`` maps the hive directory value (``BTC-USDT``) back to the ccxt
    symbol. Symbols without a bar in the window are absent from the answer.
    """
    if not files:
        return {}
    if con is None:
        with private_connection() as own:
            return window_figures(files, dir_to_symbol, tf_ms=tf_ms, as_of=as_of,
                                  window_ms=window_ms, con=own)
    rows = con.execute(_QUERY, {"files": list(files), "tf_ms": int(tf_ms), "as_of": int(as_of),
                                "window_ms": int(window_ms)}).fetchall()
    annualise = math.sqrt(MS_PER_YEAR / tf_ms)
    out = {}
    for sdir, bars, qv, rng, vol in rows:
        symbol = dir_to_symbol.get(sdir)
        if symbol is None:
            continue
        out[symbol] = WindowFigures(
            symbol, int(bars), float(qv), float(rng),
            float(vol) * annualise if vol is not None else math.nan)
    return out
