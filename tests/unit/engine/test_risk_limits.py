"""Pre-trade limits of the RiskEngine: one hand-checkable row per behaviour.

Unless a row says otherwise: equity 1000 USDT all in cash, BTC and ETH marked at
100, no fees (no market metadata), the order is a market BUY of BTC/USDT.
``*_pct`` figures are fractions of equity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest
from risk_fakes import HOUR, FakeView, bar, order

from tradeloom.engine.costs.fees import FixedFees
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Order, OrderStatus, OrderType, Side
from tradeloom.engine.ports import FeeModel
from tradeloom.engine.risk.codes import ActionKind, Outcome, RiskCode
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.risk.gate import RiskDecisionLike
from tradeloom.engine.risk.sizing import (
    _fill_cost,
    _payable,
    is_entry,
    order_price,
    pending_notional,
)

OK, RESIZED, REJECTED = Outcome.APPROVED, Outcome.RESIZED, Outcome.REJECTED


def bought(symbol: str, amount: float, strategy_id: str) -> Fill:
    """A fill of ``amount`` at 100 for ``strategy_id`` (its holding in the risk ledger)."""
    return Fill(8_000, symbol, Side.BUY, 0, 100.0, amount, 0.0, Liquidity.TAKER,
                strategy_id=strategy_id)


def partly_filled(o: Order, filled: float) -> Order:
    o.filled = filled
    return o


def with_amount(o: Order, amount: float) -> Order:
    o.amount = amount
    return o


def stop_order(amount: float, symbol: str, stop: float) -> Order:
    o = Order(9_000, symbol, Side.BUY, OrderType.STOP, amount, created_ts=0, stop_price=stop)
    o.status = OrderStatus.OPEN
    return o


@dataclass
class Row:
    config: dict[str, Any]
    order: Order
    outcome: Outcome
    code: RiskCode = RiskCode.OK
    amount: float | None = None  # expected decision amount (None: 0 if rejected, else requested)
    limit: float | None = None
    observed: float | None = None
    view: dict[str, Any] = field(default_factory=dict)
    markets: dict[str, MarketSpec] = field(default_factory=dict)
    fees: FeeModel | None = None  # the broker's fee model (None: MakerTakerFees())
    fills: list[Fill] = field(default_factory=list)  # booked before the check (ledger)


ROWS: dict[str, Row] = {
    # -- per order ---------------------------------------------------------------------------
    # 0.05 BTC * 100 = 5 USDT < 10
    "min_notional_config": Row(
        {"min_notional": 10.0},
        order(amount=0.05),
        REJECTED,
        RiskCode.MIN_NOTIONAL,
        limit=10.0,
        observed=5.0,
    ),
    # the market's own minimum (MarketSpec.min_notional = 5): 0.04 * 100 = 4 < 5
    "min_notional_market": Row(
        {},
        order(amount=0.04),
        REJECTED,
        RiskCode.MIN_NOTIONAL,
        limit=5.0,
        observed=4.0,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", min_notional=5.0, taker_fee=0.0)},
    ),
    "min_notional_met": Row({"min_notional": 10.0}, order(amount=0.1), OK),
    # 3 * 100 = 300 > 200
    "max_notional": Row(
        {"max_notional": 200.0},
        order(amount=3.0),
        REJECTED,
        RiskCode.MAX_NOTIONAL,
        limit=200.0,
        observed=300.0,
    ),
    # resize mode: 200 / 100 = 2 BTC
    "max_notional_resize": Row(
        {"max_notional": 200.0, "on_size_breach": "resize"},
        order(amount=3.0),
        RESIZED,
        RiskCode.MAX_NOTIONAL,
        amount=2.0,
        limit=200.0,
        observed=300.0,
    ),
    # exactly the limit: 2 * 100 = 200 <= 200
    "max_notional_exactly": Row({"max_notional": 200.0}, order(amount=2.0), OK),
    # float noise above the limit (5e-14 relative, slack 1e-12) is not a breach
    "max_notional_noise": Row({"max_notional": 200.0}, order(amount=2.00000000000001), OK),
    # 1e-9 relative above is a breach
    "max_notional_just_over": Row(
        {"max_notional": 200.0},
        order(amount=2.000000002),
        REJECTED,
        RiskCode.MAX_NOTIONAL,
        limit=200.0,
        observed=200.0000002,
    ),
    # exactly the minimum notional: 0.1 * 100 = 10 >= 10
    "min_notional_exactly": Row({"min_notional": 10.0}, order(amount=0.1), OK),
    # already over the position limit in resize mode: the room is 200 - 300 < 0, rejected
    "max_position_resize_no_room": Row(
        {"max_position_pct": 0.20, "on_size_breach": "resize"},
        order(amount=1.0),
        REJECTED,
        RiskCode.MAX_POSITION,
        limit=0.20,
        observed=0.40,
        view={"cash": 700.0, "positions": {"BTC/USDT": 3.0}},
    ),
    # 1.5 * 100 / 1000 = 15 % > 10 %
    "max_order_pct": Row(
        {"max_order_pct": 0.10},
        order(amount=1.5),
        REJECTED,
        RiskCode.MAX_ORDER_PCT,
        limit=0.10,
        observed=0.15,
    ),
    "max_order_pct_under": Row({"max_order_pct": 0.10}, order(amount=1.0), OK),
    # limit buy at 94 vs mark 100: 6 % away > 5 %
    "price_band": Row(
        {"price_band_pct": 0.05},
        order(amount=1.0, price=94.0),
        REJECTED,
        RiskCode.PRICE_BAND,
        limit=0.05,
        observed=0.06,
    ),
    "price_band_inside": Row({"price_band_pct": 0.05}, order(amount=1.0, price=96.0), OK),
    # last BTC bar closed at 1h (1h bars), now 4h: 3 bars old > 2
    "stale_data": Row(
        {"stale_after_bars": 2},
        order(),
        REJECTED,
        RiskCode.STALE_DATA,
        limit=2.0,
        observed=3.0,
        view={"now": 4 * HOUR},
    ),
    "stale_data_fresh": Row({"stale_after_bars": 2}, order(), OK, view={"now": 3 * HOUR}),
    # fee 1 %: 10 BTC cost 1000 + 10 > 1000 cash -> 1000 / 1.01 / 100 = 9.90099 -> lot 0.001 -> 9.900
    "fee_aware_sizing": Row(
        {"fee_aware_sizing": True},
        order(amount=10.0),
        RESIZED,
        RiskCode.INSUFFICIENT_CASH,
        amount=9.9,
        limit=1000.0,
        observed=1010.0,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.001, taker_fee=0.01)},
    ),
    # a working buy of 5 ETH @ 100 reserves 500: 1 BTC costs 100 -> fits; 6 BTC does not -> 500 / 100 = 5
    "fee_aware_counts_open_buys": Row(
        {"fee_aware_sizing": True},
        order(amount=6.0),
        RESIZED,
        RiskCode.INSUFFICIENT_CASH,
        amount=5.0,
        limit=500.0,
        observed=600.0,
        view={"orders": [order(amount=5.0, symbol="ETH/USDT", price=100.0, open_=True)]},
    ),
    # -- per portfolio -----------------------------------------------------------------------
    # holding 1 BTC (100) + buying 1.5 (150) = 250 of 1000 = 25 % > 20 %
    "max_position": Row(
        {"max_position_pct": 0.20},
        order(amount=1.5),
        REJECTED,
        RiskCode.MAX_POSITION,
        limit=0.20,
        observed=0.25,
        view={"cash": 900.0, "positions": {"BTC/USDT": 1.0}},
    ),
    # resize: room is 200 - 100 = 100 -> 1 BTC
    "max_position_resize": Row(
        {"max_position_pct": 0.20, "on_size_breach": "resize"},
        order(amount=1.5),
        RESIZED,
        RiskCode.MAX_POSITION,
        amount=1.0,
        limit=0.20,
        observed=0.25,
        view={"cash": 900.0, "positions": {"BTC/USDT": 1.0}},
    ),
    # 3.12 * 100 / 1000 = 31.2 % > 25 % (the message example of the issue)
    "max_exposure": Row(
        {"max_exposure_pct": 0.25},
        order(amount=3.12),
        REJECTED,
        RiskCode.MAX_EXPOSURE,
        limit=0.25,
        observed=0.312,
    ),
    # a working ETH buy of 1 @ 100 counts: (100 + 200) / 1000 = 30 %
    "max_exposure_counts_open_orders": Row(
        {"max_exposure_pct": 0.25},
        order(amount=2.0),
        REJECTED,
        RiskCode.MAX_EXPOSURE,
        limit=0.25,
        observed=0.30,
        view={"orders": [order(amount=1.0, symbol="ETH/USDT", price=100.0, open_=True)]},
    ),
    # quote-sized buy of 400 USDT, no fee: resized to the 250 that fits
    "max_exposure_quote_resize": Row(
        {"max_exposure_pct": 0.25, "on_size_breach": "resize"},
        order(quote=400.0),
        RESIZED,
        RiskCode.MAX_EXPOSURE,
        amount=250.0,
        limit=0.25,
        observed=0.40,
    ),
    # with a 0.1 % fee (the market's taker rate, which the sizing's fee model plans with):
    # notional n must satisfy n <= 0.25 * (1000 - 0.001 n) -> n = 250 / 1.00025;
    # the quote that buys it is n * 1.001
    "max_exposure_quote_resize_fee": Row(
        {"max_exposure_pct": 0.25, "on_size_breach": "resize"},
        order(quote=400.0),
        RESIZED,
        RiskCode.MAX_EXPOSURE,
        amount=250.0 / 1.00025 * 1.001,
        limit=0.25,
        observed=(400 / 1.001) / (1000 - 0.4 / 1.001),
        markets={"BTC/USDT": MarketSpec("BTC/USDT", taker_fee=0.001)},
    ),
    # holding ETH, max 1 open position: opening BTC would make 2
    "max_open_positions": Row(
        {"max_open_positions": 1},
        order(),
        REJECTED,
        RiskCode.MAX_OPEN_POSITIONS,
        limit=1.0,
        observed=2.0,
        view={"cash": 900.0, "positions": {"ETH/USDT": 1.0}},
    ),
    # adding to the one open position is not a new position
    "max_open_positions_same_symbol": Row(
        {"max_open_positions": 1}, order(), OK, view={"cash": 900.0, "positions": {"BTC/USDT": 1.0}}
    ),
    # strategy "a" may use 10 %: 1.5 BTC = 15 %
    "strategy_budget": Row(
        {"strategy_budgets": {"a": 0.10}},
        order(amount=1.5, strategy_id="a"),
        REJECTED,
        RiskCode.STRATEGY_BUDGET,
        limit=0.10,
        observed=0.15,
    ),
    "strategy_budget_other_strategy": Row(
        {"strategy_budgets": {"a": 0.10}}, order(amount=1.5, strategy_id="b"), OK
    ),
    # strategy "a" holds 1 BTC (100) and buys 1 more (100): 200 / 1000 = 20 % > 15 %
    "strategy_budget_counts_its_holdings": Row(
        {"strategy_budgets": {"a": 0.15}},
        order(amount=1.0, strategy_id="a"),
        REJECTED,
        RiskCode.STRATEGY_BUDGET,
        limit=0.15,
        observed=0.20,
        view={"cash": 900.0, "positions": {"BTC/USDT": 1.0}},
        fills=[bought("BTC/USDT", 1.0, "a")],
    ),
    # the 1 BTC is strategy "b"'s: "a" uses only its own order, 10 % <= 15 %
    "strategy_budget_ignores_other_strategies": Row(
        {"strategy_budgets": {"a": 0.15}},
        order(amount=1.0, strategy_id="a"),
        OK,
        view={"cash": 900.0, "positions": {"BTC/USDT": 1.0}},
        fills=[bought("BTC/USDT", 1.0, "b")],
    ),
    # "a"'s open ETH limit buy of 1 @ 100 counts too: (100 + 100) / 1000 = 20 %
    "strategy_budget_counts_its_open_entries": Row(
        {"strategy_budgets": {"a": 0.15}},
        order(amount=1.0, strategy_id="a"),
        REJECTED,
        RiskCode.STRATEGY_BUDGET,
        limit=0.15,
        observed=0.20,
        view={"orders": [order(amount=1.0, symbol="ETH/USDT", price=100.0, open_=True,
                               strategy_id="a")]},
    ),
    # per-strategy position cap 15 %: "a" holds 1 BTC and 1 ETH; buying 1 BTC makes its
    # BTC 200 / 1000 = 20 % (its ETH is another position)
    "strategy_position_cap": Row(
        {"strategy_limits": {"a": {"max_position_pct": 0.15}}},
        order(amount=1.0, strategy_id="a"),
        REJECTED,
        RiskCode.STRATEGY_POSITION,
        limit=0.15,
        observed=0.20,
        view={"cash": 800.0, "positions": {"BTC/USDT": 1.0, "ETH/USDT": 1.0}},
        fills=[bought("BTC/USDT", 1.0, "a"), bought("ETH/USDT", 1.0, "a")],
    ),
    "strategy_position_cap_other_symbol": Row(
        {"strategy_limits": {"a": {"max_position_pct": 0.15}}},
        order(amount=1.0, symbol="SOL/USDT", strategy_id="a", price=100.0),
        OK,
        view={"cash": 800.0, "positions": {"BTC/USDT": 1.0, "ETH/USDT": 1.0}},
        fills=[bought("BTC/USDT", 1.0, "a"), bought("ETH/USDT", 1.0, "a")],
    ),
    # selling with no position would open a short
    "long_only_short": Row(
        {"long_only": True}, order("sell", 1.0), REJECTED, RiskCode.LONG_ONLY, observed=0.0
    ),
    # selling 3 of a 2 BTC long: cut to the 2 held
    "long_only_cut": Row(
        {"long_only": True},
        order("sell", 3.0),
        RESIZED,
        RiskCode.LONG_ONLY,
        amount=2.0,
        limit=2.0,
        observed=3.0,
        view={"cash": 800.0, "positions": {"BTC/USDT": 2.0}},
    ),
    "no_pyramiding": Row(
        {"no_pyramiding": True},
        order(),
        REJECTED,
        RiskCode.NO_PYRAMIDING,
        observed=1.0,
        view={"cash": 900.0, "positions": {"BTC/USDT": 1.0}},
    ),
    "no_pyramiding_open_entry": Row(
        {"no_pyramiding": True},
        order(),
        REJECTED,
        RiskCode.NO_PYRAMIDING,
        observed=0.0,
        view={"orders": [order(amount=1.0, price=99.0, open_=True)]},
    ),
    # a sell that reduces a long is an exit: approved whatever the limits say
    "exit_always_allowed": Row(
        {"max_exposure_pct": 0.01, "max_position_pct": 0.01, "no_pyramiding": True},
        order("sell", 1.0),
        OK,
        view={"cash": 800.0, "positions": {"BTC/USDT": 2.0}},
    ),
    "reduce_only_always_allowed": Row(
        {"max_notional": 1.0, "long_only": True}, order("sell", 5.0, reduce_only=True), OK
    ),
    # no mark and no limit price: size limits cannot be computed
    "no_price": Row(
        {"max_exposure_pct": 0.5}, order(symbol="SOL/USDT"), REJECTED, RiskCode.NO_PRICE
    ),
    "no_limits_no_price_needed": Row({}, order(symbol="SOL/USDT"), OK),
    # a mark of 0 (a market that printed 0) is no price either
    "no_price_mark_zero": Row(
        {"max_exposure_pct": 0.5}, order(), REJECTED, RiskCode.NO_PRICE,
        view={"marks": {"BTC/USDT": 0.0, "ETH/USDT": 100.0}},
    ),
    # no equity at all: percentage limits cannot be met, the order is rejected (amount 0)
    "no_equity": Row(
        {"max_exposure_pct": 0.5},
        order(),
        REJECTED,
        RiskCode.NO_EQUITY,
        limit=0.0,
        observed=0.0,
        view={"cash": 0.0},
    ),
    # -- how open orders count (as if filled, at their own price) ----------------------------
    # a working ETH limit buy of 1 @ 100, half filled: 0.5 left = 50 counts (under one unit
    # left is still exposure): (50 + 210) / 1000 = 26 % > 25 %
    "max_exposure_counts_the_rest_of_a_partial_fill": Row(
        {"max_exposure_pct": 0.25},
        order(amount=2.1),
        REJECTED,
        RiskCode.MAX_EXPOSURE,
        limit=0.25,
        observed=0.26,
        view={"orders": [partly_filled(order(amount=1.0, symbol="ETH/USDT", price=100.0,
                                             open_=True), 0.5)]},
    ),
    # a working ETH limit buy of 2 @ 50 (mark 100) counts at its limit: 2 * 50 = 100, not
    # 200: (100 + 200) / 1000 = 30 % (at the mark it would read 40 %)
    "max_exposure_values_open_limits_at_their_price": Row(
        {"max_exposure_pct": 0.25},
        order(amount=2.0),
        REJECTED,
        RiskCode.MAX_EXPOSURE,
        limit=0.25,
        observed=0.30,
        view={"orders": [order(amount=2.0, symbol="ETH/USDT", price=50.0, open_=True)]},
    ),
    # a working ETH stop buy of 1 triggering at 120 counts at its stop: (120 + 200) / 1000
    "max_exposure_values_open_stops_at_their_stop": Row(
        {"max_exposure_pct": 0.25},
        order(amount=2.0),
        REJECTED,
        RiskCode.MAX_EXPOSURE,
        limit=0.25,
        observed=0.32,
        view={"orders": [stop_order(amount=1.0, symbol="ETH/USDT", stop=120.0)]},
    ),
    # -- a flat fee: its rate depends on the order's notional ------------------------------
    # FixedFees(10) on 10 BTC @ 100: notional 1000, rate 10 / 1000 = 1 %: cap 1000 / 1.01 =
    # 990.099 -> 9.90099 BTC -> lot 0.001 -> 9.900 (cost 990 + 1 % = 999.9)
    "fee_aware_flat_fee": Row(
        {"fee_aware_sizing": True},
        order(amount=10.0),
        RESIZED,
        RiskCode.INSUFFICIENT_CASH,
        amount=9.9,
        limit=1000.0,
        observed=1010.0,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.001)},
        fees=FixedFees(10.0),
    ),
    # FixedFees(1) on a limit buy of 2000 @ 0.5: notional 1000, rate 0.1 %: cap 1000 / 1.001
    # = 999.000999 -> 1998.001998 -> lot 0.001 -> 1998.001 (a price under one quote unit)
    "fee_aware_flat_fee_low_price": Row(
        {"fee_aware_sizing": True},
        order(amount=2000.0, price=0.5),
        RESIZED,
        RiskCode.INSUFFICIENT_CASH,
        amount=1998.001,
        limit=1000.0,
        observed=1001.0,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.001)},
        fees=FixedFees(1.0),
    ),
    # quote-sized, flat fee: a spend of 1010 plans its fee at 1010 (rate 10 / 1010), a
    # notional of 1010 / (1 + 10/1010) = 1000 > 500: resized to 500 * (1 + 10/1010)
    "max_notional_quote_flat_fee": Row(
        {"max_notional": 500.0, "on_size_breach": "resize"},
        order(quote=1010.0),
        RESIZED,
        RiskCode.MAX_NOTIONAL,
        amount=500.0 * (1.0 + 10.0 / 1010.0),
        markets={"BTC/USDT": MarketSpec("BTC/USDT")},
        fees=FixedFees(10.0),
    ),
    # no price for SOL: rejected before any fee is planned (a flat fee needs a notional)
    "no_price_flat_fee": Row(
        {"max_exposure_pct": 0.5},
        order(symbol="SOL/USDT"),
        REJECTED,
        RiskCode.NO_PRICE,
        markets={"SOL/USDT": MarketSpec("SOL/USDT")},
        fees=FixedFees(1.0),
    ),
    # fee-aware: 10 BTC @ 100 + 0.1 % costs 1000.9999999999999, exactly the free cash: fits
    "fee_aware_exactly_payable": Row(
        {"fee_aware_sizing": True},
        order(amount=10.0),
        OK,
        view={"cash": 1000.9999999999999},
        markets={"BTC/USDT": MarketSpec("BTC/USDT", taker_fee=0.001)},
    ),
    # a cap under one quote unit still resizes: 0.5 / 100 = 0.005 BTC (no minimum)
    "max_notional_resize_small": Row(
        {"max_notional": 0.5, "on_size_breach": "resize"},
        order(amount=1.0),
        RESIZED,
        RiskCode.MAX_NOTIONAL,
        amount=0.005,
    ),
    # the cap buys less than one lot: 0.05 / 100 = 0.0005 -> lot 0.001 -> 0: rejected
    "max_notional_resize_under_a_lot": Row(
        {"max_notional": 0.05, "on_size_breach": "resize"},
        order(amount=1.0),
        REJECTED,
        RiskCode.MAX_NOTIONAL,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.001, taker_fee=0.0)},
    ),
    # a minimum under one quote unit: 0.4 / 100 = 0.004 BTC = 0.4 < 0.5: rejected
    "max_notional_resize_under_a_small_minimum": Row(
        {"max_notional": 0.4, "on_size_breach": "resize"},
        order(amount=1.0),
        REJECTED,
        RiskCode.MAX_NOTIONAL,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", min_notional=0.5, taker_fee=0.0)},
    ),
    "min_notional_small": Row(
        {"min_notional": 0.5}, order(amount=0.004), REJECTED, RiskCode.MIN_NOTIONAL,
        limit=0.5, observed=0.4,
    ),
    # quote-sized resize against a minimum of 100 (0.1 % fee): cap 100 buys 100.1 of spend,
    # a notional of 100.1 / 1.001 = 100 >= 100: resized
    "quote_resize_at_the_minimum": Row(
        {"max_notional": 100.0, "on_size_breach": "resize"},
        order(quote=400.0),
        RESIZED,
        RiskCode.MAX_NOTIONAL,
        amount=100.1,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", min_notional=100.0, taker_fee=0.001)},
    ),
    # cap 99.95: a spend of 99.95 * 1.001, a notional of 99.95 < 100: rejected
    "quote_resize_under_the_minimum": Row(
        {"max_notional": 99.95, "on_size_breach": "resize"},
        order(quote=400.0),
        REJECTED,
        RiskCode.MAX_NOTIONAL,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", min_notional=100.0, taker_fee=0.001)},
    ),
    # only a notional cap: no equity is needed to check it (no percentage limit)
    "max_notional_without_equity": Row(
        {"max_notional": 200.0}, order(amount=1.0), OK, view={"cash": 0.0}
    ),
    # equity under one quote unit is still equity: 0.001 BTC @ 100 = 0.1 of 0.5 = 20 % > 10 %
    "max_order_pct_small_equity": Row(
        {"max_order_pct": 0.10}, order(amount=0.001), REJECTED, RiskCode.MAX_ORDER_PCT,
        limit=0.10, observed=0.20, view={"cash": 0.5},
    ),
    # fee-aware sizing caps buys only: a short entry is not limited by the cash
    "fee_aware_leaves_sells_alone": Row(
        {"fee_aware_sizing": True}, order("sell", 1.0), OK, view={"cash": 50.0},
    ),
    # an open ETH buy of 5 @ 100 with a 1 % fee reserves 505: free 495, cap 495 / 1.01 =
    # 490.099 -> 4.90099 BTC -> lot 0.001 -> 4.9
    "fee_aware_reserves_open_buys_with_their_fee": Row(
        {"fee_aware_sizing": True},
        order(amount=6.0),
        RESIZED,
        RiskCode.INSUFFICIENT_CASH,
        amount=4.9,
        limit=495.0,
        observed=606.0,
        view={"orders": [order(amount=5.0, symbol="ETH/USDT", price=100.0, open_=True)]},
        markets={"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.001, taker_fee=0.01),
                 "ETH/USDT": MarketSpec("ETH/USDT", lot_step=0.001, taker_fee=0.01)},
    ),
    # an open sell reserves no cash
    "fee_aware_ignores_open_sells": Row(
        {"fee_aware_sizing": True}, order(amount=6.0), OK,
        view={"orders": [order("sell", 5.0, symbol="ETH/USDT", price=100.0, open_=True)],
              "positions": {"ETH/USDT": 5.0}},
    ),
    # no price and a minimum under one unit: the minimum cannot be checked
    "no_price_small_minimum": Row(
        {"min_notional": 0.5}, order(symbol="SOL/USDT"), REJECTED, RiskCode.NO_PRICE
    ),
    # an open BTC limit buy of 1 @ 100 counts toward the BTC position: (100 + 150) / 1000
    "max_position_counts_open_entries": Row(
        {"max_position_pct": 0.20}, order(amount=1.5), REJECTED, RiskCode.MAX_POSITION,
        limit=0.20, observed=0.25,
        view={"orders": [order(amount=1.0, price=100.0, open_=True)]},
    ),
    # strategy "b"'s open entry is not "a"'s budget: 10 % <= 15 %
    "strategy_budget_ignores_other_strategies_entries": Row(
        {"strategy_budgets": {"a": 0.15}}, order(amount=1.0, strategy_id="a"), OK,
        view={"orders": [order(amount=1.0, symbol="ETH/USDT", price=100.0, open_=True,
                               strategy_id="b")]},
    ),
    # two open entries of "a" (50 each) and the order (100): 200 / 1000 = 20 % > 15 %
    "strategy_budget_adds_its_open_entries": Row(
        {"strategy_budgets": {"a": 0.15}}, order(amount=1.0, strategy_id="a"), REJECTED,
        RiskCode.STRATEGY_BUDGET, limit=0.15, observed=0.20,
        view={"orders": [order(amount=0.5, symbol="ETH/USDT", price=100.0, open_=True,
                               strategy_id="a"),
                         order(amount=0.5, symbol="SOL/USDT", price=100.0, open_=True,
                               strategy_id="a")]},
    ),
    # -- resizing on a market with a lot step and a minimum ----------------------------------
    # cap 204.5 / 100 = 2.045 BTC -> truncated to the lot 0.01: 2.04 (204 >= min 200)
    "max_notional_resize_to_the_lot": Row(
        {"max_notional": 204.5, "on_size_breach": "resize"},
        order(amount=3.0),
        RESIZED,
        RiskCode.MAX_NOTIONAL,
        amount=2.04,
        limit=204.5,
        observed=300.0,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.01, min_notional=200.0,
                                        taker_fee=0.0)},
    ),
    # cap exactly the market minimum: 200 / 100 = 2 BTC, notional 200 == min 200: resized
    "max_notional_resize_to_exactly_the_minimum": Row(
        {"max_notional": 200.0, "on_size_breach": "resize"},
        order(amount=3.0),
        RESIZED,
        RiskCode.MAX_NOTIONAL,
        amount=2.0,
        limit=200.0,
        observed=300.0,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.01, min_notional=200.0,
                                        taker_fee=0.0)},
    ),
    # cap 199 / 100 = 1.99 BTC = 199 < min 200: nothing that fits is tradable, rejected
    "max_notional_resize_under_the_minimum": Row(
        {"max_notional": 199.0, "on_size_breach": "resize"},
        order(amount=3.0),
        REJECTED,
        RiskCode.MAX_NOTIONAL,
        limit=199.0,
        observed=300.0,
        markets={"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.01, min_notional=200.0,
                                        taker_fee=0.0)},
    ),
}


def _engine(row: Row) -> tuple[RiskEngine, FakeView]:
    risk = RiskEngine(RiskConfig(**row.config), markets=row.markets)
    view = FakeView(**row.view)
    risk.bind(symbols=["ETH/USDT"], fees=row.fees)
    for f in row.fills:
        risk.on_fill(f, None)
    risk.on_bar(bar("BTC/USDT", 0, 100.0), view)  # BTC last closed at 1h
    return risk, view


@pytest.mark.parametrize("name", list(ROWS))
def test_limit_table(name: str) -> None:
    row = ROWS[name]
    risk, view = _engine(row)
    requested = row.order.quote_amount if row.order.quote_amount is not None else row.order.amount
    d = risk.check(row.order, view)
    assert (d.outcome, d.code) == (row.outcome, row.code), d.message
    expected_amount = (
        row.amount if row.amount is not None else (0.0 if row.outcome is REJECTED else requested)
    )
    assert d.requested == requested
    assert d.amount == pytest.approx(expected_amount, rel=1e-12)
    if row.limit is not None:
        assert d.limit == pytest.approx(row.limit)
    if row.observed is not None:
        assert d.observed == pytest.approx(row.observed, rel=1e-9)
    if row.outcome is OK:
        assert d.message == "" and risk.decisions == []
    else:
        assert d.setting and d.setting in d.message and risk.decisions == [d]


def test_message_is_actionable() -> None:
    risk, view = _engine(ROWS["max_exposure"])
    d = risk.check(order(amount=3.12), view)
    assert d.reason == (
        "rejected: total exposure would be 31.2% of equity, limit 25.0% (risk.max_exposure_pct); "
        "reduce size or raise the limit"
    )


def test_decision_satisfies_the_loop_protocol() -> None:
    risk, view = _engine(ROWS["max_notional_resize"])
    d: RiskDecisionLike = risk.check(order(amount=3.0), view)
    assert (d.approved, d.amount) == (True, 2.0) and d.reason.startswith("resized 3 -> 2:")


def test_resize_under_min_notional_is_rejected() -> None:
    # room for 100 - 95 = 5 USDT of BTC, market minimum 10: nothing useful fits
    risk = RiskEngine(
        RiskConfig(max_position_pct=0.1, on_size_breach="resize"),
        markets={"BTC/USDT": MarketSpec("BTC/USDT", min_notional=10.0, taker_fee=0.0)},
    )
    view = FakeView(cash=905.0, positions={"BTC/USDT": 0.95})
    d = risk.check(order(amount=1.0), view)
    assert (d.outcome, d.code) == (REJECTED, RiskCode.MAX_POSITION)
    assert "under the minimum notional 10" in d.message


def test_degraded_symbol_and_exchange() -> None:
    risk = RiskEngine(exchange="binance")
    view = FakeView()
    risk.set_status("BTC/USDT")
    d = risk.check(order(), view)
    assert d.code is RiskCode.DEGRADED and "set_status('BTC/USDT', degraded=False)" in d.message
    assert risk.check(order(symbol="ETH/USDT"), view).approved
    risk.set_status("binance", ts=1)
    assert risk.check(order(symbol="ETH/USDT"), view).code is RiskCode.DEGRADED
    risk.set_status("BTC/USDT", False, ts=2)
    risk.set_status("binance", degraded=False)
    assert risk.check(order(), view).approved
    assert [e["figures"]["degraded"] for e in risk.events] == [True, True, False, False]


def test_kill_switch_refuses_entries_allows_exits_and_cancels_all() -> None:
    risk = RiskEngine()
    view = FakeView(cash=900.0, positions={"BTC/USDT": 1.0})
    risk.kill(ts=5, reason="operator")
    actions = risk.pending_actions()
    assert [(a.kind, a.ts) for a in actions] == [(ActionKind.CANCEL_ALL, 5)]
    assert risk.pending_actions() == []
    d = risk.check(order(), view)
    assert (d.code, d.approved) == (
        RiskCode.KILL_SWITCH,
        False,
    ) and "reset('kill_switch')" in d.message
    assert risk.check(order("sell", 1.0), view).approved  # exit
    assert risk.check(order("sell", 1.0, reduce_only=True), view).approved
    risk.reset("kill_switch", ts=9)
    assert risk.check(order(), view).approved
    assert [e["kind"] for e in risk.events] == ["risk_kill", "risk_reset"]


def test_trade_rate_per_hour() -> None:
    # 2 entries per hour: a 3rd at t=2 is refused; at 1h + 1 ms both earlier ones left the window
    risk = RiskEngine(RiskConfig(max_trades_per_hour=2))
    outcomes = []
    for ts in (0, 1, 2, HOUR + 1):
        outcomes.append(risk.check(order(), FakeView(now=ts)).code)
    assert outcomes == [RiskCode.OK, RiskCode.OK, RiskCode.TRADE_RATE, RiskCode.OK]
    assert (
        risk.decisions[0].observed == 3.0
        and risk.decisions[0].setting == "risk.max_trades_per_hour"
    )


def test_counts_and_records() -> None:
    risk = RiskEngine(RiskConfig(max_notional=150.0, long_only=True))
    view = FakeView()
    risk.check(order(amount=2.0), view)
    risk.check(order(amount=3.0), view)
    risk.check(order("sell", 1.0), view)
    risk.check(order(amount=1.0), view)
    assert risk.counts() == {"max_notional": 2, "long_only": 1}
    rec = risk.records()[0]
    assert {
        k: rec[k] for k in ("outcome", "code", "limit", "observed", "setting", "approved", "amount")
    } == {
        "outcome": "rejected",
        "code": "max_notional",
        "limit": 150.0,
        "observed": 200.0,
        "setting": "risk.max_notional",
        "approved": False,
        "amount": 0.0,
    }
    assert risk.summary().startswith(
        "risk: 4 orders checked, 3 rejected (max_notional 2, long_only 1), 0 resized"
    )


def test_no_equity_rejects_percentage_limits() -> None:
    risk = RiskEngine(RiskConfig(max_exposure_pct=0.5))
    d = risk.check(order(), FakeView(cash=0.0))
    assert d.code is RiskCode.NO_EQUITY and not math.isnan(d.observed or 0.0)


# -- the sizing helpers, one hand-checked figure each -----------------------------------


@pytest.mark.parametrize(
    ("side", "pos", "reduce_only", "entry"),
    [
        ("buy", 0.0, False, True),  # opens a long
        ("buy", 1.0, False, True),  # adds to a long
        ("buy", -1.0, False, False),  # covers a short
        ("sell", -1.0, False, True),  # adds to a short
        ("sell", 1.0, False, False),  # reduces a long
        ("buy", 0.0, True, False),  # reduce-only never opens
    ],
)
def test_is_entry(side, pos, reduce_only, entry) -> None:
    assert is_entry(order(side, reduce_only=reduce_only), pos) is entry


def test_order_price_is_the_limit_then_the_stop_then_the_mark() -> None:
    assert order_price(order(price=95.0), 100.0) == 95.0
    stray = Order(9_001, "BTC/USDT", Side.BUY, OrderType.MARKET, 1.0, created_ts=0, price=90.0)
    assert order_price(stray, 100.0) == 100.0  # a market order's price field is no limit
    assert order_price(stop_order(1.0, "BTC/USDT", 120.0), 100.0) == 120.0
    assert order_price(order(), 100.0) == 100.0


@pytest.mark.parametrize(
    ("o", "mark", "fee", "notional"),
    [
        (order(amount=2.0, price=95.0), 100.0, 0.001, 190.0),  # 2 x the limit 95
        (partly_filled(order(amount=2.0, price=95.0), 1.5), 100.0, 0.0, 47.5),  # 0.5 left
        (partly_filled(order(amount=2.0, price=95.0), 2.0), 100.0, 0.0, 0.0),  # all filled
        (order(quote=100.2), 100.0, 0.002, 100.0),  # quote 100.2 / 1.002: the notional
        # once it fills, a quote-sized order has an amount (1.0): 0.5 left x the mark 100
        (partly_filled(with_amount(order(quote=100.2), 1.0), 0.5), 100.0, 0.002, 50.0),
        (order(amount=2.0), float("nan"), 0.0, 0.0),  # no mark yet: nothing to count
    ],
)
def test_pending_notional(o, mark, fee, notional) -> None:
    assert pending_notional(o, mark, fee) == pytest.approx(notional, rel=1e-12)


@pytest.mark.parametrize(
    ("size", "price", "fee", "quote_sized", "cost"),
    [
        (200.0, 100.0, 0.001, False, 200.2),  # notional 200 plus its 0.1 % fee
        (200.2, 100.0, 0.001, True, 200.2),  # a quote spend costs itself
        (200.2, 0.0, 0.001, True, 200.2),  # no price: the spend
        # a spend of 10.01 at 0.5 buys 10.01 / 0.5005 units, which cost 10.009999999999998:
        # the broker's rounding, kept (not the spend itself) at a price under one unit
        (10.01, 0.5, 0.001, True, 10.009999999999998),
    ],
)
def test_fill_cost(size, price, fee, quote_sized, cost) -> None:
    assert _fill_cost(size, price, fee, quote_sized) == cost


@pytest.mark.parametrize(
    ("amount", "free", "spec", "payable"),
    [
        (2.0, 200.2, None, 2.0),  # 2 @ 100 + 0.1 % costs exactly the 200.2 free: payable
        (2.0, 200.1, MarketSpec("BTC/USDT", lot_step=0.01), 1.99),  # one lot less
        (0.5000000000000001, 50.05, None, 0.5),  # one ulp less under one unit: 0.5
        # two lots less, on the lot grid (2.0 - 0.1 - 0.1 is 1.7999999999999998 in floats)
        (2.0, 180.2, MarketSpec("BTC/USDT", lot_step=0.1), 1.8),
        (2.0, 100.0, MarketSpec("BTC/USDT", lot_step=1.0), 0.0),  # 1 lot costs 100.1: none
        (0.0, 100.0, None, 0.0),
    ],
)
def test_payable_steps_down_until_the_cost_fits(amount, free, spec, payable) -> None:
    assert _payable(amount, 100.0, 0.001, free, False, spec) == payable


def test_payable_steps_down_by_ulps_without_a_lot() -> None:
    # 200.2 / 1.001 / 100 rounds to a cost one ulp over 200.2 at worst: the result fits
    got = _payable(2.0000000000000004, 100.0, 0.001, 200.2, False, None)
    assert got * 100.0 * 1.001 <= 200.2 and got == pytest.approx(2.0, rel=1e-15)


def test_no_equity_says_why_and_what_to_do() -> None:
    risk = RiskEngine(RiskConfig(max_position_pct=0.5))
    d = risk.check(order(), FakeView(cash=0.0))
    assert (d.outcome, d.amount) == (REJECTED, 0.0)
    assert "equity is 0; percentage limits cannot be met" in d.message
    assert "add funds" in d.message



@pytest.mark.parametrize(
    "config",
    [
        {"max_notional": 100.0},
        {"max_order_pct": 0.5},
        {"max_position_pct": 0.5},
        {"max_exposure_pct": 0.5},
        {"strategy_budgets": {"a": 0.5}},
        {"strategy_limits": {"a": {"max_position_pct": 0.5}}},
        {"fee_aware_sizing": True},
        {"min_notional": 5.0},
    ],
)
def test_every_size_limit_needs_a_price(config) -> None:
    # SOL has no mark and a market order no price: no limit can be computed
    risk = RiskEngine(RiskConfig(**config))
    d = risk.check(order(symbol="SOL/USDT"), FakeView())
    assert (d.outcome, d.code) == (REJECTED, RiskCode.NO_PRICE)


@pytest.mark.parametrize(
    ("config_min", "market_min", "setting"),
    [
        (10.0, 5.0, "risk.min_notional"),  # the larger minimum is named
        (5.0, 10.0, "market.min_notional"),
        (10.0, 10.0, "risk.min_notional"),  # equal: the setting the user can change
        (None, 10.0, "market.min_notional"),  # no setting: the market's
    ],
)
def test_the_minimum_notional_names_its_source(config_min, market_min, setting) -> None:
    markets = {"BTC/USDT": MarketSpec("BTC/USDT", min_notional=market_min, taker_fee=0.0)}
    risk = RiskEngine(RiskConfig(min_notional=config_min), markets=markets)
    d = risk.check(order(amount=0.01), FakeView())  # 1 USDT
    assert (d.code, d.setting, d.limit) == (RiskCode.MIN_NOTIONAL, setting, 10.0)


def test_fee_aware_sizing_resizes_what_float_slack_would_let_through() -> None:
    # 9.990009990009993 BTC @ 100 is within the 1e-12 slack of the cash cap 1000 / 1.001,
    # but costs 1000.0000000000002 with the 0.1 % fee: more than the 1000 free, resized
    markets = {"BTC/USDT": MarketSpec("BTC/USDT", taker_fee=0.001)}
    risk = RiskEngine(RiskConfig(fee_aware_sizing=True), markets=markets)
    d = risk.check(order(amount=9.990009990009993), FakeView())
    assert (d.outcome, d.code) == (RESIZED, RiskCode.INSUFFICIENT_CASH)
    assert d.amount * 100.0 * 1.001 <= 1000.0 and d.amount == pytest.approx(9.99000999000999)


def test_no_room_at_all_is_a_plain_rejection() -> None:
    # holding exactly the limit (200 of 1000 at 20 %) in resize mode: the cap is 0
    risk = RiskEngine(RiskConfig(max_position_pct=0.2, on_size_breach="resize"))
    d = risk.check(order(amount=1.0), FakeView(cash=800.0, positions={"BTC/USDT": 2.0}))
    assert (d.outcome, d.code) == (REJECTED, RiskCode.MAX_POSITION)
    assert "the most that fits" not in d.message


def test_a_notional_cap_reads_in_quote_units_not_percent() -> None:
    risk = RiskEngine(RiskConfig(max_notional=200.0))
    d = risk.check(order(amount=3.0), FakeView())
    assert "order notional 300 exceeds 200" in d.message


def test_the_cash_cap_reads_in_quote_units() -> None:
    markets = {"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.001, taker_fee=0.01)}
    risk = RiskEngine(RiskConfig(fee_aware_sizing=True), markets=markets)
    d = risk.check(order(amount=10.0), FakeView())
    assert "order plus fees costs 1010, free cash is 1000" in d.message


def test_a_quote_spend_steps_down_by_ulps_never_onto_the_lot_grid() -> None:
    # a spend of 200.2345 costs 200.23450000000003 (float rounding of the broker's
    # expression); one ulp under that is free: the spend steps down by ulps to
    # 200.23449999999997, a quote amount the lot step (0.001 base) has nothing to do with
    free = math.nextafter(200.23450000000003, 0.0)
    lot = MarketSpec("BTC/USDT", lot_step=0.001)
    assert _payable(200.2345, 100.0, 0.001, free, True, lot) == 200.23449999999997


def test_payable_gives_up_after_64_steps() -> None:
    # 2 BTC @ 100 against 100 free with a lot of 0.001: a thousand lots too many, the cap
    # was wrong: nothing rather than a long walk down
    assert _payable(2.0, 100.0, 0.001, 100.0, False, MarketSpec("BTC/USDT", lot_step=0.001)) == 0.0


def test_a_strategy_budget_adds_all_of_its_holdings() -> None:
    # "a" holds 1 BTC and 1 ETH (200) and buys 1 BTC (100): 300 / 1000 = 30 % > 25 %
    risk = RiskEngine(RiskConfig(strategy_budgets={"a": 0.25}))
    risk.bind(symbols=["ETH/USDT"])
    for f in (bought("BTC/USDT", 1.0, "a"), bought("ETH/USDT", 1.0, "a")):
        risk.on_fill(f, None)
    view = FakeView(cash=800.0, positions={"BTC/USDT": 1.0, "ETH/USDT": 1.0})
    d = risk.check(order(amount=1.0, strategy_id="a"), view)
    assert (d.code, d.observed) == (RiskCode.STRATEGY_BUDGET, pytest.approx(0.30))


def test_a_market_minimum_under_one_unit_is_named_as_the_markets() -> None:
    markets = {"BTC/USDT": MarketSpec("BTC/USDT", min_notional=0.5, taker_fee=0.0)}
    d = RiskEngine(RiskConfig(), markets=markets).check(order(amount=0.001), FakeView())
    assert (d.code, d.setting, d.limit) == (RiskCode.MIN_NOTIONAL, "market.min_notional", 0.5)
