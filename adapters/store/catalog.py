"""The DuckDB catalog of the market-data store: what is stored, where, and its history.

Tables: ``datasets`` (one row per kind/exchange/timeframe/symbol), ``partitions``
(one row per file: path, rows, first/last ts, content fingerprint), ``known_gaps``
(acknowledged holes: who, when, why), ``ingest_runs`` and ``market_snapshots``.
Every operation opens its own connection and closes it (no shared global
connection) through ``adapters.store.duck``: reads open the file read-only so
several processes can read at once; DuckDB lets one process write at a time, so
opening waits while another process holds the file (the retry policy is there).

Catalogs written before data kinds existed (no ``kind`` column, ``year`` instead of
``part``) are migrated in place by the first write or read, in one transaction.
For an object-store root the file is a local working copy kept in step by
:class:`~tradeloom.adapters.store.catalog_sync.CatalogSync`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from tradeloom.adapters.store import duck
from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec

if TYPE_CHECKING:
    from tradeloom.adapters.store.catalog_sync import CatalogSync

CATALOG_FILE = "catalog.duckdb"
#: A read answer is remembered only if the file has been unchanged this long.
_SETTLED_NS = 1_000_000_000
_CACHE_SIZE = 256
#: ``running``: started and not finished (or killed: the next run marks it ``died``).
INGEST_STATUSES = ("ok", "failed", "interrupted", "running", "died")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    kind VARCHAR, exchange VARCHAR, timeframe VARCHAR, symbol VARCHAR, first_ts BIGINT,
    last_ts BIGINT, rows BIGINT, partitions INTEGER, fingerprint VARCHAR);
CREATE TABLE IF NOT EXISTS partitions (
    kind VARCHAR, exchange VARCHAR, timeframe VARCHAR, symbol VARCHAR, part INTEGER,
    path VARCHAR, rows BIGINT, first_ts BIGINT, last_ts BIGINT, fingerprint VARCHAR,
    source VARCHAR, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS known_gaps (
    kind VARCHAR, exchange VARCHAR, timeframe VARCHAR, symbol VARCHAR, from_ts BIGINT,
    to_ts BIGINT, reason VARCHAR, acknowledged_by VARCHAR, acknowledged_ts BIGINT,
    origin VARCHAR);
CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id VARCHAR, exchange VARCHAR, timeframe VARCHAR, symbols VARCHAR, since_ts BIGINT,
    until_ts BIGINT, status VARCHAR, rows_added BIGINT, message VARCHAR, started_ts BIGINT,
    finished_ts BIGINT, kind VARCHAR DEFAULT 'ohlcv');
CREATE TABLE IF NOT EXISTS market_snapshots (
    exchange VARCHAR, fetched_ts BIGINT, symbol VARCHAR, tick_size DOUBLE, lot_step DOUBLE,
    min_amount DOUBLE, min_notional DOUBLE, maker_fee DOUBLE, taker_fee DOUBLE);
CREATE TABLE IF NOT EXISTS market_snapshot_raw (
    exchange VARCHAR, fetched_ts BIGINT, raw_json VARCHAR);
ALTER TABLE market_snapshots ADD COLUMN IF NOT EXISTS fee_side VARCHAR DEFAULT 'quote';
ALTER TABLE market_snapshots ADD COLUMN IF NOT EXISTS contract VARCHAR DEFAULT NULL;
"""
#: ``market_snapshots.fee_side`` (ccxt's ``feeSide``) was added after the first catalogs
#: were written: a catalog no write has migrated yet reads as ``quote`` (ccxt's default).
#: ``market_snapshots.contract`` (a perpetual's ``ContractSpec.to_dict()`` as JSON, NULL
#: for spot) likewise: a catalog without it has spot markets only.

_MIGRATIONS = (
    ("datasets", "kind", "ALTER TABLE datasets ADD COLUMN kind VARCHAR DEFAULT 'ohlcv'"),
    ("partitions", "kind", "ALTER TABLE partitions ADD COLUMN kind VARCHAR DEFAULT 'ohlcv'"),
    ("partitions", "part", "ALTER TABLE partitions RENAME COLUMN year TO part"),
    ("ingest_runs", "kind", "ALTER TABLE ingest_runs ADD COLUMN kind VARCHAR DEFAULT 'ohlcv'"),
)


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One stored dataset as the catalog lists it (``kind`` ohlcv unless said otherwise)."""

    exchange: str
    timeframe: str
    symbol: str
    first_ts: int
    last_ts: int
    rows: int
    partitions: int
    fingerprint: str
    kind: str = "ohlcv"


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One file of a dataset; ``path`` is relative to the store root; ``part`` is the
    year (``2024``) or, for daily files, ``yyyymmdd``."""

    exchange: str
    timeframe: str
    symbol: str
    part: int
    path: str
    rows: int
    first_ts: int
    last_ts: int
    fingerprint: str
    kind: str = "ohlcv"

    @property
    def year(self) -> int:
        """The calendar year the file belongs to."""
        return self.part if self.part < 10_000 else self.part // 10_000


@dataclass(frozen=True, slots=True)
class KnownGap:
    """An acknowledged hole: bars (or rows) in ``[from_ts, to_ts)`` are missing on purpose.

    ``origin`` says who knows: ``user`` (``tradeloom data gaps ack``), ``sample`` (shipped
    with the bundled sample) or ``exchange`` (an ingest asked and the exchange has none).
    """

    kind: str
    exchange: str
    timeframe: str
    symbol: str
    from_ts: int
    to_ts: int
    reason: str
    acknowledged_by: str
    acknowledged_ts: int
    origin: str

    def __post_init__(self) -> None:
        if self.to_ts <= self.from_ts:
            raise ConfigError(f"known gap [{self.from_ts}, {self.to_ts}) is empty; to must be "
                              "after from")
        if not self.reason.strip():
            raise ConfigError("a known gap needs a reason (why the data is missing)")
        if self.origin not in ("user", "sample", "exchange"):
            raise ConfigError(f"known gap origin {self.origin!r} must be user, sample or "
                              "exchange")


@dataclass(frozen=True, slots=True)
class IngestRun:
    """What one ingest run did; all times are UTC ms supplied by the caller."""

    run_id: str
    exchange: str
    timeframe: str
    symbols: tuple[str, ...]
    since_ts: int | None
    until_ts: int | None
    status: str
    rows_added: int
    message: str
    started_ts: int
    finished_ts: int
    kind: str = "ohlcv"

    def __post_init__(self) -> None:
        if self.status not in INGEST_STATUSES:
            raise ConfigError(
                f"ingest run {self.run_id!r}: status {self.status!r} must be one of "
                f"{list(INGEST_STATUSES)}"
            )
        if not self.run_id:
            raise ConfigError("ingest run: run_id must not be empty")
        object.__setattr__(self, "symbols", tuple(self.symbols))


_DATASET_COLS = "exchange, timeframe, symbol, first_ts, last_ts, rows, partitions, fingerprint, kind"
_PART_COLS = "exchange, timeframe, symbol, part, path, rows, first_ts, last_ts, fingerprint, kind"
_GAP_COLS = ("kind, exchange, timeframe, symbol, from_ts, to_ts, reason, acknowledged_by, "
             "acknowledged_ts, origin")
_RUN_COLS = ("run_id, exchange, timeframe, symbols, since_ts, until_ts, status, rows_added, "
             "message, started_ts, finished_ts, kind")


class Catalog:
    """Reads and writes the catalog tables of one store (``root`` holds the file)."""

    def __init__(self, root: Path, sync: CatalogSync | None = None) -> None:
        self.root = Path(root)
        self.path = self.root / CATALOG_FILE
        self.sync = sync
        self._migrated = False
        self._unpublished = False
        self._cache: dict[tuple, tuple[tuple, list[tuple]]] = {}

    def exists(self) -> bool:
        return self.path.is_file()

    @contextmanager
    def transaction(self) -> Iterator[CatalogWriter]:
        """One read-write transaction (``duck.transaction``): committed on normal exit,
        rolled back on error; a failed first write removes the file it created. The
        caller holds the store's write lock and calls :meth:`publish` when its whole
        write is done (an object store's catalog is fetched before and published then)."""
        if self.sync is not None:
            self.sync.before_write()
        with duck.transaction(self.path) as con:
            _migrate(con)
            con.execute(_SCHEMA)
            yield CatalogWriter(con)
        self._migrated = True
        self._unpublished = True

    def publish(self) -> None:
        """Publish committed changes of an object-store catalog (no-op for local stores)."""
        if self.sync is not None and self._unpublished:
            self.sync.after_write()
        self._unpublished = False

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """Rows of a read query. Answers are remembered per query while the catalog file
        (and its WAL) keep the same inode, size and mtime, so repeated reads (a backtest's,
        a sweep's) skip opening DuckDB; an answer is only remembered once the file has been
        unchanged for a second, so a write in the same clock tick cannot be missed."""
        if self.sync is not None:
            self.sync.pull()
        if not self.exists():
            return []
        if not self._migrated:
            self._migrate_if_old()
        key = (sql, tuple(params))
        signature = self._signature()
        hit = self._cache.get(key)
        if hit is not None and hit[0] == signature:
            return list(hit[1])
        with duck.reading(self.path) as con:
            rows = con.execute(sql, list(params)).fetchall()
        newest = max(stamp[2] for stamp in signature if stamp is not None)
        if time.time_ns() - newest > _SETTLED_NS:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = (signature, rows)
        return list(rows)

    def _signature(self) -> tuple:
        """(inode, size, mtime) of the catalog file and of its WAL (None if absent)."""
        stamps = []
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                stamps.append(None)
                continue
            stamps.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(stamps)

    def _migrate_if_old(self) -> None:
        with duck.reading(self.path) as con:
            old = _needs_migration(con) or not _has_table(con, "known_gaps")
        if old:
            with duck.transaction(self.path) as con:
                _migrate(con)
                con.execute(_SCHEMA)
        self._migrated = True

    def datasets(self, exchange: str | None = None, timeframe: str | None = None,
                 symbol: str | None = None, kind: str | None = None) -> list[DatasetInfo]:
        """Datasets matching the filters, sorted by kind, exchange, timeframe, symbol."""
        where, params = _filters(kind=kind, exchange=exchange, timeframe=timeframe,
                                 symbol=symbol)
        rows = self._rows(f"SELECT {_DATASET_COLS} FROM datasets {where} "
                          "ORDER BY kind = 'ohlcv' DESC, kind, exchange, timeframe, symbol",
                          params)
        return [DatasetInfo(*row) for row in rows]

    def partitions(self, exchange: str, timeframe: str, symbols: Sequence[str],
                   kind: str = "ohlcv") -> dict[str, list[PartitionInfo]]:
        """Partitions per symbol (only symbols that have any), each list sorted by part."""
        if not symbols:
            return {}
        marks = ", ".join("?" for _ in symbols)
        rows = self._rows(
            f"SELECT {_PART_COLS} FROM partitions WHERE kind = ? AND exchange = ? AND "
            f"timeframe = ? AND symbol IN ({marks}) ORDER BY symbol, part",
            [kind, exchange, timeframe, *symbols])
        found: dict[str, list[PartitionInfo]] = {}
        for row in rows:
            found.setdefault(row[2], []).append(PartitionInfo(*row))
        return found

    def known_gaps(self, kind: str | None = None, exchange: str | None = None,
                   timeframe: str | None = None, symbol: str | None = None) -> list[KnownGap]:
        """Acknowledged gaps matching the filters, sorted by dataset then time."""
        where, params = _filters(kind=kind, exchange=exchange, timeframe=timeframe,
                                 symbol=symbol)
        rows = self._rows(f"SELECT {_GAP_COLS} FROM known_gaps {where} ORDER BY kind, "
                          "exchange, timeframe, symbol, from_ts, to_ts", params)
        return [KnownGap(*row) for row in rows]

    def ingest_runs(self) -> list[IngestRun]:
        """Every recorded ingest run, oldest first (ties by run id)."""
        rows = self._rows(f"SELECT {_RUN_COLS} FROM ingest_runs ORDER BY started_ts, run_id")
        return [IngestRun(r[0], r[1], r[2], tuple(json.loads(r[3])), *r[4:]) for r in rows]

    def load_markets(self, exchange: str) -> dict[str, MarketSpec]:
        """The newest market snapshot of ``exchange`` (empty when none was saved)."""
        columns = "symbol, tick_size, lot_step, min_amount, min_notional, maker_fee, taker_fee"
        if self._has_column("market_snapshots", "fee_side"):
            columns += ", fee_side"
        with_contract = self._has_column("market_snapshots", "contract")
        if with_contract:
            columns += ", contract"
        rows = self._rows(
            f"SELECT {columns} "
            "FROM market_snapshots WHERE exchange = ? AND fetched_ts = "
            "(SELECT max(fetched_ts) FROM market_snapshots WHERE exchange = ?) ORDER BY symbol",
            [exchange, exchange])
        if not with_contract:
            return {row[0]: MarketSpec(*row) for row in rows}
        return {row[0]: MarketSpec(*row[:-1], contract=None if row[-1] is None else
                                   ContractSpec.from_dict(json.loads(row[-1])))
                for row in rows}

    def _has_column(self, table: str, column: str) -> bool:
        return bool(self._rows(
            "SELECT 1 FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
            [table, column]))

    def market_snapshot_raw(self, exchange: str) -> str | None:
        """The raw ccxt JSON saved with the newest snapshot of ``exchange``, if any."""
        rows = self._rows(
            "SELECT raw_json FROM market_snapshot_raw WHERE exchange = ? "
            "ORDER BY fetched_ts DESC LIMIT 1", [exchange])
        return rows[0][0] if rows else None


class CatalogWriter:
    """Statements run inside one ``Catalog.transaction``."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def put_dataset(self, info: DatasetInfo, changed: Sequence[PartitionInfo], *, source: str,
                    run_id: str | None, removed: Sequence[int] = ()) -> None:
        """Replace the dataset row, the rows of the ``changed`` partitions, and drop the
        partitions whose part is in ``removed``."""
        key = [info.kind, info.exchange, info.timeframe, info.symbol]
        where = "kind = ? AND exchange = ? AND timeframe = ? AND symbol = ?"
        self._con.execute(f"DELETE FROM datasets WHERE {where}", key)
        self._con.execute(
            "INSERT INTO datasets (kind, exchange, timeframe, symbol, first_ts, last_ts, rows, "
            "partitions, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*key, info.first_ts, info.last_ts, info.rows, info.partitions, info.fingerprint])
        for part in removed:
            self._con.execute(f"DELETE FROM partitions WHERE {where} AND part = ?", [*key, part])
        for part in changed:
            self._con.execute(f"DELETE FROM partitions WHERE {where} AND part = ?",
                              [*key, part.part])
            self._con.execute(
                "INSERT INTO partitions (kind, exchange, timeframe, symbol, part, path, rows, "
                "first_ts, last_ts, fingerprint, source, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*key, part.part, part.path, part.rows, part.first_ts, part.last_ts,
                 part.fingerprint, source, run_id])

    def delete_dataset(self, exchange: str, timeframe: str, symbol: str,
                       kind: str = "ohlcv") -> None:
        """Remove a dataset and its partitions from the catalog (its known gaps stay)."""
        key = [kind, exchange, timeframe, symbol]
        for table in ("datasets", "partitions"):
            self._con.execute(
                f"DELETE FROM {table} WHERE kind = ? AND exchange = ? AND timeframe = ? "
                "AND symbol = ?", key)

    def put_known_gaps(self, gaps: Sequence[KnownGap]) -> None:
        """Record acknowledged gaps (an identical range of the same dataset is replaced)."""
        for gap in gaps:
            key = [gap.kind, gap.exchange, gap.timeframe, gap.symbol, gap.from_ts, gap.to_ts]
            self._con.execute(
                "DELETE FROM known_gaps WHERE kind = ? AND exchange = ? AND timeframe = ? AND "
                "symbol = ? AND from_ts = ? AND to_ts = ?", key)
            self._con.execute(
                f"INSERT INTO known_gaps ({_GAP_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*key, gap.reason, gap.acknowledged_by, gap.acknowledged_ts, gap.origin])

    def delete_known_gaps(self, kind: str, exchange: str, timeframe: str, symbol: str,
                          from_ts: int | None = None, to_ts: int | None = None) -> int:
        """Forget acknowledged gaps of a dataset that lie inside ``[from_ts, to_ts)``."""
        params: list[object] = [kind, exchange, timeframe, symbol]
        where = "kind = ? AND exchange = ? AND timeframe = ? AND symbol = ?"
        if from_ts is not None:
            where += " AND from_ts >= ?"
            params.append(from_ts)
        if to_ts is not None:
            where += " AND to_ts <= ?"
            params.append(to_ts)
        count = self._con.execute(f"SELECT count(*) FROM known_gaps WHERE {where}",
                                  params).fetchone()[0]
        self._con.execute(f"DELETE FROM known_gaps WHERE {where}", params)
        return int(count)

    def put_ingest_run(self, run: IngestRun) -> None:
        """Insert ``run`` (replacing an earlier record with the same run id)."""
        self._con.execute("DELETE FROM ingest_runs WHERE run_id = ?", [run.run_id])
        self._con.execute(
            f"INSERT INTO ingest_runs ({_RUN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run.run_id, run.exchange, run.timeframe, json.dumps(list(run.symbols)), run.since_ts,
             run.until_ts, run.status, run.rows_added, run.message, run.started_ts,
             run.finished_ts, run.kind])

    def add_ingest_rows(self, run_id: str, rows: int) -> None:
        """Count ``rows`` more rows for a running ingest (in the transaction that wrote them)."""
        self._con.execute("UPDATE ingest_runs SET rows_added = rows_added + ? WHERE run_id = ?",
                          [rows, run_id])

    def running_runs(self) -> list[IngestRun]:
        """Runs recorded as running (alive, or killed before they could say so)."""
        rows = self._con.execute(
            f"SELECT {_RUN_COLS} FROM ingest_runs WHERE status = 'running' ORDER BY started_ts, "
            "run_id").fetchall()
        return [IngestRun(r[0], r[1], r[2], tuple(json.loads(r[3])), *r[4:]) for r in rows]

    def put_markets(self, exchange: str, markets: Mapping[str, MarketSpec], fetched_ts: int,
                    raw_json: str | None) -> None:
        """Store one snapshot (replacing a snapshot of the same exchange and time)."""
        for table in ("market_snapshots", "market_snapshot_raw"):
            self._con.execute(
                f"DELETE FROM {table} WHERE exchange = ? AND fetched_ts = ?",
                [exchange, fetched_ts])
        rows = [
            [exchange, fetched_ts, spec.symbol, spec.tick_size, spec.lot_step, spec.min_amount,
             spec.min_notional, spec.maker_fee, spec.taker_fee, spec.fee_side.value,
             None if spec.contract is None else json.dumps(spec.contract.to_dict(), sort_keys=True)]
            for _, spec in sorted(markets.items())
        ]
        if rows:
            self._con.executemany(
                "INSERT INTO market_snapshots (exchange, fetched_ts, symbol, tick_size, lot_step, "
                "min_amount, min_notional, maker_fee, taker_fee, fee_side, contract) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if raw_json is not None:
            self._con.execute("INSERT INTO market_snapshot_raw VALUES (?, ?, ?)",
                              [exchange, fetched_ts, raw_json])


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                            [table]).fetchone()[0])


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                       [table]).fetchall()
    return {r[0] for r in rows}


def _needs_migration(con: duckdb.DuckDBPyConnection) -> bool:
    return any(_has_table(con, table) and column not in _columns(con, table)
               for table, column, _ in _MIGRATIONS)


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a catalog written before data kinds existed up to the current tables."""
    for table, column, statement in _MIGRATIONS:
        if _has_table(con, table) and column not in _columns(con, table):
            con.execute(statement)


def _filters(**values: str | None) -> tuple[str, list[str]]:
    """``WHERE a = ? AND b = ?`` for the filters that are set."""
    clauses = [f"{name} = ?" for name, value in values.items() if value is not None]
    params = [value for value in values.values() if value is not None]
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
