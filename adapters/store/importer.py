"""Import OHLCV bars from a CSV or Parquet file into the store.

Column names are matched case-insensitively against common spellings (``ts``,
``timestamp``, ``date``, ``open_time``...; ``volume``, ``vol``) and can be given
explicitly (``columns={"ts": "date", "volume": "Volume BTC"}``). Timestamps are
read as seconds, milliseconds, microseconds or nanoseconds (chosen by magnitude
with ``ts_unit="auto"``) or as ISO 8601 strings (naive ones are UTC), and stored as
UTC milliseconds.

Rows are numbered as a person counts them in the file: **row 1 is the first data
row**; for CSV the message also gives the file line (the header is line 1). Every
error names the file, row, column and value and says what to do. With
``drop_invalid=True`` the valid rows are imported and each rejected row is
reported instead. Gaps are not errors (``tradeloom data check`` reports them);
identical repeated rows are dropped and counted.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tradeloom.engine.errors import ConfigError, DataError

from tradeloom.adapters.store.checks import bad_bar_mask, bad_bar_reason, misaligned_mask
from tradeloom.adapters.store.schema import (
    BAR_COLUMNS,
    MAX_TS,
    MIN_TS,
    VALUE_COLUMNS,
    check_exchange,
    check_symbol,
    describe_ts,
    grid_offset_ms,
)
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.adapters.store.market_store import MarketStore, WriteReport

TS_UNITS = ("auto", "s", "ms", "us", "ns", "iso")
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "time", "date", "datetime", "open_time", "opentime", "unix",
           "time_ms", "timestamp_ms"),
    "open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"), "close": ("close", "c"),
    "volume": ("volume", "vol", "v", "base_volume"),
}
#: Upper magnitude bound of each numeric unit for bar times after 1973 and before 5138.
_UNIT_LIMITS = (("s", 1e11), ("ms", 1e14), ("us", 1e17), ("ns", float("inf")))
_MS_PER_UNIT = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
_FIX = "fix the row or import with --drop-invalid (drop_invalid=True) to skip invalid rows"


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row left out by ``drop_invalid``: 1-based data row, column, raw value, reason."""

    row: int
    column: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import read, rejected and wrote."""

    file: str
    exchange: str
    timeframe: str
    symbol: str
    ts_unit: str
    rows_read: int
    rows_valid: int
    duplicates_dropped: int
    rejected: tuple[RejectedRow, ...]
    write: WriteReport

    @property
    def rows_added(self) -> int:
        return self.write.rows_added

    def to_dict(self) -> dict:
        data = asdict(self)
        data["rows_added"] = self.rows_added
        data["row_numbering"] = "row 1 is the first data row (CSV: file line = row + 1)"
        return data


class _Source:
    """The file being imported and how its rows are named in messages."""

    def __init__(self, path: Path, is_csv: bool) -> None:
        self.path, self.is_csv, self.name = path, is_csv, path.name

    def row(self, index: int) -> str:
        """Human name of 0-based data row ``index``."""
        if self.is_csv:
            return f"{self.name} row {index + 1} (data row, file line {index + 2})"
        return f"{self.name} row {index + 1} (1-based data row)"


def import_file(store: MarketStore, path: str | Path, exchange: str, symbol: str, timeframe: str,
                *, columns: Mapping[str, str] | None = None, ts_unit: str = "auto",
                drop_invalid: bool = False, source: str | None = None) -> ImportReport:
    """Read ``path`` (CSV or Parquet), validate every row, and write the bars to ``store``."""
    check_exchange(exchange)
    check_symbol(symbol)
    tf_ms = timeframe_to_ms(timeframe)
    if ts_unit not in TS_UNITS:
        raise ConfigError(f"ts_unit {ts_unit!r} must be one of {list(TS_UNITS)}")
    src = _Source(Path(path), _is_csv(Path(path)))
    raw = _read(src)
    mapping = _map_columns(src, list(raw.columns), columns or {})
    n = len(raw)
    problems = _Problems(n)
    ts, unit = _parse_ts(raw[mapping["ts"]], ts_unit, problems, src)
    values = {c: _parse_number(raw[mapping[c]], c, problems) for c in VALUE_COLUMNS}
    _check_rows(ts, values, timeframe, tf_ms, problems)
    keep, dropped = _check_order(ts, values, ~problems.flagged, problems)
    if problems.count and not drop_invalid:
        raise problems.first_error(src)
    if not keep.any():
        raise DataError(f"{src.name}: no valid rows to import ({problems.count} rejected); "
                        + (problems.describe_first(src) if problems.count else "the file is empty"))
    _check_spacing(src, ts[keep], tf_ms, timeframe)
    frame = pd.DataFrame({"ts": ts[keep], **{c: values[c][keep] for c in VALUE_COLUMNS}})
    write = store.write_bars(exchange, timeframe, symbol, frame,
                             source=source or f"import:{src.name}")
    return ImportReport(str(src.path), exchange, timeframe, symbol, unit, n, int(keep.sum()),
                        dropped, problems.rejected(raw, mapping), write)


def _is_csv(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        return False
    if ".csv" in suffixes or ".txt" in suffixes:
        return True
    raise ConfigError(f"{path.name}: cannot tell the file type; name it .csv (optionally "
                      ".csv.gz) or .parquet")


def _read(src: _Source) -> pd.DataFrame:
    if not src.path.is_file():
        raise DataError(f"{src.path}: no such file")
    if not src.is_csv:
        try:
            return pq.read_table(src.path).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{src.name}: not a readable Parquet file ({exc})") from exc
    try:
        return pd.read_csv(src.path, dtype=str, keep_default_na=False, na_filter=False,
                           skip_blank_lines=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{src.name}: the file is empty; expected a header row and bars") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{src.name}: malformed CSV: {_line_hint(str(exc))}; every line must "
                        "have the same number of fields as the header (check quotes and "
                        "separators)") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{src.name}: not UTF-8 text at byte {exc.start}; save it as UTF-8 "
                        "CSV") from exc


def _line_hint(message: str) -> str:
    """pandas says 'Expected 6 fields in line 5, saw 7'; restate it in our row terms."""
    import re

    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if not match:
        return message.strip()
    expected, line, saw = (int(g) for g in match.groups())
    return (f"row {line - 1} (data row, file line {line}) has {saw} fields, the header has "
            f"{expected}")


def _map_columns(src: _Source, available: list[str], overrides: Mapping[str, str]) -> dict[str, str]:
    unknown = [k for k in overrides if k not in BAR_COLUMNS]
    if unknown:
        raise ConfigError(f"column mapping keys {unknown} are not bar fields; use "
                          f"{list(BAR_COLUMNS)}, e.g. --map ts=date")
    lowered = {str(c).strip().lower(): str(c) for c in available}
    mapping = {}
    for field in BAR_COLUMNS:
        if field in overrides:
            wanted = overrides[field]
            if wanted not in available:
                close = difflib.get_close_matches(wanted, available, n=3, cutoff=0.5)
                raise DataError(
                    f"{src.name}: column {wanted!r} (mapped to {field!r}) is not in the file; "
                    f"available columns: {available}"
                    + (f"; did you mean {close}?" if close else ""))
            mapping[field] = wanted
            continue
        found = next((lowered[a] for a in ALIASES[field] if a in lowered), None)
        if found is None:
            close = difflib.get_close_matches(field, list(lowered), n=3, cutoff=0.5)
            close = [lowered[c] for c in close]
            raise DataError(
                f"{src.name}: no column for {field!r} (looked for {list(ALIASES[field])}); "
                f"available columns: {available}"
                + (f"; did you mean {close}?" if close else "")
                + f"; name it with --map {field}=<column> (columns={{'{field}': ...}})")
        mapping[field] = found
    return mapping


class _Problems:
    """The first problem of each bad row (0-based), in the order checks run."""

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

    def describe_first(self, src: _Source) -> str:
        i = int(np.argmax(self.flagged))
        return f"{src.row(i)}, column {self.column[i]!r}: {self.reason[i]}"

    def first_error(self, src: _Source) -> DataError:
        more = self.count - 1
        tail = f" ({more} more invalid rows)" if more else ""
        return DataError(f"{self.describe_first(src)}{tail}; {_FIX}")

    def rejected(self, raw: pd.DataFrame, mapping: Mapping[str, str]) -> tuple[RejectedRow, ...]:
        rows = []
        for i in np.flatnonzero(self.flagged):
            column = self.column[i]
            value = raw[mapping[column]].iloc[i] if column in mapping else ""
            rows.append(RejectedRow(int(i) + 1, column, str(value), self.reason[i]))
        return tuple(rows)


def _parse_number(column: pd.Series, name: str, problems: _Problems) -> np.ndarray:
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


def _parse_ts(column: pd.Series, unit: str, problems: _Problems, src: _Source) -> tuple[np.ndarray, str]:
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        utc = column.dt.tz_convert("UTC").dt.tz_localize(None) if column.dt.tz else column
        problems.flag(utc.isna().to_numpy(), "ts", "ts is missing")
        return utc.to_numpy().astype("datetime64[ms]").astype(np.int64), "datetime"
    numeric_input = pd.api.types.is_numeric_dtype(column.dtype)
    text = column.astype(str).str.strip()
    if unit == "auto":
        numbers = pd.to_numeric(text, errors="coerce")
        unit = "iso" if numbers.notna().sum() * 2 < len(text) and not numeric_input else "number"
    if unit == "iso":
        return _parse_iso(text, problems), "iso"
    return _parse_epoch(column if numeric_input else text, unit, problems)


def _parse_iso(text: pd.Series, problems: _Problems) -> np.ndarray:
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    raw = text.to_numpy()
    problems.flag(bad, "ts", lambda i: f"ts {raw[i]!r} is not an ISO 8601 time "
                  "(e.g. 2024-01-01T00:00:00Z); pass --ts-unit if it is epoch seconds/ms")
    naive = parsed.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64)
    return np.where(bad, 0, naive)


def _parse_epoch(values: pd.Series, unit: str, problems: _Problems) -> tuple[np.ndarray, str]:
    numbers = pd.to_numeric(values, errors="coerce")
    raw = values.astype(str).to_numpy()
    bad = numbers.isna().to_numpy()
    problems.flag(bad, "ts", lambda i: f"ts {raw[i]!r} is not a number or ISO time")
    as_float = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    if unit == "number":
        finite = np.abs(as_float[~bad])
        unit = _unit_for(float(np.median(finite))) if len(finite) else "ms"
        names = np.array([name for name, _ in _UNIT_LIMITS])
        limits = [limit for _, limit in _UNIT_LIMITS[:-1]]
        band = names[np.searchsorted(limits, np.abs(np.nan_to_num(as_float)), side="right")]
        problems.flag((band != unit) & ~bad, "ts", lambda i: f"ts {raw[i]} looks like {band[i]} but the "
                      f"file's times are in {unit}; pass --ts-unit or fix the row")
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


def _unit_for(magnitude: float) -> str:
    """Epoch unit whose range of recent dates contains ``magnitude``.

    >>> _unit_for(1.7e9), _unit_for(1.7e12), _unit_for(1.7e15), _unit_for(1.7e18)
    ('s', 'ms', 'us', 'ns')
    """
    return next(name for name, limit in _UNIT_LIMITS if magnitude < limit)


def _check_rows(ts, values, timeframe: str, tf_ms: int, problems: _Problems) -> None:
    out = (ts < MIN_TS) | (ts >= MAX_TS)
    problems.flag(out, "ts", lambda i: f"ts {ts[i]} ms is outside 1970..3000; check --ts-unit")
    for i in np.flatnonzero(bad_bar_mask(*(values[c] for c in VALUE_COLUMNS)) & ~problems.flagged):
        column, reason = bad_bar_reason(*(float(values[c][i]) for c in VALUE_COLUMNS))
        problems.set_row(int(i), column, reason)
    off = misaligned_mask(ts, tf_ms, grid_offset_ms(timeframe)) & ~problems.flagged
    if off.any():
        clean = np.unique(ts[~problems.flagged])
        step = int(np.gcd.reduce(np.diff(clean))) if len(clean) > 1 else 0
        hint = f"; the file's rows step by {_as_timeframe(step)}" if 0 < step < tf_ms else ""
        problems.flag(off, "ts", lambda i: (
            f"ts {describe_ts(int(ts[i]))} is not a {timeframe} bar open time (bars open every "
            f"{timeframe} from 00:00 UTC){hint}; check --timeframe"))


def _check_order(ts, values, valid, problems: _Problems) -> tuple[np.ndarray, int]:
    """Flag rows earlier than a preceding valid row and conflicting repeats; drop exact repeats."""
    idx = np.flatnonzero(valid)
    keep = valid.copy()
    if len(idx) == 0:
        return keep, 0
    vts = ts[idx]
    running = np.maximum.accumulate(vts)
    late = np.zeros(len(ts), dtype=bool)
    late[idx[1:]] = vts[1:] < running[:-1]
    previous_max = np.zeros(len(ts), dtype=np.int64)
    previous_max[idx[1:]] = running[:-1]
    problems.flag(late, "ts", lambda i: (
        f"ts {describe_ts(int(ts[i]))} is earlier than a previous row's "
        f"{describe_ts(int(previous_max[i]))}; sort the file by time"))
    keep &= ~late
    idx = np.flatnonzero(keep)
    repeat = np.flatnonzero(ts[idx][1:] == ts[idx][:-1]) + 1
    dropped = 0
    first_row = {}
    for r in repeat:
        i, j = int(idx[r - 1]), int(idx[r])
        first = first_row.get(i, i)
        first_row[j] = first
        differs = [c for c in VALUE_COLUMNS if values[c][j] != values[c][first]]
        if differs:
            problems.set_row(j, differs[0], (
                f"ts {describe_ts(int(ts[j]))} repeats row {first + 1} with different "
                f"{differs}; keep one of them"))
        else:
            dropped += 1
        keep[j] = False
    return keep, dropped


def _check_spacing(src: _Source, ts: np.ndarray, tf_ms: int, timeframe: str) -> None:
    """A file of 1h bars imported as 1m is on the grid but never one bar apart: say so."""
    if len(ts) < 3:
        return
    step = int(np.gcd.reduce(np.diff(ts)))
    if step > tf_ms:
        raise DataError(
            f"{src.name}: no two rows are one {timeframe} apart (the rows step by multiples of "
            f"{step // 1000} s = {_as_timeframe(step)}); the file does not hold {timeframe} bars: "
            f"check --timeframe")


def _as_timeframe(ms: int) -> str:
    for suffix, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000),
                         ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{suffix}"
    return f"{ms} ms"
