"""Online confidence inside a backtest equals batch confidence on the same bars, bit for bit.

The model is trained and registered for real; the backtest runs the event engine
over bars streamed from the store, with ``ConfidenceSized`` computing features
and predictions bar by bar through a ``ModelBook``, primed on the bars before the
start (``research.ml.warmup``). The batch side scores the same bars (the same
first bar, the first warm-up bar, so recursive features start alike) in one call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ml_helpers import SYMBOLS, sample_store, train_config

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.orders import Bar
from tradeloom.engine.run.backtest import build_engine
from tradeloom.engine.timeutil import parse_utc_ms
from tradeloom.research.backtest import run_backtest
from tradeloom.research.ml.confidence import ModelBook, as_array
from tradeloom.research.ml.registry import ModelRegistry
from tradeloom.research.ml.training import train
from tradeloom.research.ml.warmup import StoreHistory, warmup_bars
from tradeloom.research.strategies.ml_confidence import ConfidenceSized

START, END = "2021-03-01", "2021-04-01"
HOUR = 3_600_000


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    store = sample_store(root)
    reg = ModelRegistry(root)
    train(train_config(), store, reg, created_at=1)  # default pipeline, with market features
    train(train_config(name="eth_lin", pipeline={"market": False},
                       model={"kind": "logistic", "calibration": "sigmoid"}),
          store, reg, created_at=1)
    return root, store, reg


def _online_vs_batch(catalog, ref, symbols):
    root, store, reg = catalog
    strat = ConfidenceSized(model=ref, record=True, threshold=0.5)
    res = run_backtest(strat, symbols, "1h", START, END, store=store)
    online = as_array(strat.records)
    cm = reg.load(ref)
    # the batch starts where the online features did: at the first warm-up bar
    lo, hi = parse_utc_ms(START) - warmup_bars(cm) * HOUR, parse_utc_ms(END)
    bars = store.read_bars("binance", "1h", symbols, lo, hi)
    market = store.read_bars("binance", "1h", "BTC/USDT", lo, hi) if cm.pipeline.needs_market \
        else None
    batch = pd.DataFrame({"symbol": bars["symbol"].astype(object), "ts": bars["ts"],
                          "batch": cm.batch(bars, market).to_numpy()})
    batch = batch[batch["ts"] >= parse_utc_ms(START)]
    merged = online.merge(batch, on=["symbol", "ts"], how="outer", validate="one_to_one")
    return res, merged


class TestConfidenceParity:
    def test_lightgbm_with_market_features(self, catalog):
        res, merged = _online_vs_batch(catalog, "btc_dir@champion", SYMBOLS)
        assert merged["confidence"].size == merged["batch"].size > 1400  # every bar, both sides
        assert merged["confidence"].notna().all()  # primed: a real prediction on every bar
        assert np.array_equal(merged["confidence"].to_numpy(), merged["batch"].to_numpy(),
                              equal_nan=True)
        assert res.metrics["n_trades"] + res.metrics["n_open_trades"] > 0  # it traded on them

    def test_logistic_without_market_features(self, catalog):
        _, merged = _online_vs_batch(catalog, "eth_lin@1", ["ETH/USDT"])
        assert np.array_equal(merged["confidence"].to_numpy(), merged["batch"].to_numpy(),
                              equal_nan=True)

    def test_market_symbol_must_be_in_the_run(self, catalog):
        _, _, reg = catalog
        with pytest.raises(ConfigError, match="add BTC/USDT to the run's symbols"):
            ModelBook(reg, ["ETH/USDT"]).require("btc_dir@1")

    def test_symbols_sorting_before_the_market_symbol_are_refused(self, catalog):
        _, _, reg = catalog
        with pytest.raises(ConfigError, match=r"\['ADA/USDT'\] sort before"):
            ModelBook(reg, ["ADA/USDT", "BTC/USDT"]).require("btc_dir@1")


def test_the_runs_own_registry_serves_ctx_confidence_like_an_explicit_book(catalog):
    """Without catalog=, ConfidenceSized reads ctx.confidence from the run's catalog, primed
    exactly as an explicit book over the same registry and warm-up history."""
    root, store, reg = catalog
    book = ModelBook(reg, ["ETH/USDT"],
                     history=StoreHistory(store, "binance", "1h", parse_utc_ms(START)))
    explicit = run_backtest(ConfidenceSized(model="eth_lin", threshold=0.3),
                            ["ETH/USDT"], "1h", START, END, store=store, models=book)
    default = run_backtest("research/strategies/ml_confidence.py:ConfidenceSized", ["ETH/USDT"],
                           "1h", START, END, {"model": "eth_lin", "threshold": 0.3}, store=store)
    assert default.metrics["n_trades"] + default.metrics["n_open_trades"] > 0
    assert default.trades.equals(explicit.trades) and default.equity.equals(explicit.equity)


class TestWarmup:
    def test_the_first_decision_is_on_the_first_bar_after_the_start(self, catalog):
        """Primed on the 399 bars before the start, the model has a confidence on the first
        bar; with threshold 0 the strategy buys on it (the order is placed at that bar's
        close and fills at the next open): no ~200 flat bars."""
        _, store, reg = catalog
        strat = ConfidenceSized(model="btc_dir@champion", record=True, threshold=0.0)
        res = run_backtest(strat, SYMBOLS, "1h", START, END, store=store)
        first = {sym: conf for _, sym, ts, conf in strat.records if ts == parse_utc_ms(START)}
        assert set(first) == set(SYMBOLS) and all(0.0 < c < 1.0 for c in first.values())
        assert warmup_bars(reg.load("btc_dir@champion")) == 2 * 199 + 1
        first_bar_close = parse_utc_ms(START) + HOUR
        assert int(res.orders["created_ts"].min()) == first_bar_close

    def test_an_own_catalog_book_starts_cold(self, catalog):
        """catalog= gives the strategy its own book, fed from the first bar of the run only:
        the default library needs 199 bars before its first prediction."""
        root, store, _ = catalog
        strat = ConfidenceSized(model="btc_dir@champion", catalog=str(root), record=True)
        run_backtest(strat, SYMBOLS, "1h", START, END, store=store)
        btc = [conf for _, sym, _, conf in strat.records if sym == "BTC/USDT"]
        assert np.isnan(btc[:199]).all() and not np.isnan(btc[199])


def bars_of(frame):
    """Stored rows as engine bars, in the engine's order (close time, then symbol)."""
    rows = frame.sort_values(["ts", "symbol"]).itertuples()
    return [Bar(str(r.symbol), int(r.ts), int(r.ts) + HOUR, float(r.open), float(r.high),
                float(r.low), float(r.close), float(r.volume)) for r in rows]


def test_a_live_warm_up_primes_the_models_like_a_backtest(catalog):
    """Live, the strategy's own-catalog book has no stored history: the runner's warm-up
    (``Engine.warmup_bars`` then ``Engine.prime``, as ``adapters.live.runner`` does) feeds
    it the 399 bars before the start, so its first confidence is the backtest's, bit for
    bit, instead of NaN for ~200 bars."""
    root, store, reg = catalog
    ref = "btc_dir@champion"
    start = parse_utc_ms(START)
    strat = ConfidenceSized(model=ref, catalog=str(root), record=True, threshold=0.0)
    engine = build_engine(strat, symbols=SYMBOLS, timeframe="1h")
    engine.start(start)
    need = engine.warmup_bars()
    assert need == warmup_bars(reg.load(ref)) == 399  # the model's need, not the strategy's 0
    warm = store.read_bars("binance", "1h", SYMBOLS, start - need * HOUR, start)
    for bar in bars_of(warm):
        engine.prime(bar)
    for bar in bars_of(store.read_bars("binance", "1h", SYMBOLS, start, start + HOUR)):
        engine.step(bar)
    live_first = {sym: conf for _, sym, ts, conf in strat.records if ts == start}

    backtested = ConfidenceSized(model=ref, record=True, threshold=0.0)
    run_backtest(backtested, SYMBOLS, "1h", START, END, store=store)  # StoreHistory-primed
    backtest_first = {sym: conf for _, sym, ts, conf in backtested.records if ts == start}
    assert set(live_first) == set(SYMBOLS)
    assert all(0.0 < c < 1.0 for c in live_first.values())
    assert live_first == backtest_first
