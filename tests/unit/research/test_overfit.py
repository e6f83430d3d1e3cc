"""Overfitting statistics (``research/sweeps/overfit.py``, ``trials.py``) against the papers.

- The deflated Sharpe ratio: the numerical example of Bailey & López de Prado (2014),
  "The Deflated Sharpe Ratio", section "A numerical example": a strategist tries N = 100
  day-of-month rules on the Treasury auction cycle; the best has an annualised Sharpe of
  2.5 over T = 1,250 daily returns (5 years of 250 days) with skewness -3 and kurtosis 10,
  and the trials' annualised Sharpe ratios have variance 1/2. The paper states
  SR0 ~ 0.1132 (per day) and DSR ~ 0.9004, not significant at 95 %, and that the same
  discovery after only N = 46 trials would have been (DSR ~ 0.9505).
- The probability of backtest overfitting by CSCV (Bailey, Borwein, López de Prado &
  Zhu 2017): a 4-block, 3-trial case whose six splits are worked out by hand below, and
  the paper's property that pure-noise trials give PBO ~ 0.5.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sweep_helpers import RSI, SMA, data_spec, make_store

from tradeloom.engine.errors import ConfigError
from tradeloom.research.backtest import run_backtest
from tradeloom.research.sweeps.executors import LocalExecutor
from tradeloom.research.sweeps.overfit import (
    block_sums,
    cscv,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)
from tradeloom.research.sweeps.sweep import run_sweep
from tradeloom.research.sweeps.trials import overfit_report, trial_stats

DAYS = 250  # the paper's trading days per year


class TestDeflatedSharpePaperExample:
    SR = 2.5 / math.sqrt(DAYS)  # per-day Sharpe of the best trial
    VAR = 0.5 / DAYS  # variance of the per-day Sharpe ratios across trials

    def test_expected_maximum_of_100_trials(self):
        assert expected_max_sharpe(100, self.VAR) == pytest.approx(0.1132, abs=5e-5)

    def test_dsr_of_the_best_of_100(self):
        d = deflated_sharpe(self.SR, 100, self.VAR, 1250, -3.0, 10.0)
        assert d.dsr == pytest.approx(0.9004, abs=5e-5)
        assert d.dsr < 0.95  # not significant at the 95 % level

    def test_the_same_discovery_after_46_trials_is_significant(self):
        d = deflated_sharpe(self.SR, 46, self.VAR, 1250, -3.0, 10.0)
        assert d.dsr == pytest.approx(0.9505, abs=5e-5)

    def test_one_trial_is_not_deflated(self):
        # N = 1: SR0 = 0 and the DSR is the probabilistic Sharpe ratio against 0
        d = deflated_sharpe(self.SR, 1, 0.0, 1250, -3.0, 10.0)
        assert d.sr0 == 0.0
        assert d.dsr == probabilistic_sharpe(self.SR, 0.0, 1250, -3.0, 10.0)

    def test_normal_returns_psr_by_hand(self):
        # skew 0, kurtosis 3: z = (0.1 - 0) * sqrt(99) / sqrt(1 + 0.5 * 0.01) = 0.992...
        z = 0.1 * math.sqrt(99) / math.sqrt(1.005)
        assert probabilistic_sharpe(0.1, 0.0, 100, 0.0, 3.0) == pytest.approx(
            0.5 * (1 + math.erf(z / math.sqrt(2))), rel=1e-12)


# Returns of three trials (columns A, B, C) over four blocks of one bar each.
HAND = np.array([
    [0.030, 0.010, -0.010],
    [0.010, 0.020, 0.000],
    [-0.020, 0.005, 0.010],
    [-0.015, 0.010, 0.020],
])


class TestPboHandChecked:
    """CSCV with the mean return as performance, S = 4 blocks, N = 3 trials.

    in-sample   in-sample means (A, B, C)     pick  out-of-sample means     pick's rank  w     lambda
    {0, 1}      .0200   .0150  -.0050        A     -.0175  .0075  .0150     1 (worst)    1/4   ln(1/3)
    {0, 2}      .0050   .0075   .0000        B     -.0025  .0150  .0100     3            3/4   ln 3
    {0, 3}      .0075   .0100   .0050        B     -.0050  .0125  .0050     3            3/4   ln 3
    {1, 2}     -.0050   .0125   .0050        B      .0075  .0100  .0050     3            3/4   ln 3
    {1, 3}     -.0025   .0150   .0100        B      .0050  .0075  .0000     3            3/4   ln 3
    {2, 3}     -.0175   .0075   .0150        C      .0200  .0150 -.0050     1            1/4   ln(1/3)

    w = rank / (N + 1); lambda = ln(w / (1 - w)); PBO = share of lambda <= 0 = 2/6.
    """

    def test_logits_split_by_split(self):
        result = cscv(*block_sums(HAND, 4), measure="mean")
        ln3 = math.log(3.0)
        assert result.logits == pytest.approx([-ln3, ln3, ln3, ln3, ln3, -ln3], abs=1e-12)

    def test_pbo_is_a_third(self):
        assert cscv(*block_sums(HAND, 4), measure="mean").pbo == pytest.approx(1 / 3)

    def test_blocks_must_be_even(self):
        with pytest.raises(ConfigError, match="even number of blocks"):
            cscv(*block_sums(HAND[:3], 3))


class TestPboProperties:
    def test_pure_noise_gives_about_one_half(self):
        # The paper: with no skill, the in-sample winner is as likely to end below the
        # out-of-sample median as above it. 200 seeds of 20 noise trials, 8 blocks: one
        # seed's PBO spreads with a standard deviation of about 0.2, the mean of 200 with
        # about 0.015, so 0.05 is over three standard errors.
        pbos = [cscv(*block_sums(np.random.default_rng(seed).normal(0, 0.01, (400, 20)), 8)).pbo
                for seed in range(200)]
        assert np.mean(pbos) == pytest.approx(0.5, abs=0.05)

    def test_a_trial_with_a_real_edge_is_not_overfit(self):
        rng = np.random.default_rng(7)
        r = rng.normal(0, 0.01, (400, 20))
        r[:, 3] += 0.01  # one trial earns a Sharpe of about 1 per bar, everywhere
        assert cscv(*block_sums(r, 8)).pbo == 0.0

    def test_oldest_returns_are_dropped_to_fit_the_blocks(self):
        count, total, _ = block_sums(np.arange(10.0), 4)
        assert count[:, 0].tolist() == [2.0] * 4 and total[:, 0].tolist() == [5.0, 9.0, 13.0, 17.0]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("overfit_store")
    make_store(path)
    return path


class TestTrialStats:
    def test_sharpe_is_the_metric_per_bar(self, root: Path):
        res = run_backtest(SMA, "BTC/USDT", "1h", "2021-01-01", "2021-02-15", {"fast": 10, "slow": 50}, root)
        stats = trial_stats(res.equity["equity"].to_numpy(), res.initial_cash)
        assert stats.sharpe * math.sqrt(24 * 365) == pytest.approx(res.metrics["sharpe"], rel=1e-9)
        assert stats.n_returns == len(res.equity)

    def test_no_variance_is_sharpe_zero(self):
        stats = trial_stats(np.full(50, 1000.0), 1000.0)
        assert stats.sharpe == 0.0 and stats.kurtosis == 3.0

    def test_report_needs_equal_histories_for_pbo(self):
        a = trial_stats(1000 + np.arange(40.0), 1000.0)
        b = trial_stats(1000 + np.arange(60.0), 1000.0)
        report = overfit_report([a, b], 0, 8760.0)
        assert math.isnan(report.pbo) and "same bars" in report.note


class TestSweepsRecordThem:
    def test_a_sweep_reports_trials_dsr_and_pbo(self, root: Path):
        with LocalExecutor(processes=1) as ex:
            res = run_sweep(SMA, data_spec(root), ["fast=5:20:5", "slow=30,60"], executor=ex)
        report = res.overfit
        assert report.n_trials == len(res.table) == 8
        assert 0.0 <= report.dsr <= 1.0 and 0.0 <= report.pbo <= 1.0
        assert report.sharpe == pytest.approx(float(res.best["sharpe"]), rel=1e-9)
        assert res.meta["overfit"]["trials"] == 8 and res.meta["overfit"]["pbo"] == report.pbo

    @pytest.mark.parametrize("strategy, grid", [(SMA, ["fast=5,10", "slow=30,60"]),
                                                (RSI, ["period=7,14", "oversold=25,30"])],
                             ids=["sma_cross kernel", "vectorized form"])
    def test_fast_path_and_event_engine_agree(self, root: Path, strategy: str, grid: list[str]):
        with LocalExecutor(processes=1) as ex:
            fast = run_sweep(strategy, data_spec(root), grid, executor=ex, engine="fast")
            event = run_sweep(strategy, data_spec(root), grid, executor=ex, engine="event")
        assert fast.engine != "event"
        assert fast.overfit.pbo == event.overfit.pbo
        assert fast.overfit.dsr == pytest.approx(event.overfit.dsr, rel=1e-9)
