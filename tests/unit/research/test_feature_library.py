"""The default feature library: size, families, ranges, hand-checked values, cross-asset join."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.engine.indicators import registry as ind
from tradeloom.research.features.library import FAMILIES, MARKET_FAMILY, default_pipeline

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "datasets" / "sample" / "binance"
HOUR = 3_600_000

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    btc = pd.read_parquet(SAMPLE / "BTC-USDT_1h.parquet").iloc[:1000].reset_index(drop=True)
    eth = pd.read_parquet(SAMPLE / "ETH-USDT_1h.parquet").iloc[:1000].reset_index(drop=True)
    return btc, eth, default_pipeline().batch(eth, market=btc)


def test_at_least_100_features_in_every_promised_family():
    pipe = default_pipeline()
    assert len(pipe) >= 100 and len(set(pipe.names)) == len(pipe)
    families = set(FAMILIES)
    assert {"returns", "log_returns", "realized_vol", "parkinson", "garman_klass", "rsi", "atr",
            "bollinger", "macd", "stochastic", "adx", "donchian", "keltner", "zscore_close",
            "zscore_volume", "vwap", "candle", "rank", "calendar"} <= families
    assert pipe.warmup == max(f.lookback for f in pipe.features) == 199
    assert sum(f.source == "market" for f in pipe.features) == len(MARKET_FAMILY) >= 5
    assert len(default_pipeline(market=False)) == len(pipe) - len(MARKET_FAMILY)


def test_values_against_direct_computations(frames):
    _, eth, out = frames
    c, h, lo, o = (eth[k].to_numpy() for k in ("close", "high", "low", "open"))
    i = 800
    assert out.at[i, "ret_24"] == c[i] / c[i - 24] - 1.0
    assert out.at[i, "logret_1"] == math.log(c[i] / c[i - 1])
    assert out.at[i, "rsi_14"] == ind.rsi(c, 14)[i]
    assert out.at[i, "atr_pct_14"] == ind.atr(h, lo, c, 14)[i] / c[i]
    pk = math.sqrt(np.mean([math.log(h[j] / lo[j]) ** 2 for j in range(i - 23, i + 1)])
                   / (4 * math.log(2)))
    assert out.at[i, "parkinson_24"] == pytest.approx(pk, rel=1e-12)  # mean order differs
    assert out.at[i, "candle_body"] == (c[i] - o[i]) / (h[i] - lo[i])
    window = c[i - 23:i + 1]
    assert out.at[i, "close_rank_24"] == (window <= c[i]).sum() / 24
    hour = (eth.at[i, "ts"] % 86_400_000) / HOUR
    assert out.at[i, "hour_sin"] == pytest.approx(math.sin(2 * math.pi * hour / 24), abs=1e-15)
    weekday = pd.Timestamp(eth.at[i, "ts"], unit="ms").weekday()
    phase = (weekday + hour / 24) / 7  # continuous time of week, Monday 00:00 UTC = 0
    assert out.at[i, "weekday_cos"] == pytest.approx(math.cos(2 * math.pi * phase), abs=1e-12)


def test_ranges(frames):
    _, _, out = frames
    body = out.iloc[default_pipeline().warmup:]
    for col in [c for c in body if c.startswith(("rsi_", "stoch_", "adx_"))]:
        assert body[col].between(0, 100).all(), col
    for col in [c for c in body if "rank" in c]:
        assert ((body[col] > 0) & (body[col] <= 1)).all(), col
    for col in ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos"):
        assert body[col].between(-1, 1).all()
    for col in ("candle_upper_wick", "candle_lower_wick", "candle_range"):
        assert (body[col] >= 0).all()
    assert body["candle_body"].abs().le(1).all() and body["donchian_pos_20"].between(0, 1).all()


def test_btc_is_the_market_factor_as_of_close_time(frames):
    btc, eth, out = frames
    btc_own = default_pipeline(market=False).batch(btc)
    assert out["mkt_ret_24"].iloc[300:].to_numpy().tobytes() == \
        btc_own["ret_24"].iloc[300:].to_numpy().tobytes()  # same clock: same bar's BTC value
    # a 4h market frame: each 1h bar sees the last 4h bar that closed at or before its close
    btc4 = btc.assign(g=btc["ts"] // (4 * HOUR)).groupby("g").agg(
        ts=("ts", "first"), open=("open", "first"), high=("high", "max"), low=("low", "min"),
        close=("close", "last"), volume=("volume", "sum")).reset_index(drop=True)
    pipe = default_pipeline(market_timeframe="4h")
    got = pipe.batch(eth, market=btc4)["mkt_ret_1"]
    ret4 = btc4["close"] / btc4["close"].shift(1) - 1
    for i in (400, 401, 402, 403, 777):
        close = eth.at[i, "ts"] + HOUR
        j = int(np.flatnonzero(btc4["ts"] + 4 * HOUR <= close)[-1])
        assert got.iloc[i] == ret4.iloc[j]


def test_works_on_bars_read_through_the_store(tmp_path):
    store = MarketStore(tmp_path / "store")
    load_sample(store)
    bars = store.read_bars("binance", "1h", ["BTC/USDT", "SOL/USDT"], start=None, end=None)
    btc = bars[bars["symbol"] == "BTC/USDT"]
    out = default_pipeline().batch(bars, market=btc)
    assert out.index.equals(bars.index)
    sol = bars["symbol"] == "SOL/USDT"
    assert out[sol].iloc[default_pipeline().warmup:].notna().mean().mean() > 0.99
