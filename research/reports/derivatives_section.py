"""The backtest report's derivatives section (runs that traded perpetuals): leverage and
margin usage over time, the long/short breakdown, funding per symbol and every
liquidation.

- **Leverage**: gross exposure (every position at ``|qty| * mark``) over equity at each
  bar close; **margin usage**: the perpetuals' initial margin over equity
  (``engine.results.derivatives.margin_usage``). One chart, two lines.
- **Long / short**: closed trades and their PnL per side.
- **Funding**: per symbol, paid, received and net, and the number of payments.
- **Liquidations**: time, symbol, quantity, price and clearance fee of each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradeloom.engine.results.derivatives import has_derivatives, margin_usage
from tradeloom.engine.results.result import BacktestResult
from tradeloom.research.reports import data as d
from tradeloom.research.reports import html as h

SECTION = ("sec-derivatives", "Derivatives")


def leverage_figure(ts: np.ndarray, leverage: np.ndarray, usage: np.ndarray,
                    max_points: int) -> Any:
    """Gross leverage and margin usage over time (two lines)."""
    from tradeloom.research.reports.figures import plotly_go

    go = plotly_go()
    bins = d.thin(ts.size, max_points)
    x = d.to_utc(d.thin_last(ts, bins))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=d.thin_last(leverage, bins), name="gross leverage (x)",
                             mode="lines", line={"width": 1.2, "shape": "hv"}))
    fig.add_trace(go.Scatter(x=x, y=d.thin_last(usage, bins), name="margin usage (x equity)",
                             mode="lines", line={"width": 1.2, "shape": "hv"}))
    fig.update_yaxes(title_text="x equity", rangemode="tozero")
    fig.update_xaxes(title_text="time (UTC)")
    fig.update_layout(hovermode="x unified")
    return fig


def derivatives_section(result: BacktestResult, div_id: str, max_points: int) -> str:
    """The section's HTML, or "" for a run without perpetuals."""
    if not has_derivatives(result.events):
        return ""
    from tradeloom.research.reports.figures import figure_div

    eq = result.equity
    values = eq["equity"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        leverage = np.where(values > 0, eq["exposure"].to_numpy() / values, np.nan)
    usage = margin_usage(result.events, eq)
    summary = result.derivatives()
    sides = h.table(["side", "closed trades", f"PnL ({result.quote_currency})"],
                    [(side, int(v["n"]), f"{v['pnl']:,.2f}")
                     for side, v in summary["sides"].items()], numeric=(1, 2))
    funding = h.table(["symbol", "paid", "received", "net", "payments"],
                      [(s, f"{v['paid']:,.4f}", f"{v['received']:,.4f}", f"{v['net']:,.4f}",
                        int(v["payments"])) for s, v in summary["funding"].items()]
                      or [("none", "", "", "", "")], numeric=(1, 2, 3, 4))
    liq = result.liquidations
    liquidations = h.table(["time (UTC)", "symbol", "qty", "price", "fee"],
                           [(d.to_utc(np.array([r.ts]))[0], r.symbol, f"{r.qty:.8g}",
                             f"{r.price:.8g}", f"{r.fee:.4f}") for r in liq.itertuples()]
                           or [("none", "", "", "", "")], numeric=(2, 3, 4))
    peak = float(np.nanmax(leverage)) if leverage.size else 0.0
    content = (figure_div(leverage_figure(eq["ts"].to_numpy(dtype=np.int64), leverage, usage,
                                          max_points), div_id, 320)
               + "<h3>Long / short</h3>" + sides + "<h3>Funding</h3>" + funding
               + "<h3>Liquidations</h3>" + liquidations)
    note = (f"peak gross leverage {peak:.2f}x; funding net "
            f"{summary['funding_net']:,.4f} {result.quote_currency}; "
            f"{len(liq)} liquidation(s)")
    return h.section(SECTION[0], SECTION[1], content, note=note)


__all__ = ["SECTION", "derivatives_section", "leverage_figure"]
