"""The backtest report's figures as plotly objects, for notebooks: ``result.plot()``.

``result_figures(result, bars)`` builds the figures the HTML report draws (equity and
drawdown with the buy-and-hold line, candles with fills per symbol, monthly returns,
rolling Sharpe and volatility, trade PnL, exposure) and returns them as a
``ReportFigures``: a mapping of name -> ``plotly.graph_objects.Figure``. In Jupyter it
displays every figure inline, interactive, through plotly's own renderer (no HTML
written, no network); ``figs["equity"]`` is one figure to restyle or ``.show()``;
``figs.to_html()`` is the figures as one self-contained page fragment (plotly.js
inlined once).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from tradeloom.engine.results.result import BacktestResult
from tradeloom.research.reports import data as d
from tradeloom.research.reports import figures as f
from tradeloom.research.reports.trade_sections import add_benchmark

__all__ = ["ReportFigures", "result_figures"]


class ReportFigures(Mapping[str, Any]):
    """Figures by name, in report order; displays them all in a notebook."""

    def __init__(self, figures: dict[str, Any]) -> None:
        self._figures = figures

    def __getitem__(self, name: str) -> Any:
        return self._figures[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._figures)

    def __len__(self) -> int:
        return len(self._figures)

    def __repr__(self) -> str:
        return f"ReportFigures({', '.join(self._figures)})"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        for fig in self._figures.values():
            display(fig)

    def to_html(self) -> str:
        """Every figure as HTML divs, plotly.js inlined once (opens offline)."""
        from plotly.offline import get_plotlyjs

        from tradeloom.research.reports.report import plot_div_id

        divs = [f.figure_div(fig, plot_div_id(name), 460) for name, fig in self._figures.items()]
        return f"<script>{get_plotlyjs()}</script>" + "".join(divs)


def result_figures(result: BacktestResult, bars: Any = None, *, max_candles: int = d.MAX_CANDLES,
                   max_points: int = d.MAX_POINTS) -> ReportFigures:
    """The report's figures of ``result`` (candles and the benchmark need ``bars``)."""
    quote = result.quote_currency
    out: dict[str, Any] = {}
    ts, equity = d.equity_with_start(result)
    out["equity"] = f.equity_figure(ts, equity, quote, max_points)
    add_benchmark(out["equity"], result, bars, max_points)
    for symbol, sym_bars in d.bars_by_symbol(bars, result).items():
        if sym_bars.empty:
            continue
        bar_ms = d.pick_bar_ms(sym_bars["ts"].to_numpy(dtype=np.int64), max_candles)
        out[f"candles {symbol}"] = f.candles_figure(
            symbol, d.resample_ohlc(sym_bars, bar_ms), bar_ms, d.fill_markers(result, symbol),
            d.order_levels(result, symbol))
    out["monthly"] = f.monthly_figure(d.monthly_returns(result))
    rts, sharpe, vol, window = d.rolling_stats(result)
    out["rolling"] = f.rolling_figure(rts, sharpe, vol, window, result.timeframe, max_points)
    closed = result.trades[~result.trades["is_open"].to_numpy(dtype=bool)]
    out["pnl"] = f.pnl_figure(closed["pnl"].to_numpy(dtype=np.float64), quote)
    eq = result.equity
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(eq["equity"].to_numpy() > 0,
                        eq["exposure"].to_numpy() / eq["equity"].to_numpy(), np.nan)
    out["exposure"] = f.exposure_figure(eq["ts"].to_numpy(dtype=np.int64), frac, max_points)
    return ReportFigures(out)
