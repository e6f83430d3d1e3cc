"""Live trading state in SQLite: what must survive a crash or a restart.

``LiveStateStore(path, run_id=None)`` keeps, in one file per trading account:

- the run id and the client-order-id sequence (reserved in blocks, so a restart
  continues after every id ever handed out and never reuses one);
- orders by client id: the intent (stored *before* the first send), then each status
  the exchange reported, with the exchange's order id;
- fills by (symbol, trade id): a trade id is stored once, which is what makes duplicate
  fill reports harmless, also across restarts;
- the last seen trade id per symbol, balances and positions snapshots, and opaque JSON
  blobs (the RiskEngine's breaker states, the strategy's state snapshot).

Every change is its own committed transaction. The database runs in WAL mode with
``synchronous=FULL``: a commit is on disk when it returns, including after a power
loss, not only after a process crash (which ``NORMAL`` would already survive). That
matters here because Binance accepts a client order id again once the earlier order
with it is finished: a sequence counter or an order intent rolled back by a power
loss could send a second order under an old id. The fsync cost (about a millisecond)
is paid on the broker's sender thread, never on the decision path, and the sequence
is reserved in blocks so id allocation needs no write at all most of the time.

The store is thread-safe (one connection, one lock): the runner's thread and the
broker's sender thread share it.

**Run ids** (the one rule, applied here and by the config validator,
``app.live_config``): 1-16 lowercase letters or digits, because the run id goes into
every client order id (``tl-{run_id}-{seq}``) and exchanges limit those to 32-36
characters. :func:`check_run_id` applies it; :func:`derive_run_id` makes a valid,
stable one from what identifies a runner (mode, exchange, account, strategy) for
configs that name none; :func:`stored_run_id` reads the id an existing state file
belongs to without creating or changing anything.

>>> check_run_id("live1")
'live1'
>>> derive_run_id("live", "binance", "main", "SmaCross")
'lae81a8321'
>>> check_run_id("Live_Run-1")
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: run_id 'Live_Run-1' must be 1-16 lowercase letters or digits (it goes into every client order id, which exchanges limit to 32-36 characters); set e.g. run_id = "live1" in the config, or leave run_id out to use one derived from the exchange, account and strategy
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from tradeloom.engine.errors import ConfigError

_RUN_ID = re.compile(r"^[a-z0-9]{1,16}$")
#: The run id rule in words (error messages and docs).
RUN_ID_RULE = ("1-16 lowercase letters or digits (it goes into every client order id, which "
               "exchanges limit to 32-36 characters)")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it follows the rule (module docstring), else ``ConfigError`` saying how
    to set one."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ConfigError(
            f"run_id {run_id!r} must be {RUN_ID_RULE}; set e.g. run_id = \"live1\" in the "
            "config, or leave run_id out to use one derived from the exchange, account and "
            "strategy")
    return run_id


def derive_run_id(mode: str, *identity: str) -> str:
    """A valid run id, stable for the same ``mode`` and ``identity`` (exchange, account,
    strategy...): the mode's first letter and 9 hex digits of their sha256."""
    digest = hashlib.sha256("\x1f".join((mode, *identity)).encode("utf-8")).hexdigest()
    return check_run_id(f"{(mode[:1] or 'r').lower()}{digest[:9]}")


def stored_run_id(path: str | Path) -> str | None:
    """The run id a state file belongs to; ``None`` when the file or its id does not
    exist. Opens the file read-only: nothing is created or changed."""
    p = Path(path)
    if not p.is_file():
        return None
    # Without a -wal file every commit is in the main file: read it as immutable, which
    # creates no -wal/-shm beside it (a failed start must leave no trace).
    immutable = "" if Path(f"{p}-wal").exists() else "&immutable=1"
    try:
        db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro{immutable}", uri=True)
    except sqlite3.Error:
        return None
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'run_id'").fetchone()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return None if row is None else str(row[0])

OPEN_STATUSES = ("pending", "open", "partially_filled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    client_id TEXT PRIMARY KEY, order_id INTEGER NOT NULL, symbol TEXT NOT NULL,
    status TEXT NOT NULL, exchange_id TEXT, data TEXT NOT NULL, updated_ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
CREATE INDEX IF NOT EXISTS orders_exchange ON orders(symbol, exchange_id);
CREATE TABLE IF NOT EXISTS fills (
    symbol TEXT NOT NULL, trade_id TEXT NOT NULL, client_id TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (symbol, trade_id));
CREATE TABLE IF NOT EXISTS last_trade (
    symbol TEXT PRIMARY KEY, trade_id TEXT NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (name TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order as the store knows it.

    ``status`` is ``pending`` (intent stored, exchange not yet confirmed), ``held``
    (a local trigger or bracket leg, never sent yet), or an ``OrderStatus`` value.
    ``origin`` is ``ours`` or ``adopted`` (found on the exchange by reconciliation).
    """

    client_id: str
    order_id: int
    symbol: str
    side: str
    type: str
    amount: float
    created_ts: int
    status: str = "pending"
    price: float | None = None
    quote_amount: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    exchange_id: str | None = None
    filled: float = 0.0
    avg_price: float = 0.0
    fee: float = 0.0
    tag: str = ""
    strategy_id: str = ""
    parent_id: int | None = None
    oco_group: int | None = None
    updated_ts: int = 0
    reason: str = ""
    origin: str = "ours"

    @property
    def is_working(self) -> bool:
        """Pending, open or partially filled on the exchange (not held locally)."""
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One trade of one of our orders, as the exchange reported it: ``fee`` valued in the
    quote currency, ``fee_cost`` of ``fee_currency`` what the venue charged (``""``: the
    quote currency; records written before fees kept their currency read that way)."""

    trade_id: str
    client_id: str
    order_id: int
    symbol: str
    side: str
    ts: int
    price: float
    amount: float
    fee: float
    liquidity: str = "taker"
    exchange_order_id: str = ""
    fee_currency: str = ""
    fee_cost: float = 0.0


def _from_json(cls: type, text: str) -> Any:
    data = json.loads(text)
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


class LiveStateStore:
    """The SQLite live state of one account (see the module docstring)."""

    def __init__(self, path: str | Path, *, run_id: str | None = None,
                 seq_block: int = 64) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._seq_block = max(1, int(seq_block))
        self._next_seq = 0
        self._seq_end = 0  # exclusive end of the reserved block
        stored = self._meta("run_id")
        if stored is None:
            run_id = check_run_id(run_id or secrets.token_hex(4))
            self._set_meta("run_id", run_id)
            stored = run_id
        elif run_id is not None and run_id != stored:
            raise ConfigError(
                f"{self.path} belongs to run {stored!r}, not {run_id!r}: use that run id to "
                "resume it, or a new state file for a new run"
            )
        self.run_id: str = stored

    # -- plumbing --------------------------------------------------------------------
    def _write(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(args))

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def _meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- client order id sequence ------------------------------------------------------
    def next_seq(self) -> int:
        """The next unused sequence number; a block is reserved on disk when needed."""
        with self._lock:
            if self._next_seq >= self._seq_end:
                start = int(self._meta("seq_reserved") or 1)
                self._seq_end = start + self._seq_block
                self._set_meta("seq_reserved", str(self._seq_end))
                self._next_seq = start
            seq = self._next_seq
            self._next_seq += 1
            return seq

    def ensure_seq_after(self, seq: int) -> None:
        """Never hand out ``seq`` or anything below it (reconcile saw it on the exchange)."""
        with self._lock:
            if int(self._meta("seq_reserved") or 1) <= seq:
                self._set_meta("seq_reserved", str(seq + 1))
            if self._next_seq <= seq:
                self._next_seq = self._seq_end = 0  # reserve a fresh block next time

    # -- orders ----------------------------------------------------------------------
    def save_order(self, record: OrderRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO orders(client_id, order_id, symbol, status, exchange_id, "
            "data, updated_ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.client_id, record.order_id, record.symbol, record.status,
             record.exchange_id, json.dumps(asdict(record)), record.updated_ts))

    def update_order(self, client_id: str, **changes: Any) -> OrderRecord:
        """Apply ``changes`` to a stored order and persist it; returns the new record."""
        with self._lock:
            current = self.order(client_id)
            if current is None:
                raise KeyError(f"no order with client id {client_id!r} in {self.path}")
            record = replace(current, **changes)
            self.save_order(record)
            return record

    def order(self, client_id: str) -> OrderRecord | None:
        rows = self._read("SELECT data FROM orders WHERE client_id = ?", (client_id,))
        return _from_json(OrderRecord, rows[0][0]) if rows else None

    def order_by_exchange_id(self, symbol: str, exchange_id: str) -> OrderRecord | None:
        rows = self._read("SELECT data FROM orders WHERE symbol = ? AND exchange_id = ?",
                          (symbol, exchange_id))
        return _from_json(OrderRecord, rows[0][0]) if rows else None

    def orders(self, *, working_only: bool = False, symbol: str | None = None
               ) -> list[OrderRecord]:
        """Stored orders in client-id sequence order (working: pending/open/partial)."""
        sql, args = "SELECT data FROM orders", []
        where = []
        if working_only:
            where.append(f"status IN ({','.join('?' * len(OPEN_STATUSES))})")
            args.extend(OPEN_STATUSES)
        if symbol is not None:
            where.append("symbol = ?")
            args.append(symbol)
        if where:
            sql += " WHERE " + " AND ".join(where)
        records = [_from_json(OrderRecord, r[0]) for r in self._read(sql, args)]
        return sorted(records, key=lambda r: (r.created_ts, r.order_id, r.client_id))

    # -- fills -----------------------------------------------------------------------
    def add_fill(self, fill: FillRecord) -> bool:
        """Store ``fill``; ``False`` if its trade id was already stored (a duplicate)."""
        cur = self._write(
            "INSERT OR IGNORE INTO fills(symbol, trade_id, client_id, data) VALUES (?, ?, ?, ?)",
            (fill.symbol, fill.trade_id, fill.client_id, json.dumps(asdict(fill))))
        return cur.rowcount == 1

    def fills(self, symbol: str | None = None) -> list[FillRecord]:
        if symbol is None:
            rows = self._read("SELECT data FROM fills")
        else:
            rows = self._read("SELECT data FROM fills WHERE symbol = ?", (symbol,))
        return sorted((_from_json(FillRecord, r[0]) for r in rows),
                      key=lambda f: (f.ts, f.symbol, f.trade_id))

    def fills_after(self, rowid: int) -> tuple[list[FillRecord], int]:
        """Fills stored after row ``rowid`` (insertion order) and the last row id."""
        rows = self._read("SELECT rowid, data FROM fills WHERE rowid > ? ORDER BY rowid",
                          (rowid,))
        last = rows[-1][0] if rows else rowid
        return [_from_json(FillRecord, r[1]) for r in rows], int(last)

    def last_fill_row(self) -> int:
        rows = self._read("SELECT COALESCE(MAX(rowid), 0) FROM fills")
        return int(rows[0][0])

    def has_fill(self, symbol: str, trade_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM fills WHERE symbol = ? AND trade_id = ?",
                               (symbol, trade_id)))

    def set_last_trade(self, symbol: str, trade_id: str, ts: int) -> None:
        self._write("INSERT OR REPLACE INTO last_trade(symbol, trade_id, ts) VALUES (?, ?, ?)",
                    (symbol, trade_id, int(ts)))

    def last_trade(self, symbol: str) -> tuple[str, int] | None:
        """(trade id, ts) of the newest trade seen for ``symbol``."""
        rows = self._read("SELECT trade_id, ts FROM last_trade WHERE symbol = ?", (symbol,))
        return (rows[0][0], int(rows[0][1])) if rows else None

    # -- snapshots -------------------------------------------------------------------
    def save_blob(self, name: str, value: Any) -> None:
        """Persist a JSON-serialisable snapshot (``breakers``, ``strategy``, ``balances``...)."""
        self._write("INSERT OR REPLACE INTO blobs(name, data) VALUES (?, ?)",
                    (name, json.dumps(value, sort_keys=True)))

    def load_blob(self, name: str, default: Any = None) -> Any:
        rows = self._read("SELECT data FROM blobs WHERE name = ?", (name,))
        return json.loads(rows[0][0]) if rows else default

    def save_balances(self, balances: Mapping[str, tuple[float, float]], ts: int) -> None:
        """``{asset: (free, used)}`` as last seen on the exchange."""
        self.save_blob("balances", {"ts": int(ts), "assets": {
            a: [float(f), float(u)] for a, (f, u) in balances.items()}})

    def balances(self) -> dict[str, tuple[float, float]]:
        blob = self.load_blob("balances", {"assets": {}})
        return {a: (v[0], v[1]) for a, v in blob["assets"].items()}

    def save_positions(self, positions: Mapping[str, float], ts: int) -> None:
        self.save_blob("positions", {"ts": int(ts), "positions": dict(positions)})

    def positions(self) -> dict[str, float]:
        return dict(self.load_blob("positions", {"positions": {}})["positions"])
