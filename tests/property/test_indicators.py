"""Indicators: batch (numba) == streaming bit for bit, hand-checked values, conventions.

``TestIndicatorStreaming`` is the parity class: hypothesis draws price series with
flat runs, jumps, NaN/inf holes, leading NaNs, tiny and huge magnitudes and series
shorter than the period, and asserts that every output of every bar is the same
float64 in both forms.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.indicators import registry as ind
from tradeloom.engine.indicators.registry import INDICATORS, compute, make_stream, warmup

pytestmark = pytest.mark.filterwarnings("error")  # no RuntimeWarning (0/0, overflow) allowed

NAN = math.nan
HOUR = 3_600_000
REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- helpers


def outputs(result) -> list[np.ndarray]:
    """Batch result as a list of arrays (one per output)."""
    return list(result) if isinstance(result, tuple) else [result]


def run_stream(name: str, data: dict[str, np.ndarray], params: dict) -> list[np.ndarray]:
    """Feed ``data`` bar by bar (as Python floats/ints) to a fresh stream; collect outputs."""
    spec = INDICATORS[name]
    stream = make_stream(name, **params)
    cols = [data[f].tolist() for f in spec.inputs]
    rows = []
    for values in zip(*cols):
        r = stream.update(*values)
        rows.append(tuple(r) if isinstance(r, tuple) else (r,))
    n = len(spec.outputs)
    return [np.array([row[k] for row in rows], dtype=np.float64).reshape(-1) for k in range(n)]


def assert_bitwise_equal(a: np.ndarray, b: np.ndarray, what: str = "") -> None:
    """Same NaN positions, and every other value identical to the bit (signed zeros too)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, what
    na, nb_ = np.isnan(a), np.isnan(b)
    if not np.array_equal(na, nb_):
        i = int(np.flatnonzero(na != nb_)[0])
        raise AssertionError(f"{what}: NaN mismatch at bar {i}: {a[i]!r} vs {b[i]!r}")
    if a[~na].tobytes() != b[~nb_].tobytes():
        i = int(np.flatnonzero((a != b) & ~na)[0]) if np.any((a != b) & ~na) else -1
        raise AssertionError(
            f"{what}: values differ at bar {i}: {a[i]!r} vs {b[i]!r} "
            f"({a[i].hex() if i >= 0 else ''} vs {b[i].hex() if i >= 0 else ''})"
        )


def assert_parity(name: str, data: dict[str, np.ndarray], params: dict) -> None:
    batch = outputs(compute(name, data, **params))
    stream = run_stream(name, data, params)
    for field, a, b in zip(INDICATORS[name].outputs, batch, stream):
        assert_bitwise_equal(a, b, f"{name}{params}.{field}")


def bars_from_close(close: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = close.shape[0]
    spread = np.abs(close) * rng.uniform(0.0, 0.02, n)
    spread[rng.random(n) < 0.2] = 0.0  # bars with high == low == close
    high = close + spread * rng.random(n)
    low = close - spread * rng.random(n)
    volume = rng.exponential(10.0, n)
    volume[rng.random(n) < 0.15] = 0.0
    step = np.where(rng.random(n) < 0.05, 7 * HOUR, HOUR)  # occasional gaps in time
    ts = 1_700_000_000_000 + np.cumsum(step).astype(np.int64) - HOUR
    return {"ts": ts, "high": high, "low": low, "close": close, "volume": volume}


@st.composite
def price_series(draw, max_len: int = 240) -> dict[str, np.ndarray]:
    """Random OHLCV bars with flat runs, jumps, holes and magnitudes from 1e-8 to 1e12."""
    n = draw(st.integers(0, max_len))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1e-8, 1e-3, 1.0, 100.0, 3e4, 1e12]))
    flat = draw(st.sampled_from([0.0, 0.1, 0.5]))
    jumps = draw(st.sampled_from([0.0, 0.02]))
    holes = draw(st.sampled_from([0.0, 0.0, 0.02, 0.1]))
    lead_nan = draw(st.integers(0, 5))
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.01, n)
    r[rng.random(n) < flat] = 0.0  # flat runs: the close repeats exactly
    close = scale * np.exp(np.cumsum(r))
    jump_at = rng.random(n) < jumps
    close[jump_at] *= rng.choice([0.1, 10.0], size=int(jump_at.sum()))  # gaps in price
    if flat:
        close = np.round(close / scale, 3) * scale  # ties and repeated values
    data = bars_from_close(close, rng)
    for field in ("high", "low", "close", "volume"):
        col = data[field]
        col[:lead_nan] = NAN
        hole = rng.random(n) < holes / 4
        col[hole] = rng.choice([NAN, math.inf, -math.inf], size=int(hole.sum()))
    return data


PERIOD = st.integers(1, 50)
PERIOD2 = st.integers(2, 50)

PARAMS = {
    "sma": st.fixed_dictionaries({"period": PERIOD}),
    "ema": st.fixed_dictionaries({"period": PERIOD}),
    "wma": st.fixed_dictionaries({"period": PERIOD}),
    "rsi": st.fixed_dictionaries({"period": PERIOD}),
    "atr": st.fixed_dictionaries({"period": PERIOD}),
    "bbands": st.fixed_dictionaries(
        {"period": PERIOD2, "nbdev": st.sampled_from([0.5, 1.0, 2.0, 2.5])}),
    "macd": st.integers(1, 25).flatmap(lambda f: st.fixed_dictionaries({
        "fast": st.just(f), "slow": st.integers(f + 1, 50), "signal": st.integers(1, 20)})),
    "stoch": st.fixed_dictionaries({"k_period": st.integers(1, 30),
                                    "k_smooth": st.integers(1, 6), "d_period": st.integers(1, 6)}),
    "adx": st.fixed_dictionaries({"period": PERIOD}),
    "obv": st.just({}),
    "vwap": st.fixed_dictionaries({"period": PERIOD}),
    "session_vwap": st.fixed_dictionaries({
        "session_ms": st.sampled_from([HOUR, 4 * HOUR, 24 * HOUR]),
        "offset_ms": st.sampled_from([0, HOUR, -2 * HOUR])}),
    "donchian": st.fixed_dictionaries({"period": PERIOD}),
    "keltner": st.fixed_dictionaries({"period": st.integers(1, 30), "atr_period":
                                      st.integers(1, 30), "multiplier": st.sampled_from([1.0, 1.5, 2.0])}),
    "zscore": st.fixed_dictionaries({"period": PERIOD2}),
    "realized_vol": st.fixed_dictionaries(
        {"period": PERIOD2, "periods_per_year": st.sampled_from([None, 365 * 24, 252.0])}),
    "rolling_max": st.fixed_dictionaries({"period": PERIOD}),
    "rolling_min": st.fixed_dictionaries({"period": PERIOD}),
}


def first_defined(result) -> int:
    """Index of the first bar where every output is defined (len if none)."""
    ok = np.logical_and.reduce([~np.isnan(o) for o in outputs(result)])
    idx = np.flatnonzero(ok)
    return int(idx[0]) if idx.size else len(ok)


def real_bars() -> dict[str, np.ndarray]:
    pd = pytest.importorskip("pandas")  # pandas is a core dependency; the engine does not use it
    df = pd.read_parquet(REPO / "datasets/sample/binance/BTC-USDT_1h.parquet")
    return {c: df[c].to_numpy() for c in ("ts", "open", "high", "low", "close", "volume")}


# ---------------------------------------------------------------- parity


class TestIndicatorStreaming:
    """Batch and streaming forms agree on every bar, exactly."""

    def test_registry_covers_every_strategy(self):
        assert set(PARAMS) == set(INDICATORS)

    @pytest.mark.parametrize("name", sorted(INDICATORS))
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=price_series(), st_data=st.data())
    def test_batch_equals_stream(self, name, data, st_data):
        params = st_data.draw(PARAMS[name], label="params")
        assert_parity(name, data, params)

    @pytest.mark.parametrize("name", sorted(INDICATORS))
    @settings(max_examples=25, deadline=None)
    @given(data=price_series(), st_data=st.data())
    def test_no_lookahead_and_restart_after_hole(self, name, data, st_data):
        """Cutting off the future changes nothing before the cut; after the last hole the
        indicator equals a fresh run on the rest of the series (NaN policy)."""
        params = st_data.draw(PARAMS[name], label="params")
        full = outputs(compute(name, data, **params))
        n = len(data["close"])
        cut = st_data.draw(st.integers(0, n), label="cut")
        head = outputs(compute(name, {k: v[:cut] for k, v in data.items()}, **params))
        for a, b in zip(full, head):
            assert_bitwise_equal(a[:cut], b, f"{name} truncated at {cut}")
        if name == "session_vwap":
            return  # after a hole it waits for the next session instead (tested below)
        fields = INDICATORS[name].inputs
        bad = np.zeros(n, dtype=bool)
        for f in fields:
            if f != "ts":
                bad |= ~np.isfinite(data[f])
        if bad.any():
            j = int(np.flatnonzero(bad)[-1]) + 1
            tail = outputs(compute(name, {k: v[j:] for k, v in data.items()}, **params))
            for a, b in zip(full, tail):
                assert_bitwise_equal(a[j:], b, f"{name} restarted at {j}")

    @pytest.mark.parametrize("name", sorted(INDICATORS))
    def test_real_btc_1h(self, name):
        """5,482 real hourly bars with default parameters (long enough to expose drift)."""
        bars = real_bars()
        params = {"period": 20} if "period" in INDICATORS[name].params and name not in (
            "rsi", "atr", "adx", "bbands", "donchian", "keltner") else {}
        assert_parity(name, bars, params)

    def test_sma_long_series_with_ties(self):
        """200k bars on a 0.01 tick grid: many exact ties between SMAs, no drift between forms."""
        rng = np.random.default_rng(7)
        x = np.round(30_000 + np.cumsum(rng.normal(0, 5, 200_000)), 2)
        x[50_000:50_500] = x[50_000]  # a long flat run
        for period in (10, 50):
            assert_parity("sma", {"close": x}, {"period": period})
        flat = x[50_000]
        assert ind.sma(x, 10)[50_499] == ind.sma(x, 50)[50_499] == flat  # exact tie when flat


# ---------------------------------------------------------------- warm-up


class TestWarmup:
    @pytest.mark.parametrize("name", sorted(INDICATORS))
    def test_first_value_at_warmup(self, name):
        rng = np.random.default_rng(1)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 120)))
        data = bars_from_close(close, rng)
        data["volume"] = rng.uniform(1, 2, 120)
        params = {k: 7 for k in INDICATORS[name].params if "period" in k}
        if name == "macd":
            params = {"fast": 3, "slow": 8, "signal": 4}
        w = warmup(name, **params)
        assert first_defined(compute(name, data, **params)) == w
        stream = make_stream(name, **params)
        assert stream.warmup == w
        ready = []
        for values in zip(*(data[f].tolist() for f in INDICATORS[name].inputs)):
            stream.update(*values)
            ready.append(stream.ready)
        assert ready.index(True) == w

    def test_documented_warmups(self):
        assert warmup("sma", period=10) == 9
        assert warmup("ema", period=10) == 9
        assert warmup("rsi", period=14) == 14
        assert warmup("atr", period=14) == 14
        assert warmup("adx", period=14) == 27
        assert warmup("macd") == 33
        assert warmup("stoch") == 17  # (14-1) + (3-1) + (3-1), as TA-Lib
        assert warmup("keltner", period=20, atr_period=10) == 19
        assert warmup("realized_vol", period=20) == 20
        assert warmup("obv") == 0 and warmup("session_vwap") == 0

    def test_shorter_than_period_is_all_nan(self):
        x = np.array([1.0, 2.0, 3.0])
        for f in (ind.sma, ind.ema, ind.wma, ind.rolling_max, ind.zscore):
            assert np.isnan(f(x, 4)).all()
        assert ind.sma(np.array([]), 3).shape == (0,)


# ---------------------------------------------------------------- hand-checked values


def arr(*v):
    return np.array(v, dtype=np.float64)


class TestHandChecked:
    def test_sma(self):
        assert_bitwise_equal(ind.sma(arr(1, 2, 3, 4), 3), arr(NAN, NAN, 2, 3))
        assert_bitwise_equal(ind.sma(arr(5, 7), 1), arr(5, 7))

    def test_ema(self):
        # seed = mean(1, 3) = 2; then (6 - 2) * 2/3 + 2
        assert_bitwise_equal(ind.ema(arr(1, 3, 6), 2), arr(NAN, 2, (6 - 2) * (2 / 3) + 2))

    def test_wma(self):
        # (1*1 + 2*2 + 3*3) / 6 and (1*2 + 2*3 + 3*6) / 6
        np.testing.assert_allclose(ind.wma(arr(1, 2, 3, 6), 3), arr(NAN, NAN, 14 / 6, 26 / 6))

    def test_rsi(self):
        # changes +1, -0.5: avg gain 0.5, avg loss 0.25 -> 100 * 0.5 / 0.75
        np.testing.assert_allclose(ind.rsi(arr(1, 2, 1.5), 2), arr(NAN, NAN, 200 / 3))
        assert ind.rsi(arr(1, 2, 3), 2)[-1] == 100.0  # gains only
        assert ind.rsi(arr(3, 2, 1), 2)[-1] == 0.0  # losses only

    def test_atr(self):
        h, lw, c = arr(2, 3, 3.5), arr(1, 2, 2.5), arr(1.5, 2.5, 3.0)
        # TR1 = max(1, |1.5-3|, |1.5-2|) = 1.5; TR2 = max(1, 1, 0.5) = 1 -> (1.5 + 1) / 2
        assert_bitwise_equal(ind.atr(h, lw, c, 2), arr(NAN, NAN, 1.25))

    def test_bbands(self):
        r = ind.bbands(arr(1, 3, 5), 2, nbdev=2.0)
        assert_bitwise_equal(r.mid, arr(NAN, 2, 4))
        assert_bitwise_equal(r.upper, arr(NAN, 4, 6))  # population std of (1, 3) is 1
        assert_bitwise_equal(r.lower, arr(NAN, 0, 2))

    def test_macd(self):
        r = ind.macd(arr(1, 2, 3, 5), fast=2, slow=3, signal=2)
        np.testing.assert_allclose(r.macd, arr(NAN, NAN, 0.5, 25 / 6 - 3.5))
        np.testing.assert_allclose(r.signal, arr(NAN, NAN, NAN, (0.5 + 2 / 3) / 2))
        np.testing.assert_allclose(r.hist, r.macd - r.signal)

    def test_stoch(self):
        h, lw, c = arr(10, 12, 11), arr(8, 9, 10), arr(9, 11, 10)
        r = ind.stoch(h, lw, c, k_period=2, k_smooth=1, d_period=2)
        # raw %K: bar1 (11-8)/(12-8) = 75; bar2 (10-9)/(12-9) = 33.3
        np.testing.assert_allclose(r.k, arr(NAN, 75, 100 / 3))
        np.testing.assert_allclose(r.d, arr(NAN, NAN, (75 + 100 / 3) / 2))

    def test_adx(self):
        # steadily rising bars: all movement is up, so -DI = 0, DX = 100, ADX = 100
        x = np.arange(10.0)
        r = ind.adx(x + 1, x, x + 0.5, 2)
        assert np.isnan(r.adx[:3]).all() and (r.adx[3:] == 100.0).all()
        assert (r.minus_di[2:] == 0.0).all() and (r.plus_di[2:] > 0).all()

    def test_obv(self):
        assert_bitwise_equal(ind.obv(arr(1, 2, 1, 1), arr(5, 3, 1, 9)), arr(5, 8, 7, 7))

    def test_vwap(self):
        h = lw = c = arr(3, 6, 9)
        assert_bitwise_equal(ind.vwap(h, lw, c, arr(1, 2, 1), 2), arr(NAN, 5, 7))

    def test_session_vwap_resets_at_utc_midnight(self):
        ts = np.array([0, HOUR, 24 * HOUR, 25 * HOUR], dtype=np.int64)
        p = arr(2, 5, 7, 10)
        r = ind.session_vwap(ts, p, p, p, arr(1, 2, 1, 1))
        assert_bitwise_equal(r, arr(2, 4, 7, 8.5))

    def test_session_vwap_hole_waits_for_next_session(self):
        ts = np.array([0, HOUR, 2 * HOUR, 24 * HOUR], dtype=np.int64)
        p = arr(2, NAN, 5, 7)
        assert_bitwise_equal(ind.session_vwap(ts, p, p, p, arr(1, 1, 1, 1)), arr(2, NAN, NAN, 7))

    def test_donchian(self):
        r = ind.donchian(arr(3, 4, 2), arr(1, 2, 1.5), 2)
        assert_bitwise_equal(r.upper, arr(NAN, 4, 4))
        assert_bitwise_equal(r.lower, arr(NAN, 1, 1.5))
        assert_bitwise_equal(r.mid, arr(NAN, 2.5, 2.75))

    def test_keltner(self):
        h, lw, c = arr(2, 3, 3.5), arr(1, 2, 2.5), arr(1.5, 2.5, 3.0)
        r = ind.keltner(h, lw, c, period=2, atr_period=2, multiplier=2.0)
        assert_bitwise_equal(r.mid, arr(NAN, 2, (3 - 2) * (2 / 3) + 2))
        assert r.upper[2] == r.mid[2] + 2.5 and r.lower[2] == r.mid[2] - 2.5

    def test_zscore(self):
        assert_bitwise_equal(ind.zscore(arr(1, 3, 3), 2), arr(NAN, 1, 0))

    def test_realized_vol(self):
        r = ind.realized_vol(arr(100, 110, 99), 2)
        expect = abs(math.log(1.1) - math.log(0.9)) / math.sqrt(2)
        np.testing.assert_allclose(r, arr(NAN, NAN, expect), rtol=1e-12)
        annual = ind.realized_vol(arr(100, 110, 99), 2, periods_per_year=365 * 24)
        np.testing.assert_allclose(annual[2], expect * math.sqrt(365 * 24), rtol=1e-12)

    def test_rolling_max_min(self):
        x = arr(1, 3, 2, 1)
        assert_bitwise_equal(ind.rolling_max(x, 2), arr(NAN, 3, 3, 2))
        assert_bitwise_equal(ind.rolling_min(x, 2), arr(NAN, 1, 2, 1))


# ---------------------------------------------------------------- degenerate data


class TestDegenerate:
    """Flat prices, holes and extreme magnitudes: defined values and no warnings."""

    def test_flat_prices(self):
        x = np.full(60, 123.456)
        h = lw = x
        assert (ind.rsi(x, 14)[14:] == 50.0).all()
        assert (ind.zscore(x, 20)[19:] == 0.0).all()
        b = ind.bbands(x, 20)
        assert (b.upper[19:] == x[19:]).all() and (b.lower[19:] == x[19:]).all()
        assert (ind.stoch(h, lw, x).k[15:] == 50.0).all()
        a = ind.adx(h, lw, x, 5)
        assert (a.plus_di[5:] == 0).all() and (a.adx[9:] == 0).all()
        assert (ind.realized_vol(x, 10)[10:] == 0.0).all()
        assert (ind.atr(h, lw, x, 5)[5:] == 0.0).all()
        assert np.isnan(ind.vwap(h, lw, x, np.zeros(60), 5)).all()  # no volume -> undefined

    def test_flat_after_volatility_is_exactly_zero(self):
        x = np.concatenate([np.linspace(1e4, 2e4, 50) ** 1.5, np.full(30, 7.0)])
        assert (ind.zscore(x, 10)[59:] == 0.0).all()
        assert (ind.bbands(x, 10).upper[59:] == 7.0).all()

    def test_hole_resets(self):
        x = arr(1, 2, 3, NAN, 4, 5, 6)
        assert_bitwise_equal(ind.sma(x, 2), arr(NAN, 1.5, 2.5, NAN, NAN, 4.5, 5.5))
        assert_bitwise_equal(ind.ema(arr(1, math.inf, 2, 4), 2), arr(NAN, NAN, NAN, 3))
        assert_bitwise_equal(ind.obv(arr(1, 2, NAN, 3), arr(1, 1, 1, 2)), arr(1, 2, NAN, 2))

    @pytest.mark.parametrize("scale", [1e-12, 1e15])
    def test_magnitudes_scale(self, scale):
        rng = np.random.default_rng(3)
        x = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
        for f in (ind.sma, ind.ema, ind.wma):
            np.testing.assert_allclose(f(x * scale, 20), f(x, 20) * scale, rtol=1e-12)
        np.testing.assert_allclose(ind.rsi(x * scale), ind.rsi(x), rtol=1e-10)
        np.testing.assert_allclose(ind.zscore(x * scale, 20), ind.zscore(x, 20), rtol=1e-8)
        np.testing.assert_allclose(ind.realized_vol(x * scale, 20),
                                   ind.realized_vol(x, 20), rtol=1e-10)


# ---------------------------------------------------------------- API and errors


@pytest.mark.parametrize("module", ["registry", "base", "stream", "stream_stats", "bars_nb",
                                    "stream_bars", "series_nb"])
def test_docstring_examples_run(module):
    """Doctests, imported as ``tradeloom.engine.indicators.*`` (the name numba's cache is keyed on)."""
    import doctest
    import importlib

    mod = importlib.import_module(f"tradeloom.engine.indicators.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


class TestAPI:
    def test_registry_shapes(self):
        for name, spec in INDICATORS.items():
            assert spec.name == name
            batch_params = [p for p in inspect.signature(spec.batch).parameters
                            if p not in spec.inputs]
            assert tuple(batch_params) == spec.params, name
            assert len(spec.outputs) >= 1

    @pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10", None])
    def test_bad_period(self, bad):
        with pytest.raises(ConfigError, match="period must be an integer >= 1"):
            ind.sma(arr(1, 2), bad)
        with pytest.raises(ConfigError, match="period"):
            ind.SMA(bad)

    def test_config_errors_are_actionable(self):
        with pytest.raises(ConfigError, match="did you mean 'bbands'"):
            warmup("bbnads")
        with pytest.raises(ConfigError, match="did you mean 'period'"):
            make_stream("sma", perod=3)
        with pytest.raises(ConfigError, match="fast .* must be shorter than slow"):
            ind.macd(arr(1, 2), fast=26, slow=12)
        with pytest.raises(ConfigError, match=">= 2"):
            ind.zscore(arr(1, 2), 1)
        with pytest.raises(ConfigError, match="periods_per_year must be > 0"):
            ind.RealizedVol(10, periods_per_year=0)

    def test_data_errors(self):
        with pytest.raises(DataError, match="differ in length"):
            ind.atr(arr(1, 2), arr(1), arr(1, 2))
        with pytest.raises(DataError, match="1-D"):
            ind.sma(np.ones((2, 2)), 2)
        with pytest.raises(DataError, match="missing"):
            compute("atr", {"close": arr(1.0)}, period=3)
        with pytest.raises(DataError, match="integer array"):
            ind.session_vwap(arr(0.0), arr(1), arr(1), arr(1), arr(1))

    def test_multi_output_streams_return_named_tuples(self):
        m = ind.MACD(2, 3, 2)
        for x in (1.0, 2.0, 3.0, 5.0):
            v = m.update(x)
        assert isinstance(v, ind.MACDResult) and v == m.value and m.ready
        m.reset()
        assert not m.ready

    def test_stream_accepts_numpy_scalars(self):
        s = ind.SMA(2)
        s.update(np.float64(1.0))
        assert s.update(np.float64(2.0)) == 1.5
