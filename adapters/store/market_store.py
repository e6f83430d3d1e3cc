"""The market-data store: OHLCV bars in hive-partitioned Parquet with a DuckDB catalog.

Layout under the store root (created on the first write)::

    ohlcv/exchange=binance/timeframe=1h/symbol=BTC-USDT/2024.parquet   (zstd, sorted by ts)
    catalog.duckdb     datasets, partitions (+ sha256 fingerprints), ingest_runs, markets

Guarantees:

- **Validated**: a bar is written only if it passes the OHLC rules of ``checks``, lies
  on the timeframe's grid and does not contradict a stored bar.
- **Idempotent**: bars already stored with the same values are skipped, so an
  ingest can be re-run; a stored time with *different* values raises ``DataError``.
- **Atomic**: new partition files are staged, swapped in with ``os.replace`` and the
  catalog updated in one DuckDB transaction; on any failure both are put back
  exactly as they were. Writers are serialised by a lock file; readers never wait
  for the lock and always see whole files.
- **Deterministic**: the store never reads the clock; reads are sorted by
  (ts, symbol); fingerprints depend only on bar values.

>>> import tempfile, pandas as pd
>>> store = MarketStore(tempfile.mkdtemp())
>>> bars = pd.DataFrame({"ts": [0, 60_000], "open": [1.0, 2.0], "high": [2.0, 3.0],
...                      "low": [1.0, 2.0], "close": [2.0, 3.0], "volume": [5.0, 6.0]})
>>> store.write_bars("binance", "1m", "BTC/USDT", bars, source="doctest").rows_added
2
>>> store.write_bars("binance", "1m", "BTC/USDT", bars, source="doctest").rows_added
0
>>> store.read_bars("binance", "1m", "BTC/USDT", start=60_000)["close"].tolist()
[3.0]
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from tradeloom.engine.errors import ConfigError, UnknownSymbol
from tradeloom.engine.market import MarketSpec

from tradeloom.adapters.store.bar_merge import Bars, Dataset, merge_into, prepare_bars
from tradeloom.adapters.store.catalog import Catalog, DatasetInfo, IngestRun, PartitionInfo
from tradeloom.adapters.store.checks import CheckAccumulator, CheckReport
from tradeloom.adapters.store.parquet_io import (
    PartitionSwap,
    bars_table,
    content_fingerprint,
    read_partition,
)
from tradeloom.adapters.store.reader import iter_selection, read_table, select
from tradeloom.adapters.store.schema import (
    BAR_COLUMNS,
    check_exchange,
    check_symbol,
    symbol_dirname,
    year_bounds,
    year_of,
)
from tradeloom.engine.timeframes import timeframe_to_ms
import itertools

try:
    import fcntl
except ImportError:  # Windows: writers in one process are still serialised by DuckDB
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CheckReport", "DatasetInfo", "IngestRun", "MarketStore", "PartitionInfo", "WriteReport",
]

LOCK_FILE = ".write.lock"


@dataclass(frozen=True, slots=True)
class WriteReport:
    """What one ``write_bars`` call did; first/last ts and rows_total describe the
    whole stored dataset afterwards, ``partitions`` the files (re)written."""

    exchange: str
    timeframe: str
    symbol: str
    rows_added: int
    rows_total: int
    first_ts: int | None
    last_ts: int | None
    partitions: tuple[str, ...]


class MarketStore:
    """OHLCV bars of many exchanges, timeframes and symbols under one root directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._catalog = Catalog(self.root)

    def __repr__(self) -> str:
        return f"MarketStore({str(self.root)!r})"

    # ----------------------------------------------------------------- writing
    def write_bars(self, exchange: str, timeframe: str, symbol: str, frame: pd.DataFrame, *,
                   source: str, run_id: str | None = None) -> WriteReport:
        """Merge ``frame`` (columns ts, open, high, low, close, volume) into the store.

        ``frame`` may be unsorted and repeat bars; each call rewrites the year files
        it touches, so write in large frames (many exchange pages at once).
        """
        dataset = Dataset(check_exchange(exchange), timeframe, check_symbol(symbol),
                          timeframe_to_ms(timeframe))
        if not source:
            raise ConfigError("write_bars: source must say where the bars came from, e.g. 'ccxt'")
        bars = prepare_bars(frame, dataset)
        with self._write_lock():
            stored = {p.year: p for p in self._catalog.partitions(
                exchange, timeframe, [symbol]).get(symbol, [])}
            changed, added = self._merge_years(dataset, bars, stored)
            if not changed:
                return _report(dataset, list(stored.values()), 0, ())
            parts = dict(stored)
            parts.update({p.year: p for p, _ in changed})
            ordered = [parts[y] for y in sorted(parts)]
            info = DatasetInfo(exchange, timeframe, symbol, ordered[0].first_ts,
                               ordered[-1].last_ts, sum(p.rows for p in ordered), len(ordered),
                               _dataset_fingerprint(ordered))
            swap = PartitionSwap(self.root)
            try:
                for part, table in changed:
                    swap.stage(self.root / part.path, table)
                with self._catalog.transaction() as tx:
                    tx.put_dataset(info, [p for p, _ in changed], source=source, run_id=run_id)
                    swap.commit()
            except BaseException:
                swap.rollback()
                raise
            swap.finish()
            return _report(dataset, ordered, added, tuple(p.path for p, _ in changed))

    def _merge_years(self, dataset: Dataset, bars: Bars, stored: dict[int, PartitionInfo]
                     ) -> tuple[list[tuple[PartitionInfo, pa.Table]], int]:
        years = year_of(bars["ts"])
        cuts = [0, *(np.flatnonzero(np.diff(years)) + 1).tolist(), len(years)]
        changed, added_total = [], 0
        for a, b in itertools.pairwise(cuts):
            if a == b:
                continue
            year = int(years[a])
            new = {c: v[a:b] for c, v in bars.items()}
            if year in stored:
                table = read_partition(self.root / stored[year].path)
                old = {c: table.column(c).to_numpy() for c in BAR_COLUMNS}
            else:
                old = {c: v[:0] for c, v in new.items()}
            merged, added = merge_into(old, new, dataset)
            if added:
                added_total += added
                info = PartitionInfo(
                    dataset.exchange, dataset.timeframe, dataset.symbol, year,
                    self._partition_path(dataset, year), len(merged["ts"]),
                    int(merged["ts"][0]), int(merged["ts"][-1]), content_fingerprint(merged))
                changed.append((info, bars_table(merged)))
        return changed, added_total

    @staticmethod
    def _partition_path(dataset: Dataset, year: int) -> str:
        return (f"ohlcv/exchange={dataset.exchange}/timeframe={dataset.timeframe}/"
                f"symbol={symbol_dirname(dataset.symbol)}/{year}.parquet")

    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialise writers (threads and processes) on a lock file in the root."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def delete_dataset(self, exchange: str, timeframe: str, symbol: str) -> int:
        """Remove one dataset (catalog rows first, then its files); returns rows removed."""
        with self._write_lock():
            parts = self._catalog.partitions(exchange, timeframe, [symbol]).get(symbol, [])
            if not parts:
                raise UnknownSymbol(f"no {exchange} {symbol} {timeframe} bars stored to delete")
            with self._catalog.transaction() as tx:
                tx.delete_dataset(exchange, timeframe, symbol)
            for part in parts:
                (self.root / part.path).unlink(missing_ok=True)
            directory = (self.root / parts[0].path).parent
            while directory != self.root and directory.exists() and not any(directory.iterdir()):
                directory.rmdir()
                directory = directory.parent
            return sum(p.rows for p in parts)

    # ----------------------------------------------------------------- reading
    def last_ts(self, exchange: str, timeframe: str, symbol: str) -> int | None:
        """Open time of the newest stored bar, or None when nothing is stored."""
        check_exchange(exchange)
        timeframe_to_ms(timeframe)
        check_symbol(symbol)
        found = self._catalog.datasets(exchange, timeframe, symbol)
        return found[0].last_ts if found else None

    def read_arrow(self, exchange: str, timeframe: str, symbols: str | Sequence[str],
                   start: int | None = None, end: int | None = None) -> pa.Table:
        """Bars with ``start <= ts < end`` as an Arrow table.

        One symbol (a ``str``): columns ts, open, high, low, close, volume. A sequence
        of symbols: ts, symbol, open, ..., volume sorted by (ts, symbol).
        """
        sel = select(self._catalog, exchange, timeframe, symbols, start, end)
        return read_table(self.root, sel)

    def read_bars(self, exchange: str, timeframe: str, symbols: str | Sequence[str],
                  start: int | None = None, end: int | None = None) -> pd.DataFrame:
        """Bars with ``start <= ts < end`` as a DataFrame (columns as ``read_arrow``)."""
        return self.read_arrow(exchange, timeframe, symbols, start, end).to_pandas()

    def iter_batches(self, exchange: str, timeframe: str, symbols: str | Sequence[str],
                     start: int | None = None, end: int | None = None,
                     batch_size: int = 262_144) -> Iterator[pa.RecordBatch]:
        """Stream bars as Arrow batches of at most ``batch_size`` rows, in (ts, symbol) order.

        Memory stays bounded by about one row group and one batch per symbol. Unknown
        names raise here, not at the first ``next()``.
        """
        sel = select(self._catalog, exchange, timeframe, symbols, start, end)
        return iter_selection(self.root, sel, batch_size)

    def list_datasets(self) -> list[DatasetInfo]:
        """Every stored dataset, sorted by exchange, timeframe, symbol."""
        return self._catalog.datasets()

    def fingerprint(self, exchange: str, timeframe: str, symbols: str | Sequence[str],
                    start: int | None = None, end: int | None = None) -> str:
        """sha256 identifying exactly the bars a read with the same arguments returns.

        Built from per-partition content fingerprints in (symbol, year) order; a
        partition cut by the range is fingerprinted on the bars inside the range.
        """
        sel = select(self._catalog, exchange, timeframe, symbols, start, end)
        digest = hashlib.sha256(f"{exchange}|{timeframe}\n".encode())
        for symbol in sel.symbols:
            for part in sel.parts[symbol]:
                fp = part.fingerprint
                if part.first_ts < sel.lo or part.last_ts >= sel.hi:
                    table = read_partition(self.root / part.path)
                    ts = table.column("ts").to_numpy()
                    a, b = np.searchsorted(ts, [sel.lo, sel.hi])
                    if a == b:
                        continue
                    fp = content_fingerprint(table.slice(int(a), int(b - a)))
                digest.update(f"{symbol}|{part.year}|{fp}\n".encode())
        return digest.hexdigest()

    # ------------------------------------------------------------------ checks
    def check(self, exchange: str | None = None, timeframe: str | None = None,
              symbol: str | None = None) -> list[CheckReport]:
        """Check every matching dataset: gaps, duplicates, OHLC rules, order, grid, and
        that each file still matches the catalog (rows, fingerprint, no leftovers)."""
        datasets = self._catalog.datasets(exchange, timeframe, symbol)
        if not datasets and (exchange or timeframe or symbol):
            stored = [f"{d.exchange} {d.timeframe} {d.symbol}" for d in self.list_datasets()]
            raise UnknownSymbol(
                f"no dataset matches exchange={exchange} timeframe={timeframe} symbol={symbol}; "
                f"stored: {stored}")
        return [self._check_dataset(d) for d in datasets]

    def _check_dataset(self, info: DatasetInfo) -> CheckReport:
        acc = CheckAccumulator(info.timeframe)
        parts = self._catalog.partitions(info.exchange, info.timeframe, [info.symbol])
        for part in parts.get(info.symbol, []):
            path = self.root / part.path
            if not path.is_file():
                acc.add_integrity(f"partition file {part.path} is missing; re-ingest the dataset")
                continue
            table = read_partition(path)
            lo, hi = year_bounds(part.year)
            if table.num_rows != part.rows:
                acc.add_integrity(
                    f"{part.path} holds {table.num_rows} rows, the catalog says {part.rows}")
            if content_fingerprint(table) != part.fingerprint:
                acc.add_integrity(f"{part.path} content differs from its catalog fingerprint "
                                  "(changed outside tradeloom?)")
            arrays = [table.column(c).to_numpy() for c in BAR_COLUMNS]
            if len(arrays[0]) and (arrays[0][0] < lo or arrays[0][-1] >= hi):
                acc.add_integrity(f"{part.path} holds bars outside {part.year}")
            acc.feed(*arrays)
        if parts:
            directory = (self.root / parts[info.symbol][0].path).parent
            for leftover in sorted(directory.glob(".*.parquet.*")):
                acc.add_integrity(f"leftover file {leftover.name} from an interrupted write; "
                                  "delete it")
        return acc.report(info.exchange, info.symbol)

    # ---------------------------------------------------- markets and ingest log
    def save_markets(self, exchange: str, markets: Mapping[str, MarketSpec], *, fetched_ts: int,
                     raw_json: str | None = None) -> None:
        """Store a snapshot of an exchange's trading rules (as ccxt load_markets reports)."""
        check_exchange(exchange)
        for key, spec in markets.items():
            if not isinstance(spec, MarketSpec) or key != spec.symbol:
                raise ConfigError(
                    f"save_markets: entry {key!r} must be a MarketSpec for that same symbol")
        with self._write_lock(), self._catalog.transaction() as tx:
            tx.put_markets(exchange, markets, int(fetched_ts), raw_json)

    def load_markets(self, exchange: str) -> dict[str, MarketSpec]:
        """The newest saved snapshot of ``exchange``'s markets ({} when none was saved)."""
        return self._catalog.load_markets(check_exchange(exchange))

    def markets_raw_json(self, exchange: str) -> str | None:
        """The raw ccxt JSON saved with the newest snapshot, if any."""
        return self._catalog.market_snapshot_raw(check_exchange(exchange))

    def record_ingest_run(self, run: IngestRun) -> None:
        """Log an ingest run (same run_id again replaces the earlier record)."""
        with self._write_lock(), self._catalog.transaction() as tx:
            tx.put_ingest_run(run)

    def ingest_runs(self) -> list[IngestRun]:
        """Every logged ingest run, oldest first."""
        return self._catalog.ingest_runs()


def _dataset_fingerprint(parts: Sequence[PartitionInfo]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(f"{part.year}|{part.fingerprint}\n".encode())
    return digest.hexdigest()


def _report(dataset: Dataset, parts: Sequence[PartitionInfo], added: int,
            written: tuple[str, ...]) -> WriteReport:
    ordered = sorted(parts, key=lambda p: p.year)
    return WriteReport(
        dataset.exchange, dataset.timeframe, dataset.symbol, added, sum(p.rows for p in ordered),
        ordered[0].first_ts if ordered else None, ordered[-1].last_ts if ordered else None,
        written)
