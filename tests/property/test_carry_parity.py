"""The carry kernel (``engine.vector.carry_nb`` through ``carry_api.run_carry``) gives the
event engine's run of ``FundingCarry``: the same fills (order id, symbol, time, side,
price, amount, fee, fee currency and cost, tag), the same equity rows, funding payments,
liquidations, margin and dust events, trades, final positions and metrics, all exactly
(the kernel repeats the engine's float operations in the same order; no tolerance).

Hypothesis draws random paths for both legs (the spot leg off the perpetual by a
drifting basis, jumps that liquidate the short), funding rates around the entry and
exit thresholds (on a close or 1 ms after it, with and without a mark), the params, the
fee sides of the spot market, the exchange rules of both markets and which leg's bars
come first at a close (the symbols' names).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as event_label
from hypothesis import strategies as st

from tradeloom.engine.contracts import ContractSpec, LeverageBracket
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.vector.form import VectorBars
from tradeloom.engine.vector.run_form import form_of, run_form
from tradeloom.research.strategies.funding_carry import FundingCarry

H = 3_600_000
#: Spot first ("BTC/USDT" < "BTC/USDT:USDT") or the perpetual first ("AAA/USDT:USDT").
PAIRS = {"spot_first": ("BTC/USDT", "BTC/USDT:USDT"), "perp_first": ("BTC/USDT", "AAA/USDT:USDT")}
TABLES = {
    "one": (LeverageBracket(0.0, float("inf"), 50.0, 0.005, 0.0),),
    "tiers": (LeverageBracket(0.0, 5_000.0, 50.0, 0.004, 0.0),
              LeverageBracket(5_000.0, 50_000.0, 20.0, 0.01, 30.0),
              LeverageBracket(50_000.0, float("inf"), 5.0, 0.05, 2_030.0)),
}
#: Exchange rules (spot, perpetual): none; Binance-like (a finer spot lot, so a base fee
#: leaves dust); coarse lots and minimums that reject small orders.
RULES = {
    "none": ({}, {}),
    "binance": ({"lot_step": 0.00001, "min_amount": 0.00001, "min_notional": 5.0},
                {"lot_step": 0.001, "min_amount": 0.001, "min_notional": 100.0}),
    "coarse": ({"lot_step": 0.5, "min_amount": 1.0, "min_notional": 50.0},
               {"lot_step": 0.25, "min_amount": 0.5, "min_notional": 20.0}),
}
FILL_COLUMNS = ["order_id", "symbol", "ts", "side", "price", "amount", "fee", "tag",
                "fee_currency", "fee_cost"]
KINDS = ("funding", "liquidation", "margin", "dust")
# A liquidation can leave 0 equity: the step returns after it are NaN (by design).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in divide")


def legs(n: int, seed: int, jump: float, basis: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The perpetual's bars (a random walk with jumps) and the spot's (the perpetual's
    closes times a drifting basis, their own opens and extremes)."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.01, n)
    jumps = rng.random(n) < 0.05
    r[jumps] += np.abs(rng.normal(0.0, jump, int(jumps.sum())))  # rallies: they hurt the short
    frames = []
    perp_close = 100.0 * np.exp(np.cumsum(r))
    spot_close = perp_close * np.exp(np.cumsum(rng.normal(0.0, basis, n)))
    for close in (perp_close, spot_close):
        open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0.0, 0.002, n))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
        frames.append(pd.DataFrame({"ts": np.arange(n, dtype=np.int64) * H, "open": open_,
                                    "high": high, "low": low, "close": close,
                                    "volume": np.full(n, 1e6)}))
    return frames[0], frames[1]


def both(spot: str, perp: str, spot_bars: pd.DataFrame, perp_bars: pd.DataFrame,
         markets: dict[str, MarketSpec], funding: FundingRates, params: dict):
    """``(fast, event)``: the kernel's and the event engine's runs of the carry."""
    strategy = dict(params, spot=spot, perp=perp)
    event = backtest_arrays(FundingCarry(**strategy), {spot: BarArrays.from_frame(spot_bars),
                                                      perp: BarArrays.from_frame(perp_bars)},
                            timeframe="1h", markets=markets, initial_cash=10_000.0,
                            funding={perp: funding})
    bars = VectorBars.from_frames({spot: spot_bars, perp: perp_bars}, "1h")
    fast = run_form(form_of(FundingCarry(**strategy), bars), bars, markets=markets,
                    init_cash=10_000.0, funding={perp: funding})
    return fast, event


def assert_same(fast, event) -> None:
    pd.testing.assert_frame_equal(fast.fills[FILL_COLUMNS].reset_index(drop=True),
                                  event.fills[FILL_COLUMNS].reset_index(drop=True))
    pd.testing.assert_frame_equal(fast.equity, event.equity)
    assert fast.events == [e for e in event.events if e["kind"] in KINDS]
    cols = [c for c in event.trades.columns if c != "trade_id"]
    pd.testing.assert_frame_equal(fast.trades[cols], event.trades[cols])
    assert fast.final_positions == event.final_positions
    for key, value in event.metrics.items():
        assert fast.metrics[key] == value or (np.isnan(value) and np.isnan(fast.metrics[key])), key


def scenario(seed: int, n: int, jump: float, basis: float, pair: str, table: str, rules: str,
             fee_side: str, spot_fee: float, perp_fee: float, funding_every: int,
             params: dict):
    spot, perp = PAIRS[pair]
    perp_bars, spot_bars = legs(n, seed, jump, basis)
    spot_rules, perp_rules = RULES[rules]
    contract = ContractSpec(brackets=TABLES[table], liquidation_fee=0.0125)
    markets = {spot: MarketSpec(spot, tick_size=0.01, maker_fee=spot_fee, taker_fee=spot_fee,
                                fee_side=fee_side, **spot_rules),
               perp: MarketSpec(perp, tick_size=0.1, maker_fee=perp_fee, taker_fee=perp_fee,
                                contract=contract, **perp_rules)}
    rng = np.random.default_rng(seed + 11)
    at = np.arange(1, n + 1, funding_every, dtype=np.int64) * H
    at = at + rng.integers(0, 2, at.size)  # on a close, or 1 ms after it
    # rates around the thresholds: above enter_rate, between, below exit_rate
    rates = rng.choice([params["enter_rate"] * 2, params["enter_rate"],
                        (params["enter_rate"] + params["exit_rate"]) / 2,
                        params["exit_rate"] - 0.0001], size=at.size, p=[0.4, 0.2, 0.2, 0.2])
    marks = np.where(rng.random(at.size) < 0.3, np.nan,
                     perp_bars["close"].to_numpy()[np.minimum(at // H, n) - 1] * 1.001)
    funding = FundingRates.from_columns(ts=at, rate=rates, mark=marks)
    return both(spot, perp, spot_bars, perp_bars, markets, funding, params)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 100_000),
    n=st.integers(20, 160),
    jump=st.sampled_from([0.0, 0.05, 0.3]),
    basis=st.sampled_from([0.0, 0.002]),
    pair=st.sampled_from(sorted(PAIRS)),
    table=st.sampled_from(sorted(TABLES)),
    rules=st.sampled_from(sorted(RULES)),
    fee_side=st.sampled_from(["quote", "get", "give", "base"]),
    spot_fee=st.sampled_from([0.0, 0.001]),
    perp_fee=st.sampled_from([0.0, 0.0005]),
    funding_every=st.sampled_from([1, 3, 8]),
    leverage=st.sampled_from([1.0, 1.5, 2.0, 3.0, 5.0]),
    weight=st.floats(0.2, 1.0),
    enter_rate=st.sampled_from([0.00005, 0.0001, 0.0003]),
    exit_below=st.sampled_from([0.0, 0.00005, 0.0001]),
)
def test_kernel_equals_event_engine(seed, n, jump, basis, pair, table, rules, fee_side, spot_fee,
                                    perp_fee, funding_every, leverage, weight, enter_rate,
                                    exit_below):
    params = {"enter_rate": enter_rate, "exit_rate": enter_rate - exit_below, "weight": weight,
              "leverage": leverage}
    fast, event = scenario(seed, n, jump, basis, pair, table, rules, fee_side, spot_fee, perp_fee,
                           funding_every, params)
    kinds = {e["kind"] for e in event.events}
    for label in ("liquidation", "dust"):
        event_label(label if label in kinds else f"no {label}")
    fills = event.fills
    buys = fills[fills["tag"] == "carry:spot"]["amount"].tolist()
    sells = fills[fills["tag"] == "carry:perp"]["amount"].tolist()
    event_label("a leg cut or cancelled" if buys != sells else "legs equal")
    event_label(f"{len(fills) // 10 * 10}+ fills")
    assert_same(fast, event)


def refused_once(result) -> bool:
    """The spot leg was rejected at submit once, the unhedged short was unwound, and no
    entry followed."""
    orders = result.orders
    spot = orders[orders["tag"] == "carry:spot"]
    return (spot["status"].tolist() == ["rejected"]
            and result.fills["tag"].tolist() == ["carry:perp", "carry:unwind"])


#: Named paths the random draws reach, each pinned: (its scenario, what must happen).
PINNED = {
    "liquidation": ((7, 120, 0.3, 0.0, "spot_first", "one", "none", "quote", 0.001, 0.0005, 1,
                     {"enter_rate": 0.0001, "exit_rate": 0.0, "weight": 1.0, "leverage": 5.0}),
                    lambda r: (r.fills["tag"] == "liquidation").any()),
    "dust": ((3, 120, 0.0, 0.002, "perp_first", "one", "binance", "get", 0.001, 0.0005, 3,
              {"enter_rate": 0.0001, "exit_rate": 0.0, "weight": 0.9, "leverage": 2.0}),
             lambda r: any(e["kind"] == "dust" for e in r.events)),
    "refused": ((5, 60, 0.0, 0.0, "spot_first", "one", "coarse", "quote", 0.001, 0.0005, 1,
                 {"enter_rate": 0.0001, "exit_rate": 0.0, "weight": 0.01, "leverage": 2.0}),
                lambda r: refused_once(r)),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_paths_happen_and_agree(name):
    args, happened = PINNED[name]
    fast, event = scenario(*args)
    assert happened(event)
    assert_same(fast, event)
