"""LiveStateStore: everything persists, and a restart never reuses a client order id."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tradeloom.adapters.ccxt.sender import client_order_id, parse_client_order_id
from tradeloom.adapters.live.state import FillRecord, LiveStateStore, OrderRecord
from tradeloom.engine.errors import ConfigError


def record(cid: str, status: str = "pending", **kw) -> OrderRecord:
    return OrderRecord(cid, 1, "BTC/USDT", "buy", "limit", 0.01, 1_000, status=status,
                       price=100.0, **kw)


def test_orders_fills_and_snapshots_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = LiveStateStore(path, run_id="abc")
    store.save_order(record("tl-abc-1"))
    store.update_order("tl-abc-1", status="open", exchange_id="77")
    fill = FillRecord("9001", "tl-abc-1", 1, "BTC/USDT", "buy", 2_000, 100.0, 0.01, 0.001)
    assert store.add_fill(fill) is True
    assert store.add_fill(fill) is False  # the same trade id twice: stored once
    store.set_last_trade("BTC/USDT", "9001", 2_000)
    store.save_blob("breakers", {"daily_loss": {"tripped": True, "until": 5}})
    store.save_blob("strategy", {"fast": [1.0, 2.0]})
    store.save_balances({"USDT": (90.0, 10.0)}, 3_000)
    store.save_positions({"BTC/USDT": 0.01}, 3_000)
    store.close()

    again = LiveStateStore(path)
    assert again.run_id == "abc"
    (stored,) = again.orders(working_only=True)
    assert (stored.client_id, stored.status, stored.exchange_id) == ("tl-abc-1", "open", "77")
    assert again.order_by_exchange_id("BTC/USDT", "77") == stored
    assert again.fills() == [fill]
    assert again.last_trade("BTC/USDT") == ("9001", 2_000)
    assert again.load_blob("breakers") == {"daily_loss": {"tripped": True, "until": 5}}
    assert again.load_blob("strategy") == {"fast": [1.0, 2.0]}
    assert again.balances() == {"USDT": (90.0, 10.0)}
    assert again.positions() == {"BTC/USDT": 0.01}


def test_sequence_continues_after_restart_and_never_repeats(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    store = LiveStateStore(path, run_id="abc", seq_block=4)
    first = [store.next_seq() for _ in range(6)]
    store.close()  # a crash loses the in-memory rest of the reserved block: only a gap
    store = LiveStateStore(path, run_id="abc", seq_block=4)
    second = [store.next_seq() for _ in range(3)]
    assert first == [1, 2, 3, 4, 5, 6]
    assert min(second) > max(first) and len(set(first + second)) == 9
    store.ensure_seq_after(100)  # reconcile saw tl-abc-100 on the exchange
    assert store.next_seq() == 101


def test_run_id_rules(tmp_path: Path) -> None:
    LiveStateStore(tmp_path / "a.sqlite", run_id="abc").close()
    with pytest.raises(ConfigError, match="belongs to run 'abc'"):
        LiveStateStore(tmp_path / "a.sqlite", run_id="xyz")
    with pytest.raises(ConfigError, match="lowercase letters or digits"):
        LiveStateStore(tmp_path / "b.sqlite", run_id="Bad-Id")
    generated = LiveStateStore(tmp_path / "c.sqlite")
    cid = client_order_id(generated.run_id, 10**12)
    assert len(cid) <= 32 and parse_client_order_id(cid) == (generated.run_id, 10**12)


def test_wal_and_full_sync(tmp_path: Path) -> None:
    store = LiveStateStore(tmp_path / "s.sqlite", run_id="abc")
    assert store._read("PRAGMA journal_mode")[0][0] == "wal"
    assert store._read("PRAGMA synchronous")[0][0] == 2  # FULL
    store.save_order(record("tl-abc-1"))
    # Another connection (another process after a crash) sees the committed row at once.
    other = sqlite3.connect(tmp_path / "s.sqlite")
    assert other.execute("SELECT client_id FROM orders").fetchall() == [("tl-abc-1",)]
