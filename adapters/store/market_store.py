"""The market-data store: bars, mark/index bars, funding, open interest and trades in
hive-partitioned Parquet with a DuckDB catalog, on a local disk or S3-compatible storage.

Layout under the store root (created on the first write; see ``kinds`` for every kind)::

    ohlcv/exchange=binance/timeframe=1h/symbol=BTC-USDT/2024.parquet   (zstd, sorted by ts)
    mark/exchange=binance/timeframe=8h/symbol=BTC-USDT-USDT/2025.parquet
    funding/exchange=binance/symbol=BTC-USDT-USDT/2025.parquet
    catalog.duckdb     datasets, partitions (+ sha256 fingerprints), known gaps, ingest runs

Guarantees:

- **Validated**: a row is written only if it passes its kind's rules, lies on the
  timeframe's grid (where there is one) and does not contradict a stored row.
- **Idempotent**: rows already stored with the same values are skipped, so an
  ingest can be re-run; a stored time with *different* values raises ``DataError``.
- **Atomic**: new files are staged, swapped in and the catalog updated in one DuckDB
  transaction; on any failure both are put back exactly as they were, and what a
  killed writer left behind is cleaned up by the next write (``writer.recover``).
  Writers are serialised by a lock file; readers never wait for it.
- **Deterministic**: the store never reads the clock; reads are sorted by
  (ts, symbol); fingerprints depend only on values.
- **Corruption is data**: a damaged file raises ``CorruptPartition`` naming the file
  and the repair command on reads, and is a reported problem in ``check``.

``MarketStore("s3://bucket/prefix")`` keeps the Parquet files on object storage
(``storage``), so Dask workers on other machines read the same store.

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
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from tradeloom.adapters.store.bar_merge import Dataset
from tradeloom.adapters.store.catalog import (
    Catalog,
    CatalogWriter,
    DatasetInfo,
    IngestRun,
    KnownGap,
    PartitionInfo,
)
from tradeloom.adapters.store.catalog_sync import CatalogSync
from tradeloom.adapters.store.checks import CheckReport
from tradeloom.adapters.store.holes import missing_ranges
from tradeloom.adapters.store.kinds import (
    DataKind,
    check_kind,
    check_kind_timeframe,
    dataset_base,
    price_kind,
    spec,
)
from tradeloom.adapters.store.parquet_io import (
    CorruptPartition,
    content_fingerprint,
    read_partition,
)
from tradeloom.adapters.store.reader import iter_selection, read_table, select
from tradeloom.adapters.store.records import prepare_rows
from tradeloom.adapters.store.schema import check_exchange, check_symbol, grid_offset_ms
from tradeloom.adapters.store.storage import S3Storage, open_storage
from tradeloom.adapters.store.store_checks import check_dataset
from tradeloom.adapters.store.trade_bars import trade_bars_for
from tradeloom.adapters.store.writer import BulkWriter, DatasetWriter, WriteReport, recover
from tradeloom.engine.errors import ConfigError, UnknownSymbol
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.timeframes import timeframe_to_ms

try:
    import fcntl
except ImportError:  # Windows: writers in one process are still serialised by DuckDB
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CheckReport", "DatasetInfo", "IngestRun", "KnownGap", "MarketStore", "PartitionInfo",
    "WriteReport",
]

LOCK_FILE = ".write.lock"


class MarketStore:
    """Market data of many exchanges, kinds, timeframes and symbols under one root
    (a directory, or ``s3://bucket/prefix``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.storage = open_storage(root)
        sync = None
        if isinstance(self.storage, S3Storage):
            sync = CatalogSync(self.storage, "catalog.duckdb", LOCK_FILE)
        self._catalog = Catalog(self.storage.catalog_dir, sync=sync)

    @property
    def root(self):
        """The store's location: a ``Path`` for a local store, the ``s3://`` URL string
        for an object store (pass either to ``MarketStore`` to open it again)."""
        return self.storage.root if not self.storage.remote else self.storage.location

    @property
    def location(self) -> str:
        """The store's location as text (a path or an ``s3://`` URL)."""
        return self.storage.location

    def __repr__(self) -> str:
        return f"MarketStore({self.location!r})"

    def _key(self, kind: str | DataKind, exchange: str, timeframe: str, symbol: str) -> Dataset:
        kind = check_kind(kind)
        timeframe = check_kind_timeframe(kind, timeframe)
        return Dataset(check_exchange(exchange), timeframe, check_symbol(symbol),
                       timeframe_to_ms(timeframe) if timeframe else 0, kind.value)

    # ----------------------------------------------------------------- writing
    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialise writers (threads and processes) on a lock file beside the catalog;
        an object store's catalog is published when the lock is released."""
        directory = self.storage.catalog_dir
        Path(directory).mkdir(parents=True, exist_ok=True)
        with open(Path(directory) / LOCK_FILE, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                try:
                    self._catalog.publish()
                finally:
                    if fcntl is not None:
                        fcntl.flock(handle, fcntl.LOCK_UN)

    def write(self, kind: str | DataKind, exchange: str, timeframe: str, symbol: str,
              frame: pd.DataFrame, *, source: str, run_id: str | None = None,
              gaps: Sequence[KnownGap] = ()) -> WriteReport:
        """Merge ``frame`` (the kind's columns, see ``kinds``) into the store.

        ``frame`` may be unsorted and repeat rows; each call rewrites the files it
        touches, so write in large frames (many exchange pages at once). ``run_id``
        counts the added rows against that ingest run and ``gaps`` records known gaps,
        both in the same transaction as the rows.
        """
        key = self._key(kind, exchange, timeframe, symbol)
        if not source:
            raise ConfigError("write: source must say where the rows came from, e.g. 'ccxt'")
        rows = prepare_rows(DataKind(key.kind), frame, key)
        def extra(tx: CatalogWriter, added: int) -> None:
            if run_id is not None:
                tx.add_ingest_rows(run_id, added)
            tx.put_known_gaps(gaps)

        with self._write_lock():
            recover(self.storage, self._catalog, key)
            writer = DatasetWriter(self.storage, self._catalog, key)
            report = writer.write(rows, source=source, run_id=run_id, extra=extra)
            if gaps and not report.partitions:
                with self._catalog.transaction() as tx:
                    tx.put_known_gaps(gaps)
            return report

    def write_bars(self, exchange: str, timeframe: str, symbol: str, frame: pd.DataFrame, *,
                   source: str, run_id: str | None = None, price: str = "trade") -> WriteReport:
        """Merge bars (columns ts, open, high, low, close, volume) into the store;
        ``price="mark"``/``"index"`` stores mark/index-price bars."""
        return self.write(price_kind(price), exchange, timeframe, symbol, frame, source=source,
                          run_id=run_id)

    @contextmanager
    def bulk_writer(self, kind: str | DataKind, exchange: str, timeframe: str, symbol: str, *,
                    source: str) -> Iterator[BulkWriter]:
        """Stream time-ordered rows into one dataset; committed atomically at the end,
        nothing written if the block raises (memory: one partition at a time). After the
        block, ``.report`` holds the :class:`WriteReport`."""
        key = self._key(kind, exchange, timeframe, symbol)
        with self._write_lock():
            recover(self.storage, self._catalog, key)
            bulk = BulkWriter(DatasetWriter(self.storage, self._catalog, key), source=source)
            try:
                yield bulk
            except BaseException:
                bulk.abort()
                raise
            bulk.report = bulk.close()

    def delete(self, kind: str | DataKind, exchange: str, timeframe: str, symbol: str,
               start: int | None = None, end: int | None = None) -> int:
        """Remove a dataset's rows with ``start <= ts < end`` (all when both are None),
        files and catalog together in one atomic write; returns the rows removed."""
        key = self._key(kind, exchange, timeframe, symbol)
        with self._write_lock():
            recover(self.storage, self._catalog, key)
            writer = DatasetWriter(self.storage, self._catalog, key)
            if not writer.stored():
                raise UnknownSymbol(f"no {key} {spec(key.kind).noun} stored to delete")
            return writer.delete_range(start, end, source="delete")

    def delete_dataset(self, exchange: str, timeframe: str, symbol: str) -> int:
        """Remove one bar dataset (files and catalog rows); returns rows removed."""
        return self.delete(DataKind.OHLCV, exchange, timeframe, symbol)

    def recover(self, kind: str | DataKind, exchange: str, timeframe: str,
                symbol: str) -> list[str]:
        """Clean up what a killed writer left in a dataset's directory (see ``writer``)."""
        key = self._key(kind, exchange, timeframe, symbol)
        with self._write_lock():
            return recover(self.storage, self._catalog, key)

    def drop_damaged(self, kind: str | DataKind, exchange: str, timeframe: str,
                     symbol: str) -> list[str]:
        """Remove the files of a dataset that fail to read or no longer match their
        fingerprint (they become holes an ingest fetches again); returns their paths."""
        key = self._key(kind, exchange, timeframe, symbol)
        with self._write_lock():
            recover(self.storage, self._catalog, key)
            writer = DatasetWriter(self.storage, self._catalog, key)
            damaged = [p for p in writer.stored().values() if not self._intact(p)]
            writer.drop_parts([p.part for p in damaged], source="repair")
            return [p.path for p in damaged]

    def drop_parts(self, kind: str | DataKind, exchange: str, timeframe: str, symbol: str,
                   parts: Sequence[PartitionInfo]) -> None:
        """Remove the given files of a dataset (files and catalog rows, atomically)."""
        key = self._key(kind, exchange, timeframe, symbol)
        with self._write_lock():
            DatasetWriter(self.storage, self._catalog, key).drop_parts(
                [p.part for p in parts], source="repair")

    def _intact(self, part: PartitionInfo) -> bool:
        try:
            table = read_partition(self.storage, part)
        except CorruptPartition:
            return False
        return (table.num_rows == part.rows
                and content_fingerprint(table, spec(part.kind).schema) == part.fingerprint)

    # ----------------------------------------------------------------- reading
    def last_ts(self, exchange: str, timeframe: str, symbol: str,
                kind: str | DataKind = DataKind.OHLCV) -> int | None:
        """Time of the newest stored row, or None when nothing is stored."""
        key = self._key(kind, exchange, timeframe, symbol)
        found = self._catalog.datasets(key.exchange, key.timeframe, key.symbol, kind=key.kind)
        return found[0].last_ts if found else None

    def read(self, kind: str | DataKind, exchange: str, timeframe: str,
             symbols: str | Sequence[str], start: int | None = None,
             end: int | None = None) -> pa.Table:
        """Rows of any kind with ``start <= ts < end`` as an Arrow table (several symbols:
        a ``symbol`` column after ``ts``, sorted by (ts, symbol))."""
        sel = select(self._catalog, exchange, timeframe, symbols, start, end, check_kind(kind))
        return read_table(self.storage, sel)

    def read_arrow(self, exchange: str, timeframe: str, symbols: str | Sequence[str],
                   start: int | None = None, end: int | None = None, *,
                   price: str = "trade") -> pa.Table:
        """Bars with ``start <= ts < end`` as an Arrow table.

        One symbol (a ``str``): columns ts, open, high, low, close, volume. A sequence
        of symbols: ts, symbol, open, ..., volume sorted by (ts, symbol). ``price``:
        ``trade`` (traded-price bars), ``mark`` or ``index`` (the venue's mark/index price).
        """
        return self.read(price_kind(price), exchange, timeframe, symbols, start, end)

    def read_bars(self, exchange: str, timeframe: str, symbols: str | Sequence[str],
                  start: int | None = None, end: int | None = None, *,
                  price: str = "trade") -> pd.DataFrame:
        """Bars with ``start <= ts < end`` as a DataFrame (columns as ``read_arrow``)."""
        return self.read_arrow(exchange, timeframe, symbols, start, end, price=price).to_pandas()

    def iter_batches(self, exchange: str, timeframe: str, symbols: str | Sequence[str],
                     start: int | None = None, end: int | None = None,
                     batch_size: int = 262_144, *, price: str = "trade",
                     kind: str | DataKind | None = None) -> Iterator[pa.RecordBatch]:
        """Stream rows as Arrow batches of at most ``batch_size`` rows, in (ts, symbol) order.

        Memory stays bounded by about one row group and one batch per symbol. Unknown
        names raise here, not at the first ``next()``. ``kind`` overrides ``price``.
        """
        chosen = check_kind(kind) if kind is not None else price_kind(price)
        sel = select(self._catalog, exchange, timeframe, symbols, start, end, chosen)
        return iter_selection(self.storage, sel, batch_size)

    def read_funding(self, exchange: str, symbol: str, start: int | None = None,
                     end: int | None = None) -> pd.DataFrame:
        """Funding rates of a perpetual (``BTC/USDT:USDT``): columns ts (the exchange's
        funding time, UTC ms), funding_rate (per period, 0.0001 = 0.01 %)."""
        return self.read(DataKind.FUNDING, exchange, "", symbol, start, end).to_pandas()

    def read_open_interest(self, exchange: str, symbol: str, timeframe: str,
                           start: int | None = None, end: int | None = None) -> pd.DataFrame:
        """Open interest per period: ts, open_interest (contracts/base), open_interest_value
        (quote)."""
        return self.read(DataKind.OPEN_INTEREST, exchange, timeframe, symbol, start,
                         end).to_pandas()

    def read_trades(self, exchange: str, symbol: str, start: int | None = None,
                    end: int | None = None) -> pd.DataFrame:
        """Trades (ticks): ts, price, amount, side (taker side or None), id."""
        return self.read(DataKind.TRADES, exchange, "", symbol, start, end).to_pandas()

    def trades_to_bars(self, exchange: str, symbol: str, timeframe: str,
                       start: int | None = None, end: int | None = None, *,
                       write: bool = False) -> pd.DataFrame:
        """OHLCV bars aggregated from stored trades, streaming one batch at a time;
        ``write=True`` also stores them as ``ohlcv`` bars (source ``trades``)."""
        agg = trade_bars_for(timeframe, timeframe_to_ms(timeframe))
        for batch in self.iter_batches(exchange, "", symbol, start, end,
                                       kind=DataKind.TRADES):
            agg.feed(batch.column("ts").to_numpy(), batch.column("price").to_numpy(),
                     batch.column("amount").to_numpy())
        frame = pd.DataFrame(agg.finish())
        if write and len(frame):
            self.write_bars(exchange, timeframe, symbol, frame, source="trades")
        return frame

    def arrow_dataset(self, exchange: str, timeframe: str, symbols: Sequence[str] | None = None,
                      *, kind: str | DataKind = DataKind.OHLCV):
        """A ``pyarrow.dataset`` over the catalog's files of one exchange/timeframe (all
        symbols, or ``symbols``), with a ``symbol`` column holding the hive directory name
        (``BTC-USDT``; ``BTC-USDT-USDT`` for ``BTC/USDT:USDT``): hand it to
        DuckDB (``duckdb.sql("SELECT ... FROM ds")``) or Polars for queries over many
        symbols; it streams, and works on local and object storage alike."""
        import pyarrow.dataset as pads

        kind = check_kind(kind)
        chosen = [d.symbol for d in self._catalog.datasets(exchange, timeframe, kind=kind.value)
                  if symbols is None or d.symbol in symbols]
        parts = self._catalog.partitions(exchange, timeframe, chosen, kind=kind.value)
        paths = [p.path for found in parts.values() for p in found]
        if isinstance(self.storage, S3Storage):
            fs, files = self.storage.fs, [self.storage.key(p) for p in paths]
            base = self.storage.base
        else:
            fs, files = None, [str(self.storage.root / p) for p in paths]
            base = str(self.storage.root)
        partitioning = pads.partitioning(pa.schema([("symbol", pa.string())]), flavor="hive")
        return pads.dataset(files, filesystem=fs, format="parquet", schema=pa.schema(
            list(spec(kind).schema) + [pa.field("symbol", pa.string())]),
            partitioning=partitioning, partition_base_dir=f"{base}/{dataset_base(kind, exchange, timeframe)}")

    def list_datasets(self, kind: str | DataKind | None = None) -> list[DatasetInfo]:
        """Every stored dataset (bars first), sorted by kind, exchange, timeframe, symbol."""
        return self._catalog.datasets(kind=None if kind is None else check_kind(kind).value)

    def fingerprint(self, exchange: str, timeframe: str, symbols: str | Sequence[str],
                    start: int | None = None, end: int | None = None, *,
                    price: str = "trade") -> str:
        """sha256 identifying exactly the bars a read with the same arguments returns.

        Built from per-partition content fingerprints in (symbol, year) order; a
        partition cut by the range is fingerprinted on the bars inside the range.
        """
        kind = price_kind(price)
        sel = select(self._catalog, exchange, timeframe, symbols, start, end, kind)
        digest = hashlib.sha256(f"{exchange}|{timeframe}\n".encode())
        if kind is not DataKind.OHLCV:
            digest.update(f"price={price}\n".encode())
        for symbol in sel.symbols:
            for part in sel.parts[symbol]:
                fp = part.fingerprint
                if part.first_ts < sel.lo or part.last_ts >= sel.hi:
                    table = read_partition(self.storage, part)
                    ts = table.column("ts").to_numpy()
                    a, b = np.searchsorted(ts, [sel.lo, sel.hi])
                    if a == b:
                        continue
                    fp = content_fingerprint(table.slice(int(a), int(b - a)))
                digest.update(f"{symbol}|{part.part}|{fp}\n".encode())
        return digest.hexdigest()

    def missing(self, kind: str | DataKind, exchange: str, timeframe: str, symbol: str,
                start: int, end: int) -> tuple[list[tuple[int, int]], list[PartitionInfo]]:
        """Ranges in ``[start, end)`` without stored rows (known gaps left out), and the
        files that failed to read (their ranges count as missing)."""
        key = self._key(kind, exchange, timeframe, symbol)
        parts = self._catalog.partitions(key.exchange, key.timeframe, [key.symbol],
                                         kind=key.kind).get(key.symbol, [])
        ts, damaged = [], []
        for part in parts:
            if part.last_ts < start or part.first_ts >= end:
                continue
            try:
                ts.append(read_partition(self.storage, part, columns=["ts"]).column(
                    "ts").to_numpy())
            except CorruptPartition:
                damaged.append(part)
        known = [(g.from_ts, g.to_ts) for g in self._catalog.known_gaps(
            key.kind, key.exchange, key.timeframe, key.symbol)]
        stored = np.concatenate(ts) if ts else np.empty(0, dtype=np.int64)
        grid = spec(key.kind).has_timeframe
        return missing_ranges(stored, key.timeframe_ms, start, end, grid=grid, known=known,
                              offset=grid_offset_ms(key.timeframe) if grid else 0), damaged

    # ------------------------------------------------------------------ checks
    def check(self, exchange: str | None = None, timeframe: str | None = None,
              symbol: str | None = None, kind: str | DataKind | None = None) -> list[CheckReport]:
        """Check every matching dataset: gaps (acknowledged ones apart), duplicates, value
        rules, order, grid, and that each file still reads and matches the catalog. An
        unreadable file is a reported problem; the check goes on."""
        kind_value = None if kind is None else check_kind(kind).value
        datasets = self._catalog.datasets(exchange, timeframe, symbol, kind=kind_value)
        if not datasets and (exchange or timeframe or symbol or kind):
            stored = [f"{d.kind} {d.exchange} {d.timeframe} {d.symbol}".replace("  ", " ")
                      for d in self.list_datasets()]
            raise UnknownSymbol(
                f"no dataset matches kind={kind_value} exchange={exchange} timeframe={timeframe} "
                f"symbol={symbol}; stored: {stored}")
        return [check_dataset(self.storage, self._catalog, d) for d in datasets]

    # -------------------------------------------------------------- known gaps
    def acknowledge_gaps(self, gaps: Sequence[KnownGap]) -> None:
        """Record gaps as known (who, when, why): ``check`` no longer fails on them and
        ingest no longer asks the exchange for them."""
        if gaps:
            with self._write_lock(), self._catalog.transaction() as tx:
                tx.put_known_gaps(gaps)

    def known_gaps(self, kind: str | DataKind | None = None, exchange: str | None = None,
                   timeframe: str | None = None, symbol: str | None = None) -> list[KnownGap]:
        """Acknowledged gaps matching the filters."""
        return self._catalog.known_gaps(None if kind is None else check_kind(kind).value,
                                        exchange, timeframe, symbol)

    def forget_gaps(self, kind: str | DataKind, exchange: str, timeframe: str, symbol: str,
                    start: int | None = None, end: int | None = None) -> int:
        """Un-acknowledge the known gaps of a dataset inside ``[start, end)``."""
        key = self._key(kind, exchange, timeframe, symbol)
        with self._write_lock(), self._catalog.transaction() as tx:
            return tx.delete_known_gaps(key.kind, key.exchange, key.timeframe, key.symbol,
                                        start, end)

    # ---------------------------------------------------- markets and ingest log
    def save_markets(self, exchange: str, markets: Mapping[str, MarketSpec], *, fetched_ts: int,
                     raw_json: str | None = None) -> None:
        """Store a snapshot of an exchange's trading rules (as ccxt load_markets reports)."""
        check_exchange(exchange)
        for key, value in markets.items():
            if not isinstance(value, MarketSpec) or key != value.symbol:
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

    @contextmanager
    def catalog_transaction(self) -> Iterator[CatalogWriter]:
        """A catalog write under the store's lock (for ingest bookkeeping)."""
        with self._write_lock(), self._catalog.transaction() as tx:
            yield tx
