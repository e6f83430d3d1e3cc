"""Paired tests of two models scored on the same rows: DeLong for AUC, a block bootstrap for any score.

Promotion and model-vs-baseline edges compare two sets of predictions *on the
same rows*, so the comparison is paired: most of the noise in each score is
shared and cancels in the difference.

- :func:`delong_test`: DeLong, DeLong & Clarke-Pearson (1988), in the fast form
  of Sun & Xu (2014): AUC of each model from mid-ranks, the covariance of the two
  AUCs from the placement values, ``z = (AUC_a - AUC_b) / sd``. Checked against
  R's pROC (``roc.test``) on its aSAH data to 1e-10
  (``tests/unit/research/test_significance.py``).
- :func:`paired_bootstrap`: resample rows (or blocks of rows) with replacement,
  score both models on each resample, and read the confidence interval and the
  one-sided p-value of the difference from the resampled differences. Works for
  every score (AUC, log loss, Brier, accuracy, ...).

**Overlapping labels.** A 12-bar forward label on hourly bars shares 11 of its 12
returns with the next row's: rows are not independent, and a test that treats
them as independent is overconfident (it would promote noise). Both tests take
``blocks``: one id per row, rows of one block being dependent (e.g. the label
horizon's worth of consecutive bars, every symbol included). DeLong then uses a
block-robust variance (the placement values' influence summed per block before
squaring, with the G/(G-1) small-sample factor); the bootstrap resamples whole
blocks. :func:`time_blocks` builds such ids. Without ``blocks`` both are the
classic independent-rows versions.

p-values are one-sided for ``alternative='greater'`` (H0: score_a <= score_b,
higher is better), as promotion asks "is the challenger better?".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from tradeloom.engine.errors import ConfigError, DataError

__all__ = [
    "ALTERNATIVES",
    "PairedTest",
    "block_resamples",
    "delong_test",
    "fast_auc",
    "midranks",
    "paired_bootstrap",
    "time_blocks",
]

ALTERNATIVES = ("two-sided", "greater", "less")


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of ``a`` against ``b``: the scores, their difference, its
    standard error and confidence interval, the statistic and p-value.

    ``diff`` is ``score_a - score_b`` as scored (for a lower-is-better score such as
    the log loss, pass ``higher_is_better=False`` to :func:`paired_bootstrap` and
    ``diff`` is then ``score_b - score_a``: positive always means *a is better*).
    """

    test: str
    alternative: str
    score_a: float
    score_b: float
    diff: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    n: int
    blocks: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the registry stores it with every retrain decision)."""
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                for k, v in asdict(self).items()}


def _check(y: Any, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy = np.asarray(y)
    pa = np.asarray(a, dtype=np.float64)
    pb = np.asarray(b, dtype=np.float64)
    if not (yy.ndim == pa.ndim == pb.ndim == 1 and yy.size == pa.size == pb.size):
        raise DataError(f"paired test: y, a and b must be 1-D of one length, got "
                        f"{yy.shape}, {pa.shape}, {pb.shape}")
    if not np.isin(yy, (0, 1)).all():
        raise DataError("paired test: y must hold 0/1 labels")
    if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
        raise DataError("paired test: predictions must be finite (drop NaN rows first)")
    yy = yy.astype(np.int64)
    if yy.sum() in (0, yy.size):
        raise DataError("paired test: y holds one class only; AUC is undefined")
    return yy, pa, pb


def _alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise ConfigError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative


def _p_from_z(z: float, alternative: str) -> float:
    if alternative == "greater":
        return float(stats.norm.sf(z))
    if alternative == "less":
        return float(stats.norm.cdf(z))
    return float(2.0 * stats.norm.sf(abs(z)))


def midranks(x: Any) -> np.ndarray:
    """Ranks 1..n with ties sharing their mean rank (Sun & Xu's Algorithm 1).

    >>> midranks([0.3, 0.1, 0.3, 0.2]).tolist()
    [3.5, 1.0, 3.5, 2.0]
    """
    return stats.rankdata(np.asarray(x, dtype=np.float64), method="average")


def fast_auc(y: Any, p: Any) -> float:
    """AUC from mid-ranks (Mann-Whitney), NaN with one class; equals sklearn's roc_auc_score.

    >>> fast_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    yy = np.asarray(y)
    pos = yy == 1
    n1 = int(pos.sum())
    n0 = yy.size - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    r = midranks(p)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def block_resamples(blocks: Any, n_boot: int, seed: int) -> tuple[int, Any]:
    """``(groups, iterator of row positions)``: each item draws ``groups`` whole blocks with
    replacement (``blocks=None``-style singletons when every row has its own id)."""
    ids = np.asarray(blocks)
    _, inv = np.unique(ids, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(inv))[:-1])
    groups = len(members)
    rng = np.random.default_rng(seed)

    def draws() -> Any:
        for _ in range(n_boot):
            pick = rng.integers(0, groups, groups)
            yield np.concatenate([members[g] for g in pick])

    return groups, draws()


def _placements(y: np.ndarray, p: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and the placement values: V10 per positive, V01 per negative."""
    pos, neg = p[y == 1], p[y == 0]
    m, n = pos.size, neg.size
    tz = midranks(np.concatenate([pos, neg]))
    v10 = (tz[:m] - midranks(pos)) / n
    v01 = 1.0 - (tz[m:] - midranks(neg)) / m
    return float(v10.mean()), v10, v01


def time_blocks(t0: Any, block_ms: int) -> np.ndarray:
    """Block id per row: rows whose ``t0`` falls in the same ``block_ms`` window share one.

    Use the label length (horizon x timeframe) so rows with overlapping labels are
    mostly in one block; every symbol of a time window lands in the same block.

    >>> time_blocks([0, 10, 25, 31, 39], 10).tolist()
    [0, 1, 2, 3, 3]
    """
    t = np.asarray(t0, dtype=np.int64)
    if block_ms <= 0:
        raise ConfigError(f"time_blocks: block_ms must be > 0, got {block_ms}")
    if t.size == 0:
        return t.copy()
    return (t - t.min()) // int(block_ms)


def delong_test(y: Any, a: Any, b: Any, *, alternative: str = "two-sided",
                blocks: Any = None, level: float = 0.95) -> PairedTest:
    """DeLong's test of AUC(a) vs AUC(b) on the same rows (see the module doc).

    Without ``blocks``: the classic estimator, ``S10 / m + S01 / n`` with sample
    covariances of the placement values (what pROC computes). With ``blocks``:
    each row's influence on the AUC difference (``(V10_i - AUC) / m`` for a
    positive, ``(V01_j - AUC) / n`` for a negative) is summed within its block, and
    the variance is ``G/(G-1) * sum over blocks of the squared sums``.

    >>> t = delong_test([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], [0.1, 0.4, 0.35, 0.8])
    >>> t.diff, t.p_value
    (0.0, 1.0)
    """
    alternative = _alternative(alternative)
    yy, pa, pb = _check(y, a, b)
    auc_a, v10a, v01a = _placements(yy, pa)
    auc_b, v10b, v01b = _placements(yy, pb)
    m, n = v10a.size, v01a.size
    diff = auc_a - auc_b
    if blocks is None:
        d10 = v10a - v10b
        d01 = v01a - v01b
        var = (float(np.var(d10, ddof=1)) if m > 1 else 0.0) / m + \
              (float(np.var(d01, ddof=1)) if n > 1 else 0.0) / n
        groups = yy.size
    else:
        ids = np.asarray(blocks)
        if ids.shape != yy.shape:
            raise DataError(f"delong_test: blocks has {ids.size} ids for {yy.size} rows")
        is_pos = yy == 1  # placements are in row order within each class
        row_infl = np.empty(yy.size)
        row_infl[is_pos] = ((v10a - auc_a) - (v10b - auc_b)) / m
        row_infl[~is_pos] = ((v01a - auc_a) - (v01b - auc_b)) / n
        _, inv = np.unique(ids, return_inverse=True)
        sums = np.bincount(inv, weights=row_infl)
        groups = sums.size
        var = float(groups / (groups - 1) * np.sum(sums ** 2)) if groups > 1 else 0.0
    se = math.sqrt(max(var, 0.0))
    zq = float(stats.norm.ppf(0.5 + level / 2.0))
    if se == 0.0:
        z = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
        p = 1.0 if diff == 0.0 else _p_from_z(z, alternative)
    else:
        z = diff / se
        p = _p_from_z(z, alternative)
    return PairedTest("delong" if blocks is None else "delong_blocks", alternative, auc_a,
                      auc_b, diff, se, diff - zq * se, diff + zq * se, z, p, int(yy.size),
                      int(groups))


Score = Callable[[np.ndarray, np.ndarray], float]


def paired_bootstrap(y: Any, a: Any, b: Any, score: Score, *, higher_is_better: bool = True,
                     blocks: Any = None, n_boot: int = 1000, seed: int = 0,
                     alternative: str = "greater", level: float = 0.95) -> PairedTest:
    """Bootstrap the paired difference ``score(y, a) - score(y, b)`` (sign-flipped when
    lower is better, so a positive difference always favours ``a``).

    Each resample draws whole ``blocks`` (or rows) with replacement and scores both
    models on the same draw. The interval is the percentile interval of the
    resampled differences; the one-sided p-value (``greater``: H0 diff <= 0) is
    ``(1 + #{diff* <= 0}) / (1 + n_boot)``, the two-sided one twice the smaller
    tail. Resamples where ``score`` is undefined (NaN, e.g. one class only) are
    dropped (rare with hundreds of rows); fewer than half defined is an error.
    """
    alternative = _alternative(alternative)
    yy = np.asarray(y)
    pa = np.asarray(a, dtype=np.float64)
    pb = np.asarray(b, dtype=np.float64)
    if not (yy.shape == pa.shape == pb.shape and yy.ndim == 1):
        raise DataError(f"paired_bootstrap: y, a and b must be 1-D of one length, got "
                        f"{yy.shape}, {pa.shape}, {pb.shape}")
    if n_boot < 100:
        raise ConfigError(f"paired_bootstrap: n_boot must be >= 100, got {n_boot}")
    sign = 1.0 if higher_is_better else -1.0
    score_a, score_b = float(score(yy, pa)), float(score(yy, pb))
    diff = sign * (score_a - score_b)
    ids = np.arange(yy.size) if blocks is None else np.asarray(blocks)
    if ids.shape != yy.shape:
        raise DataError(f"paired_bootstrap: blocks has {ids.size} ids for {yy.size} rows")
    groups, draws = block_resamples(ids, n_boot, seed)
    diffs = np.empty(n_boot)
    for k, rows in enumerate(draws):
        diffs[k] = sign * (score(yy[rows], pa[rows]) - score(yy[rows], pb[rows]))
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size < n_boot // 2:
        raise DataError(f"paired_bootstrap: only {diffs.size} of {n_boot} resamples gave a "
                        "defined score; use more rows")
    lo, hi = np.quantile(diffs, [0.5 - level / 2.0, 0.5 + level / 2.0])
    le = (1.0 + np.sum(diffs <= 0.0)) / (1.0 + diffs.size)
    ge = (1.0 + np.sum(diffs >= 0.0)) / (1.0 + diffs.size)
    p = {"greater": le, "less": ge, "two-sided": min(1.0, 2.0 * min(le, ge))}[alternative]
    se = float(np.std(diffs, ddof=1))
    return PairedTest("bootstrap" if blocks is None else "block_bootstrap", alternative,
                      score_a, score_b, diff, se, float(lo), float(hi),
                      diff / se if se > 0 else math.nan, float(p), int(yy.size), groups)
