"""The one DuckDB helper: a write that raises changes nothing, a failed first write leaves
no file, a database another process holds is waited for, then opened (or named as busy)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tradeloom.adapters.store import duck
from tradeloom.engine.errors import DataError

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k VARCHAR, v INTEGER)"


def rows(path):
    with duck.reading(path) as con:
        return con.execute("SELECT k, v FROM t ORDER BY k").fetchall()


def test_a_write_that_raises_leaves_the_database_unchanged(tmp_path):
    path = tmp_path / "db.duckdb"
    with duck.transaction(path, schema=SCHEMA) as con:
        con.execute("INSERT INTO t VALUES ('a', 1), ('b', 2)")
    with pytest.raises(RuntimeError, match="half way"), \
            duck.transaction(path, schema=SCHEMA) as con:
        con.execute("UPDATE t SET v = 10 WHERE k = 'a'")
        con.execute("DELETE FROM t WHERE k = 'b'")
        con.execute("INSERT INTO t VALUES ('c', 3)")
        raise RuntimeError("half way")
    assert rows(path) == [("a", 1), ("b", 2)]


def test_a_failed_first_write_leaves_no_file(tmp_path):
    path = tmp_path / "new" / "db.duckdb"
    with pytest.raises(RuntimeError), duck.transaction(path, schema=SCHEMA) as con:
        con.execute("INSERT INTO t VALUES ('a', 1)")
        raise RuntimeError("boom")
    assert not path.exists() and not path.with_name("db.duckdb.wal").exists()


def _hold(path, seconds: float) -> subprocess.Popen:
    """Another process opens ``path`` read-write and keeps it for ``seconds``."""
    code = ("import duckdb, sys, time\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "print('held', flush=True)\n"
            "time.sleep(float(sys.argv[2]))\n"
            "con.close()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(path), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_busy_database_is_waited_for_then_opened(tmp_path):
    path = tmp_path / "db.duckdb"
    with duck.transaction(path, schema=SCHEMA) as con:
        con.execute("INSERT INTO t VALUES ('a', 1)")
    holder = _hold(path, 1.0)
    try:
        started = time.monotonic()
        with duck.transaction(path, schema=SCHEMA) as con:
            waited = time.monotonic() - started
            con.execute("INSERT INTO t VALUES ('b', 2)")
    finally:
        holder.wait(timeout=30)
    assert waited >= 0.3  # opened only after the other process let go
    assert rows(path) == [("a", 1), ("b", 2)]


def test_a_database_busy_past_the_timeout_is_named(tmp_path):
    path = tmp_path / "db.duckdb"
    with duck.transaction(path, schema=SCHEMA):
        pass
    holder = _hold(path, 3.0)
    try:
        with pytest.raises(DataError, match=r"db\.duckdb is busy: another process"):
            duck.connect(path, read_only=False, timeout_s=0.3)
    finally:
        holder.wait(timeout=30)
