"""Execution core of the simulated exchange: order book state, matching and fills.

``SimulatedBroker`` (in ``sim_broker``) is the public face and holds the order-entry
API; this base class holds the state and the per-bar work, so each module stays
readable. The rules are listed once, in ``sim_broker``'s module docstring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import NamedTuple, Protocol

from tradeloom.engine.costs.fees import FeeAsset, FeeModel
from tradeloom.engine.costs.slippage import NoSlippage, SlippageModel
from tradeloom.engine.errors import OrderError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import (
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradeloom.engine.sim.funds import QUOTE_FEE, Funds, Reason, reason_text
from tradeloom.engine.sim.groups import ENTRY, STOP_LOSS, STOP_TYPES, TAKE_PROFIT, Group, Working
from tradeloom.engine.sim.matching import (
    IntrabarRule,
    Touch,
    limit_touch,
    market_touch,
    path_order,
    stop_limit_touch,
    stop_touch,
    trailing_best,
    trailing_level,
)
from tradeloom.engine.sim.order_checks import minimums_error
from tradeloom.engine.sim.perp_funds import PerpFunds

__all__ = ["AccountView", "ExchangeCore", "IntrabarWarning"]

_OPEN = OrderStatus.OPEN
_PARTIAL = OrderStatus.PARTIALLY_FILLED
_FILLED = OrderStatus.FILLED
_CANCELED = OrderStatus.CANCELED
_EXPIRED = OrderStatus.EXPIRED
_REJECTED = OrderStatus.REJECTED
_TAKER = Liquidity.TAKER
_BUY = Side.BUY
_MARKET, _LIMIT, _STOP, _STOP_LIMIT = (
    OrderType.MARKET,
    OrderType.LIMIT,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
)
_TRAILING = OrderType.TRAILING_STOP
_GTC, _FOK = TimeInForce.GTC, TimeInForce.FOK
_EPS = 1e-12
_INF = math.inf
_new_tuple = tuple.__new__


class AccountView(Protocol):
    """What the broker needs from the portfolio: spendable balances right now."""

    def free(self, asset: str) -> float:
        """Spendable balance of ``asset`` (the portfolio implements it)."""
        ...


class IntrabarWarning(NamedTuple):
    """A bar where ``rule`` decided which of ``order_ids`` (one OCO group) traded first."""

    ts: int
    symbol: str
    rule: IntrabarRule
    order_ids: tuple[int, ...]


def _done(order: Order) -> bool:
    return order.amount - order.filled <= _EPS * max(1.0, order.amount)


def _nothing_to_fill(order: Order, quote_sized: bool, price: float) -> str:
    """Why an order with nothing to fill at ``price`` is cancelled."""
    if quote_sized:
        return (f"canceled: {order.quote_amount:.10g} of quote buys less than one lot at the "
                f"fill price {price:.10g}; increase the order")
    return "canceled: no position left to reduce"


def _under_minimums(why: str, price: float) -> str:
    """Why an order sized at the fill is cancelled under the market's minimums."""
    return f"canceled: {why} at fill price {price:.10g}; increase the order"


#: ``_execute``'s fee mode of a perpetual fill (margined, fee in the settle currency).
PERP_MARGIN = -1


class ExchangeCore(Funds, PerpFunds):
    """State and matching shared by the simulated broker's public methods."""

    __slots__ = (
        "_assets",
        "_bal",
        "_budget",
        "_by_id",
        "_id_source",
        "_last",
        "_orders",
        "_perp_pending",
        "_seq",
        "_updates",
        "_working",
        "account",
        "fee_asset",
        "fees",
        "intrabar_rule",
        "intrabar_warnings",
        "markets",
        "slippage",
        "volume_share",
    )
    markets: dict[str, MarketSpec]
    account: AccountView
    fees: FeeModel
    fee_asset: FeeAsset | None
    slippage: SlippageModel
    intrabar_rule: IntrabarRule
    volume_share: float | None
    intrabar_warnings: list[IntrabarWarning]
    _id_source: Callable[[], int]
    _working: dict[str, list[Working]]  # symbol -> working orders in submission order
    _by_id: dict[int, Working]  # working orders only
    _orders: dict[int, Order]  # every order ever submitted (for get)
    _last: dict[str, float]  # last close / trade price per symbol
    _updates: dict[int, Order]  # changed since the last drain, in order of latest change
    _seq: Iterator[int]
    _bal: dict[str, float]  # balances during one on_bar/on_trade call, fill after fill
    _assets: dict[str, tuple[str, str]]  # symbol -> (base, quote), for Working.base/.quote
    _budget: float  # volume left for fills in the current call

    # ------------------------------------------------------------------ state helpers
    def _note(self, order: Order) -> None:
        updates = self._updates
        updates.pop(order.id, None)
        updates[order.id] = order

    def _move(self, order: Order, status: OrderStatus, ts: int, reason: str = "") -> None:
        order.transition(status, ts, reason)
        updates = self._updates  # self._note(order), inlined
        updates.pop(order.id, None)
        updates[order.id] = order

    def _finish(self, w: Working, status: OrderStatus, ts: int, reason: str) -> None:
        """Take a working order off the book; cascade to a bracket's held legs."""
        order = w.order
        order.transition(status, ts, reason)  # self._move(order, status, ts, reason), inlined
        oid = order.id
        updates = self._updates
        updates.pop(oid, None)
        updates[oid] = order
        self._by_id.pop(oid, None)
        lst = self._working.get(order.symbol)
        if lst is not None:
            lst.remove(w)
            if not lst:
                del self._working[order.symbol]
        g = w.group
        if g is not None and w.role == ENTRY and order.filled == 0.0 and status is not _FILLED:
            for leg in g.legs:
                if leg.order.is_open:
                    self._finish(leg, _CANCELED, ts, f"bracket entry {order.id} {status.value}")

    def _accept(self, w: Working, ts: int) -> None:
        order = w.order
        oid = order.id
        order.transition(_OPEN, ts)  # self._move(order, _OPEN, ts), inlined
        updates = self._updates
        updates.pop(oid, None)
        updates[oid] = order
        self._by_id[oid] = w
        working = self._working.get(order.symbol)
        if working is None:
            self._working[order.symbol] = [w]
        else:
            working.append(w)

    def _register(self, order: Order) -> None:
        if order.id in self._orders:
            raise OrderError(
                f"order id {order.id} was already submitted to this broker; "
                "give every order a new id from the run's counter"
            )
        self._orders[order.id] = order

    def _set_trailing_best(self, w: Working, best: float) -> None:
        order = w.order
        w.best = best
        level = trailing_level(order.side, best, order.trail_amount, order.trail_pct)
        order.stop_price = w.spec.round_price(level)

    # ------------------------------------------------------------------ matching
    def _match(
        self,
        working: list[Working],
        ts: int,
        o: float,
        h: float,
        l: float,
        volume: float,
        tick: bool,
    ) -> list[Fill]:
        share = self.volume_share
        if (len(working) == 1 and share is None and self.fee_asset is None
                and type(self.slippage) is NoSlippage):
            w = working[0]
            order = w.order
            if (order.type is _MARKET and w.group is None and w.quote_fees
                    and not order.reduce_only and not order.post_only
                    and order.target_pct is None):
                return self._match_market(w, ts, o, tick)
        self._bal.clear()
        if self._perp_pending:
            self._perp_pending.clear()
        self._budget = _INF if share is None else share * volume
        fills: list[Fill] = []
        done_groups: set[int] | None = None
        for w in tuple(working):  # submission order; a snapshot, as fills cancel others
            order = w.order
            status = order.status
            if (status is not _OPEN and status is not _PARTIAL) or w.armed_ts >= ts or not w.armed:
                continue
            created = order.created_ts
            if created > ts or (tick and created == ts):
                continue  # the time rule: only data that arrives after the order was placed
            g = w.group
            if g is not None and w.role != ENTRY:
                if done_groups is None:
                    done_groups = set()
                if g.id not in done_groups:
                    done_groups.add(g.id)
                    self._match_group(g, ts, o, h, l, volume, tick, fills)
                continue
            # A market order trades at the open (``_touch`` -> ``market_touch``, inlined; the
            # tuple built in C, as ``Touch(o, _TAKER, True)`` would through a Python frame).
            touch = (_new_tuple(Touch, (o, _TAKER, True)) if order.type is _MARKET
                     else self._touch(w, o, h, l, tick))
            if touch is not None:
                self._execute(w, touch, ts, volume, fills)
            if order.tif is _GTC and order.type is not _TRAILING:
                w.seen = True  # all ``_after_bar`` does for a GTC order that does not trail
            else:
                self._after_bar(w, ts, h, l)
        return fills

    def _match_market(self, w: Working, ts: int, o: float, tick: bool) -> list[Fill]:
        """``_match`` of a book holding one plain market order, in one routine.

        Applies when the symbol's only working order is a market order outside any
        bracket/OCO group, not reduce-only, not post-only, not a perpetual target, on a
        market whose fee is paid in the quote currency, and the broker has no slippage
        model, no volume cap and no fee asset (``_match`` checks all of it, each call:
        the common case of a spot backtest's targets, buys and sells).

        Exact: for such an order ``_match`` and ``_execute`` take no branch of the
        features it lacks, so what is left is this: the same time rule, the fill at the
        open as a taker (no slippage: the price stays the open, so a quote-sized amount is
        sized once), the same minimums check, then the one money path (``_affordable``,
        ``fees.fee``) and the one fill record (``_record_fill``), with the same arguments in
        the same order. ``_book_quote`` is left out: it books the fill into this call's
        balances for the call's later fills, and with one order there are none. Past the
        time rule the order leaves the book in this call (filled whole, or cancelled for
        a shortfall, the minimums or nothing to buy: a part fill always comes with the
        reason to cancel the rest), so the volume budget and ``_after_bar`` have nothing
        left to do. ``tests/unit/engine/test_market_fill.py`` pins it against the general
        path.
        """
        self._bal.clear()
        if self._perp_pending:
            self._perp_pending.clear()
        fills: list[Fill] = []
        order = w.order
        status = order.status
        if (status is not _OPEN and status is not _PARTIAL) or w.armed_ts >= ts or not w.armed:
            return fills
        created = order.created_ts
        if created > ts or (tick and created == ts):
            return fills  # the time rule: only data that arrives after the order was placed
        spec = w.spec
        fees = self.fees
        quote_amount = order.quote_amount
        quote_sized = quote_amount is not None and order.filled == 0.0
        if quote_sized:
            want = spec.round_amount(fees.max_amount(spec, o, quote_amount, _TAKER))  # type: ignore[arg-type]
        else:
            want = order.amount - order.filled  # order.remaining
        if want <= 0.0:
            self._finish(w, _CANCELED, ts, _nothing_to_fill(order, quote_sized, o))
        elif (quote_sized or w.check_notional) and (why := minimums_error(spec, o, want)):
            self._finish(w, _CANCELED, ts, _under_minimums(why, o))
        else:
            amount, short_reason = self._affordable(w, o, _TAKER, want, QUOTE_FEE)
            if amount <= 0.0:
                self._finish(w, _CANCELED, ts, reason_text(short_reason))
            else:
                fee = fees.fee(spec, o, amount, _TAKER)
                # ``_book_quote`` would update this call's balances for its later fills:
                # there are none (one order), and the next call starts from the account.
                self._record_fill(w, o, amount, want if quote_sized else None, fee, _TAKER,
                                  w.quote, fee, ts, fills, short_reason)
        return fills

    def _match_group(
        self,
        g: Group,
        ts: int,
        o: float,
        h: float,
        l: float,
        volume: float,
        tick: bool,
        fills: list[Fill],
    ) -> None:
        legs = [
            w
            for w in g.legs
            if w.order.is_open
            and w.armed
            and w.armed_ts < ts
            and (w.order.created_ts < ts if tick else w.order.created_ts <= ts)
        ]
        cands: list[Working] = []
        touches: list[Touch] = []
        for w in legs:
            touch = self._touch(w, o, h, l, tick)
            if touch is not None:
                cands.append(w)
                touches.append(touch)
        if len(touches) > 1:
            order, needed = path_order(
                self.intrabar_rule, cands[0].order.side is not _BUY, o, h, l, touches
            )
            if needed:
                ids = tuple(cands[i].order.id for i in order)
                self.intrabar_warnings.append(
                    IntrabarWarning(ts, cands[0].order.symbol, self.intrabar_rule, ids)
                )
        else:
            order = list(range(len(touches)))
        for i in order:
            if cands[i].order.is_open:
                self._execute(cands[i], touches[i], ts, volume, fills)
        for w in legs:
            self._after_bar(w, ts, h, l)

    def _touch(self, w: Working, o: float, h: float, l: float, tick: bool) -> Touch | None:
        """Where ``w`` trades in this bar, if at all (price logic in ``matching``)."""
        order = w.order
        kind = order.type
        if kind is _MARKET:
            return market_touch(o)
        if kind is _LIMIT:
            return limit_touch(order.side, order.price, o, h, l, not w.seen, tick)  # type: ignore[arg-type]
        if kind is _STOP_LIMIT:
            touch, triggers = stop_limit_touch(
                order.side,
                order.stop_price,
                order.price,
                o,
                h,
                l,  # type: ignore[arg-type]
                triggered=order.triggered,
                tick=tick,
            )
            if triggers:
                order.triggered = True
            return touch
        if order.triggered:
            return market_touch(o)  # a triggered stop whose fill was capped: market from here
        if kind is _STOP:
            touch = stop_touch(order.side, order.stop_price, o, h, l)  # type: ignore[arg-type]
        else:  # trailing stop: check against the level from earlier bars only
            if w.best is None:
                self._set_trailing_best(w, o)
            touch = stop_touch(order.side, order.stop_price, o, h, l)  # type: ignore[arg-type]
        if touch is not None:
            order.triggered = True
        return touch

    def _after_bar(self, w: Working, ts: int, h: float, l: float) -> None:
        """State after a bar for an order that was matched: trailing ratchet, IOC/FOK."""
        order = w.order
        w.seen = True
        status = order.status
        if status is not _OPEN and status is not _PARTIAL:
            return
        if order.tif is _GTC and order.type is not _TRAILING:
            return
        if order.type is _TRAILING and not order.triggered and w.best is not None:
            best = trailing_best(order.side, w.best, h, l)
            if best != w.best:
                self._set_trailing_best(w, best)
        if order.tif is not _GTC and (order.type not in STOP_TYPES or order.triggered):
            self._finish(
                w,
                _EXPIRED,
                ts,
                f"expired: {order.tif.value} remainder {order.remaining:.10g} not filled on its first bar",
            )

    def _execute(self, w: Working, touch: Touch, ts: int, volume: float, fills: list[Fill]) -> None:
        """Fill as much of ``w`` at ``touch`` as volume, funds and position allow."""
        order, spec = w.order, w.spec
        side, liq = order.side, touch.liquidity
        if order.post_only and liq is _TAKER:
            self._finish(
                w,
                _CANCELED,
                ts,
                f"canceled: post-only limit {order.price:.10g} would "
                f"take liquidity at the open {touch.price:.10g}; it never rests",
            )
            return
        fees = self.fees
        quote_amount = order.quote_amount
        quote_sized = quote_amount is not None and order.filled == 0.0
        pct_sized = order.target_pct is not None and order.filled == 0.0
        if quote_sized:
            # ``_max_buy``'s first case (fee in the quote currency, no fee asset), inlined.
            most = (fees.max_amount(spec, touch.price, quote_amount, liq)  # type: ignore[arg-type]
                    if w.quote_fees and self.fee_asset is None
                    else self._max_buy(w, touch.price, quote_amount, liq))  # type: ignore[arg-type]
            want = sized = spec.round_amount(most)
        elif pct_sized:
            want = self._perp_target_amount(w, touch.price, liq)
            if want <= 0.0:
                self._finish(w, _CANCELED, ts, (
                    f"canceled: the position already meets the target "
                    f"{order.target_pct:g} of equity at the fill price {touch.price:.10g}"))
                return
        else:
            want = order.amount - order.filled  # order.remaining
        g = w.group
        role = w.role
        if role == STOP_LOSS or role == TAKE_PROFIT:
            want = min(want, g.position_left())  # type: ignore[union-attr]
        if order.reduce_only and w.perp:
            want = min(want, self._perp_reducible(w))
        elif order.reduce_only and side is not _BUY:
            capped = spec.round_amount(self._free(w.base))
            if capped < want:
                want = capped
                if capped > 0.0 and minimums_error(spec, touch.price, capped):
                    self._finish(w, _CANCELED, ts, (
                        f"canceled: the {self._free(w.base):.10g} {w.base} left is dust "
                        f"({minimums_error(spec, touch.price, capped)}); nothing to sell"))
                    return
        if want <= 0.0:
            if role == TAKE_PROFIT and order.amount <= order.filled:
                return  # a take-profit sized 0 so far: waits for more of the entry to fill
            self._finish(w, _CANCELED, ts, _nothing_to_fill(order, quote_sized, touch.price))
            return
        price = touch.price
        if liq is _TAKER:
            slippage = self.slippage
            if type(slippage) is not NoSlippage:  # whose price() returns the price as is
                price = slippage.price(side, price, want, volume, liq)
            if order.price is not None and order.type in (_LIMIT, _STOP_LIMIT):
                price = min(price, order.price) if side is _BUY else max(price, order.price)
            if quote_sized:
                # At an unchanged price the size is the one computed above (the same pure
                # function of the same price and balances): recomputed only when it moved.
                want = sized if price == touch.price else spec.round_amount(
                    self._max_buy(w, price, quote_amount, liq))  # type: ignore[arg-type]
            elif pct_sized:
                want = self._perp_target_amount(w, price, liq)
        if quote_sized or pct_sized or w.check_notional:
            why = minimums_error(spec, price, want)
            if why:
                self._finish(w, _CANCELED, ts, _under_minimums(why, price))
                return
            w.check_notional = False
        amount = want
        if amount > self._budget:
            amount = spec.round_amount(self._budget)
        if order.tif is _FOK and amount < want:
            self._finish(
                w,
                _EXPIRED,
                ts,
                f"expired: FOK needs {want:.10g} but the bar's volume cap allows {amount:.10g}",
            )
            return
        if amount <= 0.0:
            return  # volume cap reached: rests (IOC expires in _after_bar)
        # Quote-side markets without a fee asset (the common case) skip the fee routing.
        if w.quote_fees and self.fee_asset is None:
            mode = QUOTE_FEE
        elif w.perp:
            mode = PERP_MARGIN
        else:
            mode = self._fee_mode(w, side is _BUY, price, amount, liq)
        if mode == PERP_MARGIN:
            amount, short_reason = self._perp_affordable(w, price, liq, amount)
        else:
            amount, short_reason = self._affordable(w, price, liq, amount, mode)
        if amount <= 0.0:
            self._finish(w, _CANCELED, ts, reason_text(short_reason))
            return
        if mode == QUOTE_FEE:
            fee = fees.fee(spec, price, amount, liq)
            currency, cost = w.quote, fee
            self._book_quote(w, side, price, amount, fee)
        elif mode == PERP_MARGIN:
            fee = fees.fee(spec, price, amount, liq)
            currency, cost = w.quote, fee
            self._book_perp(w, side, price, amount, fee)
        else:
            currency, cost, fee = self._charge(w, mode, price, amount, liq)
            self._book_other(w, side, price, amount, currency, cost)
        self._budget -= amount
        self._record_fill(w, price, amount, want if quote_sized or pct_sized else None, fee,
                          liq, currency, cost, ts, fills, short_reason)

    def _record_fill(self, w: Working, price: float, amount: float, sized: float | None,
                     fee: float, liq: Liquidity, currency: str, cost: float, ts: int,
                     fills: list[Fill], short_reason: Reason) -> None:
        """Record a booked fill of ``w``: the order's amount when it was sized at the fill
        (``sized``), its filled amount, average price and fee, the ``Fill``, its new
        status, and the bracket/OCO links. Every fill of the book goes through here."""
        order = w.order
        side = order.side
        if sized is not None:
            order.amount = sized
        g = w.group
        if g is not None and w.role == ENTRY:
            g.received += amount - (cost if currency == w.base else 0.0)
        filled = order.filled + amount
        order.avg_price = (order.avg_price * order.filled + price * amount) / filled
        order.filled = filled
        order.fee += fee
        fills.append(
            Fill(
                order.id,
                order.symbol,
                side,
                ts,
                price,
                amount,
                fee,
                liq,
                order.client_id,
                order.tag,
                order.strategy_id,
                currency,
                cost,
            )
        )
        total = order.amount
        if total - order.filled <= _EPS * max(1.0, total):  # _done(order)
            order.filled = total
            self._finish(w, _FILLED, ts, "")
        else:
            self._move(order, _PARTIAL, ts)
            if short_reason:
                self._finish(w, _CANCELED, ts, reason_text(short_reason))
        if g is not None:
            self._after_fill(w, g, ts)

    def _after_fill(self, w: Working, g: Group, ts: int) -> None:
        """OCO and bracket links after a fill of ``w``."""
        order = w.order
        if g.kind == "oco":
            for other in g.tps:
                if other is not w and other.order.is_open:
                    self._finish(other, _CANCELED, ts, f"canceled: OCO order {order.id} filled")
            return
        if w.role == ENTRY:
            for leg in g.legs:
                if not leg.armed:
                    leg.armed, leg.armed_ts = True, ts
                    if leg.order.type is OrderType.TRAILING_STOP and leg.best is None:
                        self._set_trailing_best(leg, order.avg_price)
        elif w.role == STOP_LOSS:
            for tp in g.tps:
                if tp.order.is_open:
                    self._finish(
                        tp, _CANCELED, ts, f"canceled: bracket stop-loss {order.id} filled"
                    )
        for changed in g.sync():
            self._note(changed)
        sl = g.sl
        if (
            w.role == TAKE_PROFIT
            and sl is not None
            and sl.order.is_open
            and g.position_left() == 0.0
        ):
            self._finish(sl, _CANCELED, ts, "canceled: bracket take-profits closed the position")
        for tp in g.tps:
            if tp.order.is_open and tp.order.filled > 0.0 and _done(tp.order):
                tp.order.filled = tp.order.amount
                self._finish(tp, _FILLED, ts, "")
