"""The DuckDB catalog of the market-data store: what is stored, where, and its history.

Tables: ``datasets`` (one row per exchange/timeframe/symbol), ``partitions`` (one
row per year file: path, rows, first/last ts, content fingerprint), ``ingest_runs``
and ``market_snapshots``. Every operation opens its own connection and closes it
(no shared global connection) through ``adapters.store.duck``: reads open the file
read-only so several processes can read at once; DuckDB lets one process write at a
time, so opening waits while another process holds the file (the retry policy is
documented there).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
from tradeloom.adapters.store import duck
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec

CATALOG_FILE = "catalog.duckdb"
INGEST_STATUSES = ("ok", "failed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    exchange VARCHAR, timeframe VARCHAR, symbol VARCHAR, first_ts BIGINT, last_ts BIGINT,
    rows BIGINT, partitions INTEGER, fingerprint VARCHAR);
CREATE TABLE IF NOT EXISTS partitions (
    exchange VARCHAR, timeframe VARCHAR, symbol VARCHAR, year INTEGER, path VARCHAR,
    rows BIGINT, first_ts BIGINT, last_ts BIGINT, fingerprint VARCHAR, source VARCHAR,
    run_id VARCHAR);
CREATE TABLE IF NOT EXISTS ingest_runs (
    run_id VARCHAR, exchange VARCHAR, timeframe VARCHAR, symbols VARCHAR, since_ts BIGINT,
    until_ts BIGINT, status VARCHAR, rows_added BIGINT, message VARCHAR, started_ts BIGINT,
    finished_ts BIGINT);
CREATE TABLE IF NOT EXISTS market_snapshots (
    exchange VARCHAR, fetched_ts BIGINT, symbol VARCHAR, tick_size DOUBLE, lot_step DOUBLE,
    min_amount DOUBLE, min_notional DOUBLE, maker_fee DOUBLE, taker_fee DOUBLE);
CREATE TABLE IF NOT EXISTS market_snapshot_raw (
    exchange VARCHAR, fetched_ts BIGINT, raw_json VARCHAR);
ALTER TABLE market_snapshots ADD COLUMN IF NOT EXISTS fee_side VARCHAR DEFAULT 'quote';
"""
#: ``market_snapshots.fee_side`` (ccxt's ``feeSide``) was added after the first catalogs
#: were written: a catalog no write has migrated yet reads as ``quote`` (ccxt's default).


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One stored dataset (exchange, timeframe, symbol) as the catalog lists it."""

    exchange: str
    timeframe: str
    symbol: str
    first_ts: int
    last_ts: int
    rows: int
    partitions: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One year file of a dataset; ``path`` is relative to the store root."""

    exchange: str
    timeframe: str
    symbol: str
    year: int
    path: str
    rows: int
    first_ts: int
    last_ts: int
    fingerprint: str


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

    def __post_init__(self) -> None:
        if self.status not in INGEST_STATUSES:
            raise ConfigError(
                f"ingest run {self.run_id!r}: status {self.status!r} must be one of "
                f"{list(INGEST_STATUSES)}"
            )
        if not self.run_id:
            raise ConfigError("ingest run: run_id must not be empty")
        object.__setattr__(self, "symbols", tuple(self.symbols))


class Catalog:
    """Reads and writes the catalog tables of one store root."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / CATALOG_FILE

    def exists(self) -> bool:
        return self.path.is_file()

    @contextmanager
    def transaction(self) -> Iterator[CatalogWriter]:
        """One read-write transaction (``duck.transaction``): committed on normal exit,
        rolled back on error; a failed first write removes the file it created."""
        with duck.transaction(self.path, schema=_SCHEMA) as con:
            yield CatalogWriter(con)

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if not self.exists():
            return []
        with duck.reading(self.path) as con:
            return con.execute(sql, list(params)).fetchall()

    def datasets(self, exchange: str | None = None, timeframe: str | None = None,
                 symbol: str | None = None) -> list[DatasetInfo]:
        """Datasets matching the filters, sorted by exchange, timeframe, symbol."""
        where, params = _filters(exchange=exchange, timeframe=timeframe, symbol=symbol)
        rows = self._rows(
            "SELECT exchange, timeframe, symbol, first_ts, last_ts, rows, partitions, fingerprint "
            f"FROM datasets {where} ORDER BY exchange, timeframe, symbol", params)
        return [DatasetInfo(*row) for row in rows]

    def partitions(self, exchange: str, timeframe: str,
                   symbols: Sequence[str]) -> dict[str, list[PartitionInfo]]:
        """Partitions per symbol (only symbols that have any), each list sorted by year."""
        if not symbols:
            return {}
        marks = ", ".join("?" for _ in symbols)
        rows = self._rows(
            "SELECT exchange, timeframe, symbol, year, path, rows, first_ts, last_ts, fingerprint "
            f"FROM partitions WHERE exchange = ? AND timeframe = ? AND symbol IN ({marks}) "
            "ORDER BY symbol, year", [exchange, timeframe, *symbols])
        found: dict[str, list[PartitionInfo]] = {}
        for row in rows:
            found.setdefault(row[2], []).append(PartitionInfo(*row))
        return found

    def ingest_runs(self) -> list[IngestRun]:
        """Every recorded ingest run, oldest first (ties by run id)."""
        rows = self._rows(
            "SELECT run_id, exchange, timeframe, symbols, since_ts, until_ts, status, rows_added, "
            "message, started_ts, finished_ts FROM ingest_runs ORDER BY started_ts, run_id")
        return [IngestRun(r[0], r[1], r[2], tuple(json.loads(r[3])), *r[4:]) for r in rows]

    def load_markets(self, exchange: str) -> dict[str, MarketSpec]:
        """The newest market snapshot of ``exchange`` (empty when none was saved)."""
        columns = "symbol, tick_size, lot_step, min_amount, min_notional, maker_fee, taker_fee"
        if self._has_column("market_snapshots", "fee_side"):
            columns += ", fee_side"
        rows = self._rows(
            f"SELECT {columns} "
            "FROM market_snapshots WHERE exchange = ? AND fetched_ts = "
            "(SELECT max(fetched_ts) FROM market_snapshots WHERE exchange = ?) ORDER BY symbol",
            [exchange, exchange])
        return {row[0]: MarketSpec(*row) for row in rows}

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
                    run_id: str | None) -> None:
        """Replace the dataset row and the rows of the ``changed`` partitions."""
        key = [info.exchange, info.timeframe, info.symbol]
        self._con.execute(
            "DELETE FROM datasets WHERE exchange = ? AND timeframe = ? AND symbol = ?", key)
        self._con.execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [*key, info.first_ts, info.last_ts, info.rows, info.partitions, info.fingerprint])
        for part in changed:
            self._con.execute(
                "DELETE FROM partitions WHERE exchange = ? AND timeframe = ? AND symbol = ? "
                "AND year = ?", [*key, part.year])
            self._con.execute(
                "INSERT INTO partitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*key, part.year, part.path, part.rows, part.first_ts, part.last_ts,
                 part.fingerprint, source, run_id])

    def delete_dataset(self, exchange: str, timeframe: str, symbol: str) -> None:
        """Remove a dataset and its partitions from the catalog."""
        key = [exchange, timeframe, symbol]
        for table in ("datasets", "partitions"):
            self._con.execute(
                f"DELETE FROM {table} WHERE exchange = ? AND timeframe = ? AND symbol = ?", key)

    def put_ingest_run(self, run: IngestRun) -> None:
        """Insert ``run`` (replacing an earlier record with the same run id)."""
        self._con.execute("DELETE FROM ingest_runs WHERE run_id = ?", [run.run_id])
        self._con.execute(
            "INSERT INTO ingest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run.run_id, run.exchange, run.timeframe, json.dumps(list(run.symbols)), run.since_ts,
             run.until_ts, run.status, run.rows_added, run.message, run.started_ts,
             run.finished_ts])

    def put_markets(self, exchange: str, markets: Mapping[str, MarketSpec], fetched_ts: int,
                    raw_json: str | None) -> None:
        """Store one snapshot (replacing a snapshot of the same exchange and time)."""
        for table in ("market_snapshots", "market_snapshot_raw"):
            self._con.execute(
                f"DELETE FROM {table} WHERE exchange = ? AND fetched_ts = ?",
                [exchange, fetched_ts])
        rows = [
            [exchange, fetched_ts, spec.symbol, spec.tick_size, spec.lot_step, spec.min_amount,
             spec.min_notional, spec.maker_fee, spec.taker_fee, spec.fee_side.value]
            for _, spec in sorted(markets.items())
        ]
        if rows:
            self._con.executemany(
                "INSERT INTO market_snapshots (exchange, fetched_ts, symbol, tick_size, lot_step, "
                "min_amount, min_notional, maker_fee, taker_fee, fee_side) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if raw_json is not None:
            self._con.execute("INSERT INTO market_snapshot_raw VALUES (?, ?, ?)",
                              [exchange, fetched_ts, raw_json])


def _filters(**values: str | None) -> tuple[str, list[str]]:
    """``WHERE a = ? AND b = ?`` for the filters that are set."""
    clauses = [f"{name} = ?" for name, value in values.items() if value is not None]
    params = [value for value in values.values() if value is not None]
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
