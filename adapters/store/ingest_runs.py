"""The ingest-run log's lifecycle: running, then ok/failed/interrupted, or *died*.

A run is recorded as ``running`` before its first request and holds an exclusive
lock on ``runs/<run_id>.lock`` beside the catalog for as long as its process lives.
The operating system drops that lock when the process ends in any way, SIGKILL and
OOM kills included. When the next run starts it looks at every run still recorded
as ``running``: if nobody holds that run's lock, the process is gone and the run is
recorded as ``died``, with the rows it had written (counted in the same transaction
as each write, so the count is exact) and what to do. A live run in another
process keeps its lock and is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tradeloom.adapters.store.catalog import IngestRun

if TYPE_CHECKING:
    from tradeloom.adapters.store.market_store import MarketStore

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: died runs are not detected
    fcntl = None  # type: ignore[assignment]

RUNS_DIR = "runs"


def _lock_path(store: MarketStore, run_id: str) -> Path:
    return Path(store.storage.catalog_dir) / RUNS_DIR / f"{run_id}.lock"


def _held(path: Path) -> bool:
    """Whether another process holds the lock on ``path``."""
    if fcntl is None or not path.exists():
        return False
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@contextmanager
def run_lock(store: MarketStore, run_id: str) -> Iterator[None]:
    """Hold ``run_id``'s lock for the life of the run (released by the OS on any exit)."""
    path = _lock_path(store, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)
    path.unlink(missing_ok=True)


def start_run(store: MarketStore, run: IngestRun, now_ms: int) -> list[IngestRun]:
    """Record ``run`` as running; first record every run whose process is gone as died.

    Call it while holding ``run``'s own lock. Returns the runs found dead.
    """
    died: list[IngestRun] = []
    with store.catalog_transaction() as tx:
        for other in tx.running_runs():
            if other.run_id == run.run_id or _held(_lock_path(store, other.run_id)):
                continue
            dead = replace(other, status="died", finished_ts=now_ms, message=(
                f"the process stopped without finishing (killed, crashed or the machine went "
                f"down) after writing {other.rows_added} rows; noticed when run {run.run_id} "
                "started. Every committed write is intact; re-run the same command to fetch "
                "what it missed"))
            tx.put_ingest_run(dead)
            died.append(dead)
            _lock_path(store, other.run_id).unlink(missing_ok=True)
        tx.put_ingest_run(replace(run, status="running", rows_added=0))
    return died


def finish_run(store: MarketStore, run: IngestRun) -> IngestRun:
    """Record how ``run`` ended, keeping the row count its writes recorded."""
    counted = next((r.rows_added for r in store.ingest_runs() if r.run_id == run.run_id), None)
    final = replace(run, rows_added=counted if counted is not None else run.rows_added)
    store.record_ingest_run(final)
    return final


__all__ = ["RUNS_DIR", "finish_run", "run_lock", "start_run"]
