"""Reading data back: choose the partitions, read them whole or stream them in batches.

Partitions are year (or day) files, so a time range only opens the files it
touches, and within a file only the row groups whose ``ts`` statistics overlap the
range are streamed. Several symbols are merged by time with a fixed tie-break on the
symbol name (the same order the engine's event loop uses), either by sorting the
whole read or, for ``iter_batches``, by a k-way merge that holds at most one batch
per symbol in memory. Every kind reads the same way; a damaged file raises
:class:`~tradeloom.adapters.store.parquet_io.CorruptPartition` naming the file and
the repair command.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tradeloom.adapters.store.catalog import Catalog, PartitionInfo
from tradeloom.adapters.store.kinds import DataKind, check_kind_timeframe, describe_dataset, spec
from tradeloom.adapters.store.parquet_io import (
    CorruptPartition,
    check_schema,
    read_partition,
    repair_command,
)
from tradeloom.adapters.store.schema import (
    BAR_SCHEMA,
    VALUE_COLUMNS,
    check_exchange,
    check_symbol,
    describe_ts,
)
from tradeloom.adapters.store.storage import Storage
from tradeloom.engine.errors import ConfigError, DataError, UnknownSymbol

#: Several symbols: ts, symbol, then the values.
MULTI_SCHEMA = pa.schema(
    [BAR_SCHEMA.field("ts"), pa.field("symbol", pa.string())]
    + [BAR_SCHEMA.field(c) for c in VALUE_COLUMNS]
)


def multi_schema(kind: str) -> pa.Schema:
    """The schema of a several-symbol read of ``kind``: ts, symbol, then its values."""
    schema = spec(kind).schema
    return pa.schema([schema.field("ts"), pa.field("symbol", pa.string())]
                     + [schema.field(c) for c in schema.names[1:]])


@dataclass(frozen=True, slots=True)
class Selection:
    """The partitions to read for a request, per symbol, with the requested range."""

    exchange: str
    timeframe: str
    symbols: tuple[str, ...]
    multi: bool
    start: int | None
    end: int | None
    parts: dict[str, list[PartitionInfo]]
    kind: str = "ohlcv"

    @property
    def lo(self) -> int:
        return -(2**63) if self.start is None else self.start

    @property
    def hi(self) -> int:
        return 2**63 - 1 if self.end is None else self.end

    def describe(self) -> str:
        return f"{self.exchange} {self.timeframe}"


def select(catalog: Catalog, exchange: str, timeframe: str, symbols: str | Sequence[str],
           start: int | None, end: int | None, kind: DataKind = DataKind.OHLCV) -> Selection:
    """Resolve a read request to partition files; unknown names list what is stored."""
    check_exchange(exchange)
    timeframe = check_kind_timeframe(kind, timeframe)
    multi = not isinstance(symbols, str)
    wanted = (symbols,) if isinstance(symbols, str) else tuple(sorted(set(symbols)))
    if not wanted:
        raise ConfigError("read: give at least one symbol, e.g. 'BTC/USDT'")
    for symbol in wanted:
        check_symbol(symbol)
    if start is not None and end is not None and start >= end:
        raise ConfigError(
            f"read: start {describe_ts(start)} must be before end {describe_ts(end)} "
            "(end is exclusive)")
    parts = catalog.partitions(exchange, timeframe, wanted, kind=kind.value)
    missing = [s for s in wanted if s not in parts]
    if missing:
        raise _unknown(catalog, kind, exchange, timeframe, missing, start)
    lo = -(2**63) if start is None else start
    hi = 2**63 - 1 if end is None else end
    chosen = {}
    for symbol in wanted:
        overlap = [p for p in parts[symbol] if p.last_ts >= lo and p.first_ts < hi]
        if not overlap:
            raise _empty_range(kind, exchange, timeframe, symbol, parts[symbol], start, end)
        chosen[symbol] = overlap
    return Selection(exchange, timeframe, wanted, multi, start, end, chosen, kind.value)


def _unknown(catalog: Catalog, kind: DataKind, exchange: str, timeframe: str,
             missing: list[str], start: int | None = None) -> UnknownSymbol:
    noun = spec(kind).noun
    stored = catalog.datasets(kind=kind.value)
    if kind is DataKind.OHLCV:
        fetch = fetch_commands(catalog, exchange, timeframe, missing, start)
    else:
        fetch = (f"fetch them with 'tradeloom ingest --kind {kind.value}' or import them with "
                 f"'tradeloom data import --kind {kind.value}'")
    if not stored:
        if kind is DataKind.OHLCV and not catalog.datasets():
            return UnknownSymbol(
                f"the store at {catalog.root} holds no bars yet; load some with "
                f"'tradeloom data load-sample', or {fetch}")
        return UnknownSymbol(f"the store holds no {noun} yet; {fetch}")
    exchanges = sorted({d.exchange for d in stored})
    if exchange not in exchanges:
        return UnknownSymbol(f"no {noun} stored for exchange {exchange!r}; stored exchanges: "
                             f"{exchanges}; {fetch}")
    timeframes = sorted({d.timeframe for d in stored if d.exchange == exchange})
    if timeframe not in timeframes:
        return UnknownSymbol(
            f"no {exchange} {noun} stored at timeframe {timeframe!r}; stored timeframes for "
            f"{exchange}: {timeframes}; {fetch}")
    available = sorted(d.symbol for d in stored if d.exchange == exchange and d.timeframe == timeframe)
    hints = list(dict.fromkeys(
        m for s in missing for m in difflib.get_close_matches(s, available, n=1)))
    hint = f"; did you mean {hints}?" if hints else ""
    where = f"{exchange} {timeframe} {noun}" if timeframe else f"{exchange} {noun}"
    return UnknownSymbol(f"no {where} stored for {missing}; stored symbols: {available}{hint}; "
                         f"{fetch}")


def fetch_commands(catalog: Catalog, exchange: str, timeframe: str, symbols: Sequence[str],
                   start: int | None = None) -> str:
    """The ``tradeloom ingest`` and ``tradeloom data import`` commands that would store these
    bars in this catalog (``--since``: the asked start, else the exchange's first stored
    bar, else 2024-01-01).

    >>> class C:
    ...     root = "cat"
    ...     def datasets(self): return []
    >>> print(fetch_commands(C(), "binance", "4h", ["BTC/USDT"], 1_609_459_200_000))
    fetch them with: tradeloom --catalog cat ingest --exchange binance --symbols BTC/USDT --timeframe 4h --since 2021-01-01, or import a file of bars: tradeloom --catalog cat data import BARS.csv --exchange binance --symbol BTC/USDT --timeframe 4h
    """
    firsts = [d.first_ts for d in catalog.datasets() if d.exchange == exchange]
    since_ms = start if start is not None else (min(firsts) if firsts else None)
    since = describe_day(since_ms) if since_ms is not None else "2024-01-01"
    names = ",".join(symbols)
    prefix = f"tradeloom --catalog {shlex.quote(str(catalog.root))}"
    imports = f"{prefix} data import BARS.csv --exchange {exchange} --symbol {symbols[0]} --timeframe {timeframe}"
    if len(symbols) > 1:
        imports += " (one file per symbol)"
    return (f"fetch them with: {prefix} ingest --exchange {exchange} --symbols {names} "
            f"--timeframe {timeframe} --since {since}, or import a file of bars: {imports}")


def describe_day(ts: int) -> str:
    """``YYYY-MM-DD`` (UTC) of a ms timestamp.

    >>> describe_day(1_609_459_200_000)
    '2021-01-01'
    """
    import datetime as dt

    return dt.datetime.fromtimestamp(ts / 1000, tz=dt.UTC).strftime("%Y-%m-%d")


def _empty_range(kind: DataKind, exchange: str, timeframe: str, symbol: str,
                 parts: list[PartitionInfo], start: int | None, end: int | None) -> DataError:
    first, last = parts[0].first_ts, parts[-1].last_ts
    asked = (f"[{describe_ts(start) if start is not None else 'start'}, "
             f"{describe_ts(end) if end is not None else 'end'})")
    noun = spec(kind).noun
    name = describe_dataset(kind, exchange, timeframe, symbol)
    if kind is DataKind.OHLCV:
        name = f"{exchange} {symbol} {timeframe}"
    return DataError(
        f"no {name} {noun} in {asked}; stored {noun} run from "
        f"{describe_ts(first)} to {describe_ts(last)} (end is exclusive)")


def _slice_range(table: pa.Table | pa.RecordBatch, lo: int, hi: int):
    ts = table.column(0).to_numpy()
    a, b = np.searchsorted(ts, [lo, hi], side="left")
    return table if (a == 0 and b == len(ts)) else table.slice(int(a), int(b - a))


def read_symbol(storage: Storage, sel: Selection, symbol: str) -> pa.Table:
    """All rows of one symbol in the selection's range, as one table."""
    tables = []
    for part in sel.parts[symbol]:
        table = read_partition(storage, part)
        if part.first_ts < sel.lo or part.last_ts >= sel.hi:
            table = _slice_range(table, sel.lo, sel.hi)
        tables.append(table)
    result = pa.concat_tables(tables)
    if result.num_rows == 0:
        raise _empty_range(DataKind(sel.kind), sel.exchange, sel.timeframe, symbol,
                           sel.parts[symbol], sel.start, sel.end)
    return result


def read_table(storage: Storage, sel: Selection) -> pa.Table:
    """The whole selection: one symbol as is, several sorted by (ts, symbol)."""
    if not sel.multi:
        return read_symbol(storage, sel, sel.symbols[0])
    tables = [read_symbol(storage, sel, s) for s in sel.symbols]
    ranks = np.concatenate(
        [np.full(t.num_rows, i, dtype=np.int32) for i, t in enumerate(tables)])
    combined = pa.concat_tables(tables)
    order = np.lexsort((ranks, combined.column("ts").to_numpy()))
    return _with_symbols(combined.take(pa.array(order)), ranks[order], sel.symbols, sel.kind)


def _with_symbols(values: pa.Table | pa.RecordBatch, ranks: np.ndarray, symbols: Sequence[str],
                  kind: str) -> pa.Table:
    names = pa.DictionaryArray.from_arrays(pa.array(ranks, type=pa.int32()), pa.array(symbols))
    schema = multi_schema(kind)
    columns = [values.column("ts"), names.cast(pa.string())]
    columns += [values.column(c) for c in schema.names[2:]]
    return pa.Table.from_arrays(columns, schema=schema)


def iter_symbol(storage: Storage, sel: Selection, symbol: str,
                batch_size: int) -> Iterator[pa.RecordBatch]:
    """Stream one symbol's rows in ts order, one row group at a time."""
    lo, hi = sel.lo, sel.hi
    columns = list(spec(sel.kind).columns)
    for part in sel.parts[symbol]:
        where = storage.display(part.path)
        try:
            handle = storage.parquet_file(part.path)
        except FileNotFoundError:
            read_partition(storage, part)  # raises the explanatory CorruptPartition
            raise
        except (OSError, pa.ArrowException):
            read_partition(storage, part)
            raise
        with handle:
            check_schema(handle.schema_arrow, part, where)
            groups = _overlapping_groups(handle, lo, hi)
            if not groups:
                continue
            # one row group decoded at a time, no decoding threads: memory stays at about
            # one row group and one batch per symbol however many symbols are merged
            batches = handle.iter_batches(batch_size=batch_size, row_groups=groups,
                                          columns=columns, use_threads=False)
            while True:
                try:
                    batch = next(batches, None)
                except (OSError, pa.ArrowException) as exc:
                    fix = repair_command(part.kind, part.exchange, part.timeframe, part.symbol)
                    raise CorruptPartition(
                        f"cannot read partition file {where} ({type(exc).__name__}: {exc}); "
                        f"the file is damaged: repair it with '{fix}'", part.path) from exc
                if batch is None:
                    break
                batch = _slice_range(batch, lo, hi)
                if batch.num_rows:
                    yield batch


def _overlapping_groups(handle: pq.ParquetFile, lo: int, hi: int) -> list[int]:
    groups = []
    meta = handle.metadata
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(0).statistics
        if stats is None or not stats.has_min_max or (stats.max >= lo and stats.min < hi):
            groups.append(i)
    return groups


def iter_selection(storage: Storage, sel: Selection,
                   batch_size: int) -> Iterator[pa.RecordBatch]:
    """Batches of the selection; several symbols are k-way merged by (ts, symbol)."""
    if batch_size <= 0:
        raise ConfigError(f"iter_batches: batch_size must be > 0, got {batch_size}")
    if not sel.multi:
        yield from iter_symbol(storage, sel, sel.symbols[0], batch_size)
        return
    yield from _merge(
        [iter_symbol(storage, sel, s, batch_size) for s in sel.symbols], sel.symbols,
        batch_size, sel.kind)


class _Cursor:
    """The unconsumed rows of one symbol's current batch."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self._batches = batches
        self.batch: pa.RecordBatch | None = None
        self.ts = np.empty(0, dtype=np.int64)
        self.pos = 0
        self.size = 0

    def ready(self) -> bool:
        """Load the next batch if this one is used up; False when the symbol is done."""
        while self.pos >= self.size:
            batch = next(self._batches, None)
            if batch is None:
                return False
            self.batch, self.ts = batch, batch.column(0).to_numpy()
            self.pos, self.size = 0, batch.num_rows
        return True

    def last_ts(self) -> int:
        return int(self.ts[self.size - 1])

    def take_until(self, bound: int) -> pa.RecordBatch:
        stop = max(int(np.searchsorted(self.ts, bound, side="right")), self.pos)
        piece = self.batch.slice(self.pos, stop - self.pos)
        self.pos = stop
        return piece


def _merge(streams: list[Iterator[pa.RecordBatch]], symbols: Sequence[str],
           batch_size: int, kind: str) -> Iterator[pa.RecordBatch]:
    cursors = [_Cursor(s) for s in streams]
    while True:
        active = [(i, c) for i, c in enumerate(cursors) if c.ready()]
        if not active:
            return
        bound = min(c.last_ts() for _, c in active)
        pieces = [(i, c.take_until(bound)) for i, c in active]
        ranks = np.concatenate(
            [np.full(p.num_rows, i, dtype=np.int32) for i, p in pieces])
        merged = pa.Table.from_batches([p for _, p in pieces])
        order = np.lexsort((ranks, merged.column("ts").to_numpy()))
        for a in range(0, len(order), batch_size):
            idx = order[a:a + batch_size]
            chunk = merged.take(pa.array(idx))
            table = _with_symbols(chunk, ranks[idx], symbols, kind)
            yield from table.combine_chunks().to_batches(max_chunksize=batch_size)
