"""Turn a caller's bar frame into clean sorted arrays and merge them into stored bars.

Both steps refuse to guess: a bad bar, an off-grid time or a bar time present
twice with different values raises ``DataError`` naming the dataset, the row and
the value, before anything is written. Identical repeats are dropped silently, which
is what makes re-running an ingest idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeloom.adapters.store.checks import bad_bar_mask, bad_bar_reason, misaligned_mask
from tradeloom.adapters.store.schema import (
    BAR_COLUMNS,
    MAX_TS,
    MIN_TS,
    VALUE_COLUMNS,
    describe_ts,
    grid_offset_ms,
    require_dataframe_columns,
)
from tradeloom.engine.errors import DataError

Bars = dict[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class Dataset:
    """Which dataset a frame belongs to, for messages and grid rules (``timeframe``
    is ``""`` and ``timeframe_ms`` 0 for kinds without one)."""

    exchange: str
    timeframe: str
    symbol: str
    timeframe_ms: int
    kind: str = "ohlcv"

    def __str__(self) -> str:
        words = [self.exchange, self.symbol] + ([self.timeframe] if self.timeframe else [])
        return " ".join(words + ([] if self.kind == "ohlcv" else [self.kind]))


def prepare_bars(frame: pd.DataFrame, dataset: Dataset) -> Bars:
    """Validated bar arrays sorted by ts with identical repeats removed.

    Rows are named by their 0-based position in ``frame``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{dataset}: expected a pandas DataFrame of bars, got {type(frame).__name__}")
    require_dataframe_columns([str(c) for c in frame.columns], str(dataset))
    if len(frame) == 0:
        return {"ts": np.empty(0, dtype=np.int64),
                **{name: np.empty(0, dtype=np.float64) for name in VALUE_COLUMNS}}
    bars = {"ts": _ts_array(frame["ts"], dataset)}
    for name in VALUE_COLUMNS:
        bars[name] = _value_array(frame[name], name, dataset)
    _validate_rows(bars, dataset)
    order = np.argsort(bars["ts"], kind="stable")
    if np.any(order[1:] < order[:-1]):
        bars = {name: values[order] for name, values in bars.items()}
    else:
        order = np.arange(len(order))
    return _drop_identical_repeats(bars, order, dataset)


def _ts_array(column: pd.Series, dataset: Dataset) -> np.ndarray:
    if not pd.api.types.is_integer_dtype(column.dtype) or column.isna().any():
        raise DataError(
            f"{dataset}: column 'ts' must be integer epoch milliseconds without missing values, "
            f"got dtype {column.dtype}; convert it with frame['ts'].astype('int64')"
        )
    return column.to_numpy(dtype=np.int64)


def _value_array(column: pd.Series, name: str, dataset: Dataset) -> np.ndarray:
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise DataError(
            f"{dataset}: column {name!r} must be numeric (float64), got dtype {dtype}; convert "
            f"it with pd.to_numeric(frame[{name!r}])"
        )
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _validate_rows(bars: Bars, dataset: Dataset) -> None:
    ts = bars["ts"]
    out_of_range = np.flatnonzero((ts < MIN_TS) | (ts >= MAX_TS))
    if len(out_of_range):
        row = int(out_of_range[0])
        raise DataError(
            f"{dataset}: frame row {row} (0-based): ts {int(ts[row])} is outside 1970..3000; "
            "ts must be epoch milliseconds (seconds or microseconds given?)"
        )
    bad = np.flatnonzero(bad_bar_mask(*(bars[c] for c in VALUE_COLUMNS)))
    if len(bad):
        row = int(bad[0])
        column, reason = bad_bar_reason(*(float(bars[c][row]) for c in VALUE_COLUMNS))
        raise DataError(
            f"{dataset}: frame row {row} (0-based), ts {describe_ts(int(ts[row]))}, "
            f"column {column!r}: {reason} ({len(bad)} bad rows in all); fix the source data"
        )
    off = np.flatnonzero(misaligned_mask(ts, dataset.timeframe_ms, grid_offset_ms(dataset.timeframe)))
    if len(off):
        row = int(off[0])
        raise DataError(
            f"{dataset}: frame row {row} (0-based), column 'ts': {describe_ts(int(ts[row]))} is not "
            f"a {dataset.timeframe} bar open time ({len(off)} such rows); check the timeframe"
        )


def _drop_identical_repeats(bars: Bars, order: np.ndarray, dataset: Dataset) -> Bars:
    ts = bars["ts"]
    repeat = np.flatnonzero(ts[1:] == ts[:-1]) + 1
    if len(repeat) == 0:
        return bars
    for row in repeat:
        differs = [c for c in VALUE_COLUMNS if bars[c][row] != bars[c][row - 1]]
        if differs:
            raise DataError(
                f"{dataset}: frame rows {int(order[row - 1])} and {int(order[row])} (0-based) both "
                f"open at ts {describe_ts(int(ts[row]))} with different {differs}; keep one of them"
            )
    keep = np.ones(len(ts), dtype=bool)
    keep[repeat] = False
    return {name: values[keep] for name, values in bars.items()}


def merge_into(stored: Bars, new: Bars, dataset: Dataset,
               columns: tuple[str, ...] = BAR_COLUMNS) -> tuple[Bars, int]:
    """``stored`` plus the rows of ``new`` not yet stored, sorted; and how many were added.

    ``columns`` are the kind's columns (``ts`` first; bars by default). Raises
    ``DataError`` if a time is stored with different values (NaN equals NaN).
    """
    values = columns[1:]
    old_ts, new_ts = stored["ts"], new["ts"]
    if len(old_ts) == 0:
        return new, len(new_ts)
    idx = np.minimum(np.searchsorted(old_ts, new_ts), len(old_ts) - 1)
    known = old_ts[idx] == new_ts
    if known.any():
        known_rows = np.flatnonzero(known)
        for name in values:
            a, b = stored[name][idx[known_rows]], new[name][known_rows]
            with np.errstate(invalid="ignore"):
                diff = (a != b) & ~(np.isnan(a) & np.isnan(b))
            if diff.any():
                row = int(known_rows[np.argmax(diff)])
                stored_values = {c: float(stored[c][idx[row]]) for c in values}
                new_values = {c: float(new[c][row]) for c in values}
                noun = "bar" if columns == BAR_COLUMNS else "row"
                raise DataError(
                    f"{dataset}: {noun} at ts {describe_ts(int(new_ts[row]))} is already stored "
                    f"with different values (stored {stored_values}, new {new_values}); the "
                    "store never overwrites bars: fix the source, or delete the dataset (or "
                    "the range) and ingest it again"
                )
    fresh = ~known
    added = int(fresh.sum())
    if added == 0:
        return stored, 0
    merged = {c: np.concatenate((stored[c], new[c][fresh])) for c in columns}
    if new_ts[fresh][0] <= old_ts[-1]:
        order = np.argsort(merged["ts"], kind="stable")
        merged = {c: v[order] for c, v in merged.items()}
    return merged, added
