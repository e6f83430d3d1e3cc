"""Parquet partition files: build, fingerprint, read, and replace them atomically.

A write that touches several partitions first writes every new file under a
temporary name next to its destination, then swaps them in with ``os.replace``
(atomic on POSIX). The previous version of each file is kept as a hard link until
the whole write (catalog included) has committed, so ``PartitionSwap.rollback``
restores the tree byte for byte. Readers never see a missing or half-written file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tradeloom.engine.errors import DataError

from tradeloom.adapters.store.schema import BAR_COLUMNS, BAR_SCHEMA

#: Row groups of 128 Ki rows keep streaming reads small (~6 MiB decoded per group).
ROW_GROUP_SIZE = 131_072
_DTYPES = {"ts": "<i8", **{c: "<f8" for c in BAR_COLUMNS[1:]}}


def bars_table(columns: Mapping[str, np.ndarray]) -> pa.Table:
    """A table with exactly the bar schema from numpy arrays (no pandas metadata)."""
    arrays = [pa.array(np.ascontiguousarray(columns[c], dtype=_DTYPES[c])) for c in BAR_COLUMNS]
    return pa.Table.from_arrays(arrays, schema=BAR_SCHEMA)


def content_fingerprint(columns: Mapping[str, np.ndarray] | pa.Table) -> str:
    """sha256 of the bar values (little-endian bytes, column by column).

    Depends only on the values, not on Parquet encoding or compression, so the same
    bars always give the same fingerprint.

    >>> fp = content_fingerprint({"ts": np.array([0]), "open": np.array([1.0]),
    ...     "high": np.array([1.0]), "low": np.array([1.0]), "close": np.array([1.0]),
    ...     "volume": np.array([0.0])})
    >>> len(fp)
    64
    """
    digest = hashlib.sha256()
    for name in BAR_COLUMNS:
        if isinstance(columns, pa.Table):
            values = columns.column(name).to_numpy()
        else:
            values = columns[name]
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(values, dtype=_DTYPES[name]).tobytes())
    return digest.hexdigest()


def read_partition(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read one partition file, insisting on the bar schema."""
    try:
        table = pq.read_table(path, columns=columns)
    except FileNotFoundError as exc:
        raise DataError(
            f"partition file {path} listed in the catalog is missing; run "
            "'tradeloom data check' and re-ingest that dataset"
        ) from exc
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read partition file {path}: {exc}; re-ingest that dataset") from exc
    expected = BAR_SCHEMA if columns is None else pa.schema([BAR_SCHEMA.field(c) for c in columns])
    if not table.schema.equals(expected, check_metadata=False):
        raise DataError(
            f"partition file {path} has schema {table.schema.names} "
            f"{[str(t) for t in table.schema.types]}, expected {BAR_SCHEMA.names} "
            "(int64 ts, float64 values); it was changed outside tradeloom; re-ingest it"
        )
    return table


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` as zstd Parquet with statistics (used for temp files only)."""
    pq.write_table(
        table, path, compression="zstd", use_dictionary=False, write_statistics=True,
        row_group_size=ROW_GROUP_SIZE,
    )


@dataclass
class PartitionSwap:
    """Stage new partition files, swap them in together, and undo on failure.

    Use: ``stage`` every file, ``commit`` (swap), then ``finish`` once the catalog
    has committed; call ``rollback`` from any failure before ``finish``.
    """

    root: Path
    _staged: list[tuple[Path, Path]] = field(default_factory=list)
    _swapped: list[tuple[Path, Path | None]] = field(default_factory=list)
    _created_dirs: list[Path] = field(default_factory=list)

    def stage(self, final: Path, table: pa.Table) -> None:
        """Write ``table`` to a temporary file beside ``final`` (creating directories)."""
        self._make_dirs(final.parent)
        temp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        write_parquet(table, temp)
        self._staged.append((final, temp))

    def _make_dirs(self, directory: Path) -> None:
        missing = []
        probe = directory
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            path.mkdir()
            self._created_dirs.append(path)

    def commit(self) -> None:
        """Swap every staged file into place, keeping the old versions as backups."""
        for final, temp in self._staged:
            backup = None
            if final.exists():
                backup = final.with_name(f".{final.name}.{os.getpid()}.bak")
                _link_or_copy(final, backup)
            self._swapped.append((final, backup))
            os.replace(temp, final)

    def rollback(self) -> None:
        """Put the tree back exactly as before ``stage``: old files, no temp files, no new dirs."""
        for final, backup in reversed(self._swapped):
            if backup is not None and backup.exists():
                if final.exists() and os.path.samefile(backup, final):
                    backup.unlink()  # never swapped; rename() between hard links is a no-op
                else:
                    os.replace(backup, final)
            elif backup is None and final.exists():
                final.unlink()
        for _, temp in self._staged:
            temp.unlink(missing_ok=True)
        for directory in reversed(self._created_dirs):
            if directory.exists() and not any(directory.iterdir()):
                directory.rmdir()
        self._staged.clear()
        self._swapped.clear()
        self._created_dirs.clear()

    def finish(self) -> None:
        """Forget the backups once the write as a whole has committed."""
        for _, backup in self._swapped:
            if backup is not None:
                backup.unlink(missing_ok=True)
        self._staged.clear()
        self._swapped.clear()
        self._created_dirs.clear()


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` (copy where links are unsupported)."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
