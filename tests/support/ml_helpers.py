"""Shared pieces of the ML tests: a sample catalog and small, fast training configs.

The sample (real Binance 1h bars) is loaded once per test module into a temp
catalog; configs train on two months of BTC/USDT + ETH/USDT with 30 trees, so a
whole train (CV + fold backtests + final fit) takes a couple of seconds.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.research.ml.config import RetrainConfig, TrainConfig

SYMBOLS = ["BTC/USDT", "ETH/USDT"]
BASE: dict[str, Any] = {
    "name": "btc_dir",
    "data": {"symbols": SYMBOLS, "start": "2021-01-01", "end": "2021-03-01"},
    "label": {"kind": "forward_class", "params": {"horizon": 12, "threshold": 0.0,
                                                    "binary": True}},
    "model": {"kind": "lightgbm", "params": {"n_estimators": 30, "num_leaves": 7}, "seed": 7},
    "cv": {"n_splits": 2},
}


def sample_store(root: Path) -> MarketStore:
    """A store at ``root`` holding the bundled sample."""
    store = MarketStore(root)
    load_sample(store)
    return store


def train_dict(**over: Any) -> dict[str, Any]:
    """The base train config as a dict, top-level keys replaced by ``over``."""
    d = copy.deepcopy(BASE)
    d.update(copy.deepcopy(over))
    return d


def train_config(**over: Any) -> TrainConfig:
    return TrainConfig.model_validate(train_dict(**over))


def retrain_config(end: str = "2021-04-01", holdout_bars: int = 300, **over: Any
                   ) -> RetrainConfig:
    """A retrain over [2021-01-01, end) with the last ``holdout_bars`` bars held out."""
    t = train_dict()
    t["data"]["end"] = end
    return RetrainConfig.model_validate({"train": t, "holdout_bars": holdout_bars, **over})
