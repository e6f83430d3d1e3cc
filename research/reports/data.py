"""Plain pandas/numpy preparation of what the HTML report draws (no plotting imports).

Everything here is a pure function of a :class:`~tradeloom.engine.results.result.BacktestResult`
(and the bars handed to the report), so it can be tested without plotly and
gives the same numbers every time. Decisions taken here:

- **Time.** Inputs are int64 ms since the epoch (UTC); the report shows them as
  naive ``datetime64[ms]`` values that *are* UTC (plotly has no time zones, so a
  naive UTC value is the only way to show UTC whatever the viewer's locale).
- **Candles.** Bars are resampled to the smallest "nice" bar length
  (``NICE_BAR_MS``) that leaves at most ``max_candles`` candles, bins aligned on
  the epoch; fill markers keep their exact times and prices.
- **Lines.** Equity-like series longer than ``max_points`` are thinned to one
  point per bin (the last value; for drawdown the worst value of the bin, so the
  deepest drawdown stays visible).
- **Entries and exits.** A fill that grows the absolute position of its symbol is
  an entry, one that shrinks it an exit, and one that crosses zero a reversal.
- **Stop and take-profit levels.** Working stop orders (stop, stop-limit,
  trailing stop: their last recorded ``stop_price``) and contingent limit orders
  (bracket legs with a ``parent_id``, OCO members, reduce-only limits) are drawn
  as levels from when they were created until they last changed state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradeloom.engine.errors import DataError
from tradeloom.engine.results import metrics as m
from tradeloom.engine.results.result import BacktestResult
from tradeloom.engine.timeframes import bars_per_year, timeframe_to_ms

MAX_CANDLES = 3_000
"""Default cap on candles per symbol chart."""

MAX_POINTS = 5_000
"""Default cap on points per line series (equity, drawdown, exposure, rolling)."""

_MIN = 60_000
_HOUR = 60 * _MIN
_DAY = 24 * _HOUR
NICE_BAR_MS: tuple[int, ...] = (
    _MIN, 2 * _MIN, 3 * _MIN, 5 * _MIN, 10 * _MIN, 15 * _MIN, 30 * _MIN,
    _HOUR, 2 * _HOUR, 3 * _HOUR, 4 * _HOUR, 6 * _HOUR, 8 * _HOUR, 12 * _HOUR,
    _DAY, 2 * _DAY, 3 * _DAY, 7 * _DAY, 14 * _DAY, 28 * _DAY,
)  # fmt: skip
"""Candle lengths the report resamples to, shortest first (then multiples of 28 days)."""

BAR_COLUMNS = ("ts", "open", "high", "low", "close")
ROLLING_DAYS = 30
"""Window of the rolling Sharpe and volatility, in days of bars."""


def to_utc(ts: np.ndarray | pd.Series | list[int]) -> np.ndarray:
    """Int64 epoch milliseconds -> naive ``datetime64[ms]`` values that are UTC."""
    return np.asarray(ts, dtype=np.int64).astype("datetime64[ms]")


def fmt_ts(ts: int) -> str:
    """One timestamp as ``YYYY-MM-DD HH:MM UTC``."""
    return pd.Timestamp(int(ts), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def label_ms(ms: int) -> str:
    """A bar length as ``15m``, ``4h``, ``1d``, ``7d``."""
    if ms % _DAY == 0:
        return f"{ms // _DAY}d"
    if ms % _HOUR == 0:
        return f"{ms // _HOUR}h"
    if ms % _MIN == 0:
        return f"{ms // _MIN}m"
    return f"{ms / 1000:g}s"


# --------------------------------------------------------------------------- bars


def check_bars(bars: pd.DataFrame, symbol: str) -> pd.DataFrame:
    """Bars as columns ts (int64 ms) + float OHLC, sorted, with a clear error when unusable."""
    missing = [c for c in BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise DataError(
            f"bars for {symbol}: missing column(s) {missing}; pass a frame with columns "
            f"{list(BAR_COLUMNS)} (ts = bar open time in int64 ms UTC)"
        )
    ts = bars["ts"]
    if not pd.api.types.is_integer_dtype(ts.dtype):
        raise DataError(
            f"bars for {symbol}: column 'ts' has dtype {ts.dtype}; it must be int64 epoch "
            "milliseconds (convert datetimes with .astype('datetime64[ms, UTC]').astype('int64'))"
        )
    out = pd.DataFrame(
        {
            "ts": ts.to_numpy(dtype=np.int64),
            **{c: bars[c].to_numpy(dtype=np.float64) for c in BAR_COLUMNS[1:]},
        }
    )
    out = out.sort_values("ts", kind="mergesort").drop_duplicates("ts", keep="last")
    return out.reset_index(drop=True)


def bar_step_ms(ts: np.ndarray) -> int:
    """The bars' native length: the smallest gap between consecutive bars (1 for < 2 bars)."""
    if ts.size < 2:
        return 1
    return int(np.diff(ts).min())


def pick_bar_ms(ts: np.ndarray, max_candles: int) -> int:
    """The shortest nice bar length >= the native one leaving <= ``max_candles`` bins."""
    if max_candles < 1:
        raise DataError(f"max_candles must be >= 1, got {max_candles}")
    step = bar_step_ms(ts)
    if ts.size <= max_candles:
        return step
    candidates = [b for b in NICE_BAR_MS if b >= step and b % step == 0] or [step]
    mult = candidates[-1]
    while True:
        for b in candidates:
            if np.unique(ts // b).size <= max_candles:
                return b
        mult *= 2
        candidates = [mult]


def resample_ohlc(bars: pd.DataFrame, bar_ms: int) -> pd.DataFrame:
    """OHLC aggregated into epoch-aligned bins of ``bar_ms`` (ts = bin start)."""
    if bars.empty or bar_ms <= bar_step_ms(bars["ts"].to_numpy()):
        return bars.reset_index(drop=True)
    key = (bars["ts"].to_numpy() // bar_ms) * bar_ms
    g = bars.groupby(key, sort=True)
    out = pd.DataFrame(
        {
            "open": g["open"].first(),
            "high": g["high"].max(),
            "low": g["low"].min(),
            "close": g["close"].last(),
        }
    )
    out.insert(0, "ts", out.index.to_numpy(dtype=np.int64))
    return out.reset_index(drop=True)


def trim_bars(bars: pd.DataFrame, result: BacktestResult) -> pd.DataFrame:
    """Bars whose open time falls in the run (equity ts are close times)."""
    if result.equity.empty:
        return bars
    tf = timeframe_to_ms(result.timeframe)
    ts = result.equity["ts"].to_numpy()
    lo, hi = int(ts[0]) - tf, int(ts[-1])
    keep = (bars["ts"] >= lo) & (bars["ts"] < hi)
    return bars[keep].reset_index(drop=True)


def bars_by_symbol(
    bars: pd.DataFrame | Mapping[str, pd.DataFrame] | None, result: BacktestResult
) -> dict[str, pd.DataFrame]:
    """Normalise the ``bars`` argument to ``{symbol: bars}``, traded symbols first."""
    if bars is None:
        return {}
    traded = traded_symbols(result)
    if isinstance(bars, pd.DataFrame):
        if "symbol" in bars.columns:
            groups = {str(s): g for s, g in bars.groupby("symbol", sort=True)}
        elif len(traded) <= 1:
            groups = {traded[0] if traded else _manifest_symbol(result): bars}
        else:
            raise DataError(
                f"the run traded {len(traded)} symbols ({', '.join(traded)}) but bars is one "
                "frame without a 'symbol' column; pass bars={symbol: frame, ...}"
            )
    elif isinstance(bars, Mapping):
        groups = {str(k): v for k, v in bars.items()}
    else:
        raise DataError(
            f"bars must be a DataFrame or a mapping of symbol -> DataFrame, got {type(bars).__name__}"
        )
    order = [s for s in traded if s in groups] + sorted(s for s in groups if s not in traded)
    return {s: trim_bars(check_bars(groups[s], s), result) for s in order}


def _manifest_symbol(result: BacktestResult) -> str:
    """The run's symbol from its manifest (``symbol`` or a one-item ``symbols``), else "bars"."""
    one = result.manifest.get("symbol")
    many = result.manifest.get("symbols")
    if isinstance(one, str) and one:
        return one
    if isinstance(many, list) and len(many) == 1 and isinstance(many[0], str):
        return many[0]
    return "bars"


def traded_symbols(result: BacktestResult) -> list[str]:
    """Symbols with fills, then symbols with orders, each sorted."""
    filled = sorted(set(result.fills["symbol"].astype(str)))
    ordered = sorted(set(result.orders["symbol"].astype(str)) - set(filled))
    return filled + ordered


# --------------------------------------------------------------------------- markers


@dataclass(frozen=True)
class Markers:
    """Fill markers of one symbol: exact ts and price, and what each fill did."""

    ts: np.ndarray
    price: np.ndarray
    side: list[str]
    role: list[str]  # "entry" | "exit" | "reverse"
    text: list[str]


def fill_markers(result: BacktestResult, symbol: str) -> Markers:
    """Classify each fill of ``symbol`` as entry, exit or reversal (see module docstring)."""
    f = result.fills[result.fills["symbol"].astype(str) == symbol]
    pos = 0.0
    roles, texts = [], []
    for side, amount, price, fee, tag in zip(
        f["side"].astype(str), f["amount"], f["price"], f["fee"], f["tag"].fillna("")
    ):
        new = pos + (amount if side == "buy" else -amount)
        if pos == 0.0 or (abs(new) > abs(pos) and pos * new > 0):
            role = "entry"
        elif pos * new < 0:
            role = "reverse"
        else:
            role = "exit"
        roles.append(role)
        label = f" [{tag}]" if tag else ""
        texts.append(f"{role} {side} {amount:g} @ {price:,.6g}{label}<br>fee {fee:.6g}")
        pos = 0.0 if abs(new) <= 1e-9 * max(abs(pos), abs(amount)) else new
    return Markers(
        ts=f["ts"].to_numpy(dtype=np.int64),
        price=f["price"].to_numpy(dtype=np.float64),
        side=list(f["side"].astype(str)),
        role=roles,
        text=texts,
    )


@dataclass(frozen=True)
class Levels:
    """Horizontal price levels of one kind: segments from start to end time."""

    start: np.ndarray
    end: np.ndarray
    price: np.ndarray
    text: list[str]


_STOP_TYPES = {"stop", "stop_limit", "trailing_stop"}


def order_levels(result: BacktestResult, symbol: str) -> dict[str, Levels]:
    """Stop and take-profit levels of ``symbol`` from the orders table (may be empty)."""
    o = result.orders[result.orders["symbol"].astype(str) == symbol]
    out: dict[str, Levels] = {}
    is_stop = o["type"].astype(str).isin(_STOP_TYPES) & np.isfinite(o["stop_price"])
    contingent = (
        o["parent_id"].notna().to_numpy(dtype=bool)
        | o["oco_group"].notna().to_numpy(dtype=bool)
        | o["reduce_only"].to_numpy(dtype=bool)
    )
    is_tp = (o["type"].astype(str) == "limit") & contingent & np.isfinite(o["price"])
    for kind, mask, col in (("stop", is_stop, "stop_price"), ("take_profit", is_tp, "price")):
        sel = o[mask.to_numpy(dtype=bool)]
        if sel.empty:
            continue
        start = sel["created_ts"].to_numpy(dtype=np.int64)
        end = np.maximum(sel["updated_ts"].to_numpy(dtype=np.int64), start)
        price = sel[col].to_numpy(dtype=np.float64)
        text = [
            f"{kind.replace('_', '-')} #{oid} {side} @ {p:,.6g} ({status})"
            for oid, side, p, status in zip(
                sel["id"], sel["side"].astype(str), price, sel["status"].astype(str)
            )
        ]
        out[kind] = Levels(start=start, end=end, price=price, text=text)
    return out


# --------------------------------------------------------------------------- equity series


def equity_with_start(result: BacktestResult) -> tuple[np.ndarray, np.ndarray]:
    """(ts, equity) with the account before the first bar prepended, as the metrics see it."""
    eq = result.equity
    if eq.empty:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    tf = timeframe_to_ms(result.timeframe)
    ts = np.concatenate([[int(eq["ts"].iloc[0]) - tf], eq["ts"].to_numpy(dtype=np.int64)])
    e = np.concatenate([[result.initial_cash], eq["equity"].to_numpy(dtype=np.float64)])
    return ts.astype(np.int64), e


def thin(n: int, max_points: int) -> np.ndarray | None:
    """Bin ids (``0..max_points-1``) for thinning ``n`` points, or None when no thinning is needed."""
    if n <= max_points:
        return None
    return (np.arange(n, dtype=np.int64) * max_points) // n


def thin_last(values: np.ndarray, bins: np.ndarray | None) -> np.ndarray:
    """The last value of each bin (values unchanged when ``bins`` is None)."""
    if bins is None:
        return values
    last = np.flatnonzero(np.diff(bins, append=bins[-1] + 1))
    return values[last]


def thin_max(values: np.ndarray, bins: np.ndarray | None) -> np.ndarray:
    """The largest value of each bin (NaN-ignoring) — used for drawdown depth."""
    if bins is None:
        return values
    return pd.Series(values).groupby(bins).max().to_numpy(dtype=np.float64)


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Drawdown below the running peak as a positive fraction (engine convention)."""
    return m.drawdown_series(equity)


def rolling_window(result: BacktestResult, n_returns: int) -> int:
    """Bars in the rolling window: ``ROLLING_DAYS`` of bars, at most half the run, at least 2."""
    per_day = bars_per_year(result.timeframe) / 365.0
    return int(max(2, min(round(ROLLING_DAYS * per_day), n_returns // 2)))


def rolling_stats(result: BacktestResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(ts, rolling Sharpe, rolling volatility, window) — annualised like the metrics."""
    ts, e = equity_with_start(result)
    r = m.step_returns(e)
    window = rolling_window(result, r.size)
    bpy = bars_per_year(result.timeframe)
    s = pd.Series(r)
    mean = s.rolling(window).mean().to_numpy()
    std = s.rolling(window).std(ddof=1).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = np.where(std > 0, mean / std * math.sqrt(bpy), np.nan)
    vol = std * math.sqrt(bpy)
    return ts[1:], sharpe, vol, window


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def monthly_returns(result: BacktestResult) -> pd.DataFrame:
    """Returns per calendar month (UTC): rows are years, columns ``MONTHS``; NaN outside the run.

    Each month compounds from the previous month's last equity (the first month
    from the initial cash), so the months chain to ``total_return``.
    """
    ts, e = equity_with_start(result)
    table = pd.DataFrame(np.nan, index=pd.Index([], dtype=np.int64, name="year"), columns=MONTHS)
    if e.size < 2:
        return table
    when = pd.DatetimeIndex(to_utc(ts))
    month_key = when.year * 12 + (when.month - 1)
    s = pd.Series(e).groupby(np.asarray(month_key)).last()
    keys = s.index.to_numpy()
    prev = np.concatenate([[e[0]], s.to_numpy()[:-1]])
    rets = s.to_numpy() / prev - 1.0
    # the prepended start point sits in the month before the first bar when the run
    # starts on a month boundary; that "month" has no return of its own
    if month_key[0] != month_key[1]:
        keys, rets = keys[1:], rets[1:]
    years = sorted({int(k) // 12 for k in keys})
    table = pd.DataFrame(np.nan, index=pd.Index(years, dtype=np.int64, name="year"), columns=MONTHS)
    for k, r in zip(keys, rets):
        table.loc[int(k) // 12, MONTHS[int(k) % 12]] = float(r)
    return table


def risk_summary(result: BacktestResult) -> pd.DataFrame:
    """Risk decisions counted by code (or reason when the loop recorded no code) and outcome.

    Columns: code, outcome, count, first_ts, example (a reason or the setting
    that governs it). Empty frame when the run recorded no decisions.
    """
    cols = ["code", "outcome", "count", "first_ts", "example"]
    rd = result.risk_decisions
    if rd.empty:
        return pd.DataFrame({c: [] for c in cols})
    n = len(rd)
    if "code" in rd.columns:
        code = rd["code"].astype(str)
    elif "reason" in rd.columns:
        code = rd["reason"].astype(str).str.split(":").str[0]
    else:
        code = pd.Series(["unspecified"] * n)
    if "outcome" in rd.columns:
        outcome = rd["outcome"].astype(str)
    elif "approved" in rd.columns:
        outcome = pd.Series(np.where(rd["approved"].astype(bool).to_numpy(), "resized", "rejected"))
    else:
        outcome = pd.Series(["recorded"] * n)
    example = pd.Series([""] * n)
    for col in ("reason", "message", "setting"):
        if col in rd.columns:
            example = rd[col].astype(str).fillna("")
            break
    ts = rd["ts"].to_numpy(dtype=np.int64) if "ts" in rd.columns else np.zeros(n, dtype=np.int64)
    frame = pd.DataFrame(
        {
            "code": code.to_numpy(),
            "outcome": outcome.to_numpy(),
            "ts": ts,
            "example": example.to_numpy(),
        }
    )
    g = frame.groupby(["code", "outcome"], sort=True)
    out = pd.DataFrame(
        {"count": g.size(), "first_ts": g["ts"].min(), "example": g["example"].first()}
    ).reset_index()
    out = out.sort_values(
        ["count", "code", "outcome"], ascending=[False, True, True], kind="mergesort"
    )
    return out[cols].reset_index(drop=True)
