"""``MarketStore.check``: run the data checks over every file of a stored dataset.

Each file is read and checked in turn, so memory holds one file at a time. A file
that cannot be read is *reported* (an integrity problem naming the file and the
repair command), never raised: the check goes on with the rest of the dataset and
the other datasets. Gaps acknowledged in the catalog (``known_gaps``: by a person,
the sample, or an exchange that confirmed it has nothing there) are counted apart
and do not fail the check; any other gap does.

Funding rates have no fixed grid (Binance stamps them a few ms past the hour and
some symbols switch between 8h, 4h and 1h): a funding *gap* is a step longer than
1.5 times the dataset's usual step (the most common one). Trades have no gaps.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tradeloom.adapters.store.bar_merge import Dataset
from tradeloom.adapters.store.catalog import Catalog, DatasetInfo
from tradeloom.adapters.store.checks import (
    MAX_EXAMPLES,
    CheckAccumulator,
    CheckReport,
    Gap,
    covered,
)
from tradeloom.adapters.store.kinds import DataKind, dataset_dir, spec
from tradeloom.adapters.store.parquet_io import (
    CorruptPartition,
    content_fingerprint,
    file_fingerprint,
    read_partition,
    stream_partition,
)
from tradeloom.adapters.store.records import bad_row_mask, bad_row_reason
from tradeloom.adapters.store.schema import BAR_COLUMNS
from tradeloom.adapters.store.storage import Storage
from tradeloom.adapters.store.writer import part_range, table_rows
from tradeloom.engine.timeframes import timeframe_to_ms


def funding_step_ms(ts: np.ndarray) -> int:
    """The usual funding interval of ``ts`` (most common step, rounded to the minute).

    >>> h8 = 8 * 3_600_000
    >>> funding_step_ms(np.array([0, h8 + 1, 2 * h8, 3 * h8 + 3, 5 * h8]))
    28800000
    """
    steps = np.round(np.diff(np.unique(ts)) / 60_000).astype(np.int64) * 60_000
    steps = steps[steps > 0]
    if len(steps) == 0:
        return 0
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def check_dataset(storage: Storage, catalog: Catalog, info: DatasetInfo) -> CheckReport:
    """Every check of one dataset (see the module docstring)."""
    kind = DataKind(info.kind)
    parts = catalog.partitions(info.exchange, info.timeframe, [info.symbol], kind=kind.value)
    parts = parts.get(info.symbol, [])
    known = [(g.from_ts, g.to_ts) for g in catalog.known_gaps(
        kind.value, info.exchange, info.timeframe, info.symbol)]
    acc = _accumulator(storage, kind, info, parts, known)
    key = Dataset(info.exchange, info.timeframe, info.symbol,
                  timeframe_to_ms(info.timeframe) if info.timeframe else 0, kind.value)
    schema = spec(kind).schema
    numeric = all(not pa.types.is_string(f.type) for f in schema)
    for part in parts:
        lo, hi = part_range(key, part.part)
        try:
            if numeric:  # one row group in memory at a time
                rows, first, last = _check_streaming(storage, part, kind, acc)
                fingerprint, _ = file_fingerprint(storage, part)
            else:  # trades: a day file, read whole
                table = read_partition(storage, part)
                rows, fingerprint = table.num_rows, content_fingerprint(table, schema)
                ts = table.column("ts").to_numpy()
                first, last = (int(ts[0]), int(ts[-1])) if rows else (None, None)
                _feed(acc, kind, table)
        except CorruptPartition as exc:
            acc.add_integrity(str(exc))
            continue
        if rows != part.rows:
            acc.add_integrity(f"{part.path} holds {rows} rows, the catalog says {part.rows}")
        if fingerprint != part.fingerprint:
            acc.add_integrity(f"{part.path} content differs from its catalog fingerprint "
                              "(changed outside tradeloom?)")
        if rows and (first < lo or last >= hi):
            acc.add_integrity(f"{part.path} holds rows outside its partition")
    directory = dataset_dir(kind, info.exchange, info.timeframe, info.symbol)
    for rel in storage.list_files(directory):
        name = rel.rpartition("/")[2]
        if name.startswith(".") and name.endswith((".tmp", ".bak")):
            acc.add_integrity(f"leftover file {name} from an interrupted write; the next write "
                              "to this dataset cleans it up (or run 'tradeloom data repair')")
    return acc.report(info.exchange, info.symbol)


def _check_streaming(storage: Storage, part, kind: DataKind,
                     acc: CheckAccumulator) -> tuple[int, int | None, int | None]:
    """Feed one file to the checks a row group at a time; its rows, first and last ts."""
    rows, first, last = 0, None, None
    for batch in stream_partition(storage, part):
        if not batch.num_rows:
            continue
        _feed(acc, kind, pa.Table.from_batches([batch]))
        ts = batch.column(0)
        first = ts[0].as_py() if first is None else first
        last = ts[-1].as_py()
        rows += batch.num_rows
    return rows, first, last


def _feed(acc: CheckAccumulator, kind: DataKind, table: pa.Table) -> None:
    ts = table.column("ts").to_numpy()
    if spec(kind).is_bars:
        acc.feed(*(table.column(c).to_numpy() for c in BAR_COLUMNS))
    else:
        rows = table_rows(table, kind.value)
        acc.feed_rows(ts, bad_row_mask(kind, rows), lambda i, rows=rows: bad_row_reason(kind, rows, i),
                      unique=spec(kind).unique_ts)


def _accumulator(storage: Storage, kind: DataKind, info: DatasetInfo, parts,
                 known: list[tuple[int, int]]) -> CheckAccumulator:
    if kind is DataKind.TRADES:
        return CheckAccumulator("", known, gap_ms=0, grid=False, kind=kind.value)
    if kind is DataKind.FUNDING:
        ts = []
        for part in parts:
            try:
                ts.append(read_partition(storage, part, columns=["ts"]).column("ts").to_numpy())
            except CorruptPartition:
                continue
        step = funding_step_ms(np.concatenate(ts)) if ts else 0
        gap = step + step // 2 if step else 0
        return _FundingAccumulator(step, gap, known)
    return CheckAccumulator(info.timeframe, known, kind=kind.value)


class _FundingAccumulator(CheckAccumulator):
    """Funding: gaps are steps over 1.5 usual intervals; missing = steps / interval - 1."""

    def __init__(self, step: int, gap: int, known: list[tuple[int, int]]) -> None:
        super().__init__("", known, gap_ms=0, grid=False, kind=DataKind.FUNDING.value)
        self._step, self._gap = step, gap

    def _feed_common(self, ts: np.ndarray, unique: bool = True) -> None:
        previous = self._max
        super()._feed_common(ts, unique)
        if not self._gap:
            return
        series = ts if previous is None else np.concatenate(([previous], ts[ts > previous]))
        steps = np.diff(series)
        for i in np.flatnonzero(steps > self._gap):
            a, b = int(series[i]), int(series[i + 1])
            missing = max(1, round((b - a) / self._step) - 1)
            if covered(self._known, a + 1, b):
                self._known_count += 1
                self._known_missing += missing
                continue
            gap = Gap(a, b, missing)
            self._gap_count += 1
            self._missing += missing
            if len(self._gaps) < MAX_EXAMPLES:
                self._gaps.append(gap)
            if self._longest is None or missing > self._longest.missing:
                self._longest = gap
