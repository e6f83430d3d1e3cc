"""The row side of an import: parse one batch of cells and flag every bad row.

Timestamps are read as seconds, milliseconds, microseconds or nanoseconds (chosen by
magnitude with ``ts_unit="auto"``: decided on the first batch and then held for the
file) or as ISO 8601 strings (naive ones are UTC), and stored as UTC milliseconds.
Each bad row keeps the *first* problem found, in the order the checks run: time
parse, numbers, value rules, grid, then order and repeats.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeloom.adapters.store.checks import bad_bar_mask, bad_bar_reason, misaligned_mask
from tradeloom.adapters.store.kinds import DataKind, spec
from tradeloom.adapters.store.records import bad_row_mask, bad_row_reason
from tradeloom.adapters.store.schema import MAX_TS, MIN_TS, describe_ts, grid_offset_ms

TS_UNITS = ("auto", "s", "ms", "us", "ns", "iso")
#: Upper magnitude bound of each numeric unit for bar times after 1973 and before 5138.
_UNIT_LIMITS = (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", float("inf")))
_MS_PER_UNIT = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}


class Problems:
    """The first problem of each bad row of one batch (0-based within the batch)."""

    def __init__(self, n: int) -> None:
        self.flagged = np.zeros(n, dtype=bool)
        self.column = np.empty(n, dtype=object)
        self.reason = np.empty(n, dtype=object)

    def flag(self, mask: np.ndarray, column: str, reasons) -> None:
        """Record ``reasons`` (one str, or a callable of the row index) for new bad rows."""
        new = np.flatnonzero(mask & ~self.flagged)
        for i in new:
            self.column[i] = column
            self.reason[i] = reasons(int(i)) if callable(reasons) else reasons
        self.flagged[new] = True

    def set_row(self, index: int, column: str, reason: str) -> None:
        """Record the problem of one row (first problem wins)."""
        if not self.flagged[index]:
            self.column[index], self.reason[index] = column, reason
            self.flagged[index] = True

    @property
    def count(self) -> int:
        return int(self.flagged.sum())


def parse_number(column: pd.Series, name: str, problems: Problems) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        problems.flag(np.isnan(values), name, f"{name} is missing (NaN)")
        return values
    text = column.astype(str).str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    empty = (text == "").to_numpy()
    nan_literal = text.str.lower().isin(["nan", "na", "null", "none"]).to_numpy()
    bad = np.isnan(values)
    problems.flag(bad & empty, name, f"{name} is empty")
    problems.flag(bad & nan_literal, name, f"{name} is NaN")
    raw = text.to_numpy()
    problems.flag(bad, name, lambda i: f"{name} {raw[i]!r} is not a number")
    return values


def parse_optional_number(column: pd.Series, name: str, problems: Problems) -> np.ndarray:
    """Like :func:`parse_number` but an empty/NaN cell is a valid missing value."""
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    text = column.astype(str).str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    blank = (text == "").to_numpy() | text.str.lower().isin(["nan", "na", "null", "none"]).to_numpy()
    raw = text.to_numpy()
    problems.flag(np.isnan(values) & ~blank, name, lambda i: f"{name} {raw[i]!r} is not a number")
    return values


def parse_text(column: pd.Series | None, n: int) -> np.ndarray:
    """Text cells as an object array; empty cells are missing (None)."""
    if column is None:
        return np.full(n, None, dtype=object)
    out = np.empty(n, dtype=object)
    for i, value in enumerate(column.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            out[i] = None
        else:
            out[i] = str(value).strip() or None
    return out


def detect_unit(column: pd.Series, unit: str) -> str:
    """The unit of a ts column: ``iso``, or ``number`` to be narrowed by magnitude."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return "datetime"
    if unit != "auto":
        return unit
    numeric_input = pd.api.types.is_numeric_dtype(column.dtype)
    text = column.astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    return "iso" if numbers.notna().sum() * 2 < len(text) and not numeric_input else "number"


def parse_ts(column: pd.Series, unit: str, problems: Problems, *,
             auto: bool) -> tuple[np.ndarray, str]:
    """Epoch ms of each cell and the unit used (``number`` is narrowed to s/ms/us/ns);
    ``auto``: the unit was detected, so a row of another magnitude is flagged."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        utc = column.dt.tz_convert("UTC").dt.tz_localize(None) if column.dt.tz else column
        problems.flag(utc.isna().to_numpy(), "ts", "ts is missing")
        return utc.to_numpy().astype("datetime64[ms]").astype(np.int64), "datetime"
    numeric_input = pd.api.types.is_numeric_dtype(column.dtype)
    text = column.astype(str).str.strip()
    if unit == "iso":
        return _parse_iso(text, problems), "iso"
    return _parse_epoch(column if numeric_input else text, unit, problems, auto)


def _parse_iso(text: pd.Series, problems: Problems) -> np.ndarray:
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    raw = text.to_numpy()
    problems.flag(bad, "ts", lambda i: f"ts {raw[i]!r} is not an ISO 8601 time "
                  "(e.g. 2024-01-01T00:00:00Z); pass --ts-unit if it is epoch seconds/ms")
    naive = parsed.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64)
    return np.where(bad, 0, naive)


def _parse_epoch(values: pd.Series, unit: str, problems: Problems,
                 auto: bool) -> tuple[np.ndarray, str]:
    numbers = pd.to_numeric(values, errors="coerce")
    raw = values.astype(str).to_numpy()
    bad = numbers.isna().to_numpy()
    problems.flag(bad, "ts", lambda i: f"ts {raw[i]!r} is not a number or ISO time")
    as_float = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    if unit == "number":
        finite = np.abs(as_float[~bad])
        unit = unit_for(float(np.median(finite))) if len(finite) else "ms"
    if auto:
        names = np.array([name for name, _ in _UNIT_LIMITS])
        limits = [limit for _, limit in _UNIT_LIMITS[:-1]]
        band = names[np.searchsorted(limits, np.abs(np.nan_to_num(as_float)), side="right")]
        chosen = unit
        problems.flag((band != chosen) & ~bad, "ts",
                      lambda i: f"ts {raw[i]} looks like {band[i]} but the file's times are in "
                      f"{chosen}; pass --ts-unit or fix the row")
    if pd.api.types.is_integer_dtype(numbers.dtype):
        ints = numbers.to_numpy(dtype=np.int64)
        if unit == "s":
            ms = ints * 1000
        else:
            div = {"ms": 1, "us": 1_000, "ns": 1_000_000}[unit]
            ms = ints // div
            problems.flag(ints % div != 0, "ts", lambda i: f"ts {raw[i]} {unit} has a "
                          "sub-millisecond part; bar times are whole milliseconds")
        return ms, unit
    ms = np.round(np.nan_to_num(as_float) * _MS_PER_UNIT[unit])
    return ms.astype(np.int64), unit


def unit_for(magnitude: float) -> str:
    """Epoch unit whose range of recent dates contains ``magnitude``.

    >>> unit_for(1.7e9), unit_for(1.7e12), unit_for(1.7e15), unit_for(1.7e18)
    ('s', 'ms', 'us', 'ns')
    """
    return next(name for name, limit in _UNIT_LIMITS if magnitude < limit)


def check_values(kind: DataKind, ts: np.ndarray, values: dict[str, np.ndarray], timeframe: str,
                 tf_ms: int, problems: Problems, hint_step: int) -> None:
    """Flag rows out of 1970..3000, breaking the kind's value rules, or off the grid."""
    out = (ts < MIN_TS) | (ts >= MAX_TS)
    problems.flag(out, "ts", lambda i: f"ts {ts[i]} ms is outside 1970..3000; check --ts-unit")
    if spec(kind).is_bars:
        cols = [values[c] for c in ("open", "high", "low", "close", "volume")]
        for i in np.flatnonzero(bad_bar_mask(*cols) & ~problems.flagged):
            column, reason = bad_bar_reason(*(float(c[i]) for c in cols))
            problems.set_row(int(i), column, reason)
    else:
        rows = {"ts": ts, **values}
        for i in np.flatnonzero(bad_row_mask(kind, rows) & ~problems.flagged):
            column, reason = bad_row_reason(kind, rows, int(i))
            problems.set_row(int(i), column, reason)
    if not spec(kind).has_timeframe:
        return
    off = misaligned_mask(ts, tf_ms, grid_offset_ms(timeframe)) & ~problems.flagged
    if off.any():
        hint = f"; the file's rows step by {as_timeframe(hint_step)}" if 0 < hint_step < tf_ms \
            else ""
        noun = "bar open time" if spec(kind).is_bars else "period start"
        problems.flag(off, "ts", lambda i: (
            f"ts {describe_ts(int(ts[i]))} is not a {timeframe} {noun} (bars open every "
            f"{timeframe} from 00:00 UTC){hint}; check --timeframe"))


def as_timeframe(ms: int) -> str:
    for suffix, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000),
                         ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{suffix}"
    return f"{ms} ms"


__all__ = [
    "TS_UNITS",
    "Problems",
    "as_timeframe",
    "check_values",
    "detect_unit",
    "parse_number",
    "parse_optional_number",
    "parse_text",
    "parse_ts",
    "unit_for",
]
