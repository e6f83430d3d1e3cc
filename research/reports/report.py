"""Self-contained HTML reports of backtests and sweeps.

``render_report(result, "out.html", bars=...)`` writes one HTML file that opens
without network access (plotly.js inlined once, no external ``src``/``href``):

1. headline tiles and the equity curve with the drawdown underneath;
2. candlesticks per traded symbol (when ``bars`` are given) with every fill
   marked at its exact time and price, plus stop and take-profit levels from
   the orders table; long histories are resampled to at most ``max_candles``;
3. monthly returns heatmap, rolling Sharpe and volatility, trade PnL histogram,
   exposure over time;
4. the trade list and the per-symbol breakdown; the buy-and-hold benchmark is the
   dotted line on the equity chart (``trade_sections``);
5. with several strategies in the run (a portfolio of sleeves), a per-strategy section:
   PnL, contribution, trades, win rate, fees and exposure time per strategy, and each
   strategy's PnL over time (from the bars, when given);
6. the metrics table, the risk decisions summary and the run manifest.

plotly.js goes into the page once, in the head (rather than
``include_plotlyjs=True`` per figure, which would repeat its 4.8 MB six times);
each chart is ``to_html(include_plotlyjs=False, div_id=...)``.

Output is deterministic: the same result and arguments give byte-identical
files (fixed plot div ids, no wall-clock time, sorted manifest; bytes change
only with the installed plotly version, whose bundle is inlined). The file is
written atomically (temporary sibling + ``os.replace``). Plotly is the optional
``tradeloom[report]`` extra; :func:`result_html_summary` (the notebook view) does
not need it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.results.result import METRIC_KEYS, BacktestResult
from tradeloom.research.reports import data as d
from tradeloom.research.reports import figures as f
from tradeloom.research.reports import html as h
from tradeloom.research.reports.derivatives_section import SECTION as DERIVATIVES_SECTION
from tradeloom.research.reports.derivatives_section import derivatives_section
from tradeloom.research.reports.search_sections import overfit_section
from tradeloom.research.reports.trade_sections import add_benchmark, symbol_section, trades_section
from tradeloom.research.sweeps.table import LOWER_IS_BETTER

__all__ = ["render_report", "render_sweep_report", "result_html_summary", "write_atomic"]

SECTIONS: tuple[tuple[str, str], ...] = (
    ("sec-equity", "Equity and drawdown"),
    ("sec-candles", "Price and trades"),
    ("sec-monthly", "Monthly returns"),
    ("sec-rolling", "Rolling Sharpe and volatility"),
    ("sec-pnl", "Trade PnL distribution"),
    ("sec-exposure", "Exposure"),
    ("sec-trades", "Trades"),
    ("sec-symbols", "Per symbol"),
    ("sec-metrics", "Metrics"),
    ("sec-risk", "Risk decisions"),
    ("sec-manifest", "Run manifest"),
)
"""Section ids and headings of a backtest report, in page order."""


def result_html_summary(result: BacktestResult) -> str:
    """Compact HTML (metrics table + inline SVG equity sparkline) for ``_repr_html_``."""
    return h.summary_html(result)


def plot_div_id(name: str) -> str:
    """The fixed div id of a plot (``plot-equity``, ``plot-candles-BTC-USDT`` ...)."""
    return "plot-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


def render_report(
    result: BacktestResult,
    path: str | os.PathLike[str],
    *,
    bars: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
    title: str | None = None,
    max_candles: int = d.MAX_CANDLES,
    max_points: int = d.MAX_POINTS,
) -> Path:
    """Write the backtest report of ``result`` to ``path`` and return the path.

    ``bars``: OHLC bars (columns ts [int64 ms, bar open], open, high, low, close)
    of the traded symbol, a frame with a ``symbol`` column, or ``{symbol: frame}``;
    trimmed to the run's period. Without bars the price section says how to add
    them. ``max_candles`` caps candles per symbol and ``max_points`` points per
    line series (see :mod:`.report_data` for how both are reduced).
    """
    if max_candles < 1 or max_points < 2:
        raise ConfigError(
            f"max_candles must be >= 1 and max_points >= 2, got {max_candles} and {max_points}"
        )
    strategy = str(result.manifest.get("strategy", "")) or "backtest"
    title = title or f"{strategy} backtest report"
    body = h.kpi_tiles(result) + _chart_sections(result, bars, max_candles, max_points)
    body += trades_section(result) + symbol_section(result)
    sections = SECTIONS
    derivatives = derivatives_section(result, plot_div_id("derivatives"), max_points)
    if derivatives:
        body += derivatives
        at = [sec_id for sec_id, _ in SECTIONS].index("sec-symbols") + 1
        sections = (*SECTIONS[:at], DERIVATIVES_SECTION, *SECTIONS[at:])
    by_strategy = result.by_strategy()
    if len(by_strategy) > 1:
        body += _strategy_section(result, bars, by_strategy["strategy_id"].tolist(), max_points)
        at = [sec_id for sec_id, _ in sections].index("sec-symbols") + 1
        sections = (*sections[:at], ("sec-strategies", "Strategies"), *sections[at:])
    tables = (
        h.section("sec-metrics", "Metrics", h.metrics_table(result))
        + h.section("sec-risk", "Risk decisions", h.risk_table(result))
        + h.section("sec-manifest", "Run manifest", h.manifest_table(result.manifest))
    )
    body += f'<div class="grid">{tables}</div>'
    html_text = h.page(title, _subtitle(result, strategy), sections, body, _plotly_js())
    return write_atomic(path, html_text)


def _subtitle(result: BacktestResult, strategy: str) -> str:
    symbols = ", ".join(d.traded_symbols(result)) or "no orders"
    eq = result.equity
    period = (
        f"{d.fmt_ts(int(eq['ts'].iloc[0]))} → {d.fmt_ts(int(eq['ts'].iloc[-1]))}"
        if len(eq)
        else "no bars"
    )
    return f"{strategy} · {symbols} · {result.timeframe} · {period} · {len(eq)} bars"


def _chart_sections(
    result: BacktestResult,
    bars: pd.DataFrame | Mapping[str, pd.DataFrame] | None,
    max_candles: int,
    max_points: int,
) -> str:
    quote = result.quote_currency
    ts, equity = d.equity_with_start(result)
    equity_fig = f.equity_figure(ts, equity, quote, max_points)
    benchmark = add_benchmark(equity_fig, result, bars, max_points)
    out = h.section(
        "sec-equity",
        "Equity and drawdown",
        f.figure_div(equity_fig, plot_div_id("equity"), 520),
        note="account equity at each bar close (the first point is the initial cash); "
        "drawdown below the running peak"
        + ("; dotted: buy and hold of the same symbols, equal weights from the first open"
           if benchmark else ""),
    )
    out += _candle_section(result, bars, max_candles)
    monthly = d.monthly_returns(result)
    out += h.section(
        "sec-monthly",
        "Monthly returns",
        f.figure_div(
            f.monthly_figure(monthly), plot_div_id("monthly"), 140 + 40 * max(1, len(monthly))
        ),
        note="calendar months in UTC, each compounded from the previous month's last equity",
    )
    rts, sharpe, vol, window = d.rolling_stats(result)
    bar_label = result.timeframe
    out += h.section(
        "sec-rolling",
        "Rolling Sharpe and volatility",
        f.figure_div(
            f.rolling_figure(rts, sharpe, vol, window, bar_label, max_points),
            plot_div_id("rolling"),
            460,
        ),
        note=f"window {window} bars of {bar_label}, annualised like the metrics (risk-free 0)",
    )
    closed = result.trades[~result.trades["is_open"].to_numpy(dtype=bool)]
    pnl = closed["pnl"].to_numpy(dtype=np.float64)
    n_open = len(result.trades) - len(closed)
    out += h.section(
        "sec-pnl",
        "Trade PnL distribution",
        f.figure_div(f.pnl_figure(pnl, quote), plot_div_id("pnl"), 360),
        note=f"{len(closed)} closed trades (net of fees); {n_open} still open, not counted",
    )
    eq = result.equity
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(
            eq["equity"].to_numpy() > 0, eq["exposure"].to_numpy() / eq["equity"].to_numpy(), np.nan
        )
    out += h.section(
        "sec-exposure",
        "Exposure",
        f.figure_div(
            f.exposure_figure(eq["ts"].to_numpy(dtype=np.int64), frac, max_points),
            plot_div_id("exposure"),
            320,
        ),
        note="gross market value of positions over equity, at each bar close",
    )
    return out


def _strategy_section(
    result: BacktestResult,
    bars: pd.DataFrame | Mapping[str, pd.DataFrame] | None,
    sids: list[str],
    max_points: int,
) -> str:
    """Per-strategy table, and each strategy's PnL over time when bars are given."""
    content = h.strategy_table(result)
    note = ("each strategy's own round trips (closed ones realized, open ones at the final "
            "marks, fees included); contributions add up to the total return")
    per_symbol = d.bars_by_symbol(bars, result)
    if per_symbol:
        frame = pd.concat([b.assign(symbol=s) for s, b in per_symbol.items()], ignore_index=True)
        curve = result.strategy_equity(frame)
        content += f.figure_div(f.strategy_figure(curve, sids, result.quote_currency, max_points),
                                plot_div_id("strategies"), 420)
        note += "; the lines: each strategy's cash flows plus its holdings at each bar close"
    return h.section("sec-strategies", "Strategies", content, note=note)


def _candle_section(
    result: BacktestResult,
    bars: pd.DataFrame | Mapping[str, pd.DataFrame] | None,
    max_candles: int,
) -> str:
    per_symbol = d.bars_by_symbol(bars, result)
    if not per_symbol:
        return h.section(
            "sec-candles",
            "Price and trades",
            "",
            note="no bars given: pass bars=... (a frame or {symbol: frame}) to render_report "
            "to see candlesticks with entries, exits and stop/take-profit levels",
        )
    parts, notes = [], []
    for symbol, sym_bars in per_symbol.items():
        if sym_bars.empty:
            notes.append(f"{symbol}: no bars inside the run's period")
            continue
        ts = sym_bars["ts"].to_numpy(dtype=np.int64)
        bar_ms = d.pick_bar_ms(ts, max_candles)
        candles = d.resample_ohlc(sym_bars, bar_ms)
        native = d.bar_step_ms(ts)
        shown = d.label_ms(bar_ms)
        note = f"{symbol}: {len(candles)} candles of {shown}"
        if bar_ms != native:
            note += f" (resampled from {len(sym_bars)} bars of {d.label_ms(native)})"
        notes.append(note + "; markers at exact fill times and prices")
        fig = f.candles_figure(
            symbol, candles, bar_ms, d.fill_markers(result, symbol), d.order_levels(result, symbol)
        )
        parts.append(
            f"<h3>{h.esc(symbol)}</h3>" + f.figure_div(fig, plot_div_id(f"candles-{symbol}"), 560)
        )
    return h.section("sec-candles", "Price and trades", "".join(parts), note="; ".join(notes))


def _plotly_js() -> str:
    f.plotly_go()  # the helpful ImportError first
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


# --------------------------------------------------------------------------- sweeps


def render_sweep_report(
    table: pd.DataFrame,
    x: str,
    y: str | None,
    metric: str,
    path: str | os.PathLike[str],
    *,
    top: int = 20,
    higher_is_better: bool | None = None,
    title: str | None = None,
    overfit: Any = None,
) -> Path:
    """Write a sweep report: ``x`` × ``y`` heatmap of ``metric`` and the top-``top`` rows.

    ``table`` has one row per run with parameter and metric columns. When other
    parameters vary too, each cell shows the best ``metric`` over them (best =
    largest, or smallest with ``higher_is_better=False``), and the note says so.
    By default the direction is the sweep ranking's: lower is better for the
    metrics in ``sweep_table.LOWER_IS_BETTER`` (drawdown, volatility, fees...).
    ``y=None`` draws one row (a sweep of one parameter). Metric values are shown as
    the metrics table shows them (percentages, counts, money). ``overfit`` (a
    ``trials.OverfitReport``) adds the search's overfitting statistics.
    """
    if higher_is_better is None:
        higher_is_better = metric not in LOWER_IS_BETTER
    missing = [c for c in (x, y, metric) if c is not None and c not in table.columns]
    if missing:
        raise ConfigError(
            f"sweep table has no column(s) {missing}; available: {list(table.columns)}"
        )
    if x == y:
        raise ConfigError(f"x and y must be different parameters, both are {x!r}")
    if top < 1:
        raise ConfigError(f"top must be >= 1, got {top}")
    values = pd.to_numeric(table[metric], errors="coerce")
    frame = table.assign(**{metric: values})
    agg = "max" if higher_is_better else "min"
    by = [x] if y is None else [x, y]
    if y is None:
        grid = frame.groupby(x)[metric].agg(agg).to_frame().T.set_axis([metric], axis=0)
    else:
        grid = frame.pivot_table(index=y, columns=x, values=metric, aggfunc=agg, dropna=False)
    grid = grid.sort_index(axis=0).sort_index(axis=1)
    repeats = int(frame.groupby(by).size().max()) if len(frame) else 0
    best = "largest" if higher_is_better else "smallest"
    note = f"{len(frame)} runs; cell = {metric}"
    if repeats > 1:
        note += f", the {best} over the other parameters ({repeats} runs per cell at most)"
    ranked = frame.sort_values(
        metric, ascending=not higher_is_better, na_position="last", kind="mergesort"
    )
    head = ranked.head(top)
    metric_cols = set(METRIC_KEYS)
    rows = [[_metric_cell(c, v) if c in metric_cols else _cell(v) for c, v in zip(head.columns, row)]
            for row in head.itertuples(index=False)]
    numeric = [i for i, c in enumerate(head.columns) if pd.api.types.is_numeric_dtype(head[c])]
    fig = f.sweep_figure(grid, x, y or "", metric, fmt=lambda v: h.fmt_metric(metric, v, ""))
    height = 160 + 34 * max(1, len(grid.index))
    heading = f"{metric} by {x}" + (f" and {y}" if y is not None else "")
    body = h.section(
        "sec-heatmap", heading,
        f.figure_div(fig, plot_div_id("sweep-heatmap"), min(height, 900)), note=note,
    ) + h.section(
        "sec-top", f"Top {len(head)} by {metric}",
        h.table([str(c) for c in head.columns], rows, numeric=numeric, css_class="t narrow"),
    )  # fmt: skip
    nav: tuple[tuple[str, str], ...] = (("sec-heatmap", "Heatmap"), ("sec-top", "Top runs"))
    if overfit is not None:
        body += overfit_section(overfit)
        nav += (("sec-overfit", "Overfitting"),)
    title = title or (f"Sweep: {metric} by {x} × {y}" if y is not None else f"Sweep: {metric} by {x}")
    html_text = h.page(title, note, nav, body, _plotly_js())
    return write_atomic(path, html_text)


def _metric_cell(key: str, v: object) -> str:
    if isinstance(v, (float, np.floating)):
        return h.fmt_metric(key, float(v), "")
    return _cell(v)


def _cell(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        return "n/a" if np.isnan(v) else f"{float(v):.6g}"
    return str(v)


# --------------------------------------------------------------------------- writing


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary sibling and ``os.replace``."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"report path {target} is a directory; give a file name like report.html")
    if not target.parent.exists():
        raise ConfigError(f"report directory {target.parent} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a report is meant to be opened and shared
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
