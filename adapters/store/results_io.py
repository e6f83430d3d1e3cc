"""Save and load a :class:`~tradeloom.engine.results.result.BacktestResult` as Parquet + JSON.

A result directory holds::

    result.json          format version, timeframe, initial cash, quote currency,
                         final positions and marks
    orders.parquet  fills.parquet  trades.parquet  equity.parquet  risk_decisions.parquet
    metrics.json         metrics in their canonical order
    manifest.json        the run manifest, sorted keys
    events.json          the run's events, sorted keys

**Deterministic bytes.** Saving equal results twice gives byte-identical files:
Parquet tables are built column by column from the frames (no pandas index
metadata), with the writer options pinned in ``_PARQUET_OPTIONS``; the only
schema metadata is the column kinds (``tradeloom.kinds``), so loading restores
the exact pandas dtypes. JSON is written with ``indent=2``, a trailing newline,
and floats by ``repr`` so they round-trip exactly. (Bytes can differ across
pyarrow versions: the writer records its version.)

**Non-finite metrics.** Strict JSON has no inf/NaN, so metric values that are
not finite are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"`` and
read back as floats (profit factor is ``inf`` when there were no losing trades).

**Older results.** Format 1 (before fills recorded the fee's currency) loads with
every fee in the quote currency (``fee_currency`` = the result's quote currency,
``fee_cost`` = ``fee``), which is what that version charged.

**Atomic.** Files are written into a temporary sibling directory which is then
renamed into place, so the target never holds a half-written result. POSIX
cannot rename a directory over a non-empty one, so an existing result is first
renamed into a ``.<name>.old-*`` sibling and deleted once the new one is in
place; a crash in that instant leaves the old result recoverable there. A
non-empty directory that is not a result is never replaced.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradeloom.engine.errors import DataError
from tradeloom.engine.results.frames import (
    EQUITY_COLUMNS,
    FILL_COLUMNS,
    ORDER_COLUMNS,
    TRADE_COLUMN_KINDS,
    ColumnKind,
    make_frame,
)
from tradeloom.engine.results.result import METRIC_KEYS, BacktestResult

FORMAT_VERSION = 2
#: Versions ``load_result`` reads (1: fills without ``fee_currency``/``fee_cost``).
_READABLE_VERSIONS = (1, 2)
META_FILE = "result.json"
_KINDS_KEY = b"tradeloom.kinds"
_ARROW_TYPES: dict[ColumnKind, pa.DataType] = {
    "int64": pa.int64(),
    "Int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "str": pa.string(),
}
_FIXED_KINDS: dict[str, Mapping[str, ColumnKind]] = {
    "orders": ORDER_COLUMNS,
    "fills": FILL_COLUMNS,
    "trades": TRADE_COLUMN_KINDS,
    "equity": EQUITY_COLUMNS,
}
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 1 << 20,
}


# --------------------------------------------------------------------------- save


def save_result(result: BacktestResult, directory: str | os.PathLike[str]) -> Path:
    """Write ``result`` to ``directory`` atomically; returns the directory path.

    >>> import pathlib, shutil, tempfile
    >>> from tradeloom.engine.results.result import BacktestResult, EquityCurve
    >>> r = BacktestResult.build(orders=[], fills=[], equity=EquityCurve([3_600_000], [100.0],
    ...     [100.0], [0.0], [0.0]), timeframe="1h", initial_cash=100.0, quote_currency="USDT",
    ...     manifest={"strategy": "noop"})
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> load_result(save_result(r, d)) == r
    True
    >>> shutil.rmtree(d.parent)
    """
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise DataError(
            f"{target}: exists and is not a directory; choose another results directory"
        )
    if target.is_dir() and any(target.iterdir()) and not (target / META_FILE).is_file():
        raise DataError(
            f"{target}: is a non-empty directory without {META_FILE}, so it is not a saved "
            "result; refusing to replace it. Choose an empty or new directory"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes 0700; a result is meant to be read by others too
    try:
        _write_all(result, tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rename(target, old / "result")
            os.rename(tmp, target)
            shutil.rmtree(old)
        else:
            os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def _write_all(result: BacktestResult, out: Path) -> None:
    for name in BacktestResult.FRAMES:
        _write_parquet(getattr(result, name), out / f"{name}.parquet", _frame_kinds(result, name))
    meta = {
        "format_version": FORMAT_VERSION,
        "timeframe": result.timeframe,
        "initial_cash": result.initial_cash,
        "quote_currency": result.quote_currency,
        "final_positions": result.final_positions,
        "final_marks": result.final_marks,
    }
    _write_json(out / META_FILE, meta, sort_keys=True)
    _write_json(
        out / "metrics.json",
        {k: _encode_float(v) for k, v in result.metrics.items()},
        sort_keys=False,
    )
    _write_json(out / "manifest.json", result.manifest, sort_keys=True)
    _write_json(out / "events.json", result.events, sort_keys=True)


def _frame_kinds(result: BacktestResult, name: str) -> dict[str, ColumnKind]:
    fixed = _FIXED_KINDS.get(name)
    if fixed is not None:
        return dict(fixed)
    return {c: _kind_of(result.risk_decisions[c]) for c in result.risk_decisions.columns}


def _kind_of(series: pd.Series) -> ColumnKind:
    dtype = series.dtype
    for kind in ("int64", "float64", "bool", "Int64", "boolean"):
        if dtype == kind:
            return kind
    if dtype == "str":
        return "str"
    raise DataError(f"column {series.name!r} has dtype {dtype}, which results files cannot store")


def _write_parquet(frame: pd.DataFrame, path: Path, kinds: Mapping[str, ColumnKind]) -> None:
    if list(frame.columns) != list(kinds):
        raise DataError(f"{path.name}: columns {list(frame.columns)} do not match {list(kinds)}")
    arrays = [_to_arrow(frame[c], kind) for c, kind in kinds.items()]
    schema = pa.schema(
        [pa.field(c, _ARROW_TYPES[k]) for c, k in kinds.items()],
        metadata={_KINDS_KEY: json.dumps(dict(kinds)).encode()},
    )
    table = pa.Table.from_arrays(arrays, schema=schema) if arrays else schema.empty_table()
    pq.write_table(table, path, **_PARQUET_OPTIONS)


def _to_arrow(series: pd.Series, kind: ColumnKind) -> pa.Array:
    if kind in ("int64", "float64", "bool"):
        return pa.array(series.to_numpy(dtype=kind), type=_ARROW_TYPES[kind])
    values = [None if pd.isna(v) else v for v in series.to_numpy(dtype=object)]
    return pa.array(values, type=_ARROW_TYPES[kind])


def _encode_float(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _write_json(path: Path, obj: Any, *, sort_keys: bool) -> None:
    text = json.dumps(obj, sort_keys=sort_keys, indent=2, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- load


def load_result(directory: str | os.PathLike[str]) -> BacktestResult:
    """Read a directory written by :func:`save_result`; equal to the saved result."""
    src = Path(directory)
    if not src.is_dir():
        raise DataError(f"{src}: no such results directory; pass the directory save_result wrote")
    meta = _read_json(src / META_FILE)
    if not isinstance(meta, dict) or meta.get("format_version") not in _READABLE_VERSIONS:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise DataError(
            f"{src / META_FILE}: format_version {version!r} is not {FORMAT_VERSION}; "
            "re-run the backtest with this version of tradeloom"
        )
    old_fills = meta["format_version"] == 1
    frames = {
        name: _read_parquet(src / f"{name}.parquet", _FIXED_KINDS.get(name),
                            quote=str(meta.get("quote_currency", "")) if old_fills else None)
        for name in BacktestResult.FRAMES
    }
    raw_metrics = _read_json(src / "metrics.json")
    if not isinstance(raw_metrics, dict):
        raise DataError(f"{src / 'metrics.json'}: expected a JSON object of metric values")
    missing = [k for k in METRIC_KEYS if k not in raw_metrics]
    if missing:
        raise DataError(f"{src / 'metrics.json'}: missing metrics {missing}; re-save the result")
    events = _read_json(src / "events.json")
    if not isinstance(events, list):
        raise DataError(f"{src / 'events.json'}: expected a JSON list of events")
    try:
        return BacktestResult(
            **frames,
            metrics={k: _decode_float(v, src / "metrics.json", k) for k, v in raw_metrics.items()},
            manifest=_read_json(src / "manifest.json"),
            events=events,
            timeframe=str(meta["timeframe"]),
            initial_cash=float(meta["initial_cash"]),
            quote_currency=str(meta["quote_currency"]),
            final_positions={str(k): float(v) for k, v in meta["final_positions"].items()},
            final_marks={str(k): float(v) for k, v in meta["final_marks"].items()},
        )
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise DataError(
            f"{src / META_FILE}: missing or malformed field ({exc}); re-save the result"
        ) from exc


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: missing from the results directory; re-save the result") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc}); re-save the result") from exc


def _decode_float(value: Any, path: Path, key: str) -> float:
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise DataError(f"{path}: metric {key!r} is {value!r}; expected a number or 'nan'/'inf'/'-inf'")


def _read_parquet(path: Path, expected: Mapping[str, ColumnKind] | None,
                  quote: str | None = None) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: missing from the results directory; re-save the result")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot be read as Parquet ({exc}); re-save the result") from exc
    raw = (table.schema.metadata or {}).get(_KINDS_KEY)
    if raw is None:
        raise DataError(
            f"{path}: has no {_KINDS_KEY.decode()} metadata, so it was not written by save_result"
        )
    kinds: dict[str, ColumnKind] = json.loads(raw)
    upgrade = (quote is not None and expected is FILL_COLUMNS
               and kinds == {k: v for k, v in FILL_COLUMNS.items()
                             if k not in ("fee_currency", "fee_cost")})
    if expected is not None and kinds != dict(expected) and not upgrade:
        raise DataError(
            f"{path}: columns {list(kinds)} differ from this version's {list(expected)}; "
            "re-run the backtest with this version of tradeloom"
        )
    columns: dict[str, Any] = {}
    for name, kind in kinds.items():
        col = table.column(name)
        if kind in ("int64", "float64", "bool"):
            columns[name] = np.asarray(col.to_numpy(), dtype=kind)
        else:
            columns[name] = col.to_pylist()
    if upgrade:  # format 1: every fee was charged in the quote currency
        columns["fee_currency"] = [quote] * table.num_rows
        columns["fee_cost"] = columns["fee"]
        kinds = dict(FILL_COLUMNS)
    return make_frame(columns, kinds)
