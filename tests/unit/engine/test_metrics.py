"""Metrics on tiny arrays checkable by hand, degenerate cases, and agreement with vectorbt."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.results import metrics as m
from tradeloom.engine.timeframes import bars_per_year

DAY = 86_400_000
EQ = [100.0, 110.0, 99.0, 121.0]  # +10 %, -10 %, +22.2 %: peak 110, trough 99, new high 121


class TestHandChecked:
    def test_returns_total_return_and_drawdown(self) -> None:
        assert m.step_returns(EQ) == pytest.approx([0.1, -0.1, 22 / 99])
        assert m.total_return(EQ) == pytest.approx(0.21)
        assert m.drawdown_series(EQ) == pytest.approx([0.0, 0.0, 0.1, 0.0])
        assert m.max_drawdown(EQ) == pytest.approx(0.1)  # 99 is 10 % below 110
        assert m.max_drawdown_duration(EQ, [0, DAY, 2 * DAY, 3 * DAY]) == (
            2 * DAY,
            2,
        )  # peak d1, back above d3

    def test_drawdown_duration_when_never_recovered(self) -> None:
        # peak 120 at step 1; still under water at the end (step 4) -> 3 steps
        assert m.max_drawdown_duration([100.0, 120.0, 90.0, 119.0, 100.0], [0, 10, 20, 30, 40]) == (
            30,
            3,
        )

    def test_cagr_uses_365_day_years(self) -> None:
        assert m.cagr([100.0, 121.0], [0, 730 * DAY]) == pytest.approx(0.1)
        assert m.cagr([100.0, 110.0], [0, 365 * DAY]) == pytest.approx(0.1)
        assert m.cagr([100.0, 0.0], [0, DAY]) == -1.0

    def test_volatility_and_sharpe(self) -> None:
        r = [0.1, -0.1, 0.3]  # mean 0.1, std(ddof=1) 0.2
        assert m.volatility(r, 4.0) == pytest.approx(0.4)
        assert m.sharpe(r, 4.0) == pytest.approx(1.0)  # 0.1 / 0.2 * sqrt(4)

    def test_sortino_divides_by_n_not_by_the_losing_count(self) -> None:
        r = [0.1, -0.2, 0.3, 0.0]  # mean 0.05; downside sqrt(0.04 / 4) = 0.1
        assert m.downside_deviation(r) == pytest.approx(0.1)
        assert m.sortino(r, 9.0) == pytest.approx(1.5)

    def test_calmar(self) -> None:
        assert m.calmar(0.3, 0.15) == pytest.approx(2.0)
        assert math.isnan(m.calmar(0.3, 0.0))

    def test_trade_statistics(self) -> None:
        pnl = [10.0, -5.0, 0.0, 2.0, -1.0]
        assert m.win_rate(pnl) == pytest.approx(0.4)  # break-even is not a win
        assert m.profit_factor(pnl) == pytest.approx(2.0)  # 12 / 6
        assert m.profit_factor([3.0, 0.0]) == math.inf
        assert math.isnan(m.profit_factor([0.0]))
        assert m.mean_or_nan(pnl) == pytest.approx(1.2)
        assert (m.max_or_nan(pnl), m.min_or_nan(pnl)) == (10.0, -5.0)

    def test_exposure_and_turnover(self) -> None:
        assert m.exposure_time([0.0, 1.0, 2.0, 0.0, 0.0]) == pytest.approx(0.4)
        assert m.turnover(250.0, [100.0, 150.0]) == pytest.approx(2.0)


class TestDegenerate:
    def test_flat_equity(self) -> None:
        e = [100.0] * 5
        r = m.step_returns(e)
        assert m.total_return(e) == 0.0 and m.max_drawdown(e) == 0.0
        assert m.max_drawdown_duration(e, range(5)) == (0, 0)
        assert m.volatility(r, 365.0) == 0.0
        for value in (m.sharpe(r, 365.0), m.sortino(r, 365.0), m.calmar(0.0, 0.0)):
            assert math.isnan(value)

    def test_single_value(self) -> None:
        e = [100.0]
        r = m.step_returns(e)
        assert r.size == 0
        assert m.total_return(e) == 0.0 and m.max_drawdown(e) == 0.0
        assert math.isnan(m.cagr(e, [0]))
        assert all(math.isnan(v) for v in (m.volatility(r, 1), m.sharpe(r, 1), m.sortino(r, 1)))

    def test_one_return_is_not_enough_for_a_ratio(self) -> None:
        r = m.step_returns([100.0, 90.0])
        assert math.isnan(m.sharpe(r, 1)) and math.isnan(m.sortino(r, 1))

    def test_empty(self) -> None:
        for fn in (m.total_return, m.max_drawdown, m.win_rate, m.exposure_time, m.mean_or_nan):
            assert math.isnan(fn([]))
        assert math.isnan(m.profit_factor([]))

    def test_only_gains_gives_nan_sortino(self) -> None:
        assert math.isnan(m.sortino([0.01, 0.02], 365.0))

    def test_misaligned_arrays_are_refused(self) -> None:
        with pytest.raises(ValueError, match="aligned"):
            m.max_drawdown_duration([1.0, 2.0], [0])


class TestVectorbtAgreement:
    """Same equity series through vectorbt's returns accessor.

    Alignment: we hand vectorbt our step returns (its ``from_value`` would make the
    first return NaN) and ``year_freq='365 days'`` so ``ann_factor`` equals
    ``bars_per_year(timeframe)``; vectorbt reports drawdown as a negative number.
    """

    @pytest.mark.parametrize("timeframe,seed", [("1h", 1), ("1d", 2), ("15m", 3)])
    def test_against_vectorbt(self, timeframe: str, seed: int) -> None:
        vbt = pytest.importorskip("vectorbt")
        del vbt  # registers the .vbt accessor
        rng = np.random.default_rng(seed)
        equity = 1000.0 * np.cumprod(1.0 + rng.normal(0.0005, 0.02, 300))
        bpy = bars_per_year(timeframe)
        tf_ms = int(365 * DAY / bpy)
        ts = np.arange(equity.size, dtype=np.int64) * tf_ms
        r = m.step_returns(equity)
        index = pd.date_range("2024-01-01", periods=r.size, freq=pd.Timedelta(milliseconds=tf_ms))
        acc = pd.Series(r, index=index).vbt.returns(
            freq=pd.Timedelta(milliseconds=tf_ms), year_freq="365 days"
        )
        assert acc.ann_factor == pytest.approx(bpy, rel=1e-12)
        rel = 1e-9
        assert m.total_return(equity) == pytest.approx(acc.total(), rel=rel)
        assert m.sharpe(r, bpy) == pytest.approx(acc.sharpe_ratio(), rel=rel)
        assert m.sortino(r, bpy) == pytest.approx(acc.sortino_ratio(), rel=rel)
        assert m.volatility(r, bpy) == pytest.approx(acc.annualized_volatility(), rel=rel)
        assert m.max_drawdown(equity) == pytest.approx(-acc.max_drawdown(), rel=rel)
        assert m.cagr(equity, ts) == pytest.approx(acc.annualized(), rel=rel)
        mdd = m.max_drawdown(equity)
        assert m.calmar(m.cagr(equity, ts), mdd) == pytest.approx(acc.calmar_ratio(), rel=rel)
