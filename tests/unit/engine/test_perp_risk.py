"""The risk engine's perpetual limits (``engine.risk.perp_limits``): each refuses the
order that would break it, with the setting, the limit and the figure; exits pass.

One perpetual, flat bars at 100, 10,000 USDT, no fees; orders sent at a bar's close.
"""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.strategy.base import Strategy

S = "BTC/USDT:USDT"
H = 3_600_000
MARKETS = {S: MarketSpec(S, maker_fee=0.0, taker_fee=0.0, contract=ContractSpec())}


class Do(Strategy):
    def __init__(self, plan, leverage=10.0, mode="cross"):
        super().__init__()
        self.plan, self.leverage, self.mode, self.i = plan, leverage, mode, -1

    def on_start(self, ctx):
        ctx.set_leverage(S, self.leverage)
        ctx.set_margin_mode(S, self.mode)

    def on_bar(self, ctx, bar):
        self.i += 1
        if self.i in self.plan:
            self.plan[self.i](ctx)


def run(plan, funding=None, **risk):
    n = 6
    px = np.full(n, 100.0)
    data = BarArrays(np.arange(n, dtype=np.int64) * H, px, px, px, px, np.full(n, 1e6))
    return backtest_arrays(Do(plan, **{k: risk.pop(k) for k in ("leverage", "mode") if k in risk}),
                           {S: data}, timeframe="1h", markets=MARKETS, initial_cash=10_000.0,
                           risk=RiskEngine(RiskConfig(**risk)), funding=funding)


def decision(res):
    (row,) = res.risk_decisions.to_dict("records")
    return row


def test_max_leverage_counts_gross_exposure_over_equity():
    # short 400 @100 = 40,000 = 4x equity, limit 3x
    res = run({0: lambda c: c.sell(S, 400.0)}, max_leverage=3.0)
    d = decision(res)
    assert not d["approved"] and "gross exposure would be 4x equity, limit 3x" in d["reason"]
    assert "risk.max_leverage" in d["reason"]
    assert res.fills.empty


def test_max_margin_usage():
    # 10x: short 600 @100 -> margin 6,000 = 60 % of equity, limit 50 %
    res = run({0: lambda c: c.sell(S, 600.0)}, max_margin_usage_pct=0.5)
    assert "margin in use would be 60" in decision(res)["reason"]


def test_min_liquidation_distance():
    # 10x isolated long 100 @100: LP = (1000 - 10000) / (100 * 0.005 - 100) = 90.45,
    # 9.55 % below the mark; minimum 20 %
    res = run({0: lambda c: c.buy(S, 100.0)}, min_liquidation_distance_pct=0.2, mode="isolated")
    reason = decision(res)["reason"]
    assert "liquidation price 90.452" in reason and "risk.min_liquidation_distance_pct" in reason


def test_max_funding_cost_uses_the_latest_rate():
    # funding at 1h: 0.002 (longs pay). A long 50 @100 would pay 50 * 100 * 0.002 = 10 per
    # period = 0.1 % of equity; limit 0.05 %. A short would be paid: allowed.
    funding = {S: FundingRates.from_columns(ts=[H], rate=[0.002], mark=[100.0])}
    res = run({1: lambda c: c.buy(S, 50.0), 2: lambda c: c.sell(S, 50.0, tag="short")},
              funding=funding, max_funding_cost_pct=0.0005)
    d = decision(res)
    assert "funding at the latest rate would cost 0.1" in d["reason"]
    assert res.fills["tag"].tolist() == ["short"]


def test_short_exposure_and_exits_pass():
    # limit shorts to 0.5x equity: a 60-unit short (0.6x) is refused, 40 (0.4x) passes,
    # and buying it back (an exit) always passes.
    res = run({0: lambda c: c.sell(S, 60.0), 1: lambda c: c.sell(S, 40.0),
               3: lambda c: c.close_position(S)}, max_short_exposure=0.5)
    assert "short exposure would be 0.6x equity, limit 0.5x" in decision(res)["reason"]
    assert res.fills["side"].tolist() == ["sell", "buy"]


def test_perpetual_limits_off_leave_the_config_dump_unchanged():
    assert "max_leverage" not in RiskConfig().model_dump()
    assert RiskConfig(max_leverage=2.0).model_dump()["max_leverage"] == 2.0


@pytest.mark.parametrize("setting", ["max_margin_usage_pct", "min_liquidation_distance_pct",
                                     "max_funding_cost_pct"])
def test_fractions_above_one_are_refused(setting):
    with pytest.raises(ValueError):
        RiskConfig(**{setting: 1.5})


def test_a_target_resized_by_risk_trades_the_resized_amount():
    """target_percent(1.0) at 10x leverage asks for 100 @100 (10,000 notional); the order
    limit of 20 % of equity (2,000) resizes it to 20. A perpetual target is re-sized at the
    fill from its percentage; once risk has cut it, the cut amount is what fills."""
    res = run({0: lambda c: c.target_percent(S, 1.0)}, max_order_pct=0.2,
              on_size_breach="resize")
    d = decision(res)
    assert d["approved"] and (d["requested"], d["amount"]) == (100.0, 20.0)
    assert res.fills["amount"].tolist() == [20.0]
    assert res.final_positions == {S: 20.0}


def test_fee_aware_cash_sizing_leaves_perpetual_buys_to_the_margin_check():
    """Short 150 @100 at 10x (margin 1,500), then buy 300 to flip long 150: the buy costs
    1,500 of margin, not 30,000 of cash, so fee-aware cash sizing (a spot rule: a buy
    pays its notional) does not cut it; the margin check at the fill lets it through."""
    res = run({0: lambda c: c.sell(S, 150.0), 1: lambda c: c.buy(S, 300.0)},
              fee_aware_sizing=True)
    assert res.risk_decisions.empty
    assert res.fills["amount"].tolist() == [150.0, 300.0]
    assert res.final_positions == {S: 150.0}


def test_a_flip_is_sized_on_the_new_position_and_keeps_its_close():
    """Short 40 @100 at 10x (4,000 = 40 % of 10,000), then buy 140 to flip long 100
    (10,000 = 100 %) under max_position_pct 0.5 with resize: the 40 that close the short
    are an exit; the new long may be 0.5 * 10,000 = 5,000 = 50 units, so the buy is cut to
    40 + 50 = 90 (not judged as 40 held + 140 more, which would refuse it)."""
    res = run({0: lambda c: c.sell(S, 40.0), 1: lambda c: c.buy(S, 140.0)},
              max_position_pct=0.5, on_size_breach="resize")
    d = decision(res)
    assert d["approved"] and (d["requested"], d["amount"]) == (140.0, 90.0)
    assert res.fills["amount"].tolist() == [40.0, 90.0]
    assert res.final_positions == {S: 50.0}
