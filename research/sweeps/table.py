"""Result tables of sweeps: build them, rank them by a metric, write them atomically to Parquet.

A table has one row per parameter combination, in the order the combinations
were enumerated, with the param columns first (typed as the strategy declares
them) and then every metric of ``METRIC_KEYS`` as float64.

Ranking: most metrics are better when higher; ``LOWER_IS_BETTER`` lists those
that are better when lower (drawdown, drawdown duration, volatility, fees).
NaN always ranks last (a combination that never traded has no Sharpe), and ties
keep the enumeration order, so "the best row" is the same on every run.

>>> t = results_table(["fast"], [{"fast": 5}, {"fast": 10}, {"fast": 15}],
...                   [{"sharpe": 0.5}, {"sharpe": float("nan")}, {"sharpe": 1.5}])
>>> t[["fast", "sharpe"]].values.tolist()
[[5.0, 0.5], [10.0, nan], [15.0, 1.5]]
>>> best_index(t, "sharpe"), ranked(t, "sharpe")["fast"].tolist()
(2, [15, 5, 10])
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.results.result import METRIC_KEYS

__all__ = [
    "LOWER_IS_BETTER",
    "METADATA_KEY",
    "best_index",
    "check_metric",
    "ranked",
    "read_table_metadata",
    "results_table",
    "write_parquet_atomic",
]

LOWER_IS_BETTER = frozenset(
    {"max_drawdown", "max_drawdown_duration_ms", "max_drawdown_duration_bars", "volatility",
     "fees_paid"}
)
#: Parquet schema-metadata key holding the JSON description of how a table was made.
METADATA_KEY = b"tradeloom.sweep"


def check_metric(metric: str) -> str:
    """``metric`` if it is a known metric name, else a ConfigError with a suggestion.

    >>> check_metric("sharpe")
    'sharpe'
    """
    if metric in METRIC_KEYS:
        return metric
    close = difflib.get_close_matches(metric, METRIC_KEYS, n=1, cutoff=0.5)
    hint = f" did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"--metric {metric!r} is not a metric;{hint} choose one of: {', '.join(METRIC_KEYS)}"
    )


def _column(values: list[Any]) -> np.ndarray:
    kinds = {type(v) for v in values}
    if kinds <= {bool}:
        return np.asarray(values, dtype=bool)
    if kinds <= {int}:
        return np.asarray(values, dtype=np.int64)
    if kinds <= {int, float}:
        return np.asarray(values, dtype=np.float64)
    return np.asarray([str(v) for v in values], dtype=object)


def results_table(
    names: Sequence[str], combos: Sequence[Mapping[str, Any]], metrics: Sequence[Mapping[str, float]]
) -> pd.DataFrame:
    """Param columns ``names`` then the metric columns, one row per combination.

    Metric keys missing from a row are NaN (metrics are always float64).
    """
    if len(combos) != len(metrics):
        raise ConfigError(f"{len(combos)} combinations but {len(metrics)} metric rows")
    cols: dict[str, Any] = {n: _column([c[n] for c in combos]) for n in names}
    for key in METRIC_KEYS:
        if key in cols:
            raise ConfigError(f"param {key!r} has the name of a metric; rename the param")
        cols[key] = np.asarray([float(m.get(key, np.nan)) for m in metrics], dtype=np.float64)
    if not names and not combos:
        return pd.DataFrame(cols, index=pd.RangeIndex(0))
    return pd.DataFrame(cols, index=pd.RangeIndex(len(combos)))


def _sort_key(table: pd.DataFrame, metric: str) -> np.ndarray:
    values = table[check_metric(metric)].to_numpy(dtype=np.float64)
    key = values if metric in LOWER_IS_BETTER else -values
    return np.where(np.isnan(key), np.inf, key)


def ranked(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows best first by ``metric`` (NaN last, ties in table order)."""
    order = np.argsort(_sort_key(table, metric), kind="stable")
    return table.iloc[order]


def best_index(table: pd.DataFrame, metric: str) -> int:
    """Position of the best row by ``metric`` (NaN last, first of ties)."""
    if len(table) == 0:
        raise ConfigError("the result table is empty: no combination ran")
    return int(np.argsort(_sort_key(table, metric), kind="stable")[0])


def write_parquet_atomic(frame: pd.DataFrame, path: str | os.PathLike[str],
                         metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``frame`` to ``path`` (zstd Parquet) through a temporary file and ``os.replace``.

    A reader sees the old file or the new one, never half of one; a failure
    leaves no temporary file behind. ``metadata`` is stored as canonical JSON
    under ``METADATA_KEY`` (read it back with ``read_table_metadata``).
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"--out {str(target)!r} is a directory; give a file name like results.parquet")
    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata is not None:
        text = json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"), allow_nan=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: text.encode()})
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_table_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON metadata ``write_parquet_atomic`` stored in ``path`` ({} if none)."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else {}
