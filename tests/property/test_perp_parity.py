"""The perpetual kernel (``engine.vector.perp_nb`` through ``perp_api.run_perp_targets``)
gives the event engine's run of the twin strategy (``perp_api.PerpTargetStrategy``):
the same fills (time, side, price, amount, fee, tag), the same equity rows, funding
payments, liquidations and margin events, and the same trades and metrics (hypothesis:
random walks with jumps that liquidate, random signed targets, leverage, margin mode,
bracket tables and funding).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.contracts import ContractSpec, LeverageBracket
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.vector.perp_api import PerpTargets, PerpTargetStrategy, run_perp_targets

S = "BTC/USDT:USDT"
H = 3_600_000
TABLES = {
    "one": (LeverageBracket(0.0, float("inf"), 50.0, 0.005, 0.0),),
    "tiers": (LeverageBracket(0.0, 5_000.0, 50.0, 0.004, 0.0),
              LeverageBracket(5_000.0, 50_000.0, 20.0, 0.01, 30.0),
              LeverageBracket(50_000.0, float("inf"), 5.0, 0.05, 2_030.0)),
}
# A cross liquidation can leave 0 equity: the step returns after it are NaN (by design).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in divide")

#: Market rules: none; Binance BTCUSDT-like (lot 0.001, min notional 100 at prices ~100, so
#: small adjustments are refused); a coarse lot with a minimum amount.
RULES = {
    "none": {"lot_step": None, "min_amount": 0.0, "min_notional": 0.0},
    "binance": {"lot_step": 0.001, "min_amount": 0.001, "min_notional": 100.0},
    "coarse": {"lot_step": 0.5, "min_amount": 1.0, "min_notional": 5.0},
}

FILL_COLUMNS = ["order_id", "ts", "side", "price", "amount", "fee", "tag", "fee_currency",
                "fee_cost"]


def walk(n: int, seed: int, jump: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.01, n)
    jumps = rng.random(n) < 0.04
    r[jumps] += rng.normal(0.0, jump, int(jumps.sum()))
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0.0, 0.002, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    return pd.DataFrame({"ts": np.arange(n, dtype=np.int64) * H, "open": open_, "high": high,
                         "low": low, "close": close, "volume": np.full(n, 1e6)})


def event_run(bars, targets, market, leverage, mode, funding):
    data = BarArrays.from_frame(bars)
    return backtest_arrays(PerpTargetStrategy(S, targets, leverage, mode), {S: data},
                           timeframe="1h", markets={S: market}, initial_cash=10_000.0,
                           funding={S: funding})


def assert_same(fast, event):
    pd.testing.assert_frame_equal(fast.fills[FILL_COLUMNS].reset_index(drop=True),
                                  event.fills[FILL_COLUMNS].reset_index(drop=True))
    pd.testing.assert_frame_equal(fast.equity, event.equity)
    assert fast.events == [e for e in event.events if e["kind"] in ("funding", "liquidation",
                                                                      "margin")]
    cols = [c for c in event.trades.columns if c != "trade_id"]
    pd.testing.assert_frame_equal(fast.trades[cols], event.trades[cols])
    assert fast.final_positions == event.final_positions
    for key, value in event.metrics.items():
        assert fast.metrics[key] == value or (np.isnan(value) and np.isnan(fast.metrics[key])), key


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 100_000),
    n=st.integers(20, 160),
    jump=st.sampled_from([0.0, 0.05, 0.15]),
    leverage=st.sampled_from([1.0, 2.0, 5.0, 20.0]),
    mode=st.sampled_from(["cross", "isolated"]),
    table=st.sampled_from(sorted(TABLES)),
    fee=st.sampled_from([0.0, 0.0005, 0.002]),
    density=st.floats(0.05, 0.6),
    funding_every=st.sampled_from([0, 1, 3, 8]),
    rules=st.sampled_from(sorted(RULES)),
)
def test_kernel_equals_event_engine(seed, n, jump, leverage, mode, table, fee, density,
                                   funding_every, rules):
    rng = np.random.default_rng(seed + 7)
    bars = walk(n, seed, jump)
    targets = np.full(n, np.nan)
    calls = rng.random(n) < density
    levels = rng.choice([0.0, 0.25, 0.5, 1.0, -0.25, -0.5, -1.0, 0.01, -0.003], size=n) * leverage
    targets[calls] = levels[calls]
    contract = ContractSpec(brackets=TABLES[table], liquidation_fee=0.0125)
    market = MarketSpec(S, tick_size=0.1, maker_fee=fee, taker_fee=fee, contract=contract,
                        **RULES[rules])
    if funding_every:
        at = np.arange(funding_every, n + 1, funding_every, dtype=np.int64) * H
        at = at + rng.integers(0, 2, at.size)  # on a close, or 1 ms after it
        marks = np.where(rng.random(at.size) < 0.3, np.nan,
                         100.0 * np.exp(rng.normal(0, 0.05, at.size)))
        funding = FundingRates.from_columns(ts=at, rate=rng.normal(0, 0.001, at.size), mark=marks)
    else:
        funding = FundingRates.from_columns(ts=[], rate=[])
    event = event_run(bars, targets, market, leverage, mode, funding)
    fast = run_perp_targets(bars, PerpTargets(targets, leverage, mode), market=market,
                            timeframe="1h", init_cash=10_000.0, funding=funding)
    assert_same(fast, event)
