"""Overfitting statistics of a parameter search: the deflated Sharpe ratio and the
probability of backtest overfitting.

Try enough parameter combinations on one history and the best of them looks good by
luck alone. Two published statistics say how much of the best result is luck:

**Deflated Sharpe ratio** (Bailey & López de Prado 2014, "The Deflated Sharpe Ratio:
Correcting for Selection Bias, Backtest Overfitting and Non-Normality", JPM 40(5)).
The probability that the selected trial's true Sharpe ratio is above the Sharpe the
best of ``N`` worthless trials would show:

- ``SR0 = sqrt(V[SR_n]) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))``, the
  expected maximum of ``N`` Sharpe ratios with zero mean and the trials' variance
  (``g`` = Euler-Mascheroni constant; ``SR0 = 0`` for a single trial);
- ``DSR = Z((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2))``,
  the probabilistic Sharpe ratio against ``SR0``, with the skewness and (non-excess)
  kurtosis of the selected trial's ``T`` returns.

Sharpe ratios here are per bar (not annualised), as in the paper. ``N`` is the number
of trials run, taken as independent: correlated trials are fewer effective trials, so
this over-deflates, on the safe side.

**Probability of backtest overfitting** (Bailey, Borwein, López de Prado & Zhu, "The
Probability of Backtest Overfitting", J. Computational Finance 20(4), 2017), by
combinatorially symmetric cross-validation (CSCV). The ``T`` returns of the ``N``
trials are cut into ``S`` (even) contiguous blocks of equal length (the oldest ``T mod
S`` returns are dropped). For each of the ``C(S, S/2)`` ways to pick half the blocks as
"in sample" (the rest "out of sample"):

1. the trial with the best in-sample performance is selected (first of ties);
2. ``w`` = its out-of-sample rank among all trials (1 = worst, ties averaged) / (N+1);
3. ``lambda = ln(w / (1 - w))``, the logit: <= 0 when the in-sample winner is at or below
   the out-of-sample median.

``PBO`` is the share of splits with ``lambda <= 0``. Pure-noise trials give about 0.5;
a search whose winner keeps winning out of sample gives about 0. The performance of a
trial on a set of blocks is its per-bar Sharpe ratio there (``"sharpe"``, the paper's)
or its mean return (``"mean"``); a trial with no variance there counts as Sharpe 0.

>>> round(expected_max_sharpe(100, 0.5 / 250), 4)
0.1132
>>> round(deflated_sharpe(2.5 / 250 ** 0.5, 100, 0.5 / 250, 1250, -3.0, 10.0).dsr, 4)
0.9004
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist
from typing import Literal

import numpy as np

from tradeloom.engine.errors import ConfigError

__all__ = [
    "Cscv",
    "Deflated",
    "block_sums",
    "cscv",
    "deflated_sharpe",
    "expected_max_sharpe",
    "probabilistic_sharpe",
]

EULER_GAMMA = 0.5772156649015329
_Z = NormalDist()
Measure = Literal["sharpe", "mean"]


def expected_max_sharpe(n_trials: int, var_sharpe: float) -> float:
    """``SR0``: the expected best Sharpe of ``n_trials`` zero-mean trials with variance
    ``var_sharpe`` (same units as the Sharpe ratios; 0 for one trial)."""
    if n_trials < 1:
        raise ConfigError(f"n_trials must be >= 1, got {n_trials}")
    if not (var_sharpe >= 0.0):
        raise ConfigError(f"var_sharpe must be >= 0, got {var_sharpe}")
    if n_trials == 1:
        return 0.0
    z = (1.0 - EULER_GAMMA) * _Z.inv_cdf(1.0 - 1.0 / n_trials) + EULER_GAMMA * _Z.inv_cdf(
        1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(var_sharpe) * z


def probabilistic_sharpe(sharpe: float, benchmark: float, n_obs: int, skew: float,
                         kurtosis: float) -> float:
    """``PSR``: the probability that the true Sharpe exceeds ``benchmark``, from an observed
    per-bar ``sharpe`` over ``n_obs`` returns with that skewness and (non-excess) kurtosis."""
    if n_obs < 2:
        return math.nan
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not (var > 0.0) or not math.isfinite(sharpe):
        return math.nan
    return _Z.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var))


@dataclass(frozen=True)
class Deflated:
    """The deflated Sharpe ratio of a selection and what went into it (per-bar Sharpes)."""

    dsr: float
    """Probability that the selected trial's true Sharpe beats the best of noise."""
    sharpe: float
    """The selected trial's per-bar Sharpe."""
    sr0: float
    """The per-bar Sharpe the best of ``n_trials`` worthless trials would show."""
    n_trials: int
    n_obs: int
    skew: float
    kurtosis: float
    var_sharpe: float


def deflated_sharpe(sharpe: float, n_trials: int, var_sharpe: float, n_obs: int, skew: float,
                    kurtosis: float) -> Deflated:
    """The deflated Sharpe ratio of the selected trial (see the module docstring)."""
    sr0 = expected_max_sharpe(n_trials, var_sharpe)
    dsr = probabilistic_sharpe(sharpe, sr0, n_obs, skew, kurtosis)
    return Deflated(dsr, sharpe, sr0, n_trials, n_obs, skew, kurtosis, var_sharpe)


def block_sums(returns: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(count, sum, sum of squares)`` per block and trial, each ``(n_blocks, n_trials)``,
    of a ``(T, n_trials)`` return matrix cut into ``n_blocks`` equal contiguous blocks
    (the first ``T mod n_blocks`` rows dropped).

    >>> n, s, s2 = block_sums(np.arange(10.0)[:, None], 4)
    >>> n[:, 0].tolist(), s[:, 0].tolist()
    ([2.0, 2.0, 2.0, 2.0], [5.0, 9.0, 13.0, 17.0])
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim == 1:
        r = r[:, None]
    size = r.shape[0] // n_blocks
    if size < 1:
        raise ConfigError(f"{r.shape[0]} returns cannot fill {n_blocks} blocks")
    used = r[r.shape[0] - size * n_blocks:].reshape(n_blocks, size, r.shape[1])
    count = np.full((n_blocks, r.shape[1]), float(size))
    return count, used.sum(axis=1), (used * used).sum(axis=1)


@dataclass(frozen=True)
class Cscv:
    """The probability of backtest overfitting by CSCV and its per-split logits."""

    pbo: float
    logits: np.ndarray
    """``lambda`` of every split, in ``itertools.combinations`` order of the in-sample blocks."""
    n_blocks: int
    n_trials: int
    measure: str


def _performance(n: np.ndarray, s: np.ndarray, s2: np.ndarray, measure: Measure) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / n
        if measure == "mean":
            return mean
        var = np.maximum(s2 - s * mean, 0.0) / (n - 1.0)
        std = np.sqrt(var)
        return np.where(std > 0.0, mean / std, 0.0)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ascending ranks 1..N of each row, ties averaged."""
    order = np.argsort(values, axis=1, kind="stable")
    ranks = np.empty_like(values)
    rows = np.arange(values.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, values.shape[1] + 1, dtype=np.float64)
    for i in range(values.shape[0]):  # average the ranks of tied values
        v = values[i]
        uniq, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        if counts.max() > 1:
            sums = np.bincount(inverse, weights=ranks[i])
            ranks[i] = (sums / counts)[inverse]
    return ranks


def cscv(count: np.ndarray, total: np.ndarray, squares: np.ndarray, *,
         measure: Measure = "sharpe", chunk: int = 4096) -> Cscv:
    """PBO from per-block sums (``block_sums``' arrays, ``(S, N)``; see the module docstring)."""
    if measure not in ("sharpe", "mean"):
        raise ConfigError(f"measure {measure!r}: use 'sharpe' or 'mean'")
    n_blocks, n_trials = count.shape
    if n_blocks < 2 or n_blocks % 2:
        raise ConfigError(f"CSCV needs an even number of blocks >= 2, got {n_blocks}")
    if n_trials < 2:
        raise ConfigError(f"CSCV needs at least 2 trials to rank, got {n_trials}")
    splits = np.array(list(combinations(range(n_blocks), n_blocks // 2)), dtype=np.int64)
    member = np.zeros((len(splits), n_blocks))
    member[np.arange(len(splits))[:, None], splits] = 1.0
    logits = np.empty(len(splits))
    for lo in range(0, len(splits), chunk):
        m_in = member[lo:lo + chunk]
        m_out = 1.0 - m_in
        perf_in = _performance(m_in @ count, m_in @ total, m_in @ squares, measure)
        perf_out = _performance(m_out @ count, m_out @ total, m_out @ squares, measure)
        best = np.argmax(perf_in, axis=1)  # first of ties
        rank = _ranks(perf_out)[np.arange(len(best)), best]
        w = rank / (n_trials + 1.0)
        logits[lo:lo + chunk] = np.log(w / (1.0 - w))
    return Cscv(float(np.mean(logits <= 0.0)), logits, n_blocks, n_trials, measure)
