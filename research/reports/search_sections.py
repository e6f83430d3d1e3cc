"""Report sections of a parameter search (sweep, optimize): its overfitting statistics and
the Pareto front of a multi-objective search.

Plain HTML (no plotting library), so both the sweep report and the optimize report use
them as they are.

>>> from tradeloom.research.sweeps.trials import OverfitReport
>>> html = overfit_section(OverfitReport(100, 0.9004, 2.5, 1.79, 0.31, 10))
>>> "0.900" in html and "probability of backtest overfitting" in html
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from tradeloom.research.reports import html as h

__all__ = ["overfit_section", "pareto_section"]


def _num(value: float, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) and math.isfinite(value) else "n/a"


def overfit_section(report: Any) -> str:
    """The overfitting statistics of a search (a ``trials.OverfitReport``), with how to read them."""
    rows = [
        ["trials", str(report.n_trials),
         "combinations run (each one a trial, whatever its result)"],
        ["deflated Sharpe ratio (DSR)", _num(report.dsr, ".3f"),
         "probability that the selected run's true Sharpe beats the best of that many "
         "worthless trials; below 0.95 the selection is not significant at 95 %"],
        ["best Sharpe (annualised)", _num(report.sharpe, ".3f"), "the selected run's"],
        ["Sharpe expected from luck", _num(report.sr0, ".3f"),
         "the best annualised Sharpe that many zero-skill trials would show"],
        ["probability of backtest overfitting (PBO)", _num(report.pbo, ".3f"),
         f"CSCV over {report.n_blocks} blocks: share of in-sample/out-of-sample splits where "
         "the in-sample best lands at or below the out-of-sample median (noise: about 0.5)"],
    ]
    note = ("Bailey & López de Prado (2014), The Deflated Sharpe Ratio; Bailey, Borwein, "
            "López de Prado & Zhu (2017), The Probability of Backtest Overfitting")
    if report.note:
        note += f". {report.note}"
    return h.section("sec-overfit", "Overfitting", h.table(["statistic", "value", "meaning"], rows,
                                                              numeric=[1], css_class="t"), note=note)


def pareto_section(front: pd.DataFrame, objectives: Sequence[str]) -> str:
    """The Pareto front of a multi-objective search: one row per non-dominated trial."""
    cols = list(front.columns)
    rows = [[h.fmt_metric(c, float(v), "") if c in objectives else str(v) for c, v in zip(cols, row)]
            for row in front.itertuples(index=False)]
    numeric = [i for i, c in enumerate(cols) if pd.api.types.is_numeric_dtype(front[c])]
    note = (f"{len(front)} trials no other trial beats on every objective at once "
            f"({', '.join(objectives)})")
    return h.section("sec-pareto", "Pareto front", h.table(cols, rows, numeric=numeric, css_class="t"),
                     note=note)
