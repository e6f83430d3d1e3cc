"""The notebook API of the fast path (``engine/vector/api.py``): shapes, errors, conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.costs.fees import FixedFees
from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.results.result import METRIC_KEYS
from tradeloom.engine.vector import api as fast
from tradeloom.engine.vector import kernels_nb as nb


def bars_of(px, high=None, low=None) -> pd.DataFrame:
    px = np.asarray(px, dtype=float)
    return pd.DataFrame({"ts": np.arange(px.size) * 60_000, "open": px,
                         "high": px + 1 if high is None else high, "low": px - 1 if low is None else low,
                         "close": px, "volume": 10.0})


BARS = bars_of([100.0, 101.0, 103.0, 102.0, 104.0, 103.0])
NO = np.zeros(6, bool)


def sig(*idx: int, n: int = 6) -> np.ndarray:
    out = np.zeros(n, bool)
    out[list(idx)] = True
    return out


class TestRunSignals:
    def test_scenario_table(self):
        # bar  open  signal        what happens
        # 0    100   entry         decided at the close
        # 1    101                 buy all-in at 101: 10_000 / (101 * 1.001)
        # 2    103   exit          decided at the close
        # 3    102                 sell at 102, fee 0.1 %
        res = fast.run_signals(BARS, sig(0), sig(2), init_cash=10_000.0)
        amount = 10_000.0 / (101.0 * 1.001)
        assert res.fills[["ts", "side", "price"]].values.tolist() == [[60_000, "buy", 101.0], [180_000, "sell", 102.0]]
        assert res.fills["amount"].tolist() == [amount, amount]
        assert res.trades["exit_tag"].tolist() == ["target"]
        assert list(res.metrics) == list(METRIC_KEYS)
        assert res.equity["ts"].tolist() == [60_000 * (i + 1) for i in range(6)]

    def test_fee_override_and_market_rounding(self):
        market = MarketSpec("ETH/USDT", lot_step=1.0, taker_fee=0.002)
        res = fast.run_signals(BARS, sig(0), NO, market=market, fee=0.0)
        assert res.fills["amount"].tolist() == [99.0] and res.fills["fee"].tolist() == [0.0]
        assert res.fills["symbol"].tolist() == ["ETH/USDT"]

    def test_min_notional_refuses_the_entry(self):
        res = fast.run_signals(BARS, sig(0), NO, init_cash=50.0, market=MarketSpec("BTC/USDT", min_notional=100.0))
        assert len(res.fills) == 0 and res.metrics["final_equity"] == 50.0

    def test_accepts_series_and_datetime_ts(self):
        bars = BARS.assign(ts=pd.to_datetime(BARS["ts"], unit="ms", utc=True))
        res = fast.run_signals(bars, pd.Series(sig(0)), pd.Series(sig(2)))
        assert res.fills["ts"].tolist() == [60_000, 180_000]

    @pytest.mark.parametrize(
        "kwargs,error,match",
        [
            ({"entries": sig(0, n=5)}, DataError, r"shape \(6,\)"),
            ({"entries": np.array([np.nan] * 6)}, DataError, "NaN"),
            ({"sl_pct": 1.5}, ConfigError, "sl_pct"),
            ({"trail_pct": 0.01, "tp_pct": 0.02}, ConfigError, "trailing stop and a limit"),
            ({"fee": FixedFees(1.0)}, ConfigError, "no kernel"),
            ({"size": 0.0}, ConfigError, "size"),
            ({"init_cash": -1.0}, ConfigError, "init_cash"),
            ({"timeframe": "1mo"}, ConfigError, "timeframe"),
        ],
    )
    def test_errors_say_what_to_fix(self, kwargs, error, match):
        args = {"entries": sig(0), "exits": NO, **kwargs}
        with pytest.raises(error, match=match):
            fast.run_signals(BARS, **args)

    @pytest.mark.parametrize(
        "bars,match",
        [
            (BARS.drop(columns="volume"), "lack columns"),
            (BARS.assign(ts=[0, 1, 1, 2, 3, 4]), "strictly increase"),
            (BARS.assign(open=[100.0, np.nan, 1, 1, 1, 1]), "open row 1"),
            (BARS.iloc[:1], "at least 2 bars"),
        ],
    )
    def test_bad_bars(self, bars, match):
        n = len(bars)
        with pytest.raises(DataError, match=match):
            fast.run_signals(bars, np.zeros(n, bool), np.zeros(n, bool))


class TestTargetWeights:
    def test_rebalance_and_errors(self):
        bars = {"ETH/USDT": BARS, "BTC/USDT": BARS.assign(open=BARS.open * 2, close=BARS.close * 2)}
        w = pd.DataFrame({"BTC/USDT": [0.5, np.nan, 0.0, np.nan, np.nan, np.nan],
                          "ETH/USDT": [0.5, np.nan, np.nan, np.nan, 0.0, np.nan]})
        res = fast.run_target_weights(bars, w)
        assert res.fills[["ts", "symbol", "side"]].values.tolist() == [
            [60_000, "BTC/USDT", "buy"], [60_000, "ETH/USDT", "buy"],
            [180_000, "BTC/USDT", "sell"], [300_000, "ETH/USDT", "sell"]]
        with pytest.raises(DataError, match="in \\[0, 1\\]"):
            fast.run_target_weights(bars, w.fillna(1.5))
        with pytest.raises(DataError, match="missing"):
            fast.run_target_weights(bars, w[["BTC/USDT"]])
        with pytest.raises(DataError, match="other timestamps"):
            fast.run_target_weights({**bars, "ETH/USDT": BARS.assign(ts=BARS.ts + 1)}, w)


class TestSweeps:
    BIG = bars_of(100 + np.cumsum(np.random.default_rng(0).normal(0, 1, 600)) * 0.1 + 50)

    def test_sma_table_and_kept_equity(self):
        table, eq = fast.sweep_sma_cross(self.BIG, [5, 10, 60], [20, 50], keep_equity=True)
        assert table[["fast", "slow"]].values.tolist() == [[5, 20], [5, 50], [10, 20], [10, 50]]
        assert list(table.columns) == ["fast", "slow", *METRIC_KEYS]
        assert eq.shape == (4, 600)
        np.testing.assert_array_equal(eq[:, -1], table["final_equity"].to_numpy())
        with pytest.raises(ConfigError, match="no \\(fast, slow\\) pair"):
            fast.sweep_sma_cross(self.BIG, [50], [20])

    def test_sweep_signals_names_rows_and_checks_shape(self):
        ent = pd.DataFrame({"a": sig(0, n=600), "b": sig(3, n=600)})
        ext = pd.DataFrame({"a": sig(300, n=600), "b": sig(400, n=600)})
        table = fast.sweep_signals(self.BIG, ent, ext)
        assert table.index.tolist() == ["a", "b"] and table["n_trades"].tolist() == [1.0, 1.0]
        with pytest.raises(DataError, match="n_combos"):
            fast.sweep_signals(self.BIG, ent.to_numpy()[:10], ext.to_numpy()[:10])


class TestRounding:
    @pytest.mark.parametrize("price", [101.2349, 0.015, 99.995, 12345.675, 1e-3])
    @pytest.mark.parametrize("tick", [0.01, 0.5, 1e-5])
    def test_round_price_matches_market_spec(self, price, tick):
        spec = MarketSpec("BTC/USDT", tick_size=tick)
        row = fast.spec_row(spec, None, None)
        assert nb.round_price_nb(price, row[nb.S_TICK], row[nb.S_TICK_P10]) == spec.round_price(price)

    @pytest.mark.parametrize("amount", [0.123456789, 3.0, 2.9999999999, 1e-9, 98.70000000001])
    @pytest.mark.parametrize("lot", [0.00001, 0.1, 1.0])
    def test_round_amount_matches_market_spec(self, amount, lot):
        spec = MarketSpec("BTC/USDT", lot_step=lot)
        row = fast.spec_row(spec, None, None)
        assert nb.round_amount_nb(amount, row[nb.S_LOT], row[nb.S_LOT_P10]) == spec.round_amount(amount)
