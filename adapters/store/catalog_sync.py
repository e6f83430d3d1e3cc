"""Keeping the DuckDB catalog of an object-store (S3) market store in step across machines.

DuckDB needs a local file it can lock, so the catalog of ``s3://bucket/prefix`` is
worked on as a local copy in ``$TRADELOOM_CACHE_DIR/s3/<bucket>/<prefix>/`` (default
``~/.cache/tradeloom``). The copy of record is published beside the Parquet files:

- ``<prefix>/catalog.duckdb``: the catalog, uploaded whole after every committed write;
- ``<prefix>/catalog.token``: a random token, uploaded after the catalog, that names
  that version.

**Readers** (``pull``) compare the remote token with the one they last fetched and
download the catalog only when it changed, so a Dask worker on another machine sees
every write that finished before its task started; a reader never waits for a local
writer (if one holds the lock, the local copy is the newest anyway).
**Writers** (``before_write``/``after_write``) hold the store's write lock: they
fetch a newer remote catalog first, commit locally, checkpoint, then publish catalog
and token. A write whose publish failed is remembered (``pending``) and published
by the next writer before anything else, never overwritten by a download.

Decision (documented in ``docs/store.md``): one machine writes at a time. Two
machines writing one object store at the same moment are not detected; the later
publish wins. Ingest from one place and read (backtest, sweep) from anywhere.
"""

from __future__ import annotations

import json
import os
import uuid

from tradeloom.adapters.store import duck
from tradeloom.adapters.store.storage import S3Storage

CATALOG_OBJECT = "catalog.duckdb"
TOKEN_OBJECT = "catalog.token"
STATE_FILE = "catalog.sync.json"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class CatalogSync:
    """Pull and publish the catalog of one :class:`S3Storage` (see the module docstring)."""

    def __init__(self, storage: S3Storage, catalog_file: str, lock_file: str) -> None:
        self.storage = storage
        self.local = storage.catalog_dir / catalog_file
        self.lock_path = storage.catalog_dir / lock_file
        self.state_path = storage.catalog_dir / STATE_FILE

    # ------------------------------------------------------------------ state
    def _state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {"token": None, "pending": False}

    def _save_state(self, token: str | None, pending: bool) -> None:
        temp = self.state_path.with_name(f".{self.state_path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps({"token": token, "pending": pending}), encoding="utf-8")
        os.replace(temp, self.state_path)

    def _remote_token(self) -> str | None:
        raw = self.storage.read_bytes(TOKEN_OBJECT)
        return raw.decode("ascii").strip() if raw else None

    # ------------------------------------------------------------------ reads
    def pull(self) -> None:
        """Fetch a newer published catalog unless a local writer is busy."""
        if fcntl is None:
            self._pull_locked()
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a writer on this machine holds it: the local copy is the newest
            try:
                self._pull_locked()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _pull_locked(self) -> None:
        state = self._state()
        if state["pending"]:
            return
        remote = self._remote_token()
        if remote is None or remote == state["token"]:
            return
        for leftover in (self.local.with_name(self.local.name + ".wal"),):
            leftover.unlink(missing_ok=True)
        if self.storage.download(CATALOG_OBJECT, self.local):
            self._save_state(remote, False)

    # ------------------------------------------------------------------ writes
    def before_write(self) -> None:
        """Under the write lock: publish a write left pending, else fetch a newer catalog."""
        if self._state()["pending"]:
            self.publish()
        else:
            self._pull_locked()

    def after_write(self) -> None:
        """Under the write lock, after a local commit: publish the new catalog."""
        self._save_state(self._state()["token"], True)
        self.publish()

    def publish(self) -> None:
        """Checkpoint the local catalog and upload it, then its new token."""
        if not self.local.is_file():
            return
        con = duck.connect(self.local, read_only=False)  # waits while a reader has it open
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()
        token = uuid.uuid4().hex
        self.storage.upload(self.local, CATALOG_OBJECT)
        self.storage.write_bytes(TOKEN_OBJECT, token.encode("ascii"))
        self._save_state(token, False)


def published_paths() -> tuple[str, str]:
    """The object names a store publishes its catalog under (for listings that skip them)."""
    return CATALOG_OBJECT, TOKEN_OBJECT


__all__ = ["CATALOG_OBJECT", "STATE_FILE", "TOKEN_OBJECT", "CatalogSync", "published_paths"]
