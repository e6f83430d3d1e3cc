"""Feature pipelines: batch == online bit for bit, no look-ahead, specs, errors.

``TestFeatureParity`` is the parity class: the default library on real Binance
bars (with holes injected) and every registered kind on hypothesis-drawn bars,
comparing each feature of each bar as float64 bits. ``TestNoLookahead`` mutates
every bar after T (and every market bar closing after T's close) and asserts all
features at or before T are byte-identical.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.orders import Bar
from tradeloom.research.features.kinds_base import FEATURE_KINDS
from tradeloom.research.features.library import default_pipeline
from tradeloom.research.features.pipeline import Feature, FeaturePipeline

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "datasets" / "sample" / "binance"
HOUR = 3_600_000
NAN = math.nan

pytestmark = pytest.mark.filterwarnings("error")


def real(symbol: str, n: int | None = None) -> pd.DataFrame:
    frame = pd.read_parquet(SAMPLE / f"{symbol}-USDT_1h.parquet")
    return frame.iloc[:n].reset_index(drop=True) if n else frame


def run_online(pipe: FeaturePipeline, bars: pd.DataFrame,
               market: pd.DataFrame | None = None, market_first: bool = True) -> np.ndarray:
    """Feed bars one by one; market bars are fed as they close (or all up front)."""
    online = pipe.online()
    mrows = market.to_dict("records") if market is not None else []
    tf = HOUR
    if not market_first:
        for m in mrows:  # everything ahead of time: the queue must hold future bars back
            online.update_market(m)
        mrows = []
    k = 0
    out = []
    for row in bars.to_dict("records"):
        while k < len(mrows) and mrows[k]["ts"] + tf <= row["ts"] + tf:
            online.update_market(mrows[k])
            k += 1
        out.append(online.update(row))
    return np.array(out).reshape(len(bars), len(pipe))


def assert_bits(a: np.ndarray, b: np.ndarray, names: tuple[str, ...]) -> None:
    """Same NaN positions and identical float64 bits elsewhere; names the first mismatch."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    same = (a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))
    if not same.all():
        i, j = (int(x[0]) for x in np.nonzero(~same))
        raise AssertionError(f"{names[j]} differs at bar {i}: batch {a[i, j]!r} online {b[i, j]!r}")


def all_kinds_pipeline() -> FeaturePipeline:
    """One or more features of every registered kind, with short windows."""
    feats = [
        Feature("ret_3", "ret", {"horizon": 3}), Feature("logret_2", "logret", {"horizon": 2}),
        Feature("rv_4", "realized_vol", {"period": 4}), Feature("pk_3", "parkinson", {"period": 3}),
        Feature("gk_3", "garman_klass", {"period": 3}), Feature("rsi_3", "rsi", {"period": 3}),
        Feature("atr_3", "atr_pct", {"period": 3}),
        Feature("bbp", "bbands", {"period": 4, "output": "pctb"}),
        Feature("bbw", "bbands", {"period": 4, "output": "width"}),
        Feature("macd", "macd_hist", {"fast": 2, "slow": 4, "signal": 2}),
        Feature("sk", "stoch", {"k_period": 3, "output": "k"}),
        Feature("sd", "stoch", {"k_period": 3, "output": "d"}),
        Feature("adx", "adx", {"period": 3, "output": "adx"}),
        Feature("did", "adx", {"period": 3, "output": "di_diff"}),
        Feature("dc", "donchian_pos", {"period": 3}),
        Feature("kc", "keltner_pos", {"period": 3, "atr_period": 2}),
        Feature("smad", "ma_dev", {"ma": "sma", "period": 3}),
        Feature("emad", "ma_dev", {"ma": "ema", "period": 3}),
        Feature("dh", "dist_extreme", {"side": "high", "period": 3}),
        Feature("dl", "dist_extreme", {"side": "low", "period": 3}),
        Feature("cz", "zscore", {"period": 3}),
        Feature("vz", "zscore", {"field": "volume", "period": 3}),
        Feature("oz", "obv_z", {"period": 3}), Feature("vw", "vwap_dev", {"period": 3}),
        Feature("svw", "session_vwap_dev", {"session_ms": 4 * HOUR}),
        *[Feature(f"c_{s}", "candle", {"shape": s})
          for s in ("body", "upper_wick", "lower_wick", "clv", "range")],
        Feature("rk", "rank", {"period": 3}), Feature("vrk", "rank", {"field": "volume", "period": 3}),
        Feature("hs", "calendar", {"unit": "hour", "fn": "sin"}),
        Feature("wc", "calendar", {"unit": "weekday", "fn": "cos"}),
        Feature("col", "column", {"field": "volume"}),
        Feature("ffd", "ffd", {"d": 0.5, "threshold": 0.05}),  # 1, -0.5, -0.125, -0.0625
        Feature("ffd_v", "ffd", {"d": 0.3, "threshold": 0.05, "field": "volume", "log": False}),
        Feature("m_ret", "ret", {"horizon": 2}, source="market"),
        Feature("m_rv", "realized_vol", {"period": 3}, source="market"),
    ]
    return FeaturePipeline(tuple(feats), "1h")


# bars: a random walk with flat runs, gaps in ts, zero volume and holes in any field
_value = st.one_of(
    st.floats(-0.05, 0.05), st.just(0.0), st.sampled_from([NAN, math.inf, -1.0]))


@st.composite
def bar_frames(draw, n_min: int = 1, n_max: int = 60) -> pd.DataFrame:
    n = draw(st.integers(n_min, n_max))
    steps = draw(st.lists(_value, min_size=n, max_size=n))
    gaps = draw(st.lists(st.sampled_from([1, 1, 1, 2, 5]), min_size=n, max_size=n))
    close = np.empty(n)
    level = 100.0
    for i, s in enumerate(steps):
        if math.isfinite(s) and s > -1.0:
            level *= 1.0 + s
            close[i] = level
        else:
            close[i] = s  # a hole: NaN, inf or a non-positive price
    opn = np.r_[close[:1], close[:-1]]
    wig = np.array(draw(st.lists(st.floats(0.0, 0.02), min_size=n, max_size=n)))
    high = np.fmax(opn, close) * (1.0 + wig)
    low = np.fmin(opn, close) * (1.0 - wig)
    vol = np.array(draw(st.lists(st.one_of(st.floats(0.0, 1e4), st.just(NAN)),
                                 min_size=n, max_size=n)))
    ts = 1_700_000_000_000 - 1_700_000_000_000 % HOUR + np.cumsum(gaps) * HOUR
    return pd.DataFrame({"ts": ts.astype(np.int64), "open": opn, "high": high, "low": low,
                         "close": close, "volume": vol})


class TestFeatureParity:
    def test_default_library_on_real_bars_with_holes(self):
        eth, btc = real("ETH", 1200), real("BTC", 1200)
        eth.loc[500, "close"] = NAN  # a hole: every feature reading close resets
        eth.loc[640, "volume"] = 0.0  # zero volume: VWAP undefined for the bar
        eth.loc[641, ["open", "high", "low"]] = eth.loc[641, "close"]  # a flat bar
        btc = btc.drop(index=[700, 701]).reset_index(drop=True)  # market gaps: as-of uses 699
        pipe = default_pipeline()
        batch = pipe.batch(eth, market=btc)
        assert_bits(batch.to_numpy(), run_online(pipe, eth, btc), pipe.names)
        assert_bits(batch.to_numpy(), run_online(pipe, eth, btc, market_first=False),
                    pipe.names)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(bars=bar_frames(), market=bar_frames())
    def test_every_kind_on_random_bars(self, bars, market):
        pipe = all_kinds_pipeline()
        assert {f.kind for f in pipe.features} == set(FEATURE_KINDS)
        batch = pipe.batch(bars, market=market).to_numpy()
        assert_bits(batch, run_online(pipe, bars, market), pipe.names)

    def test_online_accepts_engine_bars_series_and_dicts(self):
        btc = real("BTC", 260)
        pipe = default_pipeline(market=False)
        expected = pipe.batch(btc).to_numpy()[-1]
        feeds = {
            "dict": btc.to_dict("records"),
            "series": [row for _, row in btc.iterrows()],
            "Bar": [Bar("BTC/USDT", int(r["ts"]), int(r["ts"]) + HOUR, r["open"], r["high"],
                        r["low"], r["close"], r["volume"]) for r in btc.to_dict("records")],
        }
        for how, rows in feeds.items():
            online = pipe.online()
            for row in rows:
                last = online.update(row)
            assert last.tobytes() == expected.tobytes(), how
        assert online.as_dict(last)["ret_1"] == expected[0]

    def test_prime_then_continue_equals_batch(self):
        eth, btc = real("ETH", 400), real("BTC", 400)
        pipe = default_pipeline()
        online = pipe.online()
        online.prime(eth.iloc[:300], btc.iloc[:300])
        rows = []
        for i in range(300, 400):
            online.update_market(btc.iloc[i].to_dict())
            rows.append(online.update(eth.iloc[i].to_dict()))
        assert_bits(pipe.batch(eth, market=btc).to_numpy()[300:], np.array(rows), pipe.names)


class TestNoLookahead:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(cut=st.integers(150, 398), seed=st.integers(0, 2**32 - 1),
           holes=st.booleans())
    def test_mutating_the_future_leaves_the_past_identical(self, cut, seed, holes):
        eth, btc = real("ETH", 400), real("BTC", 400)
        pipe = default_pipeline()
        before = pipe.batch(eth, market=btc)
        rng = np.random.default_rng(seed)
        fut, mfut = eth.index > cut, btc["ts"] + HOUR > eth.loc[cut, "ts"] + HOUR
        for frame, rows in ((eth, fut), (btc, mfut)):
            for col in ("open", "high", "low", "close", "volume"):
                frame.loc[rows, col] *= rng.uniform(0.5, 2.0, int(rows.sum()))
            if holes:
                frame.loc[rows & (rng.random(len(frame)) < 0.1), "close"] = NAN
        after = pipe.batch(eth, market=btc)
        assert before.iloc[: cut + 1].to_numpy().tobytes() == \
            after.iloc[: cut + 1].to_numpy().tobytes()
        assert not before.iloc[cut + 1:].equals(after.iloc[cut + 1:])  # the mutation bit

    def test_market_bar_closing_after_the_bar_is_not_used(self):
        pipe = FeaturePipeline((Feature("m", "column", {"field": "close"}, source="market"),),
                               "1h", market_timeframe="4h")
        bars = pd.DataFrame({"ts": np.arange(8) * HOUR, "close": 1.0})
        market = pd.DataFrame({"ts": [0, 4 * HOUR], "close": [10.0, 20.0]})
        # the first 4h bar closes at 04:00 = close of the 03:00 1h bar
        assert np.array_equal(pipe.batch(bars, market=market)["m"].to_numpy(),
                              [NAN, NAN, NAN, 10.0, 10.0, 10.0, 10.0, 20.0], equal_nan=True)
        online = pipe.online()
        for m in market.to_dict("records"):
            online.update_market(m)  # fed early: must be held back until it has closed
        got = [online.update(r)[0] for r in bars.to_dict("records")]
        assert np.array_equal(got, [NAN, NAN, NAN, 10.0, 10.0, 10.0, 10.0, 20.0], equal_nan=True)


class TestPipelineSpec:
    def test_spec_round_trips_through_json(self):
        pipe = default_pipeline()
        spec = json.loads(json.dumps(pipe.spec()))
        again = FeaturePipeline.from_spec(spec)
        assert again == pipe and again.fingerprint() == pipe.fingerprint()
        assert spec["features"][0] == {"name": "ret_1", "kind": "ret", "params": {"horizon": 1},
                                       "lookback": 1, "source": "bars"}

    def test_fingerprint_tracks_every_field(self):
        base = FeaturePipeline((Feature("b", "bbands", {"output": "pctb"}),))
        assert base.features[0].param_dict == {"nbdev": 2.0, "output": "pctb", "period": 20}
        same = FeaturePipeline((Feature("b", "bbands", {"output": "pctb", "nbdev": 2}),))
        assert same.fingerprint() == base.fingerprint()  # 2 and 2.0 are one spec
        for other in (FeaturePipeline((Feature("b", "bbands", {"output": "width"}),)),
                      FeaturePipeline((Feature("b", "bbands", {"output": "pctb"}, 30),)),
                      FeaturePipeline((Feature("b", "bbands", {"output": "pctb"}),), "4h")):
            assert other.fingerprint() != base.fingerprint()

    def test_declared_lookback_extends_the_warmup(self):
        pipe = FeaturePipeline((Feature("r", "ret", {"horizon": 1}, lookback=5),))
        out = pipe.batch(real("BTC", 10))["r"]
        assert out.iloc[:5].isna().all() and out.iloc[5:].notna().all() and pipe.warmup == 5

    def test_features_are_hashable_and_select_keeps_order(self):
        pipe = default_pipeline()
        assert len({*pipe.features}) == len(pipe)
        sub = pipe.select(["rsi_14", "ret_1"])
        assert sub.names == ("ret_1", "rsi_14") and sub.warmup == 14

    def test_clean_data_has_no_nan_after_warmup_and_all_nan_before(self):
        btc, eth = real("BTC", 600), real("ETH", 600)
        out = default_pipeline().batch(eth, market=btc)
        w = default_pipeline().warmup
        assert out.iloc[:w].isna().all().all() and out.iloc[w:].notna().all().all()

    def test_multi_symbol_frame_is_computed_per_symbol(self):
        btc, eth = real("BTC", 300), real("ETH", 300)
        both = pd.concat([btc.assign(symbol="BTC/USDT"), eth.assign(symbol="ETH/USDT")])
        both = both.sort_values(["ts", "symbol"]).reset_index(drop=True)
        pipe = default_pipeline()
        out = pipe.batch(both, market=btc)
        for sym, frame in (("BTC/USDT", btc), ("ETH/USDT", eth)):
            rows = both["symbol"] == sym
            assert out[rows].to_numpy().tobytes() == pipe.batch(frame, market=btc).to_numpy().tobytes()


class TestErrors:
    @pytest.mark.parametrize("feature, message", [
        (Feature("x", "rsii"), "unknown feature kind 'rsii'; did you mean 'rsi'"),
        (Feature("x", "rsi", {"perod": 3}), "has no parameter 'perod'; did you mean 'period'"),
        (Feature("x", "ret"), "needs parameter(s) ['horizon']"),
        (Feature("x", "rsi", {"period": 0}), "period must be an integer >= 1"),
        (Feature("x", "rsi", {"period": 14}, lookback=3), "set lookback >= 14"),
        (Feature("x", "candle", {"shape": "wick"}), "shape must be one of"),
    ])
    def test_bad_declarations_say_what_to_do(self, feature, message):
        with pytest.raises(ConfigError, match=None) as err:
            FeaturePipeline((feature,))
        assert message in str(err.value) and "'x'" in str(err.value)

    def test_bad_feature_fields(self):
        with pytest.raises(ConfigError, match="not usable as a column name"):
            Feature("bad name", "rsi")
        with pytest.raises(ConfigError, match="finite JSON scalar"):
            Feature("x", "rsi", {"period": [14]})
        with pytest.raises(ConfigError, match="source must be one of"):
            Feature("x", "rsi", source="btc")
        with pytest.raises(ConfigError, match="duplicate feature name"):
            FeaturePipeline((Feature("x", "rsi"), Feature("x", "rsi", {"period": 3})))
        with pytest.raises(ConfigError, match="unknown key"):
            FeaturePipeline.from_spec({"timeframe": "1h", "features": [], "extra": 1})

    def test_bad_frames(self):
        pipe = default_pipeline()
        btc = real("BTC", 50)
        with pytest.raises(DataError, match="read a market frame; pass batch"):
            pipe.batch(btc)
        with pytest.raises(DataError, match="strictly increasing; row 2"):
            default_pipeline(market=False).batch(btc.iloc[[0, 1, 1, 2]])
        with pytest.raises(DataError, match="missing column"):
            default_pipeline(market=False).batch(btc.drop(columns="volume"))
        online = default_pipeline(market=False).online()
        online.update(btc.iloc[1].to_dict())
        with pytest.raises(DataError, match="not after the previous bar"):
            online.update(btc.iloc[0].to_dict())
        with pytest.raises(DataError, match="no field 'volume'"):
            online.update({"ts": 10**13, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0})
