"""Pure price logic: one bar, one order type, where does it trade? (OHLC tables)."""

from __future__ import annotations

import pytest

from tradeloom.engine.orders import Liquidity, Side
from tradeloom.engine.sim.matching import (
    IntrabarRule,
    Touch,
    limit_touch,
    market_touch,
    path_order,
    path_time,
    stop_limit_touch,
    stop_touch,
    trailing_best,
    trailing_level,
)

B, S = Side.BUY, Side.SELL
M, T = Liquidity.MAKER, Liquidity.TAKER


def test_market_fills_at_open_as_taker() -> None:
    assert market_touch(101.5) == Touch(101.5, T, True)


@pytest.mark.parametrize(
    ("side", "limit", "o", "h", "l", "arriving", "expected"),
    [
        # side  limit   open   high   low   arriving  -> touch
        (B, 99.0, 100.0, 101.0, 98.0, True, Touch(99.0, M, False)),  # low reaches the limit
        (B, 98.0, 100.0, 101.0, 98.0, True, Touch(98.0, M, False)),  # touching is enough
        (B, 97.0, 100.0, 101.0, 98.0, True, None),  # never reached
        (
            B,
            101.0,
            100.0,
            102.0,
            99.0,
            True,
            Touch(100.0, T, True),
        ),  # arrives marketable: taker at open
        (
            B,
            101.0,
            100.0,
            102.0,
            99.0,
            False,
            Touch(100.0, M, True),
        ),  # resting, gapped: open, maker
        (S, 101.0, 100.0, 101.5, 99.0, True, Touch(101.0, M, False)),  # high reaches the limit
        (S, 102.0, 100.0, 101.5, 99.0, True, None),
        (S, 99.0, 100.0, 101.0, 98.0, True, Touch(100.0, T, True)),  # arrives marketable
        (S, 99.0, 100.0, 101.0, 98.0, False, Touch(100.0, M, True)),  # resting, gapped: open, maker
    ],
)
def test_limit(side, limit, o, h, l, arriving, expected) -> None:
    assert limit_touch(side, limit, o, h, l, arriving=arriving) == expected


def test_limit_on_a_tick_fills_at_the_limit() -> None:
    assert limit_touch(B, 101.0, 100.0, 100.0, 100.0, arriving=True, tick=True) == Touch(
        101.0, M, True
    )


@pytest.mark.parametrize(
    ("side", "stop", "o", "h", "l", "expected"),
    [
        (S, 95.0, 100.0, 101.0, 94.0, Touch(95.0, T, False)),  # low reaches the stop
        (S, 95.0, 100.0, 101.0, 95.5, None),
        (S, 95.0, 93.0, 96.0, 92.0, Touch(93.0, T, True)),  # gap through: the open, worse
        (B, 105.0, 100.0, 106.0, 99.0, Touch(105.0, T, False)),
        (B, 105.0, 107.0, 108.0, 106.0, Touch(107.0, T, True)),  # gap up through a buy stop
        (B, 105.0, 100.0, 104.9, 99.0, None),
    ],
)
def test_stop(side, stop, o, h, l, expected) -> None:
    assert stop_touch(side, stop, o, h, l) == expected


@pytest.mark.parametrize(
    ("side", "stop", "limit", "o", "h", "l", "triggered", "expected"),
    [
        # trigger bar, limit marketable at the stop: fills at the stop, taker
        (S, 100.0, 99.0, 101.0, 101.0, 98.0, False, (Touch(100.0, T, False), True)),
        # trigger bar by a gap to 97: a sell limit 99 is not marketable at 97 -> rests
        (S, 100.0, 99.0, 97.0, 99.5, 96.0, False, (None, True)),
        # already triggered: a resting limit (maker at its price)
        (S, 100.0, 99.0, 98.0, 99.5, 97.0, True, (Touch(99.0, M, False), False)),
        # not triggered at all
        (S, 100.0, 99.0, 102.0, 103.0, 100.5, False, (None, False)),
        # buy stop-limit: stop 105 limit 106, trigger at 105 -> marketable
        (B, 105.0, 106.0, 104.0, 107.0, 103.0, False, (Touch(105.0, T, False), True)),
        # buy stop-limit gapped to 108 above its limit 106 -> triggered, rests
        (B, 105.0, 106.0, 108.0, 109.0, 107.0, False, (None, True)),
    ],
)
def test_stop_limit(side, stop, limit, o, h, l, triggered, expected) -> None:
    assert stop_limit_touch(side, stop, limit, o, h, l, triggered=triggered) == expected


@pytest.mark.parametrize(
    ("side", "best", "amount", "pct", "level"),
    [
        (S, 110.0, 5.0, None, 105.0),
        (S, 100.0, None, 0.1, 90.0),
        (B, 100.0, 5.0, None, 105.0),
        (B, 100.0, None, 0.1, 110.0),
    ],
)
def test_trailing_level(side, best, amount, pct, level) -> None:
    assert trailing_level(side, best, amount, pct) == pytest.approx(level)


def test_trailing_best_ratchets_one_way() -> None:
    assert trailing_best(S, 105.0, 108.0, 101.0) == 108.0
    assert trailing_best(S, 105.0, 104.0, 101.0) == 105.0  # never down
    assert trailing_best(B, 100.0, 108.0, 97.0) == 97.0
    assert trailing_best(B, 100.0, 108.0, 101.0) == 100.0


def test_path_time() -> None:
    # open 100 -> low 90 -> high 110
    assert path_time(95.0, 100.0, 90.0, 110.0) == 5.0
    assert path_time(90.0, 100.0, 90.0, 110.0) == 10.0
    assert path_time(105.0, 100.0, 90.0, 110.0) == 25.0


SL = Touch(95.0, T, False)  # long's stop-loss below the open
TP = Touch(110.0, M, False)  # long's take-profit above the open
# bar: open 100, high 111, low 94 (both reached). Long exits -> adverse is down.
BAR = (100.0, 111.0, 94.0)


@pytest.mark.parametrize(
    ("rule", "touches", "first"),
    [
        (IntrabarRule.ADVERSE_FIRST, [TP, SL], SL),
        (IntrabarRule.FAVORABLE_FIRST, [TP, SL], TP),
        (IntrabarRule.OPEN_DISTANCE, [TP, SL], SL),  # |100-95| = 5 < |100-110| = 10
        (IntrabarRule.OPEN_DISTANCE, [Touch(103.0, M, False), SL], Touch(103.0, M, False)),  # 3 < 5
        (IntrabarRule.OPEN_DISTANCE, [Touch(105.0, M, False), SL], SL),  # tie 5 == 5 -> adverse
    ],
)
def test_path_order_applies_the_rule(rule, touches, first) -> None:
    order, needed = path_order(rule, True, *BAR, touches)
    assert touches[order[0]] == first
    assert needed


def test_path_order_for_a_short_group_is_mirrored() -> None:
    # Exits of a short are buys: adverse is up. Stop above (105), take-profit below (92).
    sl, tp = Touch(105.0, T, False), Touch(92.0, M, False)
    order, needed = path_order(IntrabarRule.ADVERSE_FIRST, False, 100.0, 106.0, 91.0, [tp, sl])
    assert order == [1, 0] and needed


def test_path_order_open_touch_is_first_and_one_side_needs_no_rule() -> None:
    gap = Touch(93.0, T, True)  # stop gapped at the open
    order, needed = path_order(IntrabarRule.FAVORABLE_FIRST, True, 93.0, 111.0, 92.0, [TP, gap])
    assert order == [1, 0]  # the open comes first whatever the rule
    assert not needed
    tp1, tp2 = Touch(108.0, M, False), Touch(104.0, M, False)
    order, needed = path_order(IntrabarRule.ADVERSE_FIRST, True, 100.0, 111.0, 99.0, [tp1, tp2])
    assert order == [1, 0] and not needed  # same side: by price, no assumption


# -- exact boundaries (equality is a touch, the open is the first price of the bar) ------


@pytest.mark.parametrize(
    ("side", "limit", "o", "h", "l", "arriving", "expected"),
    [
        # limit == open: the open itself is a marketable price for the order
        (B, 100.0, 100.0, 101.0, 99.0, True, Touch(100.0, T, True)),  # arrives: taker at open
        (B, 100.0, 100.0, 101.0, 99.0, False, Touch(100.0, M, True)),  # resting: maker at open
        (S, 100.0, 100.0, 101.0, 99.0, True, Touch(100.0, T, True)),
        (S, 100.0, 100.0, 101.0, 99.0, False, Touch(100.0, M, True)),
        # limit == the extreme of the range: touched, a maker at the limit
        (S, 101.0, 100.0, 101.0, 99.0, True, Touch(101.0, M, False)),
    ],
)
def test_limit_at_the_exact_boundary(side, limit, o, h, l, arriving, expected) -> None:
    assert limit_touch(side, limit, o, h, l, arriving=arriving) == expected


@pytest.mark.parametrize(
    ("side", "stop", "o", "h", "l", "expected"),
    [
        (S, 95.0, 100.0, 101.0, 95.0, Touch(95.0, T, False)),  # low == stop: fires at the stop
        (B, 105.0, 100.0, 105.0, 99.0, Touch(105.0, T, False)),  # high == stop: fires
        (S, 95.0, 95.0, 96.0, 94.0, Touch(95.0, T, True)),  # open == stop: fires at the open
        (B, 105.0, 105.0, 106.0, 104.0, Touch(105.0, T, True)),
    ],
)
def test_stop_at_the_exact_boundary(side, stop, o, h, l, expected) -> None:
    assert stop_touch(side, stop, o, h, l) == expected


@pytest.mark.parametrize(
    ("side", "stop", "limit", "o", "h", "l", "triggered", "expected"),
    [
        # stop == limit: the trigger price 100 is exactly marketable (100 >= 100): fills now
        (S, 100.0, 100.0, 101.0, 101.0, 98.0, False, (Touch(100.0, T, False), True)),
        (B, 105.0, 105.0, 104.0, 107.0, 103.0, False, (Touch(105.0, T, False), True)),
        # triggered on an earlier bar, then the bar opens through the limit (100 > 99):
        # a resting order, so a maker at the open (never a taker: it did not just arrive)
        (S, 100.0, 99.0, 100.0, 101.0, 98.0, True, (Touch(100.0, M, True), False)),
        # triggered earlier, the range never reaches the limit: nothing, still resting
        (S, 100.0, 99.0, 98.0, 98.5, 97.0, True, (None, False)),
    ],
)
def test_stop_limit_at_the_exact_boundary(side, stop, limit, o, h, l, triggered, expected) -> None:
    assert stop_limit_touch(side, stop, limit, o, h, l, triggered=triggered) == expected


def test_stop_limit_triggered_then_crossed_on_a_tick_fills_at_its_limit() -> None:
    # A trade tick at 100 (o == h == l) above a resting sell limit 99: the limit price.
    touch, triggers = stop_limit_touch(S, 100.0, 99.0, 100.0, 100.0, 100.0, triggered=True,
                                       tick=True)
    assert (touch, triggers) == (Touch(99.0, M, True), False)


# -- OPEN_DISTANCE with several legs on a side: the nearest leg of each side counts ------


@pytest.mark.parametrize(
    ("touches", "first_price"),
    [
        # below: 97 (3 from the open) and 92 (8); above: 104 (4). Nearest below 3 < 4:
        # the low side first. (The farthest below, 8, would wrongly say high first.)
        ([Touch(104.0, M, False), Touch(92.0, T, False), Touch(97.0, M, False)], 97.0),
        # above: 102 (2) and 108 (8); below: 96 (4). Nearest above 2 < 4: high first.
        ([Touch(108.0, M, False), Touch(96.0, T, False), Touch(102.0, M, False)], 102.0),
    ],
)
def test_open_distance_uses_the_nearest_leg_of_each_side(touches, first_price) -> None:
    # bar open 100, high 111, low 91; a long's exits (adverse is down)
    order, needed = path_order(IntrabarRule.OPEN_DISTANCE, True, 100.0, 111.0, 91.0, touches)
    assert touches[order[0]].price == first_price and needed


def test_open_distance_tie_goes_to_the_adverse_side_of_a_short() -> None:
    # A short's exits are buys: adverse is up. Stop 104 and take-profit 96, both 4 away:
    # the tie is adverse, so the stop (up) first, then the take-profit.
    sl, tp = Touch(104.0, T, False), Touch(96.0, M, False)
    order, _ = path_order(IntrabarRule.OPEN_DISTANCE, False, 100.0, 105.0, 95.0, [tp, sl])
    assert order == [1, 0]
    # nearer take-profit (98: 2 < 4): the low side first even for a short
    near_tp = Touch(98.0, M, False)
    order, _ = path_order(IntrabarRule.OPEN_DISTANCE, False, 100.0, 105.0, 95.0, [sl, near_tp])
    assert order == [1, 0]


def test_intrabar_rules_are_named_by_their_config_values() -> None:
    # the values are what a config file or the CLI says
    assert [IntrabarRule(v) for v in ("adverse_first", "favorable_first", "open_distance")] == [
        IntrabarRule.ADVERSE_FIRST, IntrabarRule.FAVORABLE_FIRST, IntrabarRule.OPEN_DISTANCE]


def test_a_trailing_stop_without_a_trail_sits_at_its_best_price() -> None:
    assert trailing_level(S, 110.0, None, None) == 110.0
    assert trailing_level(B, 90.0, None, None) == 90.0


@pytest.mark.parametrize(
    ("price", "o", "first", "second", "travelled"),
    [
        (100.0, 100.0, 90.0, 110.0, 0.0),  # at the open: no travel, whichever way it goes
        (100.0, 100.0, 110.0, 90.0, 0.0),
        (90.0, 100.0, 90.0, 110.0, 10.0),  # exactly the first extreme
        (110.0, 100.0, 110.0, 90.0, 10.0),
        (90.0, 100.0, 110.0, 90.0, 30.0),  # the second extreme: 10 up, then 20 down
    ],
)
def test_path_time_at_the_ends_of_a_leg(price, o, first, second, travelled) -> None:
    assert path_time(price, o, first, second) == travelled


def test_a_touch_at_the_open_price_is_on_neither_side() -> None:
    # open 100: a touch at 100 (not a gap) and one at 105 lie on one side only: no rule
    order, needed = path_order(IntrabarRule.ADVERSE_FIRST, True, 100.0, 106.0, 99.0,
                               [Touch(105.0, M, False), Touch(100.0, M, False)])
    assert order == [1, 0] and not needed
    order, needed = path_order(IntrabarRule.ADVERSE_FIRST, True, 100.0, 106.0, 94.0,
                               [Touch(95.0, T, False), Touch(100.0, M, False)])
    assert order == [1, 0] and not needed


def test_touches_at_the_open_come_first_and_count_on_no_side() -> None:
    # a buy limit 101 crossed on a tick at 100 fills at its limit *at the open*; a
    # take-profit 0.5 above the open, on the first leg (path time 0.5), comes after it
    at_open, near = Touch(101.0, M, True), Touch(100.5, M, False)
    order, needed = path_order(IntrabarRule.FAVORABLE_FIRST, True, 100.0, 101.0, 99.0,
                               [near, at_open])
    assert order == [1, 0] and not needed
