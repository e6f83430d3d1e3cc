"""Online confidence inside a backtest equals batch confidence on the same bars, bit for bit.

The model is trained and registered for real; the backtest runs the event engine
over bars streamed from the store, with ``ConfidenceSized`` computing features
and predictions bar by bar through a ``ModelBook``. The batch side scores the
same bars (same first bar, so recursive features start alike) in one call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ml_helpers import SYMBOLS, sample_store, train_config
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeutil import parse_utc_ms
from tradeloom.research.backtest import run_backtest
from tradeloom.research.ml.confidence import ModelBook, as_array
from tradeloom.research.ml.registry import ModelRegistry
from tradeloom.research.strategies.ml_confidence import ConfidenceSized
from tradeloom.research.ml.training import train

START, END = "2021-03-01", "2021-04-01"


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
    strat = ConfidenceSized(model=ref, catalog=str(root), record=True, threshold=0.5)
    res = run_backtest(strat, symbols, "1h", START, END, store=store)
    online = as_array(strat.book.records)
    cm = reg.load(ref)
    lo, hi = parse_utc_ms(START), parse_utc_ms(END)
    bars = store.read_bars("binance", "1h", symbols, lo, hi)
    market = store.read_bars("binance", "1h", "BTC/USDT", lo, hi) if cm.pipeline.needs_market \
        else None
    batch = pd.DataFrame({"symbol": bars["symbol"].astype(object), "ts": bars["ts"],
                          "batch": cm.batch(bars, market).to_numpy()})
    merged = online.merge(batch, on=["symbol", "ts"], how="outer", validate="one_to_one")
    return res, merged


class TestConfidenceParity:
    def test_lightgbm_with_market_features(self, catalog):
        res, merged = _online_vs_batch(catalog, "btc_dir@champion", SYMBOLS)
        assert merged["confidence"].size == merged["batch"].size > 1400  # every bar, both sides
        assert merged["confidence"].notna().sum() > 1000  # past warm-up, real predictions
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
    """Without catalog=/record=, ConfidenceSized reads ctx.confidence from the run's catalog."""
    root, store, _ = catalog
    explicit = run_backtest(ConfidenceSized(model="eth_lin", catalog=str(root), threshold=0.3),
                            ["ETH/USDT"], "1h", START, END, store=store)
    default = run_backtest("research/strategies/ml_confidence.py:ConfidenceSized", ["ETH/USDT"],
                           "1h", START, END, {"model": "eth_lin", "threshold": 0.3}, store=store)
    assert default.metrics["n_trades"] + default.metrics["n_open_trades"] > 0
    assert default.trades.equals(explicit.trades) and default.equity.equals(explicit.equity)
