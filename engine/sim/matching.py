"""Pure price logic of the simulated exchange: does an order trade in this bar, and where?

Every function here looks at one order and one bar (``o``, ``h``, ``l`` of the bar) and
returns a ``Touch`` (the reference fill price before slippage, the liquidity, and whether
the price was reached *at the open*) or ``None``. Amounts, balances, fees and order
state live in ``sim_broker``; nothing here mutates anything.

A trade tick is matched as a bar with ``o == h == l == price`` and ``tick=True``.

The rules, chosen to be conservative (never better than what surely could have
happened) and stated once here:

1. **Arrival.** An order is matched only against data that arrives after it was placed
   (``sim_broker`` enforces the time rule). On the first bar an order meets, it
   *arrives* at that bar's open.
2. **Gaps.** If the bar opens through a stop, the stop fills at the open (worse than the
   stop), a taker. If the bar opens through a limit, the limit fills at the open (better
   than the limit): as a *taker* when the order just arrived (it crosses the book on
   arrival, like any marketable limit order), as a *maker* when it was already resting
   (the convention of backtesting.py and backtrader; in a 24/7 market the open is the
   previous close to within a tick or two, so the improvement is tiny). Every bar fill
   price thus lies inside ``[low, high]``.
3. **Touch.** A limit fills at its price when the bar's range reaches it (``low <= limit``
   for buys, ``high >= limit`` for sells: a touch is enough).
4. **Same-bar ambiguity.** When several orders of one OCO group (a bracket's stop-loss
   and take-profits) are reached inside one bar on both sides of the open, the bar alone
   cannot say which traded first; ``IntrabarRule`` decides, in ``path_order`` only.

>>> limit_touch(Side.BUY, 99.0, o=100.0, h=101.0, l=98.0, arriving=True)
Touch(price=99.0, liquidity=<Liquidity.MAKER: 'maker'>, at_open=False)
>>> stop_touch(Side.SELL, 95.0, o=94.0, h=96.0, l=93.0)  # gapped through the stop
Touch(price=94.0, liquidity=<Liquidity.TAKER: 'taker'>, at_open=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import NamedTuple

from tradeloom.engine.orders import Liquidity, Side

_MAKER = Liquidity.MAKER
_TAKER = Liquidity.TAKER
_BUY = Side.BUY


class IntrabarRule(str, Enum):
    """Which of several OCO legs reached in one bar traded first.

    - ``ADVERSE_FIRST`` (default, pessimistic, as backtesting.py): the price went the
      bad way first (down for a long's exits, up for a short's), so the stop-loss fills
      before the take-profit.
    - ``FAVORABLE_FIRST``: the good way first; take-profits fill, then the stop-loss for
      what is left, if the bar also reached it.
    - ``OPEN_DISTANCE``: the leg nearer to the open traded first
      (``|open - stop|`` vs ``|open - tp|``; ties count as adverse).
    """

    ADVERSE_FIRST = "adverse_first"
    FAVORABLE_FIRST = "favorable_first"
    OPEN_DISTANCE = "open_distance"


class Touch(NamedTuple):
    """Where an order trades in a bar: reference price (before slippage), liquidity, and
    whether it traded at the open (then its place in the bar's path is certain)."""

    price: float
    liquidity: Liquidity
    at_open: bool


def market_touch(o: float) -> Touch:
    """A market order fills at the open of the first bar after it was placed.

    >>> market_touch(100.0).price
    100.0
    """
    return Touch(o, _TAKER, True)


def limit_touch(
    side: Side, limit: float, o: float, h: float, l: float, arriving: bool, tick: bool = False
) -> Touch | None:
    """Limit order: gap rule at the open, else a touch of the range fills at the limit.

    >>> limit_touch(Side.BUY, 101.0, o=100.0, h=102.0, l=99.0, arriving=True)  # crosses on arrival
    Touch(price=100.0, liquidity=<Liquidity.TAKER: 'taker'>, at_open=True)
    >>> limit_touch(Side.BUY, 101.0, o=100.0, h=102.0, l=99.0, arriving=False)  # resting: maker
    Touch(price=100.0, liquidity=<Liquidity.MAKER: 'maker'>, at_open=True)
    >>> limit_touch(Side.SELL, 103.0, o=100.0, h=102.0, l=99.0, arriving=True) is None
    True
    """
    if side is _BUY:
        through_open = o <= limit
        reached = l <= limit
    else:
        through_open = o >= limit
        reached = h >= limit
    if through_open:
        # Rule 2 (gaps): the open is through the limit. An order that arrives now crosses
        # the book: a taker at the open. A resting order fills at the open as a maker.
        # On a tick (one trade, no open to speak of) a crossed limit fills at the limit.
        if tick:
            return Touch(limit, _MAKER, True)
        return Touch(o, _TAKER if arriving else _MAKER, True)
    if reached:
        return Touch(limit, _MAKER, False)  # rule 3: a touch of the range is enough
    return None


def stop_touch(side: Side, stop: float, o: float, h: float, l: float) -> Touch | None:
    """Stop-market order: triggers when the price reaches the stop; fills as a taker at
    the stop, or at the open when the bar opened through it (gap, worse than the stop).

    >>> stop_touch(Side.SELL, 95.0, o=100.0, h=101.0, l=94.0)
    Touch(price=95.0, liquidity=<Liquidity.TAKER: 'taker'>, at_open=False)
    >>> stop_touch(Side.BUY, 105.0, o=106.0, h=107.0, l=104.0)
    Touch(price=106.0, liquidity=<Liquidity.TAKER: 'taker'>, at_open=True)
    """
    if side is _BUY:
        if o >= stop:
            return Touch(o, _TAKER, True)
        if h >= stop:
            return Touch(stop, _TAKER, False)
        return None
    if o <= stop:
        return Touch(o, _TAKER, True)
    if l <= stop:
        return Touch(stop, _TAKER, False)
    return None


def stop_limit_touch(
    side: Side,
    stop: float,
    limit: float,
    o: float,
    h: float,
    l: float,
    *,
    triggered: bool,
    tick: bool = False,
) -> tuple[Touch | None, bool]:
    """Stop-limit order. Returns ``(touch or None, triggers_now)``.

    Once triggered (on an earlier bar) it is a resting limit at ``limit``.

    On the trigger bar we only know the price passed the trigger point (the stop, or the
    open on a gap); where it went afterwards inside the bar is unknown. Conservative
    rule: it fills on the trigger bar only if the limit is marketable *at the trigger
    price* (sell: trigger >= limit; buy: trigger <= limit), as a taker at the trigger
    price. Otherwise it is triggered and rests as a limit order from the next bar on.

    >>> stop_limit_touch(Side.SELL, 100.0, 99.0, o=101.0, h=101.0, l=98.0, triggered=False)
    (Touch(price=100.0, liquidity=<Liquidity.TAKER: 'taker'>, at_open=False), True)
    >>> stop_limit_touch(Side.SELL, 100.0, 99.0, o=97.0, h=99.5, l=96.0, triggered=False)
    (None, True)
    """
    if triggered:
        return limit_touch(side, limit, o, h, l, arriving=False, tick=tick), False
    trig = stop_touch(side, stop, o, h, l)
    if trig is None:
        return None, False
    marketable = trig.price <= limit if side is _BUY else trig.price >= limit
    if marketable:
        return trig, True
    return None, True


def trailing_level(
    side: Side, best: float, trail_amount: float | None, trail_pct: float | None
) -> float:
    """The stop level of a trailing stop whose best price so far is ``best``.

    Sells trail below the highest price, buys above the lowest. ``trail_pct`` is a
    fraction (0.02 = 2 %).

    >>> trailing_level(Side.SELL, 110.0, 5.0, None)
    105.0
    >>> round(trailing_level(Side.BUY, 100.0, None, 0.02), 10)
    102.0
    """
    if trail_amount is not None:
        return best - trail_amount if side is not _BUY else best + trail_amount
    pct = trail_pct if trail_pct is not None else 0.0
    return best * (1.0 - pct) if side is not _BUY else best * (1.0 + pct)


def trailing_best(side: Side, best: float, h: float, l: float) -> float:
    """New best price after a bar: the high for sells, the low for buys.

    The broker calls this *after* checking the trigger against the level from the
    previous bars: a bar never ratchets the stop up and then triggers it (we cannot know
    whether its high came before its low), which is the conservative reading.

    >>> trailing_best(Side.SELL, 105.0, h=108.0, l=101.0)
    108.0
    """
    return max(best, h) if side is not _BUY else min(best, l)


def path_time(price: float, o: float, first: float, second: float) -> float:
    """How far the price travelled along ``o -> first -> second`` before reaching ``price``.

    >>> path_time(95.0, o=100.0, first=90.0, second=110.0)   # on the way down
    5.0
    >>> path_time(105.0, o=100.0, first=90.0, second=110.0)  # after the low, on the way up
    25.0
    """
    if min(o, first) <= price <= max(o, first):
        return abs(price - o)
    return abs(first - o) + abs(price - first)


def path_order(
    rule: IntrabarRule,
    adverse_is_down: bool,
    o: float,
    h: float,
    l: float,
    touches: Sequence[Touch],
) -> tuple[list[int], bool]:
    """THE INTRABAR RULE, applied here and nowhere else.

    Orders the touches of one OCO group in one bar by when the price reached them and
    returns ``(indices in path order, rule_was_needed)``.

    Touches at the open come first (certain). The others are placed on an assumed path
    ``open -> first extreme -> second extreme``; the rule picks which extreme is first:

    - ``ADVERSE_FIRST``: the adverse extreme (``low`` when ``adverse_is_down``, i.e. the
      group exits a long position with sells);
    - ``FAVORABLE_FIRST``: the other one;
    - ``OPEN_DISTANCE``: the side whose nearest touch is closer to the open (tie:
      adverse).

    The rule was *needed* only when touches lie on both sides of the open; touches on
    one side are ordered by price without any assumption. Ties keep the input order.

    >>> sl = Touch(95.0, Liquidity.TAKER, False); tp = Touch(110.0, Liquidity.MAKER, False)
    >>> path_order(IntrabarRule.ADVERSE_FIRST, True, 100.0, 111.0, 94.0, [tp, sl])
    ([1, 0], True)
    >>> path_order(IntrabarRule.FAVORABLE_FIRST, True, 100.0, 111.0, 94.0, [tp, sl])
    ([0, 1], True)
    >>> path_order(IntrabarRule.OPEN_DISTANCE, True, 100.0, 111.0, 94.0, [tp, sl])
    ([1, 0], True)
    """
    below = [abs(o - t.price) for t in touches if not t.at_open and t.price < o]
    above = [abs(t.price - o) for t in touches if not t.at_open and t.price > o]
    needed = bool(below) and bool(above)
    adverse, favorable = (l, h) if adverse_is_down else (h, l)
    if rule is IntrabarRule.ADVERSE_FIRST:
        first, second = adverse, favorable
    elif rule is IntrabarRule.FAVORABLE_FIRST:
        first, second = favorable, adverse
    else:
        d_low = min(below) if below else float("inf")
        d_high = min(above) if above else float("inf")
        if d_low == d_high:
            first, second = adverse, favorable
        elif d_low < d_high:
            first, second = l, h
        else:
            first, second = h, l
    keys = [
        (-1.0 if t.at_open else path_time(t.price, o, first, second), i)
        for i, t in enumerate(touches)
    ]
    keys.sort()
    return [i for _, i in keys], needed
