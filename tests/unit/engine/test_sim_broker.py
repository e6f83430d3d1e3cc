"""SimulatedBroker scenarios as small OHLC tables, one behaviour per test.

Conventions: bars are one minute; ``bar(i, ...)`` opens at ``i * MIN``. An order placed
while handling bar ``i - 1`` (at its close) has ``created_ts = i * MIN`` and meets bar ``i``
first. Fees: maker 0.02 %, taker 0.1 %. Tick 0.01, lot 0.001, min notional 5 USDT.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.costs.slippage import FixedBpsSlippage
from tradeloom.engine.errors import IllegalTransition, OrderError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import (
    Bar,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradeloom.engine.sim.broker import IntrabarRule, SimulatedBroker

SYM = "BTC/USDT"
MIN = 60_000
SPEC = MarketSpec(
    SYM,
    tick_size=0.01,
    lot_step=0.001,
    min_amount=0.001,
    min_notional=5.0,
    maker_fee=0.0002,
    taker_fee=0.001,
)
B, S = Side.BUY, Side.SELL
MKT, LMT, STP, STL, TRL = (
    OrderType.MARKET,
    OrderType.LIMIT,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
    OrderType.TRAILING_STOP,
)
M, T = Liquidity.MAKER, Liquidity.TAKER
ST = OrderStatus


class Account:
    """A test AccountView: balances updated by the fills the test applies."""

    def __init__(self, **balances: float) -> None:
        self.bal: dict[str, float] = defaultdict(float, balances)

    def free(self, asset: str) -> float:
        return self.bal[asset]

    def apply(self, fills: list[Fill]) -> None:
        for f in fills:
            base, quote = f.symbol.split("/")
            if f.side is B:
                self.bal[quote] = self.bal[quote] - (f.price * f.amount + f.fee)
                self.bal[base] += f.amount
            else:
                self.bal[quote] = self.bal[quote] + (f.price * f.amount - f.fee)
                self.bal[base] -= f.amount


def bar(i: int, o: float, h: float, l: float, c: float, v: float = 1e6) -> Bar:
    return Bar(SYM, i * MIN, (i + 1) * MIN, o, h, l, c, v)


def order(oid: int, side: Side, kind: OrderType, amount: float, at: int = 1, **kw) -> Order:
    """An order placed at the close of bar ``at - 1`` (meets bar ``at`` first)."""
    return Order(oid, SYM, side, kind, amount, at * MIN, **kw)


class Sim:
    def __init__(self, usdt: float = 100_000.0, btc: float = 0.0, **kw) -> None:
        self.acct = Account(USDT=usdt, BTC=btc)
        self.broker = SimulatedBroker({SYM: SPEC}, self.acct, **kw)

    def bar(self, *args, **kw) -> list[Fill]:
        fills = self.broker.on_bar(bar(*args, **kw))
        self.acct.apply(fills)
        return fills

    def table(self, rows) -> list[list[tuple]]:
        return [[(f.order_id, f.price, f.amount, f.liquidity) for f in self.bar(*r)] for r in rows]


def prime(sim: Sim, close: float = 100.0) -> None:
    """Bar 0 gives the broker a last price (for post-only, notional and trailing)."""
    sim.bar(0, close, close, close, close)


# --------------------------------------------------------------------------- time rule
def test_order_placed_at_bar_close_never_fills_on_that_bar() -> None:
    sim = Sim()
    sim.broker.submit(order(1, B, MKT, 1.0, at=1), 1 * MIN)  # placed at bar 0's close
    assert sim.bar(0, 100, 200, 1, 100) == []  # bar 0 must not fill it, whatever its range
    fills = sim.bar(1, 101, 102, 100, 101)
    assert [(f.price, f.amount, f.ts) for f in fills] == [(101.0, 1.0, 1 * MIN)]


def test_market_fill_at_next_open_with_taker_fee_and_slippage() -> None:
    sim = Sim(slippage=FixedBpsSlippage(10))
    sim.broker.submit(order(1, B, MKT, 2.0), MIN)
    (f,) = sim.bar(1, 100, 105, 95, 101)
    assert f.price == pytest.approx(100.1)  # open + 10 bp
    assert f.fee == pytest.approx(100.1 * 2 * 0.001)
    assert f.liquidity is T


def test_quote_sized_market_buy_spends_quote_including_fee() -> None:
    sim = Sim(usdt=1000.0)
    o = order(1, B, MKT, 0.0, quote_amount=1000.0)
    sim.broker.submit(o, MIN)
    (f,) = sim.bar(1, 100, 101, 99, 100)
    # 1000 / (100 * 1.001) = 9.99000999 -> lot 0.001 -> 9.99
    assert (f.amount, f.fee) == (9.99, pytest.approx(0.999))
    assert o.amount == 9.99 and o.status is ST.FILLED
    assert sim.acct.bal["USDT"] == pytest.approx(0.001) and sim.acct.bal["USDT"] >= 0


# --------------------------------------------------------------------------- limits
@pytest.mark.parametrize(
    ("side", "limit", "rows", "expected"),
    [
        # buy limit 99: bar 1 low 99.5 (no), bar 2 low 98.7 -> 99 maker
        (B, 99.0, [(1, 100, 101, 99.5, 100), (2, 100, 100.5, 98.7, 99)], [[], [(99.0, M)]]),
        # buy limit 101 arriving while the open (100) is below it: taker at the open
        (B, 101.0, [(1, 100, 102, 99, 101)], [[(100.0, T)]]),
        # resting buy limit 99, bar 2 gaps down to open 98: maker at the open
        (B, 99.0, [(1, 100, 101, 99.5, 100), (2, 98, 99, 97, 98)], [[], [(98.0, M)]]),
        # sell limit 102: touched by bar 1's high
        (S, 102.0, [(1, 100, 102, 99, 101)], [[(102.0, M)]]),
    ],
)
def test_limit_fills(side, limit, rows, expected) -> None:
    sim = Sim(btc=10.0)
    sim.broker.submit(order(1, side, LMT, 1.0, price=limit), MIN)
    got = [[(p, liq) for _, p, _, liq in fills] for fills in sim.table(rows)]
    assert got == expected


# --------------------------------------------------------------------------- stops
@pytest.mark.parametrize(
    ("side", "stop", "row", "price"),
    [
        (S, 95.0, (1, 100, 101, 94, 96), 95.0),  # low crosses the stop: fills at the stop
        (S, 95.0, (1, 93, 96, 92, 94), 93.0),  # gap through: fills at the open (worse)
        (S, 95.0, (1, 100, 101, 95.5, 96), None),  # not reached
        (B, 105.0, (1, 100, 106, 99, 105), 105.0),
        (B, 105.0, (1, 107, 108, 106, 107), 107.0),  # gap up through a buy stop
    ],
)
def test_stop_market(side, stop, row, price) -> None:
    sim = Sim(btc=10.0)
    sim.broker.submit(order(1, side, STP, 1.0, stop_price=stop), MIN)
    fills = sim.bar(*row)
    assert [(f.price, f.liquidity) for f in fills] == ([] if price is None else [(price, T)])


def test_stop_fill_slips_adversely() -> None:
    sim = Sim(btc=1.0, slippage=FixedBpsSlippage(100))
    sim.broker.submit(order(1, S, STP, 1.0, stop_price=95.0), MIN)
    (f,) = sim.bar(1, 100, 101, 94, 96)
    assert f.price == pytest.approx(94.05)  # 95 - 1 %


def test_stop_limit_trigger_bar_then_rests() -> None:
    # sell stop 100 limit 99. Bar 1 gaps to 97: triggered, not marketable at 97 -> rests.
    # Bar 2 high 99.2 reaches the resting limit: maker at 99.
    sim = Sim(btc=1.0)
    o = order(1, S, STL, 1.0, stop_price=100.0, price=99.0)
    sim.broker.submit(o, MIN)
    rows = [(1, 97, 99.5, 96, 97), (2, 97, 99.2, 96.5, 98)]
    assert sim.table(rows) == [[], [(1, 99.0, 1.0, M)]]
    assert o.triggered


def test_stop_limit_fills_on_trigger_bar_when_marketable() -> None:
    sim = Sim(btc=1.0)
    sim.broker.submit(order(1, S, STL, 1.0, stop_price=100.0, price=99.0), MIN)
    assert sim.table([(1, 101, 101, 98, 99)]) == [[(1, 100.0, 1.0, T)]]


def test_trailing_stop_ratchets_after_the_trigger_check() -> None:
    sim = Sim(btc=1.0)
    prime(sim, 100.0)  # last price 100 -> level 95
    o = order(1, S, TRL, 1.0, trail_amount=5.0)
    sim.broker.submit(o, MIN)
    assert o.stop_price == 95.0
    rows = [
        (1, 100, 108, 97, 107),  # level 95 not hit; high 108 -> level 103
        (2, 107, 110, 104, 109),  # 104 > 103: no; would have hit 105 if ratcheted first
        (3, 109, 109.5, 104.5, 105),  # level 105 (from 110): low 104.5 -> fills at 105
    ]
    got = sim.table(rows)
    assert got == [[], [], [(1, 105.0, 1.0, T)]]


def test_trailing_stop_pct_gap() -> None:
    sim = Sim(btc=1.0)
    prime(sim, 200.0)
    o = order(1, S, TRL, 1.0, trail_pct=0.1)  # level 180
    sim.broker.submit(o, MIN)
    assert sim.table([(1, 170, 175, 165, 170)]) == [[(1, 170.0, 1.0, T)]]  # gap below 180


# --------------------------------------------------------------------------- OCO and brackets
def bracket_sim(
    rule: IntrabarRule, tps=((110.0, 1.0),), amount: float = 1.0
) -> tuple[Sim, list[Order]]:
    sim = Sim(intrabar_rule=rule)
    entry = order(1, B, MKT, amount)
    sl = order(2, S, STP, amount, stop_price=95.0)
    legs = [order(3 + i, S, LMT, a, price=p) for i, (p, a) in enumerate(tps)]
    sim.broker.submit_bracket(entry, sl, legs, MIN)
    return sim, [entry, sl, *legs]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (IntrabarRule.ADVERSE_FIRST, [(2, 95.0)]),  # stop first, TP cancelled
        (IntrabarRule.FAVORABLE_FIRST, [(3, 110.0)]),  # TP first, SL cancelled
        (IntrabarRule.OPEN_DISTANCE, [(2, 95.0)]),  # |100-95| < |100-110|
    ],
)
def test_same_bar_stop_and_take_profit(rule, expected) -> None:
    sim, (_entry, sl, tp) = bracket_sim(rule)
    assert sim.table([(1, 100, 100, 100, 100)]) == [[(1, 100.0, 1.0, T)]]
    fills = sim.bar(2, 100, 111, 94, 100)  # range holds both 95 and 110
    assert [(f.order_id, f.price) for f in fills] == expected
    assert len(sim.broker.intrabar_warnings) == 1
    w = sim.broker.intrabar_warnings[0]
    assert (w.ts, w.symbol, w.rule, set(w.order_ids)) == (2 * MIN, SYM, rule, {2, 3})
    assert {sl.status, tp.status} == {ST.FILLED, ST.CANCELED}


def test_open_distance_picks_the_nearer_take_profit() -> None:
    sim, (_, sl, _tp) = bracket_sim(IntrabarRule.OPEN_DISTANCE, tps=((103.0, 1.0),))
    sim.bar(1, 100, 100, 100, 100)
    fills = sim.bar(2, 100, 104, 94, 100)  # |100-103| = 3 < 5
    assert [(f.order_id, f.price) for f in fills] == [(3, 103.0)]
    assert sl.status is ST.CANCELED


def test_bracket_legs_wait_for_the_bar_after_the_entry_fill() -> None:
    sim, (_entry, sl, tp) = bracket_sim(IntrabarRule.ADVERSE_FIRST)
    fills = sim.bar(1, 100, 111, 90, 100)  # entry fills at the open; legs not armed yet
    assert [f.order_id for f in fills] == [1]
    assert sl.is_open and tp.is_open
    assert sim.broker.intrabar_warnings == []


def test_bracket_two_take_profits_scale_out_and_shrink_the_stop() -> None:
    sim, (_entry, sl, _tp1, _tp2) = bracket_sim(
        IntrabarRule.ADVERSE_FIRST, tps=((105.0, 1.0), (110.0, 1.0)), amount=2.0
    )
    rows = [
        (1, 100, 100, 100, 100),  # entry 2.0 @ 100
        (2, 100, 106, 99, 104),  # TP1 1.0 @ 105; SL shrinks to 1.0
        (3, 104, 111, 103, 110),  # TP2 1.0 @ 110; SL cancelled
    ]
    got = sim.table(rows)
    assert got == [[(1, 100.0, 2.0, T)], [(3, 105.0, 1.0, M)], [(4, 110.0, 1.0, M)]]
    assert sl.amount == 0.0 and sl.status is ST.CANCELED
    assert sim.acct.bal["BTC"] == 0.0


def test_bracket_stop_after_first_take_profit_sells_the_rest() -> None:
    sim, (_entry, sl, _tp1, tp2) = bracket_sim(
        IntrabarRule.ADVERSE_FIRST, tps=((105.0, 1.0), (110.0, 1.0)), amount=2.0
    )
    rows = [(1, 100, 100, 100, 100), (2, 100, 106, 99, 104), (3, 104, 104, 94, 95)]
    got = sim.table(rows)
    assert got[2] == [(2, 95.0, 1.0, T)]  # only the remaining 1.0
    assert tp2.status is ST.CANCELED and sl.status is ST.FILLED


def test_bracket_favorable_first_fills_take_profits_then_the_stop() -> None:
    sim, (_entry, _sl, _tp1, tp2) = bracket_sim(
        IntrabarRule.FAVORABLE_FIRST, tps=((105.0, 1.0), (110.0, 1.0)), amount=2.0
    )
    sim.bar(1, 100, 100, 100, 100)
    fills = sim.bar(2, 100, 106, 94, 100)  # up to 106 (TP1) then down to 94 (SL for the rest)
    assert [(f.order_id, f.price, f.amount) for f in fills] == [(3, 105.0, 1.0), (2, 95.0, 1.0)]
    assert tp2.status is ST.CANCELED


def test_quote_sized_bracket_scales_legs_to_the_fill() -> None:
    sim = Sim(usdt=1001.0)
    entry = order(1, B, MKT, 0.0, quote_amount=1001.0)  # 10 BTC at 100 incl. 0.1 % fee
    sl = order(2, S, STP, 1.0, stop_price=90.0)
    tps = [order(3, S, LMT, 0.5, price=110.0), order(4, S, LMT, 0.5, price=120.0)]
    sim.broker.submit_bracket(entry, sl, tps, MIN)
    sim.bar(1, 100, 100, 100, 100)
    assert (entry.filled, sl.amount, tps[0].amount, tps[1].amount) == (10.0, 10.0, 5.0, 5.0)


def test_quote_sized_buy_is_sized_again_at_the_slipped_price() -> None:
    sim = Sim(usdt=1000.0, slippage=FixedBpsSlippage(10))
    o = order(1, B, MKT, 0.0, quote_amount=1000.0)
    sim.broker.submit(o, MIN)
    (f,) = sim.bar(1, 100, 101, 99, 100)
    # at the open: 1000 / (100 * 1.001) = 9.99000999 -> 9.99; slipped to 100.1:
    # 1000 / (100.1 * 1.001) = 9.98003... -> 9.98, the whole order
    assert (f.price, f.amount) == (pytest.approx(100.1), 9.98)
    assert (o.amount, o.status) == (9.98, ST.FILLED)


def test_quote_sized_buy_under_the_minimum_at_the_fill_is_cancelled() -> None:
    sim = Sim(usdt=1000.0)
    prime(sim, 1200.0)  # a last price: the order is checked at submission
    o = order(1, B, MKT, 0.0, quote_amount=5.9)
    sim.broker.submit(o, MIN)
    assert o.status is ST.OPEN
    # 5.9 / (1200 * 1.001) = 0.00491 -> lot 0.004: 4.8 USDT < the 5 USDT minimum
    assert sim.bar(1, 1200, 1200, 1200, 1200) == []
    assert o.status is ST.CANCELED and "at fill price 1200" in o.reason


def test_an_accepted_sell_of_the_whole_holding_fills_though_the_price_fell_under_the_minimum() -> None:
    # Venues apply the minimum-notional filter when an order is placed, not when it fills
    # (Binance MIN_NOTIONAL/NOTIONAL, -1013 before matching). 0.06 BTC at 100 = 6 USDT
    # passes the 5 USDT minimum; the next open is 80 (4.8 USDT): the sell still fills.
    sim = Sim(usdt=0.0, btc=0.06)
    prime(sim, 100.0)
    o = order(1, S, MKT, 0.06, reduce_only=True)
    sim.broker.submit(o, MIN)
    assert o.status is ST.OPEN
    (f,) = sim.bar(1, 80, 80, 80, 80)
    assert (f.price, f.amount, o.status) == (80.0, 0.06, ST.FILLED)


def test_oco_fill_cancels_the_other() -> None:
    sim = Sim(btc=1.0)
    a = order(1, S, LMT, 1.0, price=110.0)
    b = order(2, S, STP, 1.0, stop_price=95.0)
    sim.broker.submit_oco(a, b, MIN)
    assert a.oco_group == b.oco_group == 1
    assert sim.table([(1, 100, 111, 99, 110)]) == [[(1, 110.0, 1.0, M)]]
    assert b.status is ST.CANCELED and "OCO order 1 filled" in b.reason


def test_an_oco_limit_that_rested_a_bar_fills_a_gap_at_the_open_as_maker() -> None:
    sim = Sim(btc=1.0)
    a = order(1, S, LMT, 1.0, price=110.0)
    b = order(2, S, STP, 1.0, stop_price=95.0)
    sim.broker.submit_oco(a, b, MIN)
    assert sim.bar(1, 100, 105, 99, 104) == []  # neither reached: both rest
    # bar 2 opens at 112, through the resting limit: filled at the open, as a maker
    assert sim.table([(2, 112, 113, 111, 112)]) == [[(1, 112.0, 1.0, M)]]


def test_cancel_unfilled_entry_cancels_its_legs() -> None:
    sim, (entry, sl, tp) = bracket_sim(IntrabarRule.ADVERSE_FIRST)
    assert sim.broker.cancel(1, MIN) is True
    assert (entry.status, sl.status, tp.status) == (ST.CANCELED,) * 3
    assert sim.broker.cancel(1, MIN) is False  # already terminal
    assert sim.broker.cancel(999, MIN) is False  # unknown
    assert sim.broker.open_orders() == []


# --------------------------------------------------------------------------- TIF and volume
def test_ioc_fills_what_it_can_and_the_rest_expires() -> None:
    sim = Sim(volume_share=0.1)
    o = order(1, B, LMT, 2.0, price=100.0, tif=TimeInForce.IOC)
    sim.broker.submit(o, MIN)
    assert sim.table([(1, 101, 101, 99, 100, 10.0)]) == [[(1, 100.0, 1.0, M)]]  # 10 % of 10
    assert o.status is ST.EXPIRED and o.filled == 1.0


def test_ioc_not_reached_expires() -> None:
    sim = Sim()
    o = order(1, B, LMT, 1.0, price=95.0, tif=TimeInForce.IOC)
    sim.broker.submit(o, MIN)
    sim.bar(1, 101, 101, 99, 100)
    assert o.status is ST.EXPIRED and o.filled == 0.0


@pytest.mark.parametrize(
    ("volume", "filled", "status"), [(10.0, 0.0, ST.EXPIRED), (20.0, 2.0, ST.FILLED)]
)
def test_fok_all_or_nothing(volume, filled, status) -> None:
    sim = Sim(volume_share=0.1)
    o = order(1, B, MKT, 2.0, tif=TimeInForce.FOK)
    sim.broker.submit(o, MIN)
    sim.bar(1, 100, 101, 99, 100, volume)
    assert (o.filled, o.status) == (filled, status)


def test_partial_fills_by_volume_share_across_bars() -> None:
    sim = Sim(volume_share=0.1)
    o = order(1, B, MKT, 2.5)
    sim.broker.submit(o, MIN)
    rows = [
        (1, 100, 100, 100, 100, 10.0),
        (2, 101, 101, 101, 101, 10.0),
        (3, 102, 102, 102, 102, 10.0),
    ]
    assert sim.table(rows) == [[(1, 100.0, 1.0, T)], [(1, 101.0, 1.0, T)], [(1, 102.0, 0.5, T)]]
    assert [s for _, s in o.history] == ["open", "partially_filled", "partially_filled", "filled"]
    assert o.avg_price == pytest.approx((100 + 101 + 51) / 2.5)


def test_volume_share_is_shared_by_orders_of_one_bar() -> None:
    sim = Sim(volume_share=0.1)
    sim.broker.submit(order(1, B, LMT, 1.0, price=100.0), MIN)
    sim.broker.submit(order(2, B, LMT, 1.0, price=100.0), MIN)
    assert sim.table([(1, 101, 101, 99, 100, 15.0)]) == [[(1, 100.0, 1.0, M), (2, 100.0, 0.5, M)]]


# --------------------------------------------------------------------------- submit checks
def test_post_only_that_would_cross_is_rejected() -> None:
    sim = Sim()
    prime(sim, 100.0)
    o = order(1, B, LMT, 1.0, price=100.0, post_only=True)
    sim.broker.submit(o, MIN)
    assert o.status is ST.REJECTED
    assert o.reason == (
        "rejected: post-only buy limit 100 >= last price 100 for BTC/USDT would take "
        "liquidity; lower the price or drop post_only"
    )


def test_post_only_crossing_at_arrival_is_cancelled_not_filled() -> None:
    sim = Sim()
    prime(sim, 100.0)
    o = order(1, B, LMT, 1.0, price=99.0, post_only=True)
    sim.broker.submit(o, MIN)
    assert sim.bar(1, 98, 99, 97, 98) == []
    assert o.status is ST.CANCELED and "post-only" in o.reason


def test_reduce_only_sell_is_capped_to_the_position() -> None:
    sim = Sim(btc=0.4)
    o = order(1, S, MKT, 1.0, reduce_only=True)
    sim.broker.submit(o, MIN)
    assert o.amount == 0.4 and o.status is ST.OPEN


@pytest.mark.parametrize(
    ("side", "btc", "match"),
    [(B, 1.0, "reduce-only buy would open or increase"), (S, 0.0, "no position to reduce")],
)
def test_reduce_only_rejected_when_it_would_open(side, btc, match) -> None:
    sim = Sim(btc=btc)
    o = order(1, side, MKT, 1.0, reduce_only=True)
    sim.broker.submit(o, MIN)
    assert o.status is ST.REJECTED and match in o.reason


@pytest.mark.parametrize(
    ("amount", "price", "reason"),
    [
        (
            0.0321,
            100.0,
            "rejected: notional 3.20 USDT < min notional 5.00 for BTC/USDT; increase amount",
        ),
        (
            0.0004,
            100_000.0,
            "rejected: amount 0.0004 BTC (lot-rounded 0) < min amount 0.001 for BTC/USDT; increase amount",
        ),
        (-1.0, 100.0, "rejected: amount -1.0 must be a finite number > 0; set amount"),
    ],
)
def test_minimum_rejections_name_rule_figure_and_fix(amount, price, reason) -> None:
    sim = Sim()
    o = order(1, B, LMT, amount, price=price)
    sim.broker.submit(o, MIN)
    assert (o.status, o.reason) == (ST.REJECTED, reason)


def test_market_order_min_notional_uses_the_last_close() -> None:
    sim = Sim()
    prime(sim, 100.0)
    o = order(1, B, MKT, 0.04)
    sim.broker.submit(o, MIN)
    assert o.reason.startswith("rejected: notional 4.00 USDT < min notional 5.00")


def test_tick_and_lot_rounding() -> None:
    sim = Sim()
    o = order(1, B, LMT, 1.23456, price=100.004, stop_price=None)
    sim.broker.submit(o, MIN)
    assert (o.amount, o.price, o.status) == (1.234, 100.0, ST.OPEN)


def test_unknown_symbol_is_rejected_with_the_fix() -> None:
    sim = Sim()
    o = Order(1, "ETH/USDT", B, MKT, 1.0, MIN)
    sim.broker.submit(o, MIN)
    assert o.status is ST.REJECTED
    assert "unknown symbol 'ETH/USDT' (known: BTC/USDT)" in o.reason


def test_programming_errors_raise() -> None:
    sim = Sim()
    o = order(1, B, MKT, 1.0)
    sim.broker.submit(o, MIN)
    with pytest.raises(OrderError, match="already submitted"):
        sim.broker.submit(o, MIN)
    o2 = order(2, B, MKT, 1.0)
    o2.status = ST.OPEN
    with pytest.raises(IllegalTransition):
        sim.broker.submit(o2, MIN)


# --------------------------------------------------------------------------- funds
def test_insufficient_funds_reduces_and_cancels_the_rest() -> None:
    sim = Sim(usdt=500.0)
    o = order(1, B, MKT, 10.0)
    sim.broker.submit(o, MIN)
    (f,) = sim.bar(1, 100, 100, 100, 100)
    # 500 / (100 * 1.001) = 4.995004... -> lot 0.001 -> 4.995; cost 499.9995
    assert f.amount == 4.995
    assert o.status is ST.CANCELED
    assert o.reason == (
        "canceled: insufficient funds for the rest: need 1001.00 USDT, free 500.00; "
        "filled what was payable"
    )
    assert sim.acct.bal["USDT"] >= 0.0


@pytest.mark.parametrize(
    ("usdt", "tif", "reason"),
    [
        (
            3.0,
            TimeInForce.GTC,
            "canceled: insufficient funds: need 1001.00 USDT, free 3.00; reduce the amount or add funds",
        ),
        (
            500.0,
            TimeInForce.FOK,
            "canceled: insufficient funds: need 1001.00 USDT, free 500.00; reduce the amount or add funds",
        ),
    ],
)
def test_insufficient_funds_cancels_when_reduction_is_not_allowed(usdt, tif, reason) -> None:
    sim = Sim(usdt=usdt)
    o = order(1, B, MKT, 10.0, tif=tif)
    sim.broker.submit(o, MIN)
    assert sim.bar(1, 100, 100, 100, 100) == []
    assert (o.status, o.reason) == (ST.CANCELED, reason)


def test_fills_of_one_bar_see_earlier_fills_balances() -> None:
    sim = Sim(usdt=150.0)
    sim.broker.submit(order(1, B, MKT, 1.0), MIN)
    sim.broker.submit(order(2, B, MKT, 1.0), MIN)
    fills = sim.bar(1, 100, 100, 100, 100)
    assert [(f.order_id, f.amount) for f in fills] == [
        (1, 1.0),
        (2, 0.498),
    ]  # 49.9 / 100.1 -> 0.498
    assert sim.acct.bal["USDT"] >= 0.0


def test_sell_cannot_exceed_free_base() -> None:
    sim = Sim(btc=0.5)
    o = order(1, S, MKT, 1.0)
    sim.broker.submit(o, MIN)
    (f,) = sim.bar(1, 100, 100, 100, 100)
    assert f.amount == 0.5 and sim.acct.bal["BTC"] == 0.0


# --------------------------------------------------------------------------- ticks
def test_tick_fills() -> None:
    sim = Sim(btc=1.0)
    sim.broker.submit(order(1, B, LMT, 1.0, price=99.0), MIN)
    sim.broker.submit(order(2, S, STP, 1.0, stop_price=95.0), MIN)
    assert sim.broker.on_trade(SYM, MIN, 90.0, 5.0) == []  # same ts as creation: too early
    fills = sim.broker.on_trade(SYM, MIN + 1, 94.8, 5.0)
    assert [(f.order_id, f.price, f.liquidity) for f in fills] == [(1, 99.0, M), (2, 94.8, T)]


def test_tick_fill_capped_by_trade_amount() -> None:
    sim = Sim(volume_share=0.5)
    o = order(1, B, LMT, 1.0, price=99.0)
    sim.broker.submit(o, MIN)
    (f,) = sim.broker.on_trade(SYM, MIN + 1, 98.0, 0.6)
    assert f.amount == 0.3 and o.status is ST.PARTIALLY_FILLED


# --------------------------------------------------------------------------- lifecycle API
def test_replace_gives_a_new_order_and_cancels_the_old() -> None:
    sim = Sim()
    o = order(1, B, LMT, 1.0, price=95.0)
    sim.broker.submit(o, MIN)
    new = sim.broker.replace(1, 2 * MIN, price=96.004)
    assert (new.id, new.price, new.amount, new.created_ts, new.status) == (
        1_000_000,
        96.0,
        1.0,
        2 * MIN,
        ST.OPEN,
    )
    assert o.status is ST.CANCELED and o.reason == "replaced by order 1000000"
    assert sim.broker.open_orders() == [new]
    with pytest.raises(OrderError, match="cannot replace order 1: it is canceled"):
        sim.broker.replace(1, 2 * MIN, price=97.0)


def test_replace_that_would_be_rejected_keeps_the_old_order() -> None:
    sim = Sim(id_source=iter(range(50, 60)).__next__)
    o = order(1, B, LMT, 1.0, price=95.0)
    sim.broker.submit(o, MIN)
    new = sim.broker.replace(1, 2 * MIN, amount=0.01)  # notional 0.95 < 5
    assert new.id == 50 and new.status is ST.REJECTED
    assert o.status is ST.OPEN


def test_drain_updates_in_change_order_each_once() -> None:
    sim = Sim()
    a, b = order(1, B, MKT, 1.0), order(2, B, LMT, 1.0, price=90.0)
    sim.broker.submit(a, MIN)
    sim.broker.submit(b, MIN)
    assert sim.broker.drain_updates() == [a, b]
    assert sim.broker.drain_updates() == []
    sim.bar(1, 100, 100, 100, 100)
    sim.broker.cancel(2, 2 * MIN)
    assert [o.status for o in sim.broker.drain_updates()] == [ST.FILLED, ST.CANCELED]


def test_a_rejected_order_is_drained_as_an_update() -> None:
    sim = Sim()
    o = order(1, B, MKT, 0.0004)  # under the 0.001 minimum amount
    sim.broker.submit(o, MIN)
    assert o.status is ST.REJECTED
    assert sim.broker.drain_updates() == [o]


def test_a_stop_loss_shrunk_by_a_take_profit_is_drained_with_its_new_amount() -> None:
    sim, (_entry, sl, tp1, _tp2) = bracket_sim(
        IntrabarRule.ADVERSE_FIRST, tps=((105.0, 1.0), (110.0, 1.0)), amount=2.0
    )
    sim.bar(1, 100, 100, 100, 100)  # entry 2.0 @ 100
    sim.broker.drain_updates()
    sim.bar(2, 100, 106, 99, 104)  # TP1 1.0 @ 105: the stop-loss now covers the other 1.0
    updates = sim.broker.drain_updates()
    assert tp1 in updates and sl in updates
    assert (sl.amount, sl.status) == (1.0, ST.OPEN)


def test_orders_filled_on_one_bar_see_the_coin_the_earlier_ones_bought() -> None:
    # two buys of 1 BTC then a sell of 2, all at bar 1's open: the sell finds the 2 BTC
    # the buys left (the account is booked after the bar, the broker keeps the balances)
    sim = Sim(usdt=1000.0)
    for oid, side, amount in ((1, B, 1.0), (2, B, 1.0), (3, S, 2.0)):
        sim.broker.submit(order(oid, side, MKT, amount), MIN)
    assert sim.table([(1, 100, 100, 100, 100)]) == [[(1, 100.0, 1.0, T), (2, 100.0, 1.0, T),
                                                    (3, 100.0, 2.0, T)]]
    assert sim.acct.bal["BTC"] == 0.0


def test_expire_all_and_open_orders_oldest_first() -> None:
    sim = Sim()
    orders = [order(i, B, LMT, 1.0, price=90.0 + i) for i in (5, 3, 4)]
    for o in orders:
        sim.broker.submit(o, MIN)
    assert [o.id for o in sim.broker.open_orders(SYM)] == [5, 3, 4]
    sim.broker.expire_all(9 * MIN)
    assert all(o.status is ST.EXPIRED and o.reason == "expired: end of run" for o in orders)
    assert sim.broker.open_orders() == [] and sim.broker.get(3) is orders[1]
    with pytest.raises(OrderError, match="unknown order id 77"):
        sim.broker.get(77)


# --------------------------------------------------------------------------- properties

KINDS = [MKT, LMT, STP, STL, TRL]


@st.composite
def scenarios(draw):
    n = draw(st.integers(2, 12))
    bars, close = [], 100.0
    for i in range(n):
        o = round(close * (1 + draw(st.floats(-0.03, 0.03))), 2)
        c = round(o * (1 + draw(st.floats(-0.03, 0.03))), 2)
        h = round(max(o, c) * (1 + draw(st.floats(0, 0.03))), 2)
        l = round(min(o, c) * (1 - draw(st.floats(0, 0.03))), 2)
        v = draw(st.sampled_from([0.0, 1.0, 5.0, 50.0]))
        bars.append(bar(i, o, h, l, c, v))
        close = c
    specs = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1),  # placed at bar index (created_ts = its open)
                st.sampled_from(["single", "single", "oco", "bracket"]),
                st.sampled_from([B, S]),
                st.sampled_from(KINDS),
                st.floats(0.01, 3.0),  # amount
                st.floats(-0.05, 0.05),  # price offset
                st.sampled_from(list(TimeInForce)),
                st.booleans(),  # reduce_only
            ),
            max_size=12,
        )
    )
    config = {
        "volume_share": draw(st.sampled_from([None, 0.3, 1.0])),
        "intrabar_rule": draw(st.sampled_from(list(IntrabarRule))),
    }
    money = (draw(st.sampled_from([50.0, 500.0, 5000.0])), draw(st.sampled_from([0.0, 1.0, 5.0])))
    return bars, specs, config, money


def _build(oid: int, ref: float, at: int, side, kind, amount, off, tif, reduce_only) -> Order:
    kw: dict = {"tif": tif, "reduce_only": reduce_only}
    px = ref * (1 + off)
    if kind in (LMT, STL):
        kw["price"] = px
    if kind in (STP, STL):
        kw["stop_price"] = ref * (1 - off) if kind is STL else px
    if kind is TRL:
        kw["trail_amount"] = abs(off) * ref + 0.5
    return Order(oid, SYM, side, kind, amount, at * MIN, **kw)


def _run(bars, specs, config, money):
    sim = Sim(usdt=money[0], btc=money[1], **config)
    ids = iter(range(1, 10_000))
    all_fills: list[tuple[Bar, Fill]] = []
    orders: dict[int, Order] = {}
    balances = []
    for i, b in enumerate(bars):
        ref = bars[i - 1].close if i else b.open
        for at, shape, side, kind, amount, off, tif, ro in specs:
            if at != i:
                continue
            if shape == "single":
                o = _build(next(ids), ref, at, side, kind, amount, off, tif, ro)
                sim.broker.submit(o, at * MIN)
                group = [o]
            elif shape == "oco":
                a = _build(
                    next(ids),
                    ref,
                    at,
                    side,
                    LMT,
                    amount,
                    abs(off) + 0.01 if side is S else -abs(off) - 0.01,
                    tif,
                    ro,
                )
                c = _build(
                    next(ids),
                    ref,
                    at,
                    side,
                    STP,
                    amount,
                    -abs(off) - 0.01 if side is S else abs(off) + 0.01,
                    tif,
                    ro,
                )
                sim.broker.submit_oco(a, c, at * MIN)
                group = [a, c]
            else:
                e = _build(next(ids), ref, at, B, MKT, amount, 0.0, TimeInForce.GTC, False)
                sl = _build(
                    next(ids), ref, at, S, STP, amount, -abs(off) - 0.01, TimeInForce.GTC, False
                )
                tp1 = _build(
                    next(ids), ref, at, S, LMT, amount / 2, abs(off) + 0.01, TimeInForce.GTC, False
                )
                tp2 = _build(
                    next(ids), ref, at, S, LMT, amount / 2, abs(off) + 0.03, TimeInForce.GTC, False
                )
                sim.broker.submit_bracket(e, sl, [tp1, tp2], at * MIN)
                group = [e, sl, tp1, tp2]
            orders.update({o.id: o for o in group})
        fills = sim.bar(*([i] + list(b[3:8])))
        all_fills.extend((b, f) for f in fills)
        balances.append((sim.acct.bal["USDT"], sim.acct.bal["BTC"]))
    sim.broker.expire_all(len(bars) * MIN)
    return all_fills, orders, balances, list(sim.broker.intrabar_warnings)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_order_streams_respect_the_invariants(scenario) -> None:
    _bars, _specs, _config, _money = scenario
    fills, orders, balances, warnings = _run(*scenario)
    per_order: dict[int, float] = defaultdict(float)
    for b, f in fills:
        order = orders[f.order_id]
        assert b.low <= f.price <= b.high, (b, f)  # inside the bar (gap fills are at the open)
        assert f.ts == b.ts >= order.created_ts  # never before creation
        assert f.amount > 0.0
        per_order[f.order_id] += f.amount
    for oid, o in orders.items():
        assert o.filled <= o.amount * (1 + 1e-12) + 1e-12
        assert per_order[oid] == pytest.approx(o.filled, rel=1e-9, abs=1e-12)
        assert o.status.is_terminal  # expire_all closed everything
    for usdt, btc in balances:
        assert usdt >= 0.0 and btc >= 0.0
    again = _run(*scenario)
    assert again[0] == fills and again[3] == warnings
    assert [(o.status, o.filled, o.reason) for o in again[1].values()] == [
        (o.status, o.filled, o.reason) for o in orders.values()
    ]


def test_bracket_trailing_stop_trails_from_the_entry_fill() -> None:
    sim = Sim()
    entry = order(1, B, MKT, 1.0)
    sl = order(2, S, TRL, 1.0, trail_amount=5.0)
    tp = order(3, S, LMT, 1.0, price=150.0)
    sim.broker.submit_bracket(entry, sl, [tp], MIN)
    rows = [
        (1, 100, 100, 100, 100),  # entry @ 100 -> level 95
        (2, 100, 110, 99, 108),  # 99 > 95: no; high 110 -> level 105
        (3, 108, 108, 104, 104),  # low 104 <= 105 -> stop @ 105
    ]
    assert sim.table(rows) == [[(1, 100.0, 1.0, T)], [], [(2, 105.0, 1.0, T)]]
    assert tp.status is ST.CANCELED


def test_replaced_bracket_leg_stays_in_the_bracket() -> None:
    sim, (_entry, sl, tp) = bracket_sim(IntrabarRule.ADVERSE_FIRST)
    sim.bar(1, 100, 100, 100, 100)
    new_sl = sim.broker.replace(sl.id, 2 * MIN, stop_price=98.0)
    assert (new_sl.parent_id, new_sl.oco_group, new_sl.amount) == (1, 1, 1.0)
    assert sim.table([(2, 100, 101, 97.5, 99)]) == [[(new_sl.id, 98.0, 1.0, T)]]
    assert tp.status is ST.CANCELED and sl.reason == f"replaced by order {new_sl.id}"


def test_no_intrabar_warning_when_only_one_side_is_reached() -> None:
    sim, (_entry, sl, _tp) = bracket_sim(IntrabarRule.ADVERSE_FIRST)
    sim.bar(1, 100, 100, 100, 100)
    assert sim.table([(2, 100, 111, 99, 110)]) == [[(3, 110.0, 1.0, M)]]
    assert sim.broker.intrabar_warnings == [] and sl.status is ST.CANCELED


def test_reduce_only_sell_left_with_dust_is_cancelled() -> None:
    # 1 BTC held; a plain sell of 0.99 fills first in the bar, leaving 0.01 BTC (1 USDT at
    # 100, under the 5 USDT minimum): the reduce-only exit has nothing sellable left
    sim = Sim(btc=1.0)
    sim.broker.submit(order(1, S, MKT, 0.99), MIN)
    exit_ = order(2, S, MKT, 1.0, reduce_only=True)
    sim.broker.submit(exit_, MIN)
    fills = sim.bar(1, 100, 100, 100, 100)
    assert [(f.order_id, f.amount) for f in fills] == [(1, 0.99)]
    assert exit_.status is ST.CANCELED
    assert exit_.reason.startswith("canceled: the 0.01 BTC left is dust (")
    assert exit_.reason.endswith("); nothing to sell")


def test_quote_sized_buy_under_the_minimum_at_its_fill_price_is_cancelled() -> None:
    # 5.004 USDT at 100 with the 0.1 % fee: 5.004 / 100.1 = 0.04999 -> lot 0.001 -> 0.049,
    # a notional of 4.90 < the 5 USDT minimum
    sim = Sim(usdt=1000.0)
    o = order(1, B, MKT, 0.0, quote_amount=5.004)
    sim.broker.submit(o, MIN)
    assert sim.bar(1, 100, 100, 100, 100) == []
    assert o.status is ST.CANCELED
    assert o.reason.startswith("canceled: ") and o.reason.endswith(
        " at fill price 100; increase the order")
    assert "4.9" in o.reason


def test_filled_and_cancelled_orders_leave_the_book_and_stay_known() -> None:
    sim = Sim()
    filled, cancelled, resting = (order(1, B, MKT, 1.0), order(2, B, LMT, 1.0, price=90.0),
                                  order(3, B, LMT, 1.0, price=80.0))
    for o in (filled, cancelled, resting):
        sim.broker.submit(o, MIN)
    sim.broker.cancel(2, MIN)
    sim.bar(1, 100, 101, 95, 100)  # fills the market order; 90 and 80 not reached
    assert [o.id for o in sim.broker.open_orders(SYM)] == [3]
    assert sim.broker.get(1) is filled and sim.broker.get(2) is cancelled
    assert (filled.status, cancelled.status) == (ST.FILLED, ST.CANCELED)


def test_orders_after_a_waiting_bracket_leg_still_fill() -> None:
    # the bracket's legs (armed by the entry fill on this bar) wait for the next bar; a
    # market order submitted after the bracket is matched on this bar all the same
    sim, (_entry, sl, tp) = bracket_sim(IntrabarRule.ADVERSE_FIRST)
    later = order(9, B, MKT, 0.5)
    sim.broker.submit(later, MIN)
    fills = sim.bar(1, 100, 111, 90, 100)
    assert [f.order_id for f in fills] == [1, 9]
    assert sl.is_open and tp.is_open and later.status is ST.FILLED


# --------------------------------------------------------------------------- after a trigger
@pytest.mark.parametrize("kind", [STP, TRL])
def test_a_triggered_stop_capped_by_volume_sells_the_rest_at_the_next_open(kind) -> None:
    # sell stop at 95 (trailing: 5 below the last price 100). Bar 1 reaches it: 1 of 2 BTC
    # sells (10 % of a volume of 10); its high 103 does not move a triggered stop. Bar 2
    # opens back at 99, above the stop: the triggered order is a market order now, it
    # sells the rest at that open
    sim = Sim(btc=2.0, volume_share=0.1)
    prime(sim, 100.0)
    kw = {"stop_price": 95.0} if kind is STP else {"trail_amount": 5.0}
    o = order(1, S, kind, 2.0, **kw)
    sim.broker.submit(o, MIN)
    assert sim.bar(1, 100, 103, 94, 96, 10.0)[0].amount == 1.0
    assert o.stop_price == 95.0 and o.status is ST.PARTIALLY_FILLED  # no ratchet now
    assert [(f.price, f.amount) for f in sim.bar(2, 99, 120, 99, 110, 10.0)] == [(99.0, 1.0)]
    assert o.status is ST.FILLED


def test_an_armed_bracket_leg_does_not_stop_later_orders() -> None:
    # bar 1 fills the entry; on bar 2 the take-profit (110) is reached, and a market order
    # submitted after the bracket fills on the same bar
    sim, _orders = bracket_sim(IntrabarRule.ADVERSE_FIRST)
    sim.bar(1, 100, 100, 100, 100)
    later = order(9, B, MKT, 0.5, at=2)
    sim.broker.submit(later, 2 * MIN)
    fills = sim.bar(2, 100, 111, 99, 105)
    assert [(f.order_id, f.price) for f in fills] == [(3, 110.0), (9, 100.0)]


def test_reduce_only_exit_with_nothing_left_is_cancelled() -> None:
    # a plain sell of the whole 1 BTC fills first in the bar: the reduce-only exit finds 0
    sim = Sim(btc=1.0)
    sim.broker.submit(order(1, S, MKT, 1.0), MIN)
    exit_ = order(2, S, MKT, 1.0, reduce_only=True)
    sim.broker.submit(exit_, MIN)
    assert [f.order_id for f in sim.bar(1, 100, 100, 100, 100)] == [1]
    assert (exit_.status, exit_.reason) == (ST.CANCELED, "canceled: no position left to reduce")


@pytest.mark.parametrize(
    ("side", "limit", "price"),
    [
        # a marketable limit that arrives at the open 100 is a taker; 50 bp of slippage
        # would make 100.5, but a limit never trades beyond its price
        (B, 100.2, 100.2),  # buy: min(100.5, 100.2)
        (S, 99.8, 99.8),  # sell: max(99.5, 99.8)
        (B, 101.0, 100.5),  # the slipped price is inside the limit: kept
    ],
)
def test_slippage_never_takes_a_limit_beyond_its_price(side, limit, price) -> None:
    sim = Sim(btc=1.0, slippage=FixedBpsSlippage(50))
    sim.broker.submit(order(1, side, LMT, 1.0, price=limit), MIN)
    (f,) = sim.bar(1, 100, 100.5, 99.5, 100)
    assert (f.price, f.liquidity) == (pytest.approx(price), T)


@pytest.mark.parametrize("stray_price", [None, 90.0])
def test_slippage_moves_a_market_order_beyond_the_open(stray_price) -> None:
    # a market order has no limit: a price set on it (as ccxt would ignore) caps nothing
    sim = Sim(slippage=FixedBpsSlippage(50))
    sim.broker.submit(order(1, B, MKT, 1.0, price=stray_price), MIN)
    (f,) = sim.bar(1, 100, 100.5, 99.5, 100)
    assert f.price == pytest.approx(100.5)


def test_a_market_order_placed_before_any_price_is_checked_at_its_fill_price() -> None:
    # no price is known when it is placed, so the minimum is checked when it fills: at the
    # open 90, 0.05 BTC is 4.50 USDT < 5: cancelled, naming the fill price
    sim = Sim()
    o = order(1, B, MKT, 0.05)
    sim.broker.submit(o, MIN)
    assert o.status is ST.OPEN
    assert sim.bar(1, 90, 91, 89, 90) == []
    assert o.status is ST.CANCELED and o.reason.endswith(" at fill price 90; increase the order")


def test_the_rest_of_a_partly_filled_order_is_not_checked_against_the_minimum_again() -> None:
    # placed before any price: 0.06 BTC @ 100 (6 USDT) is checked at its first fill; 10 %
    # of a volume of 0.5 fills 0.05 on bar 1; the 0.01 left (1 USDT, under the minimum of
    # 5) fills on bar 2: the order was checked once, whole
    sim = Sim(volume_share=0.1)
    o = order(1, B, MKT, 0.06)
    sim.broker.submit(o, MIN)
    rows = [(1, 100, 100, 100, 100, 0.5), (2, 100, 100, 100, 100, 0.5)]
    got = sim.table(rows)
    assert got[0] == [(1, 100.0, 0.05, T)]
    assert [(i, p, pytest.approx(a), liq) for i, p, a, liq in got[1]] == [(1, 100.0, 0.01, T)]
    assert o.status is ST.FILLED
    assert o.fee == pytest.approx(0.06 * 100 * 0.001)  # both fills' fees: 0.005 + 0.001


def test_an_order_finding_the_bars_volume_used_up_rests() -> None:
    # 10 % of a volume of 10 is 1 BTC: order 1 takes it all, order 2 waits for bar 2
    sim = Sim(volume_share=0.1)
    first, second = order(1, B, MKT, 1.0), order(2, B, MKT, 1.0)
    sim.broker.submit(first, MIN)
    sim.broker.submit(second, MIN)
    rows = [(1, 100, 100, 100, 100, 10.0), (2, 101, 101, 101, 101, 10.0)]
    assert sim.table(rows) == [[(1, 100.0, 1.0, T)], [(2, 101.0, 1.0, T)]]
    assert second.status is ST.FILLED


def test_bracket_legs_follow_an_entry_filled_over_several_bars() -> None:
    # the entry of 2 fills 1 + 1 (volume cap): the stop-loss covers all of it
    sim = Sim(volume_share=0.1)
    entry, sl = order(1, B, MKT, 2.0), order(2, S, STP, 2.0, stop_price=95.0)
    tp = order(3, S, LMT, 2.0, price=120.0)
    sim.broker.submit_bracket(entry, sl, [tp], MIN)
    sim.table([(1, 100, 100, 100, 100, 10.0), (2, 100, 100, 100, 100, 10.0)])
    assert entry.status is ST.FILLED and (sl.amount, tp.amount) == (2.0, 2.0)


def test_bracket_legs_cover_what_a_base_fee_entry_received() -> None:
    # a "get" market: buying 1 BTC receives 0.999 (the 0.1 % fee in BTC): the legs sell
    # 0.999, never the 1 BTC that is not there
    spec = MarketSpec(SYM, lot_step=0.001, min_notional=5.0, taker_fee=0.001, maker_fee=0.001,
                      fee_side="get")
    acct = Account(USDT=1000.0)
    broker = SimulatedBroker({SYM: spec}, acct)
    entry, sl = order(1, B, MKT, 1.0), order(2, S, STP, 1.0, stop_price=95.0)
    tp = order(3, S, LMT, 1.0, price=120.0)
    broker.submit_bracket(entry, sl, [tp], MIN)
    (f,) = broker.on_bar(bar(1, 100, 100, 100, 100))
    assert (f.amount, f.fee_cost) == (1.0, pytest.approx(0.001))
    assert (sl.amount, tp.amount) == (pytest.approx(0.999), pytest.approx(0.999))


def test_a_trailing_bracket_leg_trails_from_the_entry_fill_not_the_next_open() -> None:
    # entry fills at 100: level 95. Bar 2 opens at 104 and dips to 97: 97 > 95, no fill
    # (from the open 104 the level would have been 99, and the stop would have fired)
    sim = Sim()
    entry, sl = order(1, B, MKT, 1.0), order(2, S, TRL, 1.0, trail_amount=5.0)
    tp = order(3, S, LMT, 1.0, price=150.0)
    sim.broker.submit_bracket(entry, sl, [tp], MIN)
    assert sim.table([(1, 100, 100, 100, 100), (2, 104, 104, 97, 103)]) == [
        [(1, 100.0, 1.0, T)], []]
    assert sl.is_open and sl.stop_price == 99.0  # after bar 2: the high 104 - 5


def test_an_order_filled_to_a_float_noise_of_its_amount_is_filled() -> None:
    # 12345.6 units at 1 USDT, 10 % of the volume per bar: 3333.3, then 9012.3. The fills
    # sum to 12345.599999999999 (1.8e-12 short: float noise): the order is FILLED, with
    # its filled amount set to the amount
    spec = MarketSpec(SYM, lot_step=0.1, taker_fee=0.0, maker_fee=0.0)
    acct = Account(USDT=20_000.0)
    broker = SimulatedBroker({SYM: spec}, acct, volume_share=0.1)
    o = order(1, B, MKT, 12345.6)
    broker.submit(o, MIN)
    first = broker.on_bar(bar(1, 1.0, 1.0, 1.0, 1.0, v=33_333.0))
    second = broker.on_bar(bar(2, 1.0, 1.0, 1.0, 1.0, v=90_123.0))
    assert [f.amount for f in first + second] == [3333.3, 9012.3]
    assert o.status is ST.FILLED and o.filled == 12345.6


def test_a_filled_take_profit_takes_no_part_in_the_intrabar_rule() -> None:
    # scale out: TP 105 (1 BTC) fills on bar 2; bar 3 reaches 105 again and the stop 95:
    # only the stop is still working, so no intrabar choice was made
    sim, (*_, tp2) = bracket_sim(
        IntrabarRule.ADVERSE_FIRST, tps=((105.0, 1.0), (110.0, 1.0)), amount=2.0)
    sim.bar(1, 100, 100, 100, 100)
    assert [f.order_id for f in sim.bar(2, 100, 106, 99, 104)] == [3]
    fills = sim.bar(3, 100, 106, 94, 96)
    assert [(f.order_id, f.amount) for f in fills] == [(2, 1.0)]
    assert sim.broker.intrabar_warnings == [] and tp2.status is ST.CANCELED


def test_a_take_profit_sized_zero_so_far_waits_for_the_entry() -> None:
    # a limit entry of 2 @ 100 fills 0.001 on bar 1 (10 % of a volume of 0.01): split over
    # two take-profits, 0.0005 rounds to 0 for the first (the second takes the 0.001)
    sim = Sim(volume_share=0.1)
    entry, sl = order(1, B, LMT, 2.0, price=100.0), order(2, S, STP, 2.0, stop_price=95.0)
    tp1, tp2 = order(3, S, LMT, 1.0, price=105.0), order(4, S, LMT, 1.0, price=110.0)
    sim.broker.submit_bracket(entry, sl, [tp1, tp2], MIN)
    assert [f.amount for f in sim.bar(1, 100, 100, 100, 100, 0.01)] == [0.001]
    assert (tp1.amount, tp1.status, tp2.amount) == (0.0, ST.OPEN, 0.001)  # not "filled"
    # bar 2 reaches 105 but not the entry's 100: the empty take-profit waits, still open
    assert sim.bar(2, 101, 106, 101, 104, 1e6) == []
    assert tp1.status is ST.OPEN and entry.status is ST.PARTIALLY_FILLED


def test_bracket_and_replacement_orders_are_known_by_id() -> None:
    sim, (entry, sl, tp) = bracket_sim(IntrabarRule.ADVERSE_FIRST)
    assert [sim.broker.get(o.id) for o in (entry, sl, tp)] == [entry, sl, tp]
    sim.bar(1, 100, 100, 100, 100)
    new_sl = sim.broker.replace(sl.id, 2 * MIN, stop_price=98.0)
    assert sim.broker.get(new_sl.id) is new_sl and sim.broker.get(sl.id) is sl
