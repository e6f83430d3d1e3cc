"""Validate and merge rows of the kinds that are not bars: funding, open interest, trades.

Bars keep their own module (``bar_merge``); this one applies the same habits to the
other kinds: a bad row raises ``DataError`` naming the dataset, the 0-based frame row,
the column and the value before anything is written; identical repeats are dropped
(re-running an ingest is idempotent); a time stored with different values is refused.

Rules per kind:

- funding: ``funding_rate`` finite (any sign); one rate per ``ts``;
- open interest: on the timeframe's grid; ``open_interest`` finite and >= 0,
  ``open_interest_value`` >= 0 or NaN (unknown); one row per ``ts``;
- trades: ``price`` finite and > 0, ``amount`` finite and >= 0, ``side`` buy, sell
  or missing; several trades may share a ``ts``: a trade is the same trade when its
  ``(ts, id)`` match (or every field, if it has no id).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from tradeloom.adapters.store.bar_merge import Dataset, merge_into, prepare_bars
from tradeloom.adapters.store.checks import misaligned_mask
from tradeloom.adapters.store.kinds import DataKind, KindSpec, spec
from tradeloom.adapters.store.schema import MAX_TS, MIN_TS, describe_ts, grid_offset_ms
from tradeloom.engine.errors import DataError

Rows = dict[str, np.ndarray]
SIDES = ("buy", "sell")


def empty_rows(kind: DataKind) -> Rows:
    """Zero rows of ``kind`` (numpy arrays; strings as object arrays)."""
    out: Rows = {}
    for f in spec(kind).schema:
        out[f.name] = np.empty(0, dtype=object if pa.types.is_string(f.type) else f.type.to_pandas_dtype())
    return out


def prepare_rows(kind: DataKind, frame: pd.DataFrame, dataset: Dataset) -> Rows:
    """Validated rows of ``kind`` sorted by ts with identical repeats removed."""
    if kind in (DataKind.OHLCV, DataKind.MARK, DataKind.INDEX):
        return prepare_bars(frame, dataset)
    ks = spec(kind)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{dataset}: expected a pandas DataFrame, got {type(frame).__name__}")
    _require_columns(ks, [str(c) for c in frame.columns], dataset)
    if len(frame) == 0:
        return empty_rows(kind)
    rows = _arrays(ks, frame, dataset)
    _validate(ks, rows, dataset)
    order = np.argsort(rows["ts"], kind="stable")
    rows = {c: v[order] for c, v in rows.items()}
    if ks.unique_ts:
        return _drop_repeats_unique(ks, rows, order, dataset)
    return _drop_repeat_trades(rows, dataset)


def merge_rows(kind: DataKind, stored: Rows, new: Rows, dataset: Dataset) -> tuple[Rows, int]:
    """``stored`` plus the rows of ``new`` not yet stored, sorted; and how many were added."""
    ks = spec(kind)
    if ks.unique_ts:
        return merge_into(stored, new, dataset, columns=ks.columns)
    if len(stored["ts"]) == 0:
        return new, len(new["ts"])
    both = {c: np.concatenate((stored[c], new[c])) for c in ks.columns}
    order = np.argsort(both["ts"], kind="stable")
    both = {c: v[order] for c, v in both.items()}
    merged = _drop_repeat_trades(both, dataset)
    return merged, len(merged["ts"]) - len(stored["ts"])


def _require_columns(ks: KindSpec, columns: list[str], dataset: Dataset) -> None:
    missing = [c for c in ks.columns if c not in columns]
    extra = [c for c in columns if c not in ks.columns]
    if missing or extra:
        raise DataError(f"{dataset}: {ks.noun} must have exactly the columns {list(ks.columns)};"
                        f" missing {missing}, unexpected {extra}; rename or drop columns")


def _arrays(ks: KindSpec, frame: pd.DataFrame, dataset: Dataset) -> Rows:
    ts = frame["ts"]
    if not pd.api.types.is_integer_dtype(ts.dtype) or ts.isna().any():
        raise DataError(f"{dataset}: column 'ts' must be integer epoch milliseconds without "
                        f"missing values, got dtype {ts.dtype}")
    rows: Rows = {"ts": ts.to_numpy(dtype=np.int64)}
    for f in ks.schema:
        if f.name == "ts":
            continue
        column = frame[f.name]
        if pa.types.is_string(f.type):
            values = column.astype(object).to_numpy()
            rows[f.name] = np.array([None if _missing(v) else str(v) for v in values], dtype=object)
        else:
            if pd.api.types.is_bool_dtype(column.dtype) or not pd.api.types.is_numeric_dtype(
                    column.dtype):
                raise DataError(f"{dataset}: column {f.name!r} must be numeric (float64), got "
                                f"dtype {column.dtype}")
            rows[f.name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return rows


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def bad_row_reason(kind: DataKind, rows: Rows, i: int) -> tuple[str, str] | None:
    """The column and rule row ``i`` breaks, or None (the ts range and grid aside)."""
    if kind is DataKind.FUNDING:
        rate = float(rows["funding_rate"][i])
        return None if np.isfinite(rate) else ("funding_rate", f"funding_rate is {rate}")
    if kind is DataKind.OPEN_INTEREST:
        oi, value = float(rows["open_interest"][i]), float(rows["open_interest_value"][i])
        if not np.isfinite(oi) or oi < 0:
            return "open_interest", f"open_interest {oi} must be finite and >= 0"
        if np.isinf(value) or value < 0:
            return "open_interest_value", f"open_interest_value {value} must be >= 0 or NaN"
        return None
    price, amount, side = float(rows["price"][i]), float(rows["amount"][i]), rows["side"][i]
    if not np.isfinite(price) or price <= 0:
        return "price", f"price {price} must be finite and > 0"
    if not np.isfinite(amount) or amount < 0:
        return "amount", f"amount {amount} must be finite and >= 0"
    if side is not None and side not in SIDES:
        return "side", f"side {side!r} must be 'buy', 'sell' or missing"
    return None


def bad_row_mask(kind: DataKind, rows: Rows) -> np.ndarray:
    """True for every row that breaks its kind's value rules (vectorised)."""
    with np.errstate(invalid="ignore"):
        if kind is DataKind.FUNDING:
            return ~np.isfinite(rows["funding_rate"])
        if kind is DataKind.OPEN_INTEREST:
            oi, value = rows["open_interest"], rows["open_interest_value"]
            return ~np.isfinite(oi) | (oi < 0) | np.isinf(value) | (value < 0)
        price, amount = rows["price"], rows["amount"]
        side_ok = np.array([s is None or s in SIDES for s in rows["side"]], dtype=bool)
        return ~np.isfinite(price) | (price <= 0) | ~np.isfinite(amount) | (amount < 0) | ~side_ok


def _validate(ks: KindSpec, rows: Rows, dataset: Dataset) -> None:
    ts = rows["ts"]
    out = np.flatnonzero((ts < MIN_TS) | (ts >= MAX_TS))
    if len(out):
        row = int(out[0])
        raise DataError(f"{dataset}: frame row {row} (0-based): ts {int(ts[row])} is outside "
                        "1970..3000; ts must be epoch milliseconds (seconds or microseconds "
                        "given?)")
    bad = np.flatnonzero(bad_row_mask(ks.kind, rows))
    if len(bad):
        row = int(bad[0])
        column, reason = bad_row_reason(ks.kind, rows, row)
        raise DataError(f"{dataset}: frame row {row} (0-based), ts {describe_ts(int(ts[row]))}, "
                        f"column {column!r}: {reason} ({len(bad)} bad rows in all); fix the "
                        "source data")
    if ks.has_timeframe:
        off = np.flatnonzero(misaligned_mask(ts, dataset.timeframe_ms,
                                             grid_offset_ms(dataset.timeframe)))
        if len(off):
            row = int(off[0])
            raise DataError(f"{dataset}: frame row {row} (0-based), column 'ts': "
                            f"{describe_ts(int(ts[row]))} is not a {dataset.timeframe} period "
                            f"start ({len(off)} such rows); check the timeframe")


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype == object:
        return np.array([x == y for x, y in zip(a, b)], dtype=bool)
    with np.errstate(invalid="ignore"):
        return (a == b) | (np.isnan(a) & np.isnan(b))


def _drop_repeats_unique(ks: KindSpec, rows: Rows, order: np.ndarray, dataset: Dataset) -> Rows:
    ts = rows["ts"]
    repeat = np.flatnonzero(ts[1:] == ts[:-1]) + 1
    if len(repeat) == 0:
        return rows
    for row in repeat:
        differs = [c for c in ks.value_columns
                   if not _same(rows[c][row:row + 1], rows[c][row - 1:row])[0]]
        if differs:
            raise DataError(f"{dataset}: frame rows {int(order[row - 1])} and {int(order[row])} "
                            f"(0-based) both have ts {describe_ts(int(ts[row]))} with different "
                            f"{differs}; keep one of them")
    keep = np.ones(len(ts), dtype=bool)
    keep[repeat] = False
    return {c: v[keep] for c, v in rows.items()}


def _trade_keys(rows: Rows) -> np.ndarray:
    ids = rows["id"]
    keys = np.empty(len(ids), dtype=object)
    for i, trade_id in enumerate(ids):
        keys[i] = (int(rows["ts"][i]), "id", trade_id) if trade_id is not None else (
            int(rows["ts"][i]), "row", float(rows["price"][i]), float(rows["amount"][i]),
            rows["side"][i])
    return keys


def _drop_repeat_trades(rows: Rows, dataset: Dataset) -> Rows:
    """Keep the first of each trade; a repeated id with other values is refused."""
    keys = _trade_keys(rows)
    seen: dict[object, int] = {}
    keep = np.ones(len(keys), dtype=bool)
    for i, key in enumerate(keys):
        first = seen.get(key)
        if first is None:
            seen[key] = i
            continue
        keep[i] = False
        if key[1] == "id":
            same = all(_same(rows[c][i:i + 1], rows[c][first:first + 1])[0]
                       for c in ("price", "amount", "side"))
            if not same:
                raise DataError(
                    f"{dataset}: trade id {key[2]!r} at ts {describe_ts(key[0])} is already "
                    "stored (or repeated) with a different price, amount or side; the store "
                    "never overwrites trades: fix the source, or delete the range and ingest "
                    "it again")
    if keep.all():
        return rows
    return {c: v[keep] for c, v in rows.items()}


__all__ = [
    "SIDES",
    "Rows",
    "bad_row_mask",
    "bad_row_reason",
    "empty_rows",
    "merge_rows",
    "prepare_rows",
]
