"""Backtest report parts about what was traded: the trade list, the per-symbol breakdown,
and the buy-and-hold benchmark drawn with the equity curve.

**Buy and hold**: the initial cash split equally over the symbols that have bars,
bought at the first bar's open (no fees, fractional amounts) and marked at each bar
close, on the equity curve's times (a symbol without a bar at a close keeps its last
close). It answers "did the strategy beat holding the same coins?".

>>> import pandas as pd
>>> bars = {"BTC/USDT": pd.DataFrame({"ts": [0, 60_000], "open": [100.0, 110.0],
...                                   "close": [110.0, 121.0]})}
>>> buy_and_hold(bars, [60_000, 120_000], 60_000, 1000.0).tolist()
[1100.0, 1210.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.results.result import BacktestResult
from tradeloom.research.reports import data as d
from tradeloom.research.reports import html as h

__all__ = ["MAX_TRADE_ROWS", "add_benchmark", "buy_and_hold", "symbol_breakdown", "symbol_section",
           "trades_section"]

MAX_TRADE_ROWS = 500
"""The trade list shows at most this many round trips (the first ones), and says so."""


def buy_and_hold(bars: Mapping[str, pd.DataFrame], close_ts: Sequence[int], tf_ms: int,
                 initial_cash: float) -> np.ndarray:
    """Equity of the buy-and-hold benchmark at each of ``close_ts`` (see the module docstring)."""
    close_ts = np.asarray(close_ts, dtype=np.int64)
    parts = [b for b in bars.values() if len(b)]
    total = np.zeros(close_ts.size)
    if not parts:
        return np.full(close_ts.size, float(initial_cash))
    budget = float(initial_cash) / len(parts)
    for b in parts:
        closes_at = b["ts"].to_numpy(dtype=np.int64) + tf_ms
        close = b["close"].to_numpy(dtype=np.float64)
        amount = budget / float(b["open"].iloc[0])
        pos = np.searchsorted(closes_at, close_ts, side="right") - 1
        marks = np.where(pos >= 0, close[np.maximum(pos, 0)], float(b["open"].iloc[0]))
        total += amount * marks
    return total


def add_benchmark(fig: Any, result: BacktestResult, bars: Any, max_points: int) -> bool:
    """Draw the buy-and-hold line on the equity figure's top panel; False without bars."""
    per_symbol = d.bars_by_symbol(bars, result)
    if not per_symbol or result.equity.empty:
        return False
    from tradeloom.engine.timeframes import timeframe_to_ms
    from tradeloom.research.reports.figures import plotly_go

    ts, _ = d.equity_with_start(result)
    tf = timeframe_to_ms(result.timeframe)
    bench = np.concatenate([[result.initial_cash],
                            buy_and_hold(per_symbol, ts[1:], tf, result.initial_cash)])
    bins = d.thin(ts.size, max_points)
    fig.add_trace(plotly_go().Scatter(
        x=d.to_utc(d.thin_last(ts, bins)), y=d.thin_last(bench, bins), name="buy and hold",
        mode="lines", line={"color": "#6b7280", "width": 1.2, "dash": "dot"}), row=1, col=1)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": 1.02, "x": 0})
    return True


def symbol_breakdown(result: BacktestResult) -> pd.DataFrame:
    """Per symbol: closed and open trades, win rate, net PnL of closed and open trades,
    fees and traded notional (from the fills)."""
    trades, fills = result.trades, result.fills
    symbols = sorted(set(trades["symbol"].astype(str)) | set(fills["symbol"].astype(str)))
    rows = []
    for s in symbols:
        t = trades[trades["symbol"] == s]
        closed = t[~t["is_open"].to_numpy(dtype=bool)]
        f = fills[fills["symbol"] == s]
        pnl = closed["pnl"].to_numpy(dtype=np.float64)
        rows.append({
            "symbol": s, "trades": len(closed), "open": len(t) - len(closed),
            "win_rate": float((pnl > 0).mean()) if pnl.size else float("nan"),
            "pnl": float(pnl.sum()), "open_pnl": float(t.loc[t["is_open"], "pnl"].sum()),
            "fees": float(f["fee"].sum()),
            "notional": float((f["price"] * f["amount"]).sum()),
        })
    return pd.DataFrame(rows, columns=["symbol", "trades", "open", "win_rate", "pnl", "open_pnl",
                                       "fees", "notional"])


def symbol_section(result: BacktestResult) -> str:
    """The per-symbol breakdown as a report section."""
    table = symbol_breakdown(result)
    q = result.quote_currency
    rows = [[r.symbol, str(r.trades), str(r.open),
             "n/a" if np.isnan(r.win_rate) else f"{r.win_rate * 100:.1f} %",
             f"{r.pnl:,.2f} {q}".strip(), f"{r.open_pnl:,.2f} {q}".strip(), f"{r.fees:,.2f} {q}".strip(),
             f"{r.notional:,.2f} {q}".strip()] for r in table.itertuples()]
    header = ["symbol", "closed trades", "open trades", "win rate", "net PnL (closed)",
              "PnL (open, at the last close)", "fees", "traded notional"]
    return h.section("sec-symbols", "Per symbol", h.table(header, rows, numeric=list(range(1, 8))),
                     note="round trips by symbol; PnL net of fees; fees and notional from the fills")


def trades_section(result: BacktestResult, max_rows: int = MAX_TRADE_ROWS) -> str:
    """The trade list: one row per round trip, times in UTC."""
    t = result.trades
    shown = t.head(max_rows)
    q = result.quote_currency
    rows = []
    for r in shown.itertuples():
        rows.append([str(r.trade_id), r.symbol, r.side, d.fmt_ts(int(r.entry_ts)),
                     "open" if r.is_open else d.fmt_ts(int(r.exit_ts)), f"{r.entry_price:.6g}",
                     f"{r.exit_price:.6g}", f"{r.amount:.6g}", f"{r.pnl:,.2f} {q}".strip(),
                     f"{r.return_pct * 100:.2f} %", str(r.bars_held), r.entry_tag, r.exit_tag])
    header = ["#", "symbol", "side", "entry (UTC)", "exit (UTC)", "entry price", "exit price",
              "amount", "net PnL", "return", "bars", "entry tag", "exit tag"]
    note = f"{len(t)} round trips"
    if len(t) > max_rows:
        note += f"; the first {max_rows} shown (all of them are in the results' trades table)"
    note += "; an open trade is marked at the last close"
    table = h.table(header, rows, numeric=[0, 5, 6, 7, 8, 9, 10])
    return h.section("sec-trades", "Trades", f'<div style="overflow-x:auto">{table}</div>', note=note)
