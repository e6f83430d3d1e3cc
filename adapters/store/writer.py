"""Writing one dataset: merge rows into its partition files, delete ranges, recover.

Every change follows one protocol (the caller holds the store's write lock):
stage the new files under temporary names, then in one catalog transaction write the
catalog rows and swap the files in; on any failure put files and catalog back as
they were (:class:`~tradeloom.adapters.store.parquet_io.PartitionSwap`).

:func:`recover` undoes what a killed writer (SIGKILL, power cut) left behind in a
dataset's directory: temporary files are deleted, backups are put back or dropped
by comparing fingerprints with the catalog, and files the catalog does not list are
removed. Every write calls it first, so a kill costs at most the write in flight.

:class:`BulkWriter` streams rows in time order (an import of any size): it keeps
one partition in memory, stages each finished partition, and commits them all in
one transaction at the end, so memory stays bounded and the write stays atomic.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tradeloom.adapters.store.bar_merge import Dataset
from tradeloom.adapters.store.catalog import Catalog, CatalogWriter, DatasetInfo, PartitionInfo
from tradeloom.adapters.store.kinds import (
    DataKind,
    dataset_dir,
    is_daily,
    part_bounds,
    part_of,
    partition_path,
    spec,
)
from tradeloom.adapters.store.parquet_io import (
    CorruptPartition,
    PartitionSwap,
    content_fingerprint,
    kind_table,
    read_partition,
)
from tradeloom.adapters.store.records import Rows, empty_rows, merge_rows
from tradeloom.adapters.store.storage import Storage
from tradeloom.engine.errors import DataError

#: More catalog statements for the same transaction, given the rows the write added.
CatalogExtra = Callable[[CatalogWriter, int], None]


@dataclass(frozen=True, slots=True)
class WriteReport:
    """What one write did; first/last ts and rows_total describe the whole stored
    dataset afterwards, ``partitions`` the files (re)written."""

    exchange: str
    timeframe: str
    symbol: str
    rows_added: int
    rows_total: int
    first_ts: int | None
    last_ts: int | None
    partitions: tuple[str, ...]
    kind: str = "ohlcv"


def table_rows(table: pa.Table, kind: str) -> Rows:
    """A partition table as numpy arrays (strings as object arrays)."""
    out: Rows = {}
    for f in spec(kind).schema:
        column = table.column(f.name)
        if pa.types.is_string(f.type):
            out[f.name] = np.array(column.to_pylist(), dtype=object)
        else:
            out[f.name] = column.to_numpy()
    return out


def dataset_fingerprint(parts: Sequence[PartitionInfo]) -> str:
    """sha256 over the parts' keys and content fingerprints (in part order)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(f"{part.part}|{part.fingerprint}\n".encode())
    return digest.hexdigest()


def _part_info(key: Dataset, part: int, rows: Rows) -> PartitionInfo:
    return PartitionInfo(key.exchange, key.timeframe, key.symbol, part,
                         partition_path(key.kind, key.exchange, key.timeframe, key.symbol, part),
                         len(rows["ts"]), int(rows["ts"][0]), int(rows["ts"][-1]),
                         content_fingerprint(rows, spec(key.kind).schema), key.kind)


class DatasetWriter:
    """Changes to one dataset; the caller holds the store's write lock."""

    def __init__(self, storage: Storage, catalog: Catalog, key: Dataset) -> None:
        self.storage, self.catalog, self.key = storage, catalog, key
        self.daily = is_daily(DataKind(key.kind), key.timeframe)

    def stored(self) -> dict[int, PartitionInfo]:
        k = self.key
        found = self.catalog.partitions(k.exchange, k.timeframe, [k.symbol], kind=k.kind)
        return {p.part: p for p in found.get(k.symbol, [])}

    def read(self, part: PartitionInfo) -> Rows:
        return table_rows(read_partition(self.storage, part), self.key.kind)

    # ------------------------------------------------------------------ writes
    def write(self, rows: Rows, *, source: str, run_id: str | None,
              extra: CatalogExtra | None = None) -> WriteReport:
        """Merge sorted, validated ``rows`` into the stored parts and commit."""
        stored = self.stored()
        changed: list[tuple[PartitionInfo, pa.Table]] = []
        added_total = 0
        parts = part_of(rows["ts"], self.daily)
        cuts = [0, *(np.flatnonzero(np.diff(parts)) + 1).tolist(), len(parts)]
        for a, b in itertools.pairwise(cuts):
            if a == b:
                continue
            part = int(parts[a])
            new = {c: v[a:b] for c, v in rows.items()}
            old = self.read(stored[part]) if part in stored else empty_rows(DataKind(
                self.key.kind))
            merged, added = merge_rows(DataKind(self.key.kind), old, new, self.key)
            if added:
                added_total += added
                changed.append((_part_info(self.key, part, merged),
                                kind_table(self.key.kind, merged)))
        return self.commit(stored, changed, [], added_total, source=source, run_id=run_id,
                           extra=extra)

    def commit(self, stored: dict[int, PartitionInfo],
               changed: list[tuple[PartitionInfo, pa.Table | None]], removed: list[int],
               added: int, *, source: str, run_id: str | None,
               extra: CatalogExtra | None = None, staged: PartitionSwap | None = None
               ) -> WriteReport:
        """Stage ``changed`` (a table, or None if already staged in ``staged``), drop
        ``removed`` parts, update the catalog, swap; undo everything on failure."""
        parts = {p: info for p, info in stored.items() if p not in removed}
        parts.update({info.part: info for info, _ in changed})
        ordered = [parts[p] for p in sorted(parts)]
        if not changed and not removed:
            return self._report(ordered, 0, ())
        swap = staged if staged is not None else PartitionSwap(self.storage)
        try:
            for info, table in changed:
                if table is not None:
                    swap.stage(info.path, table)
            for part in removed:
                swap.stage_removal(stored[part].path)
            with self.catalog.transaction() as tx:
                k = self.key
                if ordered:
                    info = DatasetInfo(k.exchange, k.timeframe, k.symbol, ordered[0].first_ts,
                                       ordered[-1].last_ts, sum(p.rows for p in ordered),
                                       len(ordered), dataset_fingerprint(ordered), k.kind)
                    tx.put_dataset(info, [i for i, _ in changed], source=source, run_id=run_id,
                                   removed=removed)
                else:
                    tx.delete_dataset(k.exchange, k.timeframe, k.symbol, kind=k.kind)
                if extra is not None:
                    extra(tx, added)
                swap.commit()
        except BaseException:
            swap.rollback()
            raise
        swap.finish()
        return self._report(ordered, added, tuple(i.path for i, _ in changed))

    def delete_range(self, start: int | None, end: int | None, *, source: str) -> int:
        """Remove rows with ``start <= ts < end`` (all if both None); returns rows removed."""
        stored = self.stored()
        lo = -(2**63) if start is None else start
        hi = 2**63 - 1 if end is None else end
        changed, removed, count = [], [], 0
        for part, info in sorted(stored.items()):
            if info.last_ts < lo or info.first_ts >= hi:
                continue
            if info.first_ts >= lo and info.last_ts < hi:
                removed.append(part)
                count += info.rows
                continue
            rows = self.read(info)
            keep = (rows["ts"] < lo) | (rows["ts"] >= hi)
            count += int((~keep).sum())
            kept = {c: v[keep] for c, v in rows.items()}
            changed.append((_part_info(self.key, part, kept), kind_table(self.key.kind, kept)))
        if count:
            self.commit(stored, changed, removed, 0, source=source, run_id=None)
        return count

    def drop_parts(self, parts: Sequence[int], *, source: str) -> None:
        """Forget damaged parts: remove their files and catalog rows (they become holes)."""
        stored = self.stored()
        wanted = [p for p in parts if p in stored]
        if wanted:
            self.commit(stored, [], wanted, 0, source=source, run_id=None)

    def _report(self, ordered: Sequence[PartitionInfo], added: int,
                written: tuple[str, ...]) -> WriteReport:
        k = self.key
        return WriteReport(k.exchange, k.timeframe, k.symbol, added,
                           sum(p.rows for p in ordered),
                           ordered[0].first_ts if ordered else None,
                           ordered[-1].last_ts if ordered else None, written, k.kind)


def recover(storage: Storage, catalog: Catalog, key: Dataset) -> list[str]:
    """Clean up after a writer that was killed in this dataset's directory (see the
    module docstring); returns what was done, one line per file."""
    directory = dataset_dir(key.kind, key.exchange, key.timeframe, key.symbol)
    files = storage.list_files(directory)
    if not files:
        return []
    listed = {p.path: p for p in DatasetWriter(storage, catalog, key).stored().values()}
    done = []
    for rel in files:
        head, _, name = rel.rpartition("/")
        if name.startswith(".") and name.endswith(".tmp"):
            storage.delete(rel)
            done.append(f"deleted temporary file {rel}")
        elif name.startswith(".") and name.endswith(".bak"):
            final = f"{head}/{name[1:].rsplit('.', 2)[0]}"
            done.append(_settle_backup(storage, listed.get(final), rel, final))
    for rel in files:
        name = rel.rpartition("/")[2]
        if not name.startswith(".") and rel not in listed and storage.exists(rel):
            storage.delete(rel)
            done.append(f"deleted {rel}: not in the catalog (a write was killed before it "
                        "committed)")
    return done


def _settle_backup(storage: Storage, part: PartitionInfo | None, backup: str,
                   final: str) -> str:
    """Keep whichever of ``final``/``backup`` the catalog describes."""
    if part is None:
        storage.delete(backup)
        return f"deleted backup {backup}: the catalog no longer lists {final}"
    if _matches(storage, part, final):
        storage.delete(backup)
        return f"deleted backup {backup}: {final} matches the catalog"
    if _matches(storage, part, backup):
        storage.replace(backup, final)
        return f"restored {final} from {backup} (a write was killed before it committed)"
    storage.delete(backup)
    return f"deleted backup {backup}: neither it nor {final} matches the catalog"


def _matches(storage: Storage, part: PartitionInfo, rel: str) -> bool:
    if not storage.exists(rel):
        return False
    probe = PartitionInfo(part.exchange, part.timeframe, part.symbol, part.part, rel,
                          part.rows, part.first_ts, part.last_ts, part.fingerprint, part.kind)
    try:
        table = read_partition(storage, probe)
    except CorruptPartition:
        return False
    return content_fingerprint(table, spec(part.kind).schema) == part.fingerprint


class BulkWriter:
    """Stream time-ordered rows of one dataset into the store in one atomic write.

    ``add`` rows in non-decreasing ts order (each call any size); ``close`` commits.
    Holds at most one partition (plus the stored version of it) in memory.
    """

    def __init__(self, writer: DatasetWriter, *, source: str, run_id: str | None = None) -> None:
        self.writer, self.source, self.run_id = writer, source, run_id
        self.kind = DataKind(writer.key.kind)
        self.stored = writer.stored()
        self.swap = PartitionSwap(writer.storage)
        self.changed: list[tuple[PartitionInfo, None]] = []
        self.added = 0
        self._part: int | None = None
        self._chunks: list[Rows] = []
        self._last_ts: int | None = None
        self.report: WriteReport | None = None

    def add(self, rows: Rows) -> None:
        """Add sorted rows (ts never earlier than the rows added before)."""
        ts = rows["ts"]
        if len(ts) == 0:
            return
        if (self._last_ts is not None and ts[0] < self._last_ts) or np.any(np.diff(ts) < 0):
            raise DataError(f"{self.writer.key}: bulk rows must come in time order")
        self._last_ts = int(ts[-1])
        parts = part_of(ts, self.writer.daily)
        cuts = [0, *(np.flatnonzero(np.diff(parts)) + 1).tolist(), len(parts)]
        for a, b in itertools.pairwise(cuts):
            part = int(parts[a])
            if self._part is not None and part != self._part:
                self._flush()
            self._part = part
            self._chunks.append({c: v[a:b] for c, v in rows.items()})

    def _flush(self) -> None:
        if self._part is None or not self._chunks:
            return
        new = {c: np.concatenate([ch[c] for ch in self._chunks]) for c in self._chunks[0]}
        self._chunks = []
        part, self._part = self._part, None
        stored = self.stored.get(part)
        old = self.writer.read(stored) if stored is not None else empty_rows(self.kind)
        merged, added = merge_rows(self.kind, old, new, self.writer.key)
        if not added:
            return
        self.added += added
        info = _part_info(self.writer.key, part, merged)
        self.swap.stage(info.path, kind_table(self.kind, merged))
        self.changed.append((info, None))

    def close(self, extra: CatalogExtra | None = None) -> WriteReport:
        """Commit every staged partition and the catalog in one transaction."""
        try:
            self._flush()
        except BaseException:
            self.swap.rollback()
            raise
        return self.writer.commit(self.stored, self.changed, [], self.added, source=self.source,
                                  run_id=self.run_id, extra=extra, staged=self.swap)

    def abort(self) -> None:
        """Drop everything staged; the store is left as it was."""
        self._chunks = []
        self.swap.rollback()


def part_range(key: Dataset, part: int) -> tuple[int, int]:
    """``[first ms, end ms)`` covered by one partition of ``key``."""
    return part_bounds(part, is_daily(DataKind(key.kind), key.timeframe))


__all__ = ["BulkWriter", "DatasetWriter", "WriteReport", "dataset_fingerprint", "part_range",
           "recover", "table_rows"]
