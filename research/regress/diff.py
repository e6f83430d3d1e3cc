"""How a regression run differs from its golden result, written for a person.

``drift_lines(golden, current)`` turns ``BacktestResult.diff`` (which lists every
difference: settings, metric deltas, the first differing row of each frame,
manifest keys, events) into the drift report of ``tradeloom regress``:

1. the first differing trade, with both versions of that trade on one line each
   (entry and exit time, side, amount, prices, PnL), so a reviewer sees *which*
   trade moved without opening Parquet files;
2. the metric deltas (golden != current, with the signed delta);
3. the first differing row of the equity curve, orders, fills and risk decisions,
   and any difference in final positions or settings.

The manifest and the events are not compared: they name the code version, the
strategy's source hash and the module it was loaded as, which change with
harmless edits (a comment, a release) and with the checkout path. When results
*do* drift, :func:`context_lines` shows the manifest changes that explain it
(params, fees, data fingerprint, code version).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from tradeloom.engine.results.result import BacktestResult

# Frames compared, in report order after trades and metrics.
_FRAME_ORDER = ("equity", "orders", "fills", "risk_decisions")
_TRADE_FIELDS = ("symbol", "side", "entry_ts", "exit_ts", "amount", "entry_price", "exit_price", "pnl")
_MANIFEST_KEYS = ("data_fingerprint", "code_version", "seed")
_MAX_VALUE_CHARS = 160


def drift_lines(golden: BacktestResult, current: BacktestResult) -> list[str]:
    """Readable differences of the compared parts, most useful first; empty when none."""
    raw = golden.diff(current, limit=10_000)
    trades = [line for line in raw if line.startswith("trades")]
    metrics = [line for line in raw if line.startswith("metrics.")]
    frames = [line for name in _FRAME_ORDER for line in raw if _is_frame_line(line, name)]
    ignored = ("trades", "metrics.", "manifest.", "events", *_FRAME_ORDER)
    other = [line for line in raw if not line.startswith(ignored)]
    out: list[str] = []
    if trades:
        out.extend(trade_lines(golden.trades, current.trades, trades[0]))
    if metrics:
        out.append("metric deltas (golden != current):")
        out.extend(f"  {line.removeprefix('metrics.')}" for line in metrics)
    out.extend(frames)
    out.extend(other)
    return out


def _is_frame_line(line: str, name: str) -> bool:
    return line.startswith((f"{name} ", f"{name}:", f"{name}.")) and not line.startswith("equity_")


def first_differing_row(a: pd.DataFrame, b: pd.DataFrame) -> int | None:
    """Index of the first row (over the common length and columns) that differs, else None.

    When the common rows are equal but one frame is longer, the first extra row.

    >>> x = pd.DataFrame({"p": [1.0, float("nan"), 3.0]}); y = pd.DataFrame({"p": [1.0, float("nan")]})
    >>> first_differing_row(x, y), first_differing_row(x, x)
    (2, None)
    """
    n = min(len(a), len(b))
    columns = [c for c in a.columns if c in b.columns]
    for i in range(n):
        if any(not _same_value(a[c].iloc[i], b[c].iloc[i]) for c in columns):
            return i
    return n if len(a) != len(b) else None


def _same_value(x: Any, y: Any) -> bool:
    x_na, y_na = bool(pd.isna(x)), bool(pd.isna(y))
    if x_na or y_na:
        return x_na and y_na
    return bool(x == y)


def trade_lines(golden: pd.DataFrame, current: pd.DataFrame, detail: str) -> list[str]:
    """The first differing trade: a headline, both versions one line each, what differs.

    ``detail`` is ``diff_frames``' line for the trades (a row, count or schema difference).
    """
    i = first_differing_row(golden, current)
    if i is None:  # a schema difference only (columns or dtypes)
        return [f"trades differ: {detail}"]
    out = [
        f"first differing trade: #{i + 1} (golden has {len(golden)} trades, current {len(current)})",
        f"  golden : {describe_trade(golden, i)}",
        f"  current: {describe_trade(current, i)}",
    ]
    if detail.startswith("trades row "):
        out.append(f"  differs in: {detail.split(': ', 1)[1]}")
    return out


def describe_trade(trades: pd.DataFrame, i: int) -> str:
    """One trade as a line: ``#4 ETH/USDT long 2021-02-03 04:00 -> ... amount 5.33 ...``."""
    if i >= len(trades):
        return f"(none: {len(trades)} trades)"
    row = trades.iloc[i]
    parts = [f"#{i + 1}"]
    for name in _TRADE_FIELDS:
        if name not in trades.columns:
            continue
        value = row[name]
        if name in ("entry_ts", "exit_ts"):
            text = _fmt_ts(value)
            parts.append(text if name == "entry_ts" else f"-> {text}")
        elif name in ("symbol", "side"):
            parts.append(str(value))
        else:
            parts.append(f"{name.replace('_price', '')} {_fmt_num(value)}")
    if "is_open" in trades.columns and bool(row["is_open"]):
        parts.append("(open)")
    return " ".join(parts)


def _fmt_ts(value: Any) -> str:
    if pd.isna(value):
        return "open"
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _fmt_num(value: Any) -> str:
    if pd.isna(value):
        return "n/a"
    number = float(value)
    return f"{number:.10g}" if math.isfinite(number) else str(number)


def context_lines(golden: BacktestResult, current: BacktestResult) -> list[str]:
    """Manifest differences that may explain a drift (changed config keys, data, code version)."""
    out: list[str] = []
    g_config = golden.manifest.get("config", {})
    c_config = current.manifest.get("config", {})
    if isinstance(g_config, dict) and isinstance(c_config, dict):
        for key in sorted(set(g_config) | set(c_config)):
            if key == "strategy" or g_config.get(key) == c_config.get(key):
                continue  # the module name depends on where a strategy file was loaded from
            out.append(f"config.{key}: {_short(g_config.get(key))} != {_short(c_config.get(key))}")
    for key in _MANIFEST_KEYS:
        if golden.manifest.get(key) != current.manifest.get(key):
            out.append(f"{key}: {_short(golden.manifest.get(key))} != {_short(current.manifest.get(key))}")
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."
