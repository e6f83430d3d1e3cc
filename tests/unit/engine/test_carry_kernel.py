"""The funding carry on its kernel (``engine.vector.carry_api.run_carry``), checked by
hand on six hourly bars and one paid funding time, and its refusals.

Markets: spot BTC/USDT, taker fee 0.1 % in the quote; BTC/USDT:USDT, taker fee
0.05 %, one bracket (maintenance 0.5 %); no lot steps or minimums. 10,000 USDT.
FundingCarry(enter_rate=0.0001, exit_rate=0.0, weight=0.9, leverage=2).

=== ===== ===== ====== ========================================================
bar open  close spot   what happens (decisions at the close, fills at the next open)
=== ===== ===== ====== ========================================================
0   100   100   100    no rate yet; funding at 1 h: rate 0.0003, flat, nothing paid
1   100   100   100    rate 0.0003 >= 0.0001, flat: A = 0.9 * 10000 / (100 * 1.5) = 60
2   100   102   102    spot buy 60 @ 100: 6000 + fee 6, cash 3994;
                       perp sell 60 @ 100: fee 3, cash 3991 (margin 3000)
3   102   101   101    funding at 4 h (after the bar): rate -0.0001, mark 101: the short
                       pays 60 * 101 * 0.0001 = 0.606, cash 3990.394
4   101   103   103    rate -0.0001 < 0.0: exit both legs
5   104   104   103.5  spot sell 60 @ 103.5 (spot open): + 6210 - fee 6.21;
                       perp buy 60 @ 104: realized -240, fee 3.12; cash 9951.064
=== ===== ===== ====== ========================================================

Equity at bar 2's close: 3991 + 60 * 102 (spot) + 60 * (100 - 102) (short) = 9991 =
10000 - 6 - 3; at bar 3's: 3990.394 + 6060 - 60 = 9990.394; at bar 4's: 3990.394 + 6180
- 180, the same; the end: 9951.064 =
10000 - 9 - 0.606 + 60 * 3.5 - 6.21 - 240 - 3.12.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.contracts import ContractSpec, LeverageBracket
from tradeloom.engine.costs.slippage import FixedBpsSlippage
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.vector.carry_api import CarryTerms, run_carry
from tradeloom.engine.vector.form import NotVectorizable, VectorBars
from tradeloom.research.strategies.funding_carry import FundingCarry

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
H = 3_600_000
MARKETS = {
    SPOT: MarketSpec(SPOT, maker_fee=0.001, taker_fee=0.001),
    PERP: MarketSpec(PERP, maker_fee=0.0002, taker_fee=0.0005, contract=ContractSpec(
        brackets=(LeverageBracket(0.0, float("inf"), 50.0, 0.005, 0.0),), liquidation_fee=0.0125)),
}
FUNDING = {PERP: FundingRates.from_columns(ts=[1 * H, 4 * H], rate=[0.0003, -0.0001],
                                           mark=[float("nan"), 101.0])}
PARAMS = {"enter_rate": 0.0001, "exit_rate": 0.0, "weight": 0.9, "leverage": 2.0}


def frame(open_, close) -> pd.DataFrame:
    o, c = np.array(open_, dtype=float), np.array(close, dtype=float)
    return pd.DataFrame({"ts": np.arange(6, dtype=np.int64) * H, "open": o,
                         "high": np.maximum(o, c), "low": np.minimum(o, c), "close": c,
                         "volume": 1.0})


PERP_BARS = frame([100, 100, 100, 102, 101, 104], [100, 100, 102, 101, 103, 104])
SPOT_BARS = frame([100, 100, 100, 102, 101, 103.5], [100, 100, 102, 101, 103, 103.5])
BARS = VectorBars.from_frames({SPOT: SPOT_BARS, PERP: PERP_BARS}, "1h")


def test_the_table_by_hand() -> None:
    res = run_carry(BARS, CarryTerms(SPOT, PERP, **PARAMS), markets=MARKETS, funding=FUNDING)
    fills = res.fills
    assert fills[["symbol", "side", "ts", "price", "amount", "tag"]].values.tolist() == [
        [SPOT, "buy", 2 * H, 100.0, 60.0, "carry:spot"],
        [PERP, "sell", 2 * H, 100.0, 60.0, "carry:perp"],
        [SPOT, "sell", 5 * H, 103.5, 60.0, "carry:exit"],
        [PERP, "buy", 5 * H, 104.0, 60.0, "carry:exit"],
    ]
    assert fills["fee"].tolist() == pytest.approx([6.0, 3.0, 6.21, 3.12], rel=1e-12)
    assert [(p.ts, p.qty, p.mark, p.amount) for p in res.funding.itertuples()] == [
        (4 * H, -60.0, 101.0, pytest.approx(-0.606, rel=1e-12))]
    equity = res.equity["equity"].tolist()
    assert equity[:2] == [10_000.0, 10_000.0]
    assert equity[2:] == pytest.approx([9991.0, 9990.394, 9990.394, 9951.064],
                                       rel=1e-12)
    assert res.final_positions == {}


def test_the_table_is_the_event_engines() -> None:
    event = backtest_arrays(FundingCarry(spot=SPOT, perp=PERP, **PARAMS),
                            {SPOT: BarArrays.from_frame(SPOT_BARS),
                             PERP: BarArrays.from_frame(PERP_BARS)},
                            timeframe="1h", markets=MARKETS, initial_cash=10_000.0, funding=FUNDING)
    fast = run_carry(BARS, CarryTerms(SPOT, PERP, **PARAMS), markets=MARKETS, funding=FUNDING)
    cols = ["order_id", "symbol", "ts", "side", "price", "amount", "fee", "tag"]
    pd.testing.assert_frame_equal(fast.fills[cols], event.fills[cols])
    pd.testing.assert_frame_equal(fast.equity, event.equity)


def test_slippage_is_refused_by_name() -> None:
    with pytest.raises(NotVectorizable, match="no slippage"):
        run_carry(BARS, CarryTerms(SPOT, PERP, **PARAMS), markets=MARKETS,
                  slippage=FixedBpsSlippage(5.0))


def test_a_spot_long_leg_that_is_a_perpetual_is_refused() -> None:
    markets = {SPOT: MarketSpec(SPOT, contract=ContractSpec()), PERP: MARKETS[PERP]}
    with pytest.raises(NotVectorizable, match="long leg must be a spot market"):
        run_carry(BARS, CarryTerms(SPOT, PERP, **PARAMS), markets=markets)


def test_a_third_symbol_is_refused() -> None:
    bars = VectorBars.from_frames({SPOT: SPOT_BARS, PERP: PERP_BARS, "ETH/USDT": SPOT_BARS}, "1h")
    with pytest.raises(NotVectorizable, match="two symbols only"):
        FundingCarry(spot=SPOT, perp=PERP).vectorized(bars)
