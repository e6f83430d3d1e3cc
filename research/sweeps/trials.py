"""Every trial of a search reduced to what the overfitting statistics need, and the report.

A worker that runs one parameter combination (``jobs.run_event_job``, the fast path's
``run_fast_job``, an optimize trial) turns its equity curve into a ``TrialStats``: the
per-bar Sharpe, skewness and kurtosis of its returns and, per block of bars, the count,
sum and sum of squares of the returns. That is a few dozen numbers per trial, whatever
the length of the history, so a search of thousands of trials over years of bars ships
and keeps no curves. ``overfit_report`` then gives the search's deflated Sharpe ratio
(of the selected trial) and its probability of backtest overfitting (``overfit``).

The returns are the metrics' (``results.metrics.step_returns`` of the equity with the
initial cash in front), so a trial's ``sharpe * sqrt(bars per year)`` is its ``sharpe``
metric.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> trials = [trial_stats(1000 * np.cumprod(1 + rng.normal(0, 0.01, 400)), 1000.0, n_blocks=4)
...           for _ in range(5)]
>>> report = overfit_report(trials, best=0, bars_per_year=8760.0)
>>> report.n_trials, 0.0 <= report.pbo <= 1.0, 0.0 <= report.dsr <= 1.0
(5, True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeloom.engine.results import metrics as m
from tradeloom.research.sweeps.overfit import block_sums, cscv, deflated_sharpe

__all__ = ["DEFAULT_BLOCKS", "OverfitReport", "TrialStats", "overfit_report", "trial_stats",
           "trial_stats_from_returns"]

DEFAULT_BLOCKS = 10
"""CSCV blocks: C(10, 5) = 252 in-sample/out-of-sample splits."""


@dataclass(frozen=True, eq=False)
class TrialStats:
    """One trial's returns, reduced (see the module docstring)."""

    n_returns: int
    sharpe: float
    """Per-bar Sharpe ratio (mean / std, ddof 1); 0 when the returns never vary."""
    skew: float
    kurtosis: float
    """Non-excess kurtosis (3 for normal returns)."""
    block_count: np.ndarray
    block_sum: np.ndarray
    block_sum2: np.ndarray


def trial_stats(equity: np.ndarray, initial_cash: float, *, n_blocks: int = DEFAULT_BLOCKS) -> TrialStats:
    """``TrialStats`` of an equity curve (one value per bar close) that started at ``initial_cash``."""
    e = np.concatenate([[float(initial_cash)], np.asarray(equity, dtype=np.float64)])
    return trial_stats_from_returns(m.step_returns(e), n_blocks=n_blocks)


def trial_stats_from_returns(returns: np.ndarray, *, n_blocks: int = DEFAULT_BLOCKS) -> TrialStats:
    """``TrialStats`` of per-bar returns (the oldest first)."""
    r = np.asarray(returns, dtype=np.float64)
    n = r.size
    if n >= 2:
        mean = float(r.mean())
        std = float(np.std(r, ddof=1))
        dev = r - mean
        m2 = float(np.mean(dev * dev))
        sharpe = mean / std if std > 0.0 else 0.0
        skew = float(np.mean(dev ** 3)) / m2 ** 1.5 if m2 > 0.0 else 0.0
        kurt = float(np.mean(dev ** 4)) / (m2 * m2) if m2 > 0.0 else 3.0
    else:
        sharpe, skew, kurt = 0.0, 0.0, 3.0
    if n >= n_blocks:
        count, total, squares = (a[:, 0] for a in block_sums(r, n_blocks))
    else:  # too short to cut into blocks: no CSCV for this search
        count, total, squares = np.zeros(0), np.zeros(0), np.zeros(0)
    return TrialStats(n, sharpe, skew, kurt, count, total, squares)


@dataclass(frozen=True)
class OverfitReport:
    """The overfitting statistics of one search (NaN where they cannot be computed: ``note``)."""

    n_trials: int
    dsr: float
    """Deflated Sharpe ratio of the selected trial (a probability)."""
    sharpe: float
    """The selected trial's Sharpe, annualised like the metrics."""
    sr0: float
    """The annualised Sharpe the best of ``n_trials`` worthless trials would show."""
    pbo: float
    """Probability of backtest overfitting (CSCV)."""
    n_blocks: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None), keys prefixed for result tables and summaries."""
        def plain(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {"trials": self.n_trials, "dsr": plain(self.dsr), "dsr_sharpe": plain(self.sharpe),
                "dsr_sr0": plain(self.sr0), "pbo": plain(self.pbo), "pbo_blocks": self.n_blocks,
                "overfit_note": self.note}

    def text(self) -> str:
        """One line for a terminal: what was found and how to read it."""
        def f(v: float, spec: str) -> str:
            return format(v, spec) if math.isfinite(v) else "n/a"

        line = (f"{self.n_trials} trials: deflated Sharpe {f(self.dsr, '.3f')} (best Sharpe "
                f"{f(self.sharpe, '.3f')} vs {f(self.sr0, '.3f')} expected from the best of "
                f"{self.n_trials} worthless trials), PBO {f(self.pbo, '.3f')} (CSCV, "
                f"{self.n_blocks} blocks)")
        return line + (f"; {self.note}" if self.note else "")


def overfit_report(trials: Sequence[TrialStats], best: int, bars_per_year: float, *,
                   n_blocks: int = DEFAULT_BLOCKS, n_trials: int | None = None) -> OverfitReport:
    """DSR of ``trials[best]`` deflated by all ``trials``, and PBO over all of them (cut
    into the blocks their stats were made with; ``n_blocks`` when they have none).

    ``n_trials`` (at least ``len(trials)``) counts trials that were tried without stats
    of their own, such as an optimizer's pruned trials: they deflate the Sharpe too.
    """
    n = max(len(trials), n_trials or 0)
    ann = math.sqrt(bars_per_year)
    notes = []
    if n == 0:
        return OverfitReport(0, math.nan, math.nan, math.nan, math.nan, n_blocks, "no trials ran")
    if not trials:
        return OverfitReport(n, math.nan, math.nan, math.nan, math.nan, n_blocks,
                             "no trial ran to the end")
    sel = trials[best]
    sharpes = np.array([t.sharpe for t in trials])
    var = float(np.var(sharpes, ddof=1)) if len(trials) > 1 else 0.0
    d = deflated_sharpe(sel.sharpe, n, var, sel.n_returns, sel.skew, sel.kurtosis)
    sizes = {t.block_count.size for t in trials}
    if len(sizes) == 1 and min(sizes) >= 2:
        n_blocks = sizes.pop()  # the blocks the trials' stats were cut into
    if len(trials) < 2:
        pbo = math.nan
        notes.append("PBO needs at least 2 trials")
    elif any(t.block_count.size != n_blocks for t in trials) or len({t.n_returns for t in trials}) > 1:
        pbo = math.nan
        notes.append(f"PBO needs every trial over the same bars, at least {n_blocks} of them")
    else:
        c = cscv(np.stack([t.block_count for t in trials], axis=1),
                 np.stack([t.block_sum for t in trials], axis=1),
                 np.stack([t.block_sum2 for t in trials], axis=1))
        pbo = c.pbo
    if not math.isfinite(d.dsr):
        notes.append("the selected trial's returns do not allow a DSR (too few, or no variance)")
    return OverfitReport(n, d.dsr, d.sharpe * ann, d.sr0 * ann, pbo, n_blocks, "; ".join(notes))
