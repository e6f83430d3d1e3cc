"""The file side of an import: open a CSV or Parquet file, stream it in batches, and
find each field's column.

Column names are matched case-insensitively against common spellings per kind (bars:
``ts``, ``timestamp``, ``date``, ``open_time``...; ``volume``, ``vol``; funding:
``funding_rate``, ``rate``; trades: ``price``, ``amount``/``qty``, ``side``, ``id``...)
and can be given explicitly (``columns={"ts": "date", "volume": "Volume BTC"}``). A
trades file may lack ``side`` and ``id`` (stored as missing).

Rows are numbered as a person counts them in the file: **row 1 is the first data
row**; for CSV the message also gives the file line (the header is line 1).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradeloom.adapters.store.kinds import DataKind, spec
from tradeloom.engine.errors import ConfigError, DataError

_TS = ("ts", "timestamp", "time", "date", "datetime", "open_time", "opentime", "unix",
       "time_ms", "timestamp_ms", "fundingtime", "funding_time")
ALIASES: dict[str, tuple[str, ...]] = {
    "ts": _TS,
    "open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"), "close": ("close", "c"),
    "volume": ("volume", "vol", "v", "base_volume"),
    "funding_rate": ("funding_rate", "fundingrate", "rate", "funding"),
    "open_interest": ("open_interest", "openinterest", "sumopeninterest", "oi"),
    "open_interest_value": ("open_interest_value", "openinterestvalue", "sumopeninterestvalue",
                            "oi_value"),
    "price": ("price", "p"), "amount": ("amount", "qty", "quantity", "size", "q"),
    "side": ("side", "taker_side"), "id": ("id", "trade_id", "tradeid", "agg_id"),
}
#: Fields a file may leave out (stored as missing).
OPTIONAL = {DataKind.TRADES: ("side", "id")}


class Source:
    """The file being imported and how its rows are named in messages."""

    def __init__(self, path: Path) -> None:
        self.path, self.name = path, path.name
        self.is_csv = _is_csv(path)

    def row(self, index: int) -> str:
        """Human name of 0-based data row ``index``."""
        if self.is_csv:
            return f"{self.name} row {index + 1} (data row, file line {index + 2})"
        return f"{self.name} row {index + 1} (1-based data row)"

    def batches(self, batch_rows: int) -> Iterator[pd.DataFrame]:
        """The file's rows in order, ``batch_rows`` at a time (CSV cells as text)."""
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such file")
        if not self.is_csv:
            yield from self._parquet(batch_rows)
            return
        try:
            reader = pd.read_csv(self.path, dtype=str, keep_default_na=False, na_filter=False,
                                 skip_blank_lines=False, skipinitialspace=True,
                                 chunksize=batch_rows)
            with reader:
                yield from reader
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{self.name}: the file is empty; expected a header row and "
                            "rows") from exc
        except pd.errors.ParserError as exc:
            raise DataError(f"{self.name}: malformed CSV: {_line_hint(str(exc))}; every line "
                            "must have the same number of fields as the header (check quotes "
                            "and separators)") from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"{self.name}: not UTF-8 text at byte {exc.start}; save it as UTF-8 "
                            "CSV") from exc

    def _parquet(self, batch_rows: int) -> Iterator[pd.DataFrame]:
        try:
            # no pre-buffering, no decoding threads: one row group's columns at a time
            handle = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 20)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{self.name}: not a readable Parquet file ({exc})") from exc
        with handle:
            empty = True
            batches = handle.iter_batches(batch_size=batch_rows, use_threads=False)
            while True:
                try:
                    batch = next(batches, None)
                except (pa.ArrowException, OSError) as exc:
                    raise DataError(f"{self.name}: not a readable Parquet file ({exc})") from exc
                if batch is None:
                    break
                empty = False
                yield batch.to_pandas()
            if empty:
                yield handle.schema_arrow.empty_table().to_pandas()


def _is_csv(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        return False
    if ".csv" in suffixes or ".txt" in suffixes:
        return True
    raise ConfigError(f"{path.name}: cannot tell the file type; name it .csv (optionally "
                      ".csv.gz) or .parquet")


def _line_hint(message: str) -> str:
    """pandas says 'Expected 6 fields in line 5, saw 7'; restate it in our row terms."""
    match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if not match:
        return message.strip()
    expected, line, saw = (int(g) for g in match.groups())
    return (f"row {line - 1} (data row, file line {line}) has {saw} fields, the header has "
            f"{expected}")


def map_columns(src: Source, kind: DataKind, available: list[str],
                overrides: Mapping[str, str]) -> dict[str, str]:
    """Field -> file column for every field of ``kind`` (optional ones only if present)."""
    fields = spec(kind).columns
    unknown = [k for k in overrides if k not in fields]
    if unknown:
        raise ConfigError(f"column mapping keys {unknown} are not {kind.value} fields; use "
                          f"{list(fields)}, e.g. --map ts=date")
    lowered = {str(c).strip().lower(): str(c) for c in available}
    mapping = {}
    for field in fields:
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
            if field in OPTIONAL.get(kind, ()):
                continue
            close = difflib.get_close_matches(field, list(lowered), n=3, cutoff=0.5)
            close = [lowered[c] for c in close]
            raise DataError(
                f"{src.name}: no column for {field!r} (looked for {list(ALIASES[field])}); "
                f"available columns: {available}"
                + (f"; did you mean {close}?" if close else "")
                + f"; name it with --map {field}=<column> (columns={{'{field}': ...}})")
        mapping[field] = found
    return mapping


__all__ = ["ALIASES", "OPTIONAL", "Source", "map_columns"]
