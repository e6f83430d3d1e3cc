"""Paired tests: DeLong against R's pROC on its aSAH data, block-robust variance, bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from asah_data import NDKA, S100B, WFNS, Y
from sklearn.metrics import roc_auc_score

from tradeloom.engine.errors import DataError
from tradeloom.research.ml.significance import (
    delong_test,
    fast_auc,
    midranks,
    paired_bootstrap,
    time_blocks,
)


class TestDeLongAgainstPROC:
    """pROC's test suite (tests/testthat/test-roc.test.R) on the aSAH data: 113 patients,
    41 poor outcomes; wfns is a 5-level grade, so ties are exercised."""

    def test_wfns_vs_s100b(self):
        t = delong_test(Y, WFNS, S100B)
        assert (t.score_a, t.score_b) == pytest.approx((0.823678861788618, 0.731368563685637),
                                                       abs=1e-12)
        assert t.statistic == pytest.approx(2.20898359144091, rel=1e-10)
        assert t.p_value == pytest.approx(0.0271757822291882, rel=1e-10)
        assert (t.ci_low, t.ci_high) == pytest.approx((0.0104061769564846, 0.174214419249478),
                                                      rel=1e-9)
        assert (t.test, t.n, t.blocks) == ("delong", 113, 113)

    def test_wfns_vs_ndka_and_ndka_vs_s100b(self):
        t2 = delong_test(Y, WFNS, NDKA)
        assert (t2.statistic, t2.p_value) == pytest.approx((2.79777591868904, 0.00514557970691098),
                                                           rel=1e-9)
        assert (t2.ci_low, t2.ci_high) == pytest.approx((0.0634011709339876, 0.3600405634833566),
                                                        rel=1e-9)
        t3 = delong_test(Y, NDKA, S100B)
        assert (t3.statistic, t3.p_value) == pytest.approx((-1.39077002573558, 0.164295175223054),
                                                           rel=1e-9)

    def test_one_sided_and_reversed(self):
        greater = delong_test(Y, WFNS, S100B, alternative="greater")
        less = delong_test(Y, WFNS, S100B, alternative="less")
        assert greater.p_value == pytest.approx(0.0135878911145941, rel=1e-9)
        assert less.p_value == pytest.approx(0.986412108885406, rel=1e-9)
        rev = delong_test(Y, S100B, WFNS)
        assert rev.statistic == pytest.approx(-2.20898359144091, rel=1e-10)

    def test_identical_curves(self):
        t = delong_test(Y, WFNS, WFNS)
        assert (t.statistic, t.p_value, t.diff) == (0.0, 1.0, 0.0)


class TestBlocks:
    def test_duplicated_rows_fool_the_classic_test_not_the_block_one(self):
        """Five copies of every row (like five overlapping labels telling the same story):
        the classic variance shrinks by 5 (z grows by sqrt(5)), the block-robust one, with a
        block per original row, stays at the original's."""
        y5, a5, b5 = (np.repeat(np.asarray(v, dtype=float), 5) for v in (Y, WFNS, S100B))
        once = delong_test(Y, WFNS, S100B)
        naive = delong_test(y5, a5, b5)
        blocked = delong_test(y5, a5, b5, blocks=np.repeat(np.arange(113), 5))
        assert naive.statistic == pytest.approx(once.statistic * np.sqrt(5), rel=0.02)
        assert naive.p_value < 1e-5 < once.p_value
        assert blocked.statistic == pytest.approx(once.statistic, rel=0.02)
        assert blocked.test == "delong_blocks" and blocked.blocks == 113

    def test_time_blocks(self):
        # 12-hour blocks: rows at 0h, 5h, 13h, 23h, 24h (two symbols at 24h)
        h = 3_600_000
        assert time_blocks(np.array([0, 5, 13, 23, 24, 24]) * h, 12 * h).tolist() == \
            [0, 0, 1, 1, 2, 2]


class TestBootstrap:
    def test_a_better_model_is_significant_and_reproducible(self):
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 400)
        good = y + rng.normal(0, 0.8, 400)
        weak = y + rng.normal(0, 3.0, 400)
        t = paired_bootstrap(y, good, weak, fast_auc, n_boot=500, seed=1)
        assert t.diff > 0.1 and t.p_value < 0.01 and t.ci_low > 0
        again = paired_bootstrap(y, good, weak, fast_auc, n_boot=500, seed=1)
        assert (again.p_value, again.ci_low) == (t.p_value, t.ci_low)

    def test_lower_is_better_scores_flip_the_sign(self):
        y = np.array([0, 1] * 100, dtype=float)
        sharp = np.where(y == 1, 0.8, 0.2)
        vague = np.full(200, 0.5)
        t = paired_bootstrap(y, sharp, vague, lambda yy, p: float(np.mean((p - yy) ** 2)),
                             higher_is_better=False, n_boot=200)
        # Brier 0.04 vs 0.25: a saved 0.21, positive = a better
        assert t.diff == pytest.approx(0.21) and t.p_value < 0.01

    def test_identical_models_have_no_edge(self):
        y = np.array([0, 1, 1, 0, 1, 0, 0, 1] * 10)
        p = np.linspace(0, 1, 80)
        t = paired_bootstrap(y, p, p, fast_auc, n_boot=200)
        assert (t.diff, t.p_value, t.ci_low, t.ci_high) == (0.0, 1.0, 0.0, 0.0)

    def test_blocks_must_match_the_rows(self):
        with pytest.raises(DataError, match="blocks has 2 ids for 3 rows"):
            paired_bootstrap([0, 1, 0], [0.1, 0.9, 0.2], [0.2, 0.8, 0.1], fast_auc,
                             blocks=[0, 1], n_boot=100)


def test_fast_auc_and_midranks_match_sklearn_with_ties():
    assert midranks([3.0, 1.0, 3.0, 2.0]).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert fast_auc(Y, WFNS) == pytest.approx(roc_auc_score(Y, WFNS), abs=1e-15)
    assert np.isnan(fast_auc([1, 1], [0.2, 0.3]))
