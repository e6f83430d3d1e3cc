"""Opening DuckDB files: one connection per operation, waited for while busy, one
transaction rule. The market-data catalog, the deployments beside it and the model
registry all open their files here.

Why one connection per operation: DuckDB lets one process at a time hold a database
file for writing, so a connection kept open would lock every other process (an
ingest, a training run, a deploy command) out. Every operation opens its file, does
its work and closes it; there is no shared global connection.

**Retry policy** (:func:`connect`): while DuckDB says the file is held by another
process or connection (its messages mention a *lock*, a *different configuration* or
an *already attached* database), opening is retried every :data:`POLL_S` (50 ms) for
up to :data:`LOCK_TIMEOUT_S` (15 s); still busy at the deadline, or any other
failure, is a :class:`~tradeloom.engine.errors.DataError` naming the file.

**Reads** (:func:`reading`) open the file read-only, so several processes can read
at once.

**Writes** (:func:`transaction`) run in one transaction: ``BEGIN``, the schema
statements (``CREATE TABLE IF NOT EXISTS ...``), the caller's statements, ``COMMIT``.
Any exception rolls everything back (a failed rollback is noted on the exception),
closes the connection and propagates, so a write that raises leaves the database as
it was. If the transaction created the file and fails, the file and its ``.wal`` are
removed again: a failed first write leaves no trace.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "t.duckdb"
>>> with transaction(path, schema="CREATE TABLE IF NOT EXISTS t (x INTEGER)") as con:
...     _ = con.execute("INSERT INTO t VALUES (1)")
>>> with reading(path) as con:
...     con.execute("SELECT x FROM t").fetchall()
[(1,)]
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from tradeloom.engine.errors import DataError

#: How long opening waits for another process to release the file.
LOCK_TIMEOUT_S = 15.0
#: How often opening retries meanwhile.
POLL_S = 0.05
#: DuckDB's words for "another process or connection holds the file right now".
_BUSY_SIGNS = ("lock", "different configuration", "already attached")


def connect(path: str | Path, *, read_only: bool,
            timeout_s: float = LOCK_TIMEOUT_S) -> duckdb.DuckDBPyConnection:
    """Open ``path``, waiting up to ``timeout_s`` while another process holds it.

    The caller closes the connection; :func:`reading` and :func:`transaction` do that.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException,
                duckdb.ResourceInUseException) as exc:
            text = str(exc)
            if not any(sign in text.lower() for sign in _BUSY_SIGNS):
                raise DataError(f"cannot open DuckDB file {path}: {text}") from exc
            if time.monotonic() >= deadline:
                raise DataError(
                    f"DuckDB file {path} is busy: another process has held it for "
                    f"{timeout_s:.0f} s ({text}); wait for that process (an ingest, a training "
                    "run, a deploy command) to finish") from exc
            time.sleep(POLL_S)


@contextmanager
def reading(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to ``path``, closed on exit."""
    con = connect(path, read_only=True)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(path: str | Path, *, schema: str = "") -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection inside one transaction: committed on normal exit, rolled
    back on any exception; ``schema`` runs first, inside it (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    con = connect(path, read_only=False)
    created = False
    try:
        con.execute("BEGIN TRANSACTION")
        # Another process may have created (and filled) the file between the check and
        # the open: then it is not ours to remove.
        created = not existed and not con.execute(
            "SELECT count(*) FROM information_schema.tables").fetchone()[0]
        if schema:
            con.execute(schema)
        yield con
        con.execute("COMMIT")
    except BaseException as exc:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error as rollback_error:
            exc.add_note(f"DuckDB rollback of {path} also failed: {rollback_error}")
        finally:
            con.close()
            if created:
                for leftover in (path, path.with_name(path.name + ".wal")):
                    leftover.unlink(missing_ok=True)
        raise
    con.close()


__all__ = ["LOCK_TIMEOUT_S", "POLL_S", "connect", "reading", "transaction"]
