"""Higher timeframes from the store (adapters.store.resample, DuckDB) are the engine's own
resampled bars (engine.run.resample), byte for byte, and a backtest at a timeframe the
store does not hold runs on them."""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.adapters.store.resample import read_bars_at, read_resampled, source_timeframe
from tradeloom.app.sample import load_sample
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays, bars_from_batches
from tradeloom.engine.run.resample import resample
from tradeloom.research.backtest import run_backtest
from tradeloom.research.strategies import SmaCross

H = 3_600_000


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> MarketStore:
    s = MarketStore(tmp_path_factory.mktemp("catalog"))
    load_sample(s)
    return s


def _engine_bars(store, exchange, symbols, timeframe):
    read = symbols[0] if len(symbols) == 1 else symbols
    base = bars_from_batches(store.iter_batches(exchange, "1h", read), H,
                             symbol=symbols[0] if len(symbols) == 1 else None)
    return resample(base, timeframe, "1h")


def _columns(bars):
    return {
        "ts": np.array([b.ts for b in bars], dtype=np.int64),
        "symbol": [b.symbol for b in bars],
        **{f: np.array([getattr(b, f) for b in bars], dtype=np.float64)
           for f in ("open", "high", "low", "close", "volume")},
    }


@pytest.mark.parametrize("timeframe", ["4h", "1d", "3d", "1w"])
@pytest.mark.parametrize(("exchange", "symbols"), [("coinbase", ["BTC/USD"]),
                                                   ("binance", ["BTC/USDT", "ETH/USDT"])])
def test_the_duckdb_resample_equals_the_engines_bar_for_bar(store, exchange, symbols, timeframe):
    engine = _columns(sorted(_engine_bars(store, exchange, symbols, timeframe),
                             key=lambda b: (b.ts, b.symbol)))
    table = read_resampled(store, exchange, timeframe, "1h", symbols)
    duck = table.to_pydict()
    assert len(engine["ts"]) == table.num_rows > 50
    assert np.asarray(duck["ts"], dtype=np.int64).tobytes() == engine["ts"].tobytes()
    assert duck["symbol"] == engine["symbol"]
    for field in ("open", "high", "low", "close", "volume"):
        assert np.asarray(duck[field], dtype=np.float64).tobytes() == engine[field].tobytes(), field


@pytest.mark.parametrize("timeframe", ["4h", "1d", "1w"])
def test_with_gaps_the_partial_bars_are_equal_too(store, tmp_path, timeframe):
    # the sample has no gaps: write a copy with 3 % of the hours (and a whole day) missing
    hours = store.read_bars("binance", "1h", "ETH/USDT")
    rng = np.random.default_rng(7)
    keep = (rng.random(len(hours)) > 0.03) & ~hours.ts.between(1_612_137_600_000, 1_612_224_000_000)
    gapped = MarketStore(tmp_path / "gapped")
    gapped.write_bars("binance", "1h", "ETH/USDT", hours[keep], source="test")
    engine = _columns(_engine_bars(gapped, "binance", ["ETH/USDT"], timeframe))
    duck = read_resampled(gapped, "binance", timeframe, "1h", "ETH/USDT").to_pydict()
    full = read_resampled(store, "binance", timeframe, "1h", "ETH/USDT").to_pydict()
    assert duck["volume"] != full["volume"]  # partial bars (less volume) are in the comparison
    for field in ("ts", "open", "high", "low", "close", "volume"):
        dtype = np.int64 if field == "ts" else np.float64
        assert np.asarray(duck[field], dtype=dtype).tobytes() == engine[field].tobytes(), field


def test_source_timeframe_is_none_when_stored_else_the_coarsest_that_builds_it(store):
    assert source_timeframe(store, "binance", "1h", ["BTC/USDT"]) is None
    assert source_timeframe(store, "binance", "4h", ["BTC/USDT", "ETH/USDT"]) == "1h"
    assert source_timeframe(store, "binance", "90m", ["BTC/USDT"]) is None  # not buildable


def test_a_backtest_at_a_timeframe_not_stored_runs_on_the_resampled_bars(store):
    res = run_backtest(SmaCross, "BTC/USDT", "4h", "2021-01-01", "2021-04-01",
                       {"fast": 5, "slow": 20}, store)
    assert res.manifest["config"]["resampled_from"] == "1h"
    assert [e["kind"] for e in res.events if e["kind"] != "dust"] == ["resample"]
    four = read_bars_at(store, "binance", "4h", ["BTC/USDT"], 1609459200000, 1617235200000)
    direct = backtest_arrays(SmaCross(fast=5, slow=20), BarArrays.from_frame(four),
                             symbol="BTC/USDT", timeframe="4h",
                             markets={"BTC/USDT": store.load_markets("binance")["BTC/USDT"]})
    assert res.trades.equals(direct.trades)
    assert res.equity.equals(direct.equity)
