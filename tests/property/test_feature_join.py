"""As-of joins of user data (funding-like Parquet in tmp_path): never past the bar's close."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.errors import DataError
from tradeloom.research.features.join import asof_join
from tradeloom.research.features.pipeline import Feature, FeaturePipeline

REPO = Path(__file__).resolve().parents[2]
HOUR = 3_600_000
EIGHT_H = 8 * HOUR


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    frame = pd.read_parquet(REPO / "datasets" / "sample" / "binance" / "BTC-USDT_1h.parquet")
    return frame.iloc[:500].reset_index(drop=True)


@pytest.fixture()
def funding_path(tmp_path: Path, btc: pd.DataFrame) -> Path:
    """Funding-like series: every 8h from the first bar, some stamps off-grid by a minute."""
    ts = np.arange(btc["ts"].iloc[0], btc["ts"].iloc[-1] + EIGHT_H, EIGHT_H)
    ts[3::5] += 60_000
    rates = np.round(np.sin(np.arange(ts.size)) * 1e-4, 8)
    path = tmp_path / "funding.parquet"
    pd.DataFrame({"ts": ts, "funding_rate": rates}).to_parquet(path)
    return path


def reference(bars: pd.DataFrame, extra: pd.DataFrame, delay: int = 0) -> np.ndarray:
    """Brute force: latest value with ts + delay <= bar close."""
    out = np.full(len(bars), np.nan)
    for i, t in enumerate(bars["ts"].to_numpy() + HOUR):
        ok = np.flatnonzero(extra["ts"].to_numpy() + delay <= t)
        if ok.size:
            out[i] = extra["funding_rate"].to_numpy()[ok[-1]]
    return out


def test_funding_parquet_matches_the_brute_force_reference(btc, funding_path):
    extra = pd.read_parquet(funding_path)
    got = asof_join(btc, funding_path, timeframe="1h")
    assert got.index.equals(btc.index) and list(got.columns) == [*btc.columns, "funding_rate"]
    np.testing.assert_array_equal(got["funding_rate"].to_numpy(), reference(btc, extra))
    # the funding stamped exactly at a bar's close is known at that close, not before
    i = int(np.flatnonzero(btc["ts"].to_numpy() + HOUR == extra["ts"].iloc[1])[0])
    assert got.at[i, "funding_rate"] == extra["funding_rate"].iloc[1]
    assert got.at[i - 1, "funding_rate"] == extra["funding_rate"].iloc[0]


def test_delay_staleness_age_and_prefix(btc, funding_path):
    extra = pd.read_parquet(funding_path)
    got = asof_join(btc, funding_path, delay_ms=HOUR, prefix="f_", age_column="f_age_ms")
    np.testing.assert_array_equal(got["f_funding_rate"].to_numpy(), reference(btc, extra, HOUR))
    assert (got["f_age_ms"].dropna() >= 0).all() and got["f_age_ms"].max() < EIGHT_H + 60_000
    full = asof_join(btc, funding_path, age_column="age")
    stale = asof_join(btc, funding_path, max_age_ms=2 * HOUR)
    fresh = (full["age"] <= 2 * HOUR).to_numpy()
    assert stale["funding_rate"][~fresh].isna().all() and 0 < fresh.sum() < len(btc)
    assert stale["funding_rate"][fresh].equals(full["funding_rate"][fresh])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offsets=st.lists(st.integers(-5 * HOUR, 30 * HOUR), min_size=1, max_size=40, unique=True),
       delay=st.integers(0, 3 * HOUR))
def test_never_uses_a_value_known_after_the_close(offsets, delay):
    bars = pd.DataFrame({"ts": np.arange(24, dtype=np.int64) * HOUR, "close": 1.0})
    extra = pd.DataFrame({"ts": np.array(sorted(offsets), dtype=np.int64)})
    extra["funding_rate"] = np.arange(len(extra), dtype=np.float64)
    got = asof_join(bars, extra.sample(frac=1.0, random_state=0), delay_ms=delay,
                    age_column="age")
    np.testing.assert_array_equal(got["funding_rate"].to_numpy(), reference(bars, extra, delay))
    assert (got["age"].dropna() >= 0).all()


def test_per_symbol_series_timestamp_ts_and_callers_connection(btc):
    bars = pd.concat([btc.assign(symbol="A"), btc.assign(symbol="B")], ignore_index=True)
    extra = pd.DataFrame({"symbol": ["A", "B", "A"],
                          "ts": pd.to_datetime([btc.ts[0], btc.ts[0], btc.ts[10]], unit="ms"),
                          "oi": [1.0, 2.0, 3.0]})
    with duckdb.connect() as con:
        got = asof_join(bars, extra, by="symbol", con=con)
        assert con.execute("SELECT 1").fetchone() == (1,)  # still the caller's, still open
    a, b = got[got.symbol == "A"]["oi"].to_numpy(), got[got.symbol == "B"]["oi"].to_numpy()
    assert a[0] == 1.0 and a[9] == 3.0 and a[8] == 1.0 and (b == 2.0).all()


def test_joined_column_feeds_the_pipeline_batch_and_online(btc, funding_path):
    joined = asof_join(btc, funding_path)
    pipe = FeaturePipeline((Feature("funding", "column", {"field": "funding_rate"}),
                            Feature("funding_z", "zscore", {"field": "funding_rate", "period": 9}),
                            Feature("ret_1", "ret", {"horizon": 1})))
    batch = pipe.batch(joined).to_numpy()
    online = pipe.online()
    rows = np.array([online.update(r) for r in joined.to_dict("records")])
    assert batch.tobytes() == rows.tobytes()


def test_errors_say_what_to_fix(btc, funding_path, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        asof_join(btc, tmp_path / "nope.parquet")
    with pytest.raises(DataError, match="did you mean 'funding_rate'"):
        asof_join(btc, funding_path, columns=["funding_rat"])
    with pytest.raises(DataError, match="duplicated; pass prefix="):
        asof_join(btc, pd.DataFrame({"ts": [0], "close": [1.0]}))
    with pytest.raises(DataError, match="duplicate ts"):
        asof_join(btc, pd.DataFrame({"ts": [0, 0], "x": [1.0, 2.0]}))
    with pytest.raises(DataError, match="needs column"):
        asof_join(btc, pd.DataFrame({"time": [0], "x": [1.0]}))
