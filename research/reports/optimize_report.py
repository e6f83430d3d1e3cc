"""The HTML report of an optimize study: the objective over the trials (or the two
objectives against each other, the Pareto front marked), the best trials, the Pareto
front and the overfitting statistics. Self-contained and deterministic, like the
backtest and sweep reports (``report``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.results.result import METRIC_KEYS
from tradeloom.research.reports import figures as f
from tradeloom.research.reports import html as h
from tradeloom.research.reports.report import _plotly_js, plot_div_id, write_atomic
from tradeloom.research.reports.search_sections import overfit_section, pareto_section

__all__ = ["render_optimize_report"]

_STATE_COLORS = {"complete": "#2563eb", "pruned": "#9ca3af", "failed": "#dc2626", "refused": "#dc2626"}


def _figure(result: Any) -> Any:
    go = f.plotly_go()
    t = result.trials
    objs = [f"value_{o}" for o in result.objectives]
    fig = go.Figure()
    if len(objs) >= 2:
        front = set(result.pareto["number"].tolist())
        for name, mask in (("trials", ~t["number"].isin(front)), ("Pareto front", t["number"].isin(front))):
            sub = t[mask & (t["state"] == "complete")]
            fig.add_trace(go.Scatter(
                x=sub[objs[0]], y=sub[objs[1]], mode="markers", name=name,
                text=[f"trial {n}" for n in sub["number"]],
                marker={"size": 9 if name == "Pareto front" else 6,
                        "color": "#dc2626" if name == "Pareto front" else "#2563eb"}))
        fig.update_xaxes(title_text=result.objectives[0])
        fig.update_yaxes(title_text=result.objectives[1])
        return fig
    for state, color in _STATE_COLORS.items():
        sub = t[t["state"] == state]
        if len(sub):
            fig.add_trace(go.Scatter(x=sub["number"], y=sub[objs[0]], mode="markers", name=state,
                                     marker={"color": color, "size": 7}))
    fig.update_xaxes(title_text="trial")
    fig.update_yaxes(title_text=f"{result.objectives[0]} (mean over the folds run)")
    return fig


def _top_table(result: Any, top: int) -> str:
    t = result.trials[result.trials["state"] == "complete"]
    col = f"value_{result.objectives[0]}"
    t = t.sort_values(col, ascending=result.directions[0] == "minimize", kind="mergesort").head(top)
    cols = ["number", *result.meta["params"], *[f"value_{o}" for o in result.objectives],
            "max_drawdown", "n_trades", "folds"]
    metric_of = {f"value_{o}": o for o in result.objectives}
    rows = []
    for row in t[cols].itertuples(index=False):
        cells = []
        for c, v in zip(cols, row):
            key = metric_of.get(c, c)
            if key in METRIC_KEYS and isinstance(v, (float, np.floating)):
                cells.append(h.fmt_metric(key, float(v), ""))
            else:
                cells.append(str(v))
        rows.append(cells)
    numeric = [i for i, c in enumerate(cols) if pd.api.types.is_numeric_dtype(t[c])]
    return h.table(cols, rows, numeric=numeric, css_class="t")


def render_optimize_report(result: Any, path: str | os.PathLike[str], *, top: int = 20,
                           title: str | None = None) -> Path:
    """Write the report of ``result`` (an ``OptimizeResult``) to ``path``."""
    meta = result.meta
    counts = result.trials["state"].value_counts()
    note = (f"{len(result.trials)} trials ({', '.join(f'{counts[s]} {s}' for s in sorted(counts.index))}); "
            f"sampler {meta['sampler']}, seed {meta['seed']}, {meta['folds']} fold(s), engine {result.engine}")
    heading = ("objectives of the complete trials" if result.multi_objective
               else f"{result.objectives[0]} by trial")
    body = h.section("sec-trials", heading, f.figure_div(_figure(result), plot_div_id("optimize"), 480),
                     note=note)
    body += h.section("sec-top", f"Best trials by {result.objectives[0]}", _top_table(result, top))
    nav: tuple[tuple[str, str], ...] = (("sec-trials", "Trials"), ("sec-top", "Best trials"))
    if result.multi_objective:
        front = result.pareto[["number", *meta["params"], *[f"value_{o}" for o in result.objectives]]]
        front = front.rename(columns={f"value_{o}": o for o in result.objectives})
        body += pareto_section(front, result.objectives)
        nav += (("sec-pareto", "Pareto front"),)
    body += overfit_section(result.overfit)
    nav += (("sec-overfit", "Overfitting"),)
    title = title or f"Optimize {meta['strategy']} {', '.join(meta['symbols'])} {meta['timeframe']}"
    return write_atomic(path, h.page(title, note, nav, body, _plotly_js()))
