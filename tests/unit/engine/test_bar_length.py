"""The fast path's bar length comes from the bars (``engine/vector/bar_length.py``).

A silent ``timeframe="1m"`` default on hourly bars once printed Sharpe 3.37 instead of
0.435 (annualised with sqrt(525,600) instead of sqrt(8,760)): these tests pin the
inference on the bundled hourly sample, the refusal of a disagreeing timeframe, and the
refusal of bars without a regular step.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.indicators.registry import sma
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.vector import api as fast
from tradeloom.engine.vector.bar_length import infer_timeframe, resolve_timeframe, timeframe_of_ms

SAMPLE = Path(__file__).resolve().parents[3] / "datasets" / "sample" / "binance" / "BTC-USDT_1h.parquet"
HOUR = 3_600_000


def hourly_sample() -> pd.DataFrame:
    return pd.read_parquet(SAMPLE)


def crossings(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = sma(close, 10) - sma(close, 50)
    prev = np.r_[np.nan, d[:-1]]
    with np.errstate(invalid="ignore"):
        return (prev <= 0) & (d > 0), (prev >= 0) & (d < 0)


class TestInferOnTheHourlySample:
    def test_the_sample_has_gaps_yet_its_step_is_one_hour(self):
        ts = hourly_sample()["ts"].to_numpy()
        steps = np.diff(ts)
        assert (steps > HOUR).sum() == 6  # the six gaps PROVENANCE.md lists
        assert infer_timeframe(ts) == "1h"

    def test_run_signals_without_timeframe_annualises_hourly(self):
        bars = hourly_sample()
        ent, ext = crossings(bars["close"].to_numpy())
        inferred = fast.run_signals(bars, ent, ext)
        explicit = fast.run_signals(bars, ent, ext, timeframe="1h")
        assert inferred.timeframe == "1h" and inferred.manifest["timeframe"] == "1h"
        assert inferred.metrics == explicit.metrics
        # the event engine, told 1h, gives the same Sharpe
        market = MarketSpec("BTC/USDT")
        event = backtest_arrays(fast.SignalStrategy(ent, ext), {"BTC/USDT": BarArrays.from_frame(bars)},
                                timeframe="1h", markets={"BTC/USDT": market})
        assert math.isclose(inferred.metrics["sharpe"], event.metrics["sharpe"], rel_tol=1e-9)

    def test_sweeps_infer_the_same_bar_length(self):
        bars = hourly_sample()
        ent, ext = crossings(bars["close"].to_numpy())
        single = fast.run_signals(bars, ent, ext)
        table = fast.sweep_signals(bars, ent[:, None], ext[:, None])
        assert math.isclose(table["sharpe"].iloc[0], single.metrics["sharpe"], rel_tol=1e-9)

    def test_a_disagreeing_timeframe_is_refused_with_both_figures(self):
        bars = hourly_sample()
        ent, ext = crossings(bars["close"].to_numpy())
        with pytest.raises(ConfigError, match=r"timeframe='1m' but the bars are 1h apart .*pass timeframe='1h'"):
            fast.run_signals(bars, ent, ext, timeframe="1m")
        with pytest.raises(ConfigError, match="sweep_sma_cross: timeframe='1d'"):
            fast.sweep_sma_cross(bars, [10], [50], timeframe="1d")


class TestAmbiguousBars:
    def test_no_majority_step_is_refused_and_names_the_common_steps(self):
        # steps: 1m, 1m, 5m, 5m, 1h -> no step holds more than half of 5
        ts = np.cumsum([0, 60_000, 60_000, 300_000, 300_000, HOUR]).astype(np.int64)
        with pytest.raises(ConfigError, match=r"no regular step .*60000 ms x2.*pass timeframe="):
            infer_timeframe(ts, "run_signals")

    def test_an_explicit_timeframe_settles_ambiguous_bars(self):
        ts = np.cumsum([0, 60_000, 60_000, 300_000, 300_000, HOUR]).astype(np.int64)
        assert resolve_timeframe("1m", ts, "run_signals") == "1m"

    def test_exactly_half_is_not_a_majority(self):
        ts = np.cumsum([0, 60_000, 120_000]).astype(np.int64)
        with pytest.raises(ConfigError, match="no regular step"):
            infer_timeframe(ts)

    def test_one_bar_has_no_length(self):
        with pytest.raises(DataError, match="at least 2 bars"):
            infer_timeframe(np.array([0], dtype=np.int64))


class TestNames:
    @pytest.mark.parametrize(("ms", "name"), [(1_000, "1s"), (60_000, "1m"), (900_000, "15m"),
                                              (HOUR, "1h"), (4 * HOUR, "4h"), (24 * HOUR, "1d"),
                                              (7 * 24 * HOUR, "1w"), (90_000, "90s")])
    def test_largest_whole_unit(self, ms, name):
        assert timeframe_of_ms(ms) == name

    def test_sub_second_steps_are_not_bars(self):
        with pytest.raises(DataError, match="not a whole number of seconds"):
            timeframe_of_ms(1_500)
