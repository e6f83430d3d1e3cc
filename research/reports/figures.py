"""Plotly figures of the HTML report, one builder per chart.

Plotly is an optional dependency (``pip install tradeloom[report]``), imported
lazily by :func:`plotly_go` so ``import tradeloom.research`` never needs it. Each
builder takes plain arrays/frames from :mod:`.report_data` and returns a
``plotly.graph_objects.Figure``; :func:`figure_div` turns one into an HTML
fragment with a fixed ``div_id`` so two renders of the same result are
byte-identical. SVG traces only (no WebGL), so the charts render the same in a
headless browser without a GPU.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.research.reports import data as d

GREEN, RED, BLUE, GREY, ORANGE = "#16a34a", "#dc2626", "#2563eb", "#6b7280", "#ea580c"
TEMPLATE = "plotly_white"
PLOT_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}


def plotly_go() -> ModuleType:
    """``plotly.graph_objects``, or an ImportError saying which extra to install."""
    try:
        return importlib.import_module("plotly.graph_objects")
    except ImportError as exc:
        raise ImportError(
            "HTML reports need plotly: pip install 'tradeloom[report]' (or pip install plotly)"
        ) from exc


def _subplots() -> Any:
    return importlib.import_module("plotly.subplots")


def figure_div(fig: Any, div_id: str, height: int) -> str:
    """The figure as an HTML fragment (no plotly.js: the page inlines it once)."""
    fig.update_layout(height=height, template=TEMPLATE, margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config=PLOT_CONFIG,
            default_height=f"{height}px",
            default_width="100%",
        )
    )


def _utc_axis(fig: Any) -> None:
    fig.update_xaxes(hoverformat="%Y-%m-%d %H:%M UTC")


def equity_figure(ts: np.ndarray, equity: np.ndarray, quote: str, max_points: int) -> Any:
    """Equity on top, drawdown (negative %, filled) underneath, sharing the time axis."""
    go = plotly_go()
    fig = _subplots().make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.7, 0.3]
    )
    bins = d.thin(ts.size, max_points)
    x = d.to_utc(d.thin_last(ts, bins))
    fig.add_trace(
        go.Scatter(
            x=x, y=d.thin_last(equity, bins), name="equity", mode="lines",
            line={"color": BLUE, "width": 1.5},
        ),
        row=1, col=1,
    )  # fmt: skip
    dd = -d.thin_max(d.drawdown(equity), bins)
    fig.add_trace(
        go.Scatter(
            x=x, y=dd, name="drawdown", mode="lines", fill="tozeroy",
            line={"color": RED, "width": 1}, fillcolor="rgba(220,38,38,0.25)",
        ),
        row=2, col=1,
    )  # fmt: skip
    fig.update_yaxes(title_text=f"equity ({quote})" if quote else "equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    fig.update_layout(showlegend=False, hovermode="x unified")
    _utc_axis(fig)
    return fig


def candles_figure(
    symbol: str,
    bars: pd.DataFrame,
    bar_ms: int,
    markers: d.Markers,
    levels: dict[str, d.Levels],
) -> Any:
    """Candlesticks (already resampled) with exact fill markers and stop/TP level segments."""
    go = plotly_go()
    fig = go.Figure()
    fig.add_trace(
        go.Candlestick(
            x=d.to_utc(bars["ts"].to_numpy()),
            open=bars["open"].to_numpy(), high=bars["high"].to_numpy(),
            low=bars["low"].to_numpy(), close=bars["close"].to_numpy(),
            name=f"{symbol} {d.label_ms(bar_ms)}",
            increasing={"line": {"color": "#22c55e", "width": 1}},
            decreasing={"line": {"color": "#ef4444", "width": 1}},
        )
    )  # fmt: skip
    styles = {
        "entry": ("entries", {"buy": "triangle-up", "sell": "triangle-down"}),
        "exit": ("exits", {"buy": "x", "sell": "x"}),
        "reverse": ("reversals", {"buy": "diamond", "sell": "diamond"}),
    }
    for role, (name, symbols) in styles.items():
        idx = [i for i, r in enumerate(markers.role) if r == role]
        if not idx:
            continue
        sides = [markers.side[i] for i in idx]
        fig.add_trace(
            go.Scatter(
                x=d.to_utc(markers.ts[idx]), y=markers.price[idx], mode="markers", name=name,
                text=[markers.text[i] for i in idx], hoverinfo="text+x",
                marker={
                    "symbol": [symbols[s] for s in sides], "size": 11,
                    "color": [GREEN if s == "buy" else RED for s in sides],
                    "line": {"color": "#111827", "width": 1},
                },
            )
        )  # fmt: skip
    for kind, color in (("stop", RED), ("take_profit", GREEN)):
        lv = levels.get(kind)
        if lv is None:
            continue
        xs: list[Any] = []
        ys: list[Any] = []
        texts: list[str] = []
        for s, e, p, t in zip(d.to_utc(lv.start), d.to_utc(lv.end), lv.price, lv.text):
            xs += [s, e, None]
            ys += [p, p, None]
            texts += [t, t, ""]
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines", name=kind.replace("_", "-"), text=texts,
                hoverinfo="text", line={"color": color, "width": 1.5, "dash": "dash"},
            )
        )  # fmt: skip
    fig.update_layout(
        xaxis_rangeslider_visible=False,
        legend={"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"},
        yaxis_title="price",
        xaxis_title="time (UTC)",
    )
    _utc_axis(fig)
    return fig


def monthly_figure(table: pd.DataFrame) -> Any:
    """Years x months heatmap of monthly returns, red-white-green centred on zero."""
    go = plotly_go()
    z = table.to_numpy(dtype=np.float64)
    text = [["" if np.isnan(v) else f"{v * 100:+.1f}%" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=list(table.columns), y=[str(y) for y in table.index],
            text=text, texttemplate="%{text}", hovertemplate="%{y} %{x}: %{text}<extra></extra>",
            colorscale=[[0.0, RED], [0.5, "#f9fafb"], [1.0, GREEN]], zmid=0.0,
            colorbar={"tickformat": ".0%", "title": "return"}, xgap=2, ygap=2,
        )
    )  # fmt: skip
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(type="category", side="top")
    return fig


def rolling_figure(
    ts: np.ndarray, sharpe: np.ndarray, vol: np.ndarray, window: int, bar_label: str,
    max_points: int,
) -> Any:  # fmt: skip
    """Rolling Sharpe (top) and annualised volatility (bottom) over ``window`` bars."""
    go = plotly_go()
    fig = _subplots().make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    bins = d.thin(ts.size, max_points)
    x = d.to_utc(d.thin_last(ts, bins))
    fig.add_trace(
        go.Scatter(x=x, y=d.thin_last(sharpe, bins), name="Sharpe", mode="lines",
                   line={"color": BLUE, "width": 1.5}),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=x, y=d.thin_last(vol, bins), name="volatility", mode="lines",
                   line={"color": ORANGE, "width": 1.5}),
        row=2, col=1,
    )  # fmt: skip
    fig.add_hline(y=0.0, line={"color": GREY, "width": 1, "dash": "dot"}, row=1, col=1)
    fig.update_yaxes(title_text=f"Sharpe ({window} × {bar_label})", row=1, col=1)
    fig.update_yaxes(title_text="volatility (ann.)", tickformat=".0%", row=2, col=1)
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    fig.update_layout(showlegend=False, hovermode="x unified")
    _utc_axis(fig)
    return fig


def pnl_figure(pnl: np.ndarray, quote: str) -> Any:
    """Histogram of closed-trade PnL, winners green and losers red; a note when there are none."""
    go = plotly_go()
    fig = go.Figure()
    label = f"trade PnL ({quote})" if quote else "trade PnL"
    if pnl.size == 0:
        fig.add_annotation(
            text="no closed trades", showarrow=False, font={"size": 16, "color": GREY}
        )
        fig.update_xaxes(title_text=label, range=[-1, 1])
        fig.update_yaxes(title_text="trades", range=[0, 1])
        return fig
    lo, hi = float(pnl.min()), float(pnl.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    size = span / max(10, min(50, int(np.sqrt(pnl.size)) * 2))
    for name, sel, color in (("losers", pnl < 0, RED), ("winners", pnl >= 0, GREEN)):
        if sel.any():
            fig.add_trace(
                go.Histogram(x=pnl[sel], name=name, marker_color=color, opacity=0.8,
                             xbins={"start": lo - size, "end": hi + size, "size": size})
            )  # fmt: skip
    fig.add_vline(x=0.0, line={"color": GREY, "width": 1, "dash": "dot"})
    fig.update_layout(barmode="overlay", bargap=0.05)
    fig.update_xaxes(title_text=label)
    fig.update_yaxes(title_text="trades")
    return fig


def exposure_figure(ts: np.ndarray, fraction: np.ndarray, max_points: int) -> Any:
    """Gross exposure as a fraction of equity over time."""
    go = plotly_go()
    bins = d.thin(ts.size, max_points)
    fig = go.Figure(
        go.Scatter(
            x=d.to_utc(d.thin_last(ts, bins)), y=d.thin_last(fraction, bins), mode="lines",
            name="exposure", fill="tozeroy", line={"color": BLUE, "width": 1, "shape": "hv"},
            fillcolor="rgba(37,99,235,0.2)",
        )
    )  # fmt: skip
    fig.update_yaxes(title_text="gross exposure / equity", tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(title_text="time (UTC)")
    _utc_axis(fig)
    return fig


def strategy_figure(curve: pd.DataFrame, sids: list[str], quote: str, max_points: int) -> Any:
    """Each strategy's PnL so far (its contribution to equity) over time."""
    go = plotly_go()
    ts = curve["ts"].to_numpy(dtype=np.int64)
    bins = d.thin(ts.size, max_points)
    x = d.to_utc(d.thin_last(ts, bins))
    fig = go.Figure()
    for sid in sids:
        y = d.thin_last(curve[sid].to_numpy(dtype=np.float64), bins)
        fig.add_trace(go.Scatter(x=x, y=y, name=sid, mode="lines", line={"width": 1.5}))
    fig.update_yaxes(title_text=f"PnL ({quote})" if quote else "PnL", zeroline=True)
    fig.update_xaxes(title_text="time (UTC)")
    fig.update_layout(hovermode="x unified")
    _utc_axis(fig)
    return fig


def sweep_figure(grid: pd.DataFrame, x: str, y: str, metric: str,
                 fmt: Callable[[float], str] | None = None) -> Any:
    """Parameter heatmap: ``grid`` rows are y values, columns x values, cells the metric,
    written by ``fmt`` (default 4 significant digits)."""
    go = plotly_go()
    z = grid.to_numpy(dtype=np.float64)
    fmt = fmt or (lambda v: f"{v:.4g}")
    text = [["" if np.isnan(v) else fmt(float(v)) for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=[str(v) for v in grid.columns], y=[str(v) for v in grid.index],
            text=text, texttemplate="%{text}", colorscale="Viridis", colorbar={"title": metric},
            hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{text}}<extra></extra>",
            xgap=1, ygap=1,
        )
    )  # fmt: skip
    fig.update_xaxes(type="category", title_text=x)
    fig.update_yaxes(type="category", title_text=y)
    return fig
