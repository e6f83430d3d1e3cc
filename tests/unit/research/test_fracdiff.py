"""Fractional differentiation, fixed-width window (AFML ch. 5): weights, values, minimum d."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.errors import ConfigError
from tradeloom.research.features.fracdiff import ffd_weights, frac_diff_ffd, min_ffd_d
from tradeloom.research.features.pipeline import Feature, FeaturePipeline


class TestWeights:
    def test_half_order_weights(self):
        # w0 = 1, w_k = -w_{k-1} (d - k + 1) / k with d = 0.5:
        # w1 = -1 * 0.5 / 1 = -0.5; w2 = 0.5 * (-0.5) / 2 = -0.125;
        # w3 = 0.125 * (-1.5) / 3 = -0.0625; w4 = 0.0625 * (-2.5) / 4 = -0.0390625
        w = ffd_weights(0.5, threshold=0.03)
        assert w.tolist() == [1.0, -0.5, -0.125, -0.0625, -0.0390625]

    def test_integer_orders_are_plain_differences(self):
        assert ffd_weights(1.0).tolist() == [1.0, -1.0]  # w2 = -(-1)(1-1)/2 = 0: stops
        assert ffd_weights(0.0).tolist() == [1.0]  # d = 0: the series itself

    def test_the_threshold_sets_the_width(self):
        # |w_k| ~ k^-1.5 / 3.545 for d = 0.5: below 1e-3 after 43 lags
        assert len(ffd_weights(0.5, 1e-3)) == 44
        assert len(ffd_weights(0.4, 1e-3)) == 55

    def test_bad_orders_are_refused(self):
        with pytest.raises(ConfigError, match=r"d must be in \[0, 2\]"):
            ffd_weights(-0.1)
        with pytest.raises(ConfigError, match="raise the threshold"):
            ffd_weights(0.01, threshold=1e-9)


class TestValues:
    def test_by_hand(self):
        # window 1, -0.5, -0.125, -0.0625 over x = 1..5:
        # x~_3 = 4 - 0.5*3 - 0.125*2 - 0.0625*1 = 2.1875
        # x~_4 = 5 - 0.5*4 - 0.125*3 - 0.0625*2 = 2.5
        out = frac_diff_ffd(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 0.5, threshold=0.05)
        assert np.isnan(out[:3]).all() and out[3:].tolist() == [2.1875, 2.5]

    def test_a_hole_restarts_the_window(self):
        # d = 1: window of 2; the NaN at 2 spoils windows ending at 2 and 3
        x = np.array([1.0, 2.0, np.nan, 4.0, 8.0, 16.0])
        out = frac_diff_ffd(x, 1.0)
        assert np.isnan(out[[0, 2, 3]]).all() and out[[1, 4, 5]].tolist() == [1.0, 4.0, 8.0]

    def test_the_feature_is_the_ffd_of_log_close_and_streams_identically(self):
        close = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 300)))
        bars = pd.DataFrame({"ts": np.arange(300) * 3_600_000, "close": close})
        pipe = FeaturePipeline([Feature("ffd_close", "ffd", {"d": 0.4})], timeframe="1h")
        batch = pipe.batch(bars)["ffd_close"].to_numpy()
        assert pipe.warmup == 54  # 55 weights
        np.testing.assert_array_equal(batch, frac_diff_ffd(close, 0.4, log=True))
        online = pipe.online()
        stream = np.array([online.update(r)[0] for r in bars.to_dict("records")])
        assert np.array_equal(batch, stream, equal_nan=True)  # bit for bit


class TestMinimumD:
    def test_a_random_walk_needs_some_differencing_and_keeps_most_memory(self):
        walk = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 3000)))
        res = min_ffd_d(walk)
        assert res.table.loc[0.0, "p_value"] > 0.05  # the level has a unit root (p 0.94)
        assert res.d == 0.3
        assert res.p_value < 0.05 and res.table.loc[res.d, "corr"] > 0.5
        passed = res.table["p_value"] < 0.05
        assert not passed[res.table.index < res.d].any()  # it is the minimum

    def test_a_stationary_series_needs_none(self):
        noise = np.exp(np.random.default_rng(2).normal(0, 0.1, 1000))  # log is white noise
        assert min_ffd_d(noise).d == 0.0

    def test_on_the_bundled_btc_sample(self):
        path = "datasets/sample/binance/BTC-USDT_1h.parquet"
        from pathlib import Path

        close = pd.read_parquet(Path(__file__).resolve().parents[3] / path)["close"]
        res = min_ffd_d(close.to_numpy())
        # hourly BTC, Dec 2020 - Jul 2021: d = 0.2 passes (p 0.016), 0.15 does not (p 0.064),
        # and the d = 0.2 series still correlates 0.995 with log price
        assert res.d == 0.2
        assert res.table.loc[0.15, "p_value"] > 0.05
        assert res.table.loc[0.2, "corr"] == pytest.approx(0.995, abs=0.001)
