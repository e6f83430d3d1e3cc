"""The regime rule: a table of cases, batch == online on every bar, hysteresis, causality."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from universe_helpers import walk_bars

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.research.universe.regime import (
    Regime,
    RegimeConfig,
    RegimeTracker,
    classify,
    next_regime,
    regime_as_of,
)

T, R, V, W = Regime.TRENDING, Regime.RANGING, Regime.VOLATILE, Regime.WARMUP
CFG = RegimeConfig()  # adx 25/20, vol percentile 0.8/0.7
NAN = math.nan

RULE_TABLE = [
    # prev  adx   vol_pct  expected   why
    (W, NAN, 0.5, W),   # ADX still warming up
    (R, 30.0, NAN, W),  # vol percentile undefined (hole in the data)
    (R, 30.0, 0.5, T),  # ADX above the enter threshold
    (R, 25.0, 0.5, R),  # exactly 25 is not above it
    (T, 22.0, 0.5, T),  # trend holds down to adx_exit (hysteresis)
    (T, 19.9, 0.5, R),  # below adx_exit: the trend is over
    (R, 10.0, 0.81, V),  # vol percentile above 0.8
    (T, 40.0, 0.81, V),  # volatility wins over a trend (risk first)
    (V, 40.0, 0.75, V),  # volatile holds down to vol_exit
    (V, 40.0, 0.69, T),  # calm again, ADX > 25: trending
    (V, 22.0, 0.69, R),  # calm again, ADX between the thresholds: ranging (needs enter)
]


@pytest.mark.parametrize(("prev", "adx", "pct", "expected"), RULE_TABLE)
def test_rule_table(prev, adx, pct, expected):
    assert next_regime(prev, adx, pct, CFG) is expected


def test_hysteresis_stops_flapping_around_a_threshold():
    adx_path = [26, 24, 26, 23, 21, 26, 19, 24, 26]
    with_h = [R]
    without = [R]
    tight = RegimeConfig(adx_exit=25.0)
    for a in adx_path:
        with_h.append(next_regime(with_h[-1], a, 0.5, CFG))
        without.append(next_regime(without[-1], a, 0.5, tight))
    assert with_h[1:] == [T, T, T, T, T, T, R, R, T]
    assert (_flips(with_h), _flips(without)) == (3, 7)


def _flips(xs):
    return sum(a is not b for a, b in itertools.pairwise(xs))


@pytest.fixture(scope="module")
def btc(tmp_path_factory):
    store = MarketStore(tmp_path_factory.mktemp("sample"))
    load_sample(store)
    return store, store.read_bars("binance", "1h", "BTC/USDT")


def _online(cfg, high, low, close):
    tracker = RegimeTracker(cfg)
    return [tracker.update(h, lw, c) for h, lw, c in zip(high, low, close)]


def _assert_same(series, readings):
    assert list(series.regime) == [r.regime for r in readings]
    for name in ("adx", "vol", "vol_pct"):
        online = np.array([getattr(r, name) for r in readings])
        np.testing.assert_array_equal(getattr(series, name), online, err_msg=name)


class TestRegimeStreaming:
    def test_batch_equals_online_on_every_real_bar(self, btc):
        _, bars = btc
        h, lw, c = (bars[k].to_numpy() for k in ("high", "low", "close"))
        series = classify(h, lw, c)
        _assert_same(series, _online(CFG, h, lw, c))
        assert {T, R, V} <= set(series.regime)

    @settings(max_examples=30, deadline=None)
    @given(seed=st.integers(0, 10_000), hole=st.integers(-1, 150))
    def test_batch_equals_online_with_holes(self, seed, hole):
        bars = walk_bars(seed, 160)
        h, lw, c = (bars[k].to_numpy().copy() for k in ("high", "low", "close"))
        if hole >= 0:
            c[hole] = np.nan
        cfg = RegimeConfig(adx_period=5, vol_period=4, vol_window=20)
        _assert_same(classify(h, lw, c, cfg), _online(cfg, h, lw, c))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(0, 158), scale=st.floats(0.2, 5.0))
def test_no_look_ahead_future_bars_do_not_change_the_past(seed, cut, scale):
    bars = walk_bars(seed, 160)
    cfg = RegimeConfig(adx_period=5, vol_period=4, vol_window=20)
    cols = [bars[k].to_numpy() for k in ("high", "low", "close")]
    mutated = [x.copy() for x in cols]
    for x in mutated:
        x[cut + 1:] *= scale
    a, b = classify(*cols, cfg), classify(*mutated, cfg)
    assert list(a.regime[:cut + 1]) == list(b.regime[:cut + 1])
    np.testing.assert_array_equal(a.vol_pct[:cut + 1], b.vol_pct[:cut + 1])
    np.testing.assert_array_equal(a.adx[:cut + 1], b.adx[:cut + 1])


def test_regime_as_of_uses_closed_bars_and_reports_since(btc):
    store, bars = btc
    as_of = 1_622_505_600_000  # 2021-06-01
    status = regime_as_of(store, "binance", "1h", "BTC/USDT", as_of)
    closed = bars[bars["ts"] + 3_600_000 <= as_of]
    series = classify(*(closed[k].to_numpy() for k in ("high", "low", "close")))
    assert status.reading == series.reading(len(closed) - 1)
    start = len(closed) - status.bars_in_regime
    assert status.since_ts == int(closed["ts"].iloc[start]) + 3_600_000
    assert series.regime[start - 1] is not status.reading.regime


def test_config_refuses_exit_above_enter():
    with pytest.raises(ValueError, match="adx_exit"):
        RegimeConfig(adx_exit=30.0)
