"""A strategy sees exactly the streaming indicator values, bar by bar, with no look-ahead.

The engine feeds each indicator one closed bar at a time. These tests read the
value a strategy gets from ``ctx.indicator`` in ``on_bar`` on the real BTC/USDT
sample and check it bit for bit against the batch form at the same index (the
batch form at index i reads only bars 0..i, and batch == streaming is proven in
test_indicators.py), and that rewriting every later bar changes no earlier reading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.indicators.registry import INDICATORS
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.strategy.base import Strategy

SAMPLE = Path(__file__).resolve().parents[3] / "datasets" / "sample" / "binance" / "BTC-USDT_1h.parquet"
N = 1500

CASES = [
    ("sma", {"period": 20}),
    ("ema", {"period": 12}),
    ("wma", {"period": 10}),
    ("rsi", {"period": 14}),
    ("atr", {"period": 14}),
    ("bbands", {"period": 20}),
    ("macd", {}),
    ("stoch", {}),
    ("adx", {"period": 14}),
    ("obv", {}),
    ("donchian", {"period": 20}),
    ("keltner", {}),
    ("zscore", {"period": 30}),
    ("realized_vol", {"period": 24}),
    ("rolling_max", {"period": 24}),
]


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return pd.read_parquet(SAMPLE).iloc[:N].reset_index(drop=True)


def _seen_values(frame: pd.DataFrame, name: str, params: dict) -> list:
    class Reader(Strategy):
        def on_start(self, ctx):
            self.ind = ctx.indicator(name, **params)
            self.seen = []

        def on_bar(self, ctx, bar):
            value = self.ind.value
            self.seen.append(tuple(value) if isinstance(value, tuple) else (value,))

    strategy = Reader()
    data = BarArrays.from_columns(**{c: frame[c].to_numpy() for c in ("ts", "open", "high", "low", "close", "volume")})
    backtest_arrays(strategy, {"BTC/USDT": data}, timeframe="1h")
    return strategy.seen


def _batch_rows(frame: pd.DataFrame, name: str, params: dict) -> list:
    out = INDICATORS[name].compute(frame, **params)
    columns = list(out) if isinstance(out, tuple) else [out]
    return [tuple(float(c[i]) for c in columns) for i in range(len(frame))]


def _same(a: tuple, b: tuple) -> bool:
    return np.array(a, dtype=np.float64).tobytes() == np.array(b, dtype=np.float64).tobytes()


@pytest.mark.parametrize(("name", "params"), CASES, ids=[c[0] for c in CASES])
def test_strategy_reads_the_value_of_the_bar_it_is_handling(bars, name, params):
    seen = _seen_values(bars, name, params)
    batch = _batch_rows(bars, name, params)
    assert len(seen) == len(batch) == N
    first_bad = next((i for i, (s, b) in enumerate(zip(seen, batch)) if not _same(s, b)), None)
    assert first_bad is None, f"{name}: bar {first_bad} saw {seen[first_bad]}, batch has {batch[first_bad]}"
    assert any(np.isfinite(v).all() for v in seen), f"{name} never warmed up on {N} bars"


@pytest.mark.parametrize(("name", "params"), CASES[:6], ids=[c[0] for c in CASES[:6]])
def test_rewriting_later_bars_changes_no_earlier_reading(bars, name, params):
    cut = 900
    future = bars.copy()
    rng = np.random.default_rng(7)
    scale = rng.uniform(0.5, 1.5, size=N - cut)
    for column in ("open", "high", "low", "close"):
        future.loc[cut:, column] = bars.loc[cut:, column].to_numpy() * scale
    future.loc[cut:, "volume"] = bars.loc[cut:, "volume"].to_numpy()[::-1]
    before = _seen_values(bars, name, params)[:cut]
    after = _seen_values(future, name, params)[:cut]
    assert all(_same(a, b) for a, b in zip(before, after))
