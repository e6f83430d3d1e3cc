"""Parquet partition files: build, fingerprint, read, and replace them atomically.

A write that touches several partitions first writes every new file under a
temporary name next to its destination, then swaps them in (``os.replace`` on a
local disk, a whole-object copy on object storage). The previous version of each
file is kept as a backup (a hard link locally) until the whole write (catalog
included) has committed, so ``PartitionSwap.rollback`` restores the tree byte for
byte. Readers never see a missing or half-written file.

A file that cannot be read (truncated, overwritten, missing) raises
:class:`CorruptPartition`, a ``DataError`` that names the file and the command that
repairs it, so no command ever shows a raw Arrow traceback.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from tradeloom.adapters.store.catalog import PartitionInfo
from tradeloom.adapters.store.kinds import DataKind, spec
from tradeloom.adapters.store.schema import BAR_COLUMNS, BAR_SCHEMA
from tradeloom.adapters.store.storage import Storage
from tradeloom.engine.errors import DataError

_DTYPES = {"ts": "<i8", **{c: "<f8" for c in BAR_COLUMNS[1:]}}


class CorruptPartition(DataError):
    """A partition file listed in the catalog is missing, unreadable or not ours."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def repair_command(kind: str, exchange: str, timeframe: str, symbol: str) -> str:
    """The command that re-fetches a damaged dataset.

    >>> repair_command("ohlcv", "binance", "1h", "BTC/USDT")
    'tradeloom data repair --exchange binance --symbol BTC/USDT --timeframe 1h'
    """
    words = ["tradeloom data repair", f"--exchange {exchange}", f"--symbol {symbol}"]
    if timeframe:
        words.append(f"--timeframe {timeframe}")
    if kind != DataKind.OHLCV.value:
        words.append(f"--kind {kind}")
    return " ".join(words)


def bars_table(columns: Mapping[str, np.ndarray]) -> pa.Table:
    """A table with exactly the bar schema from numpy arrays (no pandas metadata)."""
    arrays = [pa.array(np.ascontiguousarray(columns[c], dtype=_DTYPES[c])) for c in BAR_COLUMNS]
    return pa.Table.from_arrays(arrays, schema=BAR_SCHEMA)


def kind_table(kind: str, columns: Mapping[str, object]) -> pa.Table:
    """A table with exactly ``kind``'s schema from numpy/Arrow columns."""
    schema = spec(kind).schema
    arrays = []
    for f in schema:
        values = columns[f.name]
        if pa.types.is_string(f.type):
            arrays.append(values if isinstance(values, pa.Array) else pa.array(values, f.type))
        else:
            arrays.append(pa.array(np.ascontiguousarray(values, dtype=f.type.to_pandas_dtype())))
    return pa.Table.from_arrays(arrays, schema=schema)


def content_fingerprint(columns: Mapping[str, object] | pa.Table,
                        schema: pa.Schema = BAR_SCHEMA) -> str:
    """sha256 of the values (little-endian bytes, column by column; strings as offsets,
    bytes and null marks).

    Depends only on the values, not on Parquet encoding or compression, so the same
    rows always give the same fingerprint (bars hash exactly as they always have).

    >>> fp = content_fingerprint({"ts": np.array([0]), "open": np.array([1.0]),
    ...     "high": np.array([1.0]), "low": np.array([1.0]), "close": np.array([1.0]),
    ...     "volume": np.array([0.0])})
    >>> len(fp)
    64
    """
    digest = hashlib.sha256()
    for f in schema:
        if isinstance(columns, pa.Table):
            values = columns.column(f.name)
        else:
            values = columns[f.name]
        digest.update(f.name.encode())
        if pa.types.is_string(f.type):
            _hash_strings(digest, values)
            continue
        if isinstance(values, (pa.ChunkedArray, pa.Array)):
            values = values.to_numpy()
        digest.update(np.ascontiguousarray(values, dtype=f.type.to_pandas_dtype()).tobytes())
    return digest.hexdigest()


def _hash_strings(digest, values) -> None:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    elif not isinstance(values, pa.Array):
        values = pa.array(values, pa.string())
    values = values.cast(pa.large_string())
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset:values.offset + n + 1]
    data = values.buffers()[2]
    first, last = (int(offsets[0]), int(offsets[-1])) if n else (0, 0)
    digest.update((offsets - first).tobytes())
    digest.update(b"" if data is None else memoryview(data)[first:last])
    digest.update(np.asarray(values.is_null()).tobytes() if n else b"")


def read_partition(storage: Storage, part: PartitionInfo,
                   columns: list[str] | None = None) -> pa.Table:
    """Read one partition file, insisting on its kind's schema."""
    where = storage.display(part.path)
    fix = repair_command(part.kind, part.exchange, part.timeframe, part.symbol)
    try:
        table = storage.read_table(part.path, columns=columns)
    except FileNotFoundError as exc:
        raise CorruptPartition(
            f"partition file {where} listed in the catalog is missing; repair it with "
            f"'{fix}'", part.path) from exc
    except (OSError, pa.ArrowException) as exc:
        raise CorruptPartition(
            f"cannot read partition file {where} ({type(exc).__name__}: {exc}); the file is "
            f"damaged: repair it with '{fix}' (or remove the dataset with 'tradeloom data "
            "delete')", part.path) from exc
    check_schema(table.schema, part, where, columns)
    return table


def stream_partition(storage: Storage, part: PartitionInfo, *, columns: list[str] | None = None,
                     batch_size: int = 131_072, row_groups: list[int] | None = None,
                     ) -> Iterator[pa.RecordBatch]:
    """One partition's rows as batches, one row group decoded at a time (no decoding
    threads), so memory stays at about one row group; damage raises CorruptPartition."""
    where = storage.display(part.path)
    fix = repair_command(part.kind, part.exchange, part.timeframe, part.symbol)
    try:
        handle = storage.parquet_file(part.path)
    except (OSError, pa.ArrowException):
        read_partition(storage, part)  # raises the explanatory CorruptPartition
        raise
    with handle:
        check_schema(handle.schema_arrow, part, where)
        wanted = list(spec(part.kind).columns) if columns is None else columns
        groups = list(range(handle.metadata.num_row_groups)) if row_groups is None \
            else row_groups
        if not groups:
            return
        batches = handle.iter_batches(batch_size=batch_size, row_groups=groups, columns=wanted,
                                      use_threads=False)
        while True:
            try:
                batch = next(batches, None)
            except (OSError, pa.ArrowException) as exc:
                raise CorruptPartition(
                    f"cannot read partition file {where} ({type(exc).__name__}: {exc}); the "
                    f"file is damaged: repair it with '{fix}'", part.path) from exc
            if batch is None:
                return
            yield batch


def file_fingerprint(storage: Storage, part: PartitionInfo) -> tuple[str, int]:
    """``content_fingerprint`` of a numeric partition, read one column and one row group at
    a time (bounded memory), and its row count."""
    digest = hashlib.sha256()
    rows = 0
    for f in spec(part.kind).schema:
        digest.update(f.name.encode())
        rows = 0
        for batch in stream_partition(storage, part, columns=[f.name]):
            values = batch.column(0).to_numpy()
            digest.update(np.ascontiguousarray(values, dtype=f.type.to_pandas_dtype()).tobytes())
            rows += batch.num_rows
    return digest.hexdigest(), rows


def check_schema(schema: pa.Schema, part: PartitionInfo, where: str,
                 columns: list[str] | None = None) -> None:
    """CorruptPartition unless ``schema`` is the kind's (or its ``columns``)."""
    full = spec(part.kind).schema
    expected = full if columns is None else pa.schema([full.field(c) for c in columns])
    if not schema.equals(expected, check_metadata=False):
        fix = repair_command(part.kind, part.exchange, part.timeframe, part.symbol)
        raise CorruptPartition(
            f"partition file {where} has schema {schema.names} "
            f"{[str(t) for t in schema.types]}, expected {expected.names} "
            f"{[str(t) for t in expected.types]}; it was changed outside tradeloom: repair it "
            f"with '{fix}'", part.path)


@dataclass
class PartitionSwap:
    """Stage new partition files (and removals), swap them in together, undo on failure.

    Use: ``stage``/``stage_removal`` every file, ``commit`` (swap), then ``finish``
    once the catalog has committed; call ``rollback`` from any failure before ``finish``.
    """

    storage: Storage
    _staged: list[tuple[str, str | None]] = field(default_factory=list)
    _swapped: list[tuple[str, str | None]] = field(default_factory=list)
    _created_dirs: list[str] = field(default_factory=list)

    def stage(self, final: str, table: pa.Table) -> None:
        """Write ``table`` to a temporary file beside ``final`` (creating directories)."""
        self._created_dirs.extend(self.storage.make_dirs(final.rsplit("/", 1)[0]))
        temp = _sibling(final, "tmp")
        self.storage.write_parquet(table, temp)
        self._staged.append((final, temp))

    def stage_removal(self, final: str) -> None:
        """Remove ``final`` on commit (kept as a backup until ``finish``)."""
        self._staged.append((final, None))

    def commit(self) -> None:
        """Swap every staged file into place, keeping the old versions as backups."""
        for final, temp in self._staged:
            backup = None
            if self.storage.exists(final):
                backup = _sibling(final, "bak")
                self.storage.backup(final, backup)
            self._swapped.append((final, backup))
            if temp is None:
                self.storage.delete(final)
            else:
                self.storage.replace(temp, final)

    def rollback(self) -> None:
        """Put the tree back exactly as before ``stage``: old files, no temp files, no new dirs."""
        for final, backup in reversed(self._swapped):
            if backup is not None and self.storage.exists(backup):
                if self.storage.same_file(backup, final):
                    self.storage.delete(backup)  # never swapped; rename() between links is a no-op
                else:
                    self.storage.replace(backup, final)
            elif backup is None and self.storage.exists(final):
                self.storage.delete(final)
        for _, temp in self._staged:
            if temp is not None:
                self.storage.delete(temp)
        self.storage.remove_empty_dirs(list(reversed(self._created_dirs)))
        self._clear()

    def finish(self) -> None:
        """Forget the backups once the write as a whole has committed."""
        emptied = []
        for final, backup in self._swapped:
            if backup is not None:
                self.storage.delete(backup)
            if not self.storage.exists(final):
                emptied.append(final.rsplit("/", 1)[0])
        self.storage.remove_empty_dirs(_with_parents(emptied))
        self._clear()

    def _clear(self) -> None:
        self._staged.clear()
        self._swapped.clear()
        self._created_dirs.clear()


def _sibling(final: str, what: str) -> str:
    head, _, name = final.rpartition("/")
    return f"{head}/.{name}.{os.getpid()}.{what}" if head else f".{name}.{os.getpid()}.{what}"


def _with_parents(dirs: list[str]) -> list[str]:
    """Each directory and its parents, deepest first, without repeats."""
    out: list[str] = []
    for directory in dirs:
        probe = directory
        while probe:
            if probe not in out:
                out.append(probe)
            probe = probe.rpartition("/")[0]
    return sorted(out, key=lambda d: -d.count("/"))
