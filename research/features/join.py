"""Join extra time series (funding rates, on-chain, sentiment) onto bars, as of each close.

Users bring a Parquet file (or DataFrame) with a ``ts`` column and value columns.
``asof_join`` attaches to every bar the latest value **known at or before the
bar's close** (``close_ts = ts + timeframe``), with DuckDB's ``ASOF JOIN``:

    value known time = extra.ts + delay_ms   <=   bar close_ts

``extra.ts`` is read as *the time the value became known*. Many series are
stamped otherwise (a daily on-chain metric stamped with its day's start is only
published after the day ends): pass ``delay_ms`` (e.g. 86_400_000) to shift
them to their publication time. A value known exactly at the close is usable
(``<=``): the bar's features are computed at its close. Bars before the first
known value get NaN, and ``max_age_ms`` turns values older than that into NaN
(a dead feed should not look like a flat one). The joined columns then feed the
pipeline like any column (kinds ``column``, ``zscore``, ``rank``); online, the
caller supplies the latest known value in each bar dict.

The DuckDB connection is the caller's (``con=``) or a private in-memory one
closed on return; no global connection is used.

>>> import pandas as pd
>>> bars = pd.DataFrame({"ts": [0, 3_600_000, 7_200_000], "close": [1.0, 1.0, 1.0]})
>>> funding = pd.DataFrame({"ts": [3_600_000, 10_800_000], "funding_rate": [0.0001, 0.0003]})
>>> asof_join(bars, funding, timeframe="1h")["funding_rate"].tolist()
[0.0001, 0.0001, 0.0003]
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.timeframes import timeframe_to_ms

__all__ = ["asof_join"]

Source = str | os.PathLike[str] | pd.DataFrame


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _relation(con: duckdb.DuckDBPyConnection, extra: Source) -> duckdb.DuckDBPyRelation:
    if isinstance(extra, pd.DataFrame):
        return con.from_df(extra)
    path = Path(extra)
    if not path.exists():
        raise DataError(f"asof_join: extra data file {path} does not exist; pass a Parquet "
                        "file with a 'ts' column (UTC ms or timestamp) and value columns")
    try:
        return con.read_parquet(str(path))
    except duckdb.Error as exc:
        raise DataError(f"asof_join: cannot read {path} as Parquet ({exc})") from exc


def _ts_expr(dtype: str) -> str:
    if dtype.upper() in ("BIGINT", "INTEGER", "HUGEINT", "UBIGINT", "UINTEGER"):
        return "CAST(ts AS BIGINT)"
    if dtype.upper().startswith("TIMESTAMP"):
        return "epoch_ms(ts)"
    raise DataError(f"asof_join: extra ts must be integer UTC ms or a timestamp, got {dtype}")


def asof_join(bars: pd.DataFrame, extra: Source, *, timeframe: str = "1h",
              columns: Sequence[str] | None = None, prefix: str = "", delay_ms: int = 0,
              max_age_ms: int | None = None, by: str | None = None,
              age_column: str | None = None,
              con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """``bars`` plus the extra series' columns, each bar taking the value known at its close.

    ``columns``: value columns to take (default: all but ``ts`` and ``by``), renamed
    ``prefix + name``. ``by``: a key column in both (e.g. ``symbol``) for per-key
    series. ``age_column``: also add the value's age at the close, in ms.
    Returns a copy of ``bars`` (same index and row order) with the new columns.
    """
    tf_ms = timeframe_to_ms(timeframe)
    for name, v in (("delay_ms", delay_ms), ("max_age_ms", max_age_ms)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ConfigError(f"asof_join: {name} must be an integer >= 0, got {v!r}")
    if "ts" not in bars.columns or bars["ts"].to_numpy().dtype.kind not in "iu":
        raise DataError("asof_join: bars need an integer 'ts' column (UTC ms, bar open time)")
    if by is not None and by not in bars.columns:
        raise DataError(f"asof_join: by={by!r} is not a column of bars")
    own = con is None
    con = duckdb.connect() if con is None else con
    try:
        rel = _relation(con, extra)
        types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
        if "ts" not in types or (by is not None and by not in types):
            need = ["ts"] + ([by] if by else [])
            raise DataError(f"asof_join: extra data needs column(s) {need}; it has "
                            f"{list(types)}")
        values = [c for c in types if c not in ("ts", by)] if columns is None else list(columns)
        for c in values:
            if c not in types or c in ("ts", by):
                hint = difflib.get_close_matches(c, list(types), n=1)
                did = f"; did you mean {hint[0]!r}?" if hint else ""
                raise DataError(f"asof_join: extra data has no value column {c!r}{did}")
        out_names = [prefix + c for c in values] + ([age_column] if age_column else [])
        clash = sorted(set(out_names) & set(bars.columns))
        if clash or len(set(out_names)) != len(out_names):
            raise DataError(f"asof_join: column(s) {clash or out_names} would be duplicated; "
                            "pass prefix= (e.g. prefix='funding_')")
        key = [] if by is None else [by]
        b = pd.DataFrame({"__row": np.arange(len(bars), dtype=np.int64),
                          "__close": bars["ts"].to_numpy().astype(np.int64) + tf_ms})
        for k in key:
            b[k] = bars[k].to_numpy()
        tag = f"{os.getpid()}_{id(b)}"
        bview, eview = f"__asof_bars_{tag}", f"__asof_extra_{tag}"
        con.register(bview, b)
        rel.create_view(eview)
        try:
            dupes = con.execute(
                f"SELECT count(*) - count(DISTINCT ({', '.join(_q(c) for c in ['ts', *key])})) "
                f"FROM {eview}").fetchall()[0][0]
            if dupes:
                raise DataError(f"asof_join: extra data has {dupes} duplicate ts"
                                f"{' per ' + by if by else ''}; keep one value per time")
            known = f"({_ts_expr(types['ts'])} + {int(delay_ms)})"
            fresh = "TRUE" if max_age_ms is None else f"b.__close - e.__known <= {max_age_ms}"
            cols = [f"CASE WHEN {fresh} THEN CAST(e.{_q(c)} AS DOUBLE) END AS {_q(prefix + c)}"
                    for c in values]
            if age_column:
                cols.append(f"CAST(b.__close - e.__known AS DOUBLE) AS {_q(age_column)}")
            on = " AND ".join([f"b.{_q(k)} = e.{_q(k)}" for k in key]
                              + ["b.__close >= e.__known"])
            sql = (f"SELECT b.__row, {', '.join(cols)} FROM {bview} b ASOF LEFT JOIN "
                   f"(SELECT *, {known} AS __known FROM {eview}) e ON {on} ORDER BY b.__row")
            joined = con.execute(sql).df()
        except duckdb.Error as exc:
            raise DataError(f"asof_join: DuckDB could not join the extra data ({exc}); value "
                            "columns must be numeric") from exc
        finally:
            con.unregister(bview)
            con.execute(f"DROP VIEW IF EXISTS {eview}")
    finally:
        if own:
            con.close()
    out = bars.copy()
    for name in out_names:
        out[name] = joined[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return out
