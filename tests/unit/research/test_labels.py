"""Labels: forward returns, classes, triple barrier; t1; only bars after the close are used."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.indicators import registry as ind
from tradeloom.research.features.library import default_pipeline
from tradeloom.research.ml.labels import (
    LabelSpec,
    align_training,
    forward_class,
    forward_return,
    triple_barrier,
)

REPO = Path(__file__).resolve().parents[3]
HOUR = 3_600_000
NAN = math.nan

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    frame = pd.read_parquet(REPO / "datasets" / "sample" / "binance" / "BTC-USDT_1h.parquet")
    return frame.iloc[:1500].reset_index(drop=True)


def test_forward_return_matches_shift_and_t1_is_the_exit_close(btc):
    lab = forward_return(btc, 24)
    ref = btc["close"].shift(-24) / btc["close"] - 1.0
    np.testing.assert_array_equal(lab["ret"].to_numpy(), ref.to_numpy())
    assert lab["label"].equals(lab["ret"])
    t1 = lab["t1"].iloc[:-24].to_numpy(dtype=np.int64)
    np.testing.assert_array_equal(t1, btc["ts"].to_numpy()[24:] + HOUR)
    assert lab["t1"].iloc[-24:].isna().all() and lab["label"].iloc[-24:].isna().all()
    log = forward_return(btc, 3, log=True)["ret"]
    assert log.iloc[10] == math.log(btc.close[13] / btc.close[10])


def test_forward_class_thresholds(btc):
    r = forward_return(btc, 6)["ret"]
    tern = forward_class(btc, 6, 0.01)["label"]
    assert set(tern.dropna().unique()) == {-1.0, 0.0, 1.0}
    assert ((tern == 1) == (r > 0.01)).all() and ((tern == -1) == (r < -0.01)).all()
    binary = forward_class(btc, 6, 0.0, binary=True)["label"]
    assert ((binary == 1) == (r > 0)).all() and binary.iloc[-6:].isna().all()
    with pytest.raises(ConfigError, match="threshold must be >= 0"):
        forward_class(btc, 6, -0.1)


def _bars(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    """(high, low, close) rows at 1-minute spacing."""
    h, lo, c = zip(*rows, strict=True)
    return pd.DataFrame({"ts": np.arange(len(rows)) * 60_000, "high": h, "low": lo, "close": c})


# vol_window=2 on closes 100, 100, 100 would give sigma 0 (no barrier width): the first two
# steps (+1%, -1%) give sigma = 0.01407 (sample std), so over horizon 2 the barriers sit
# sigma * sqrt(2) = 1.99% away in log terms: take-profit 102.01, stop-loss 98.03.
WARM = [(100.0, 100.0, 100.0), (101.0, 100.0, 101.0), (101.0, 100.0, 100.0)]


@pytest.mark.parametrize("future, label, barrier, note", [
    ([(101.0, 99.9, 100.5), (102.5, 100.0, 101.0)], 1.0, 1, "high 102.5 > 102.01 on bar 2"),
    ([(100.2, 98.0, 99.0), (103.0, 99.0, 101.0)], -1.0, -1, "low 98 < 98.03 first"),
    ([(103.0, 97.0, 100.0), (100.0, 100.0, 100.0)], -1.0, -1, "both in one bar: the stop wins"),
    ([(100.5, 99.5, 100.2), (100.6, 99.6, 100.3)], 0.0, 0, "neither: the time limit"),
])
def test_triple_barrier_scenarios(future, label, barrier, note):
    lab = triple_barrier(_bars(WARM + future), 2, pt_mult=1.0, sl_mult=1.0, vol_window=2,
                         timeframe="1m")
    assert lab.at[2, "label"] == label and lab.at[2, "barrier"] == barrier, note
    assert lab["label"].iloc[:2].isna().all()  # volatility warming up
    assert lab["label"].iloc[3:].isna().all()  # horizon runs past the data


def test_triple_barrier_options_and_returns():
    bars = _bars(WARM + [(103.0, 97.0, 100.0), (100.0, 100.0, 100.0)])
    tp = triple_barrier(bars, 2, pt_mult=1.0, sl_mult=1.0, vol_window=2, timeframe="1m", tie="tp")
    assert tp.at[2, "label"] == 1.0 and tp.at[2, "t1"] == 3 * 60_000 + 60_000
    sigma = ind.realized_vol(bars["close"].to_numpy(), 2)[2]
    assert tp.at[2, "ret"] == pytest.approx(math.exp(sigma * math.sqrt(2)) - 1.0, rel=1e-12)
    quiet = _bars(WARM + [(100.5, 99.5, 100.2), (100.6, 99.6, 100.3)])
    sign = triple_barrier(quiet, 2, pt_mult=1.0, sl_mult=1.0, vol_window=2, timeframe="1m",
                          vertical="sign")
    assert sign.at[2, "label"] == 1.0 and sign.at[2, "ret"] == pytest.approx(0.003)
    no_sl = triple_barrier(_bars(WARM + [(100.2, 50.0, 60.0), (100.0, 50.0, 60.0)]), 2,
                           pt_mult=1.0, sl_mult=None, vol_window=2, timeframe="1m", binary=True)
    assert no_sl.at[2, "barrier"] == 0 and no_sl.at[2, "label"] == 0.0


def test_triple_barrier_on_real_data_has_all_outcomes_and_t1_after_the_bar(btc):
    lab = triple_barrier(btc, 24, pt_mult=1.5, sl_mult=1.5, vol_window=48)
    ok = lab["label"].notna()
    assert set(lab.loc[ok, "barrier"].unique()) == {-1, 0, 1}
    t1 = lab.loc[ok, "t1"].to_numpy(dtype=np.int64)
    close = btc["ts"].to_numpy() + HOUR
    rows = np.flatnonzero(ok.to_numpy())
    assert (t1 > close[rows]).all() and (t1 <= close[rows + 24]).all()  # horizon counts bars


@settings(max_examples=30, deadline=None)
@given(t=st.integers(60, 1400), seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(
    ["forward", "barrier"]))
def test_label_depends_only_on_its_window_after_the_close(btc, t, seed, kind):
    """Mutating bar t's own high/low, and every bar after the label's end, changes nothing."""
    def label(frame):
        if kind == "forward":
            return forward_return(frame, 12)
        return triple_barrier(frame, 12, pt_mult=1.0, sl_mult=1.0, vol_window=48)
    before = label(btc)
    if pd.isna(before.at[t, "t1"]):
        return
    end = int(np.searchsorted(btc["ts"].to_numpy() + HOUR, int(before.at[t, "t1"])))
    rng = np.random.default_rng(seed)
    mutated = btc.copy()
    mutated.loc[t, "high"] *= 1.5
    mutated.loc[t, "low"] *= 0.5
    after_end = mutated.index > end
    for col in ("high", "low", "close"):
        mutated.loc[after_end, col] *= rng.uniform(0.5, 2.0, int(after_end.sum()))
    again = label(mutated)
    assert again.loc[t].equals(before.loc[t])


def test_label_spec_round_trip_and_errors(btc):
    spec = LabelSpec("triple_barrier", {"horizon": 24, "pt_mult": 2.0, "sl_mult": 1.0})
    again = LabelSpec.from_spec(json.loads(json.dumps(spec.spec())))
    assert again == spec and again.fingerprint() == spec.fingerprint()
    assert spec.compute(btc).equals(triple_barrier(btc, 24, pt_mult=2.0, sl_mult=1.0))
    with pytest.raises(ConfigError, match="did you mean 'triple_barrier'"):
        LabelSpec("tripple_barrier")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        LabelSpec("forward_return", {"horizon": 3, "hrizon": 2}).compute(btc)
    with pytest.raises(DataError, match="strictly increasing"):
        forward_return(btc.iloc[[0, 2, 1]], 1)


def test_align_training_drops_warmup_holes_and_unlabelled_rows(btc):
    bars = btc.iloc[:600].copy()
    bars.loc[300, "close"] = NAN
    feats = default_pipeline(market=False).batch(bars)
    labels = forward_class(bars, 24, 0.0, binary=True)
    ts = align_training(feats, labels, bars["ts"])
    assert len(ts) > 150 and not ts.X.isna().any().any() and not np.isnan(ts.y).any()
    assert ts.index.min() == default_pipeline().warmup and ts.index.max() == 600 - 25
    assert 300 not in ts.index and (ts.t1 > ts.t0).all()
    np.testing.assert_array_equal(ts.t0, bars.loc[ts.index, "ts"].to_numpy())
