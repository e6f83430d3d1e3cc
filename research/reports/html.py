"""HTML building blocks of the reports: page shell, tables, KPI tiles, SVG sparkline.

No plotting library here: the notebook summary (:func:`summary_html`) is plain
HTML + inline SVG so ``_repr_html_`` works without plotly or JavaScript. Every
text that comes from a result (manifest values, tags, reasons) is escaped.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tradeloom.engine.results.result import METRIC_KEYS, BacktestResult
from tradeloom.engine.results.result import (
    _fmt_metric as fmt_metric,  # the one formatter summary() uses
)
from tradeloom.research.reports import data as d

KPI_KEYS = ("total_return", "cagr", "sharpe", "max_drawdown", "n_trades", "win_rate")
SUMMARY_KEYS = (
    "final_equity", "total_return", "cagr", "sharpe", "sortino", "max_drawdown",
    "n_trades", "win_rate", "profit_factor", "fees_paid",
)  # fmt: skip

CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
 color:#111827;background:#f3f4f6}
header{background:#111827;color:#f9fafb;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .sub{margin:0;color:#d1d5db;font-size:14px}
nav{margin-top:10px;font-size:13px}
nav a{color:#93c5fd;margin-right:14px;text-decoration:none}
main{padding:18px 28px;max-width:1600px;margin:0 auto}
section{background:#fff;border-radius:8px;padding:14px 18px;margin-bottom:18px;
 box-shadow:0 1px 2px rgba(0,0,0,.08)}
section h2{margin:0 0 8px;font-size:17px}
.note{color:#6b7280;font-size:13px;margin:4px 0 8px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:18px}
.kpi{background:#fff;border-radius:8px;padding:10px 16px;min-width:150px;
 box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi .k{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.04em}
.kpi .v{font-size:20px;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px}
.grid section{margin-bottom:0}
table.t{border-collapse:collapse;font-size:13px;width:100%}
table.t th,table.t td{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:left;
 vertical-align:top}
table.t th.num{text-align:right}
table.t td.num{text-align:right;font-variant-numeric:tabular-nums}
table.t th{background:#f9fafb}
table.t.narrow{width:auto;min-width:40%}
code{font-size:12px;word-break:break-all}
footer{color:#6b7280;font-size:12px;padding:0 28px 24px}
"""


def esc(value: Any) -> str:
    """``html.escape`` of ``str(value)``, quotes included."""
    return html.escape(str(value), quote=True)


def page(
    title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str, plotly_js: str
) -> str:
    """A complete standalone HTML document; plotly.js (if any) inlined once in the head."""
    links = "".join(f'<a href="#{esc(i)}">{esc(t)}</a>' for i, t in nav)
    script = f'<script type="text/javascript">{plotly_js}</script>' if plotly_js else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n{script}\n</head>\n<body>\n"
        f'<header><h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>'
        f"<nav>{links}</nav></header>\n<main>\n{body}\n</main>\n"
        "<footer>tradeloom report &middot; all times UTC</footer>\n</body>\n</html>\n"
    )


def section(sec_id: str, heading: str, content: str, note: str = "") -> str:
    """One titled card; ``note`` is escaped, ``content`` is trusted HTML."""
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return f'<section id="{esc(sec_id)}"><h2>{esc(heading)}</h2>{note_html}{content}</section>\n'


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    numeric: Sequence[int] = (),
    css_class: str = "t",
) -> str:
    """A simple escaped table; columns whose index is in ``numeric`` are right-aligned."""
    head = "".join(
        f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
        for i, h in enumerate(header)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{esc(v)}</td>' if i in numeric else f"<td>{esc(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="{esc(css_class)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def kpi_tiles(result: BacktestResult) -> str:
    """The headline metrics as tiles above the charts."""
    tiles = "".join(
        f'<div class="kpi"><div class="k">{esc(k.replace("_", " "))}</div>'
        f'<div class="v">{esc(fmt_metric(k, result.metrics.get(k, math.nan), result.quote_currency))}'
        "</div></div>"
        for k in KPI_KEYS
    )
    return f'<div class="kpis" id="kpis">{tiles}</div>\n'


def metrics_table(result: BacktestResult) -> str:
    """Every metric in ``METRIC_KEYS`` order, formatted as ``result.summary()`` does."""
    rows = [
        (k, fmt_metric(k, result.metrics.get(k, math.nan), result.quote_currency))
        for k in METRIC_KEYS
    ]
    return table(("metric", "value"), rows, numeric=(1,))


def strategy_table(result: BacktestResult) -> str:
    """``result.by_strategy()``: PnL, contribution, trades, win rate, fees, exposure time."""
    by = result.by_strategy()
    q = result.quote_currency
    rows = [
        (r.strategy_id, fmt_metric("final_equity", r.pnl, q), fmt_metric("total_return", r.contribution, q),
         str(r.trades), str(r.open_trades), fmt_metric("win_rate", r.win_rate, q),
         fmt_metric("fees_paid", r.fees, q), fmt_metric("exposure_time", r.exposure_time, q))
        for r in by.itertuples()
    ]
    header = ("strategy", "PnL", "contribution", "trades", "open", "win rate", "fees", "exposure time")
    return table(header, rows, numeric=(1, 2, 3, 4, 5, 6, 7))


def risk_table(result: BacktestResult) -> str:
    """Risk decisions counted by code and outcome, or "none"."""
    summary = d.risk_summary(result)
    if summary.empty:
        return '<p id="risk-none">none &mdash; the risk engine resized or rejected no order</p>'
    rows = [
        (r.code, r.outcome, int(r.count), d.fmt_ts(int(r.first_ts)), r.example)
        for r in summary.itertuples(index=False)
    ]
    total = f'<p class="note">{len(result.risk_decisions)} decisions recorded</p>'
    return total + table(("code", "outcome", "count", "first", "example"), rows, numeric=(2,))


def manifest_table(manifest: Mapping[str, Any]) -> str:
    """The run manifest as key/value rows; nested values as sorted JSON."""
    if not manifest:
        return "<p>empty manifest</p>"
    rows = []
    for k in sorted(manifest):
        v = manifest[k]
        text = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
        rows.append((k, text))
    head = "<thead><tr><th>key</th><th>value</th></tr></thead>"
    body = "".join(f"<tr><td>{esc(k)}</td><td><code>{esc(v)}</code></td></tr>" for k, v in rows)
    return f'<table class="t">{head}<tbody>{body}</tbody></table>'


def sparkline_svg(values: np.ndarray, baseline: float, width: int = 260, height: int = 60) -> str:
    """An inline SVG polyline of ``values`` (thinned to <= ``width`` points), baseline dashed."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return ""
    bins = d.thin(v.size, width)
    v = d.thin_last(v, bins)
    lo, hi = float(min(v.min(), baseline)), float(max(v.max(), baseline))
    span = hi - lo if hi > lo else 1.0
    pad = 3.0

    def y(val: float) -> float:
        return pad + (hi - val) / span * (height - 2 * pad)

    xs = np.linspace(pad, width - pad, v.size)
    pts = " ".join(f"{x:.1f},{y(float(val)):.1f}" for x, val in zip(xs, v))
    color = "#16a34a" if v[-1] >= baseline else "#dc2626"
    yb = y(baseline)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="equity curve">'
        f'<line x1="{pad}" y1="{yb:.1f}" x2="{width - pad}" y2="{yb:.1f}" stroke="#9ca3af" '
        'stroke-width="1" stroke-dasharray="3,3"/>'
        f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/></svg>'
    )


def summary_html(result: BacktestResult) -> str:
    """Compact metrics table + equity sparkline for notebooks (no JS, inline styles)."""
    strategy = str(result.manifest.get("strategy", "")) or "backtest"
    symbols = ", ".join(d.traded_symbols(result)) or "no orders"
    eq = result.equity
    period = (
        f"{d.fmt_ts(int(eq['ts'].iloc[0]))} → {d.fmt_ts(int(eq['ts'].iloc[-1]))}"
        if len(eq)
        else "no bars"
    )
    cell = 'style="padding:2px 10px;border-bottom:1px solid #e5e7eb;text-align:{}"'
    rows = "".join(
        f"<tr><td {cell.format('left')}>{esc(k)}</td><td {cell.format('right')}>"
        f"{esc(fmt_metric(k, result.metrics.get(k, math.nan), result.quote_currency))}</td></tr>"
        for k in SUMMARY_KEYS
    )
    _, e = d.equity_with_start(result)
    spark = sparkline_svg(e, result.initial_cash)
    return (
        '<div class="tradeloom-summary" style="font-family:sans-serif;font-size:13px">'
        f"<div><b>{esc(strategy)}</b> &middot; {esc(symbols)} &middot; {esc(result.timeframe)} "
        f"&middot; {esc(period)} &middot; {len(eq)} bars</div>"
        '<div style="display:flex;gap:18px;align-items:flex-start;margin-top:6px">'
        f'<table style="border-collapse:collapse">{rows}</table>'
        f"<div>{spark}</div></div></div>"
    )
