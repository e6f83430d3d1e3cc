"""The simulated exchange: accepts orders, matches them against bars and trade ticks.

``SimulatedBroker`` implements the ``Broker`` port (``engine.ports``) for backtests,
paper trading and replay, including the port's bar fast path. Price
logic (where an order trades in a bar, the intrabar rule) is in ``matching``; submit-time
checks in ``order_checks``; this module applies amounts, balances, fees, slippage, time
in force and the OCO/bracket links.

Decisions, each tested in ``tests/unit/engine/test_sim_broker.py``:

- **Time.** ``on_bar(bar)`` is called when the bar closes and matches only orders with
  ``created_ts <= bar.ts`` (placed while handling an earlier bar). ``on_trade`` matches
  orders with ``created_ts < ts``. Bar fills carry ``ts = bar.ts``: the fill happened
  somewhere in ``[bar.ts, bar.close_ts)``.
- **Gaps.** See ``matching``: stops gap-fill at the open (taker); limits the bar opens
  through fill at the open, as takers if they just arrived, as makers if resting.
- **Brackets.** ``submit_bracket`` holds the stop-loss and take-profits (status OPEN,
  not matched) until the entry fills. A leg armed by a fill on bar ``t`` is matched
  from bar ``t + 1`` (on ticks: from the next trade), never on the bar of the entry fill:
  the bar's range before the fill is not a range the legs could see. Legs share an OCO
  group; see ``sim_groups`` for how leg amounts follow the position.
- **Intrabar rule.** When legs of one group are reached on both sides of the open in
  one bar, ``matching.path_order`` orders them by ``intrabar_rule`` and a warning is
  appended to ``intrabar_warnings``.
- **Stop-limit.** On the trigger bar it fills only if marketable at the trigger price;
  otherwise it rests as a limit from the next bar.
- **Trailing stop.** The level trails the best price since activation (the last price
  at submit, the entry's fill price for a bracket leg, or the first bar's open); each
  bar is checked against the level from earlier bars before its high (low) ratchets it.
  ``Order.stop_price`` shows the current level.
- **Volume.** With ``volume_share`` set, all fills of one symbol in one bar together take
  at most ``volume_share * bar.volume`` (on ticks: of the trade amount); the rest of a
  GTC order rests (PARTIALLY_FILLED), IOC expires, FOK expires unfilled.
- **Funds (spot).** A buy must be payable from free quote including the fee; a sell may
  not exceed free base. Fills of one call see the balance changes of the earlier fills of
  that call. An unaffordable fill is reduced to what is affordable when that still meets
  the minimums and the order allows partial fills (not FOK), and the rest is cancelled;
  otherwise the order is cancelled with an "insufficient funds" reason. A sell within
  1e-12 (relative) of the free balance, above or below it, sells exactly the free
  balance (float noise), so a full exit leaves a position of exactly zero.
- **Perpetuals** (markets with contract terms): margined, not paid; a sell may go short
  through zero; fees in the settle currency; reduce-only capped at the open position;
  ``target_pct`` orders sized at the fill. The rules are in ``engine.sim.perp_funds``;
  liquidation and funding are the engine's (``engine.run.perp_step``).
- **Fee currency.** Each fill's fee is charged where the venue charges it: the
  account's ``fee_asset`` (BNB at its discount, valued at the ``BNB/<quote>`` mark)
  when set and enough of it is free, else the market's ``fee_side``: in the coin
  received (``get``: a buy delivers ``amount * (1 - rate)`` base and costs the
  notional; an all-in ``quote_amount`` buy is sized ``quote / price``), the coin given,
  the base or the quote currency. A sell whose fee is in the base currency must hold
  ``amount * (1 + rate)``. The fill says which (``Fill.fee_currency``/``fee_cost``);
  ``Fill.fee`` is always the value in the quote currency.
- **Cancel/replace.** ``replace`` validates the new order first; if it would be rejected
  the old order keeps working and the returned new order is REJECTED (as an exchange's
  cancel-replace with "stop on failure"). New ids come from ``id_source`` (default: an
  internal counter from 1,000,000).
- **Updates.** ``drain_updates`` returns each order whose status (or amount, for bracket
  legs following the position) changed since the last drain, once, in the order of its
  latest change.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tradeloom.engine.costs.fees import FeeAsset, FeeModel, MakerTakerFees
from tradeloom.engine.costs.slippage import NoSlippage, SlippageModel
from tradeloom.engine.errors import ConfigError, OrderError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Order, OrderStatus, OrderType, Side  # noqa: F401 (Side: doctest)
from tradeloom.engine.ports import BarFastPath
from tradeloom.engine.sim.execution import (
    _BUY,
    _CANCELED,
    _LIMIT,
    _REJECTED,
    _STOP,
    _STOP_LIMIT,
    AccountView,
    ExchangeCore,
    IntrabarWarning,
)
from tradeloom.engine.sim.groups import (
    ENTRY,
    OCO_LEG,
    STOP_LOSS,
    STOP_TYPES,
    TAKE_PROFIT,
    Group,
    Working,
)
from tradeloom.engine.sim.matching import IntrabarRule
from tradeloom.engine.sim.order_checks import check_order

__all__ = ["AccountView", "IntrabarRule", "IntrabarWarning", "SimulatedBroker"]

_EXPIRED = OrderStatus.EXPIRED
_TRAILING = OrderType.TRAILING_STOP


class SimulatedBroker(ExchangeCore):
    """Deterministic simulated spot exchange (see the module docstring for every rule).

    >>> class Cash:
    ...     def free(self, asset): return {"USDT": 1000.0}.get(asset, 0.0)
    >>> broker = SimulatedBroker({"BTC/USDT": MarketSpec("BTC/USDT", taker_fee=0.001)}, Cash())
    >>> order = Order(1, "BTC/USDT", Side.BUY, OrderType.MARKET, 2.0, created_ts=60_000)
    >>> broker.submit(order, 60_000)
    >>> broker.on_bar(Bar("BTC/USDT", 0, 60_000, 100, 101, 99, 100, 5.0))  # placed later: no fill
    []
    >>> [(f.price, f.amount, f.fee) for f in broker.on_bar(Bar("BTC/USDT", 60_000, 120_000, 100.5, 102, 100, 101, 5.0))]
    [(100.5, 2.0, 0.201)]
    """

    __slots__ = ()

    def __init__(
        self,
        markets: Mapping[str, MarketSpec],
        account: AccountView,
        *,
        fees: FeeModel | None = None,
        slippage: SlippageModel | None = None,
        intrabar_rule: IntrabarRule = IntrabarRule.ADVERSE_FIRST,
        volume_share: float | None = None,
        id_source: Callable[[], int] | None = None,
        fee_asset: FeeAsset | None = None,
    ) -> None:
        if volume_share is not None and not (
            math.isfinite(volume_share) and 0.0 < volume_share <= 1.0
        ):
            raise ConfigError(
                f"SimulatedBroker(volume_share={volume_share}): must be in (0, 1] "
                "(0.1 = fills take at most 10 % of a bar's volume) or None for no cap"
            )
        self.markets = dict(markets)
        if fee_asset is not None and fee_asset.rate is None:
            for quote in sorted({m.quote for m in self.markets.values()}):
                if f"{fee_asset.asset}/{quote}" not in self.markets:
                    raise ConfigError(
                        f"fees paid with {fee_asset.asset} cannot be valued: the run has no "
                        f"{fee_asset.asset}/{quote} market; add {fee_asset.asset}/{quote} to "
                        "the run's symbols (its bars mark the fee asset) or drop fee_asset"
                    )
        self.fee_asset = fee_asset
        self.account = account
        self.fees: FeeModel = fees if fees is not None else MakerTakerFees()
        self.slippage: SlippageModel = slippage if slippage is not None else NoSlippage()
        self.intrabar_rule = IntrabarRule(intrabar_rule)
        self.volume_share = volume_share
        self.intrabar_warnings: list[IntrabarWarning] = []
        self._id_source = (
            id_source if id_source is not None else itertools.count(1_000_000).__next__
        )
        self._working: dict[str, list[Working]] = {}
        self._by_id: dict[int, Working] = {}
        self._orders: dict[int, Order] = {}
        self._last: dict[str, float] = {}
        self._updates: dict[int, Order] = {}
        self._seq = itertools.count()
        self._bal: dict[str, float] = {}  # this call's balances, updated fill by fill
        self._perp_pending: list[tuple[str, float, float, float]] = []  # this call's perp fills
        self._assets: dict[str, tuple[str, str]] = {}  # symbol -> (base, quote), parsed once
        self._budget = math.inf

    # ------------------------------------------------------------------ submit checks
    def _validate(self, order: Order, minimums: bool = True) -> tuple[Working | None, str]:
        spec = self.markets.get(order.symbol)
        if spec is None:
            known = ", ".join(sorted(self.markets)[:8]) or "none"
            return None, (
                f"rejected: unknown symbol {order.symbol!r} (known: {known}); "
                "add its MarketSpec to the broker's markets"
            )
        last = self._last.get(order.symbol)
        reason = check_order(order, spec, last, minimums=minimums)
        if reason:
            return None, reason
        assets = self._assets.get(spec.symbol)
        if assets is None:
            assets = self._assets[spec.symbol] = (spec.base, spec.quote)
        w = Working(order, spec, next(self._seq), assets)
        w.check_notional = last is None and order.type not in (_LIMIT, _STOP, _STOP_LIMIT)
        if order.type is _TRAILING:
            if order.stop_price is not None:
                level = order.stop_price
                trail, pct = order.trail_amount, order.trail_pct
                sell = order.side is not _BUY
                if trail is not None:
                    w.best = level + trail if sell else level - trail
                else:
                    w.best = level / (1.0 - (pct or 0.0)) if sell else level / (1.0 + (pct or 0.0))
            elif last is not None:
                self._set_trailing_best(w, last)
        return w, ""

    def _reduce_only_error(self, w: Working) -> str:
        order, spec = w.order, w.spec
        if w.perp:
            return self._perp_reduce_only_error(w)
        if order.side is _BUY:
            return (
                f"rejected: reduce-only buy would open or increase a position: spot {spec.symbol} "
                "has no short to reduce; drop reduce_only"
            )
        free = self.account.free(spec.base)
        capped = spec.round_amount(min(order.amount, free))
        if capped <= 0.0:
            return (
                f"rejected: reduce-only sell of {order.amount:.10g} {spec.base} but free "
                f"{spec.base} is {free:.10g}: no position to reduce; drop reduce_only"
            )
        order.amount = capped
        return ""

    # ------------------------------------------------------------------ order entry
    def submit(self, order: Order, now_ms: int) -> None:
        """Accept (OPEN) or reject (REJECTED, ``order.reason`` says why and what to do).

        Rounds prices to the tick and the amount down to the lot step in place. Raises only
        for programming errors: ``IllegalTransition`` if the order is not NEW, ``OrderError``
        for a reused id.
        """
        orders = self._orders
        if order.id in orders:
            self._register(order)  # raises: a reused id
        orders[order.id] = order
        w, reason = self._validate(order)
        if w is not None and order.reduce_only:
            reason = self._reduce_only_error(w)
        if w is None or reason:
            self._move(order, _REJECTED, now_ms, reason)
            return
        self._accept(w, now_ms)

    def submit_oco(self, a: Order, b: Order, now_ms: int) -> None:
        """Two orders that cancel each other: the first (partial) fill of one cancels the
        other. Both are rejected if either is. ``oco_group`` is set to ``a.id``."""
        self._submit_group(Group(a.id, "oco"), None, [a, b], None, now_ms)

    def submit_bracket(
        self, entry: Order, stop_loss: Order, take_profits: Sequence[Order], now_ms: int
    ) -> None:
        """Entry plus a stop-loss and take-profits that activate after the entry fills.

        Legs get ``parent_id = entry.id`` and ``oco_group = entry.id``. The stop-loss (a
        stop, stop-limit or trailing stop on the opposite side) always covers the
        remaining position; take-profits (limits, opposite side) scale out in the
        proportions of their amounts. A stop-loss fill cancels the take-profits; when the
        take-profits have closed the position the stop-loss is cancelled. If anything is
        rejected, everything is.
        """
        g = Group(entry.id, "bracket")
        self._submit_group(g, entry, list(take_profits), stop_loss, now_ms)

    def _submit_group(
        self,
        g: Group,
        entry: Order | None,
        legs: list[Order],
        stop_loss: Order | None,
        now_ms: int,
    ) -> None:
        orders = ([entry] if entry is not None else []) + ([stop_loss] if stop_loss else []) + legs
        for order in orders:
            self._register(order)
            order.oco_group = g.id
            if entry is not None and order is not entry:
                order.parent_id = entry.id
        reason = self._group_shape_error(entry, stop_loss, legs)
        given_stop = {order.id: order.stop_price for order in orders}
        workings: list[Working] = []
        if not reason:
            for order in orders:
                if order is stop_loss and order.amount <= 0.0:
                    order.amount = entry.amount if entry is not None and entry.amount > 0 else 1.0
                weights = (
                    entry is not None and entry.quote_amount is not None and order is not entry
                )
                w, why = self._validate(order, minimums=not weights)
                if w is None:
                    reason = f"{why} (order {order.id} of {g.kind} {g.id})"
                    break
                if order.reduce_only and entry is None:
                    why = self._reduce_only_error(w)
                    if why:
                        reason = f"{why} (order {order.id} of {g.kind} {g.id})"
                        break
                workings.append(w)
        if reason:
            for order in orders:
                self._move(order, _REJECTED, now_ms, reason)
            return
        for w in workings:
            w.group = g
            if entry is None:
                w.role = OCO_LEG
                g.tps.append(w)  # plain OCO: both orders are peers; kept in submission order
            elif w.order is entry:
                w.role = ENTRY
                g.entry = w
            else:
                w.armed = False
                if w.order.type is OrderType.TRAILING_STOP and given_stop[w.order.id] is None:
                    w.best, w.order.stop_price = None, None  # trails from the entry's fill price
                if w.order is stop_loss:
                    w.role = STOP_LOSS
                    g.sl = w
                else:
                    w.role = TAKE_PROFIT
                    g.tps.append(w)
                    g.weights.append(w.order.amount)
        if entry is not None:
            g.planned = entry.amount if entry.quote_amount is None else sum(g.weights)
        for w in workings:
            self._accept(w, now_ms)

    @staticmethod
    def _group_shape_error(entry: Order | None, stop_loss: Order | None, legs: list[Order]) -> str:
        if entry is None:
            if len(legs) != 2 or legs[0].symbol != legs[1].symbol:
                return "rejected: an OCO needs two orders on the same symbol"
            return ""
        if stop_loss is None or stop_loss.type not in STOP_TYPES:
            return "rejected: a bracket's stop-loss must be a stop, stop-limit or trailing stop"
        exit_side = entry.side.opposite
        for leg in [stop_loss, *legs]:
            if leg.symbol != entry.symbol or leg.side is not exit_side:
                return (
                    f"rejected: bracket leg {leg.id} must be a {exit_side.value} on {entry.symbol} "
                    f"(entry {entry.id} is a {entry.side.value})"
                )
        for leg in legs:
            if leg.type is not _LIMIT:
                return f"rejected: bracket take-profit {leg.id} must be a limit order, got {leg.type.value}"
        return ""

    def cancel(self, order_id: int, now_ms: int) -> bool:
        """Cancel a working order; ``False`` if unknown or already terminal. Cancelling an
        unfilled bracket entry cancels its legs; cancelling one leg leaves the others."""
        w = self._by_id.get(order_id)
        if w is None:
            return False
        self._finish(w, _CANCELED, now_ms, "canceled by request")
        return True

    def replace(
        self,
        order_id: int,
        now_ms: int,
        *,
        amount: float | None = None,
        price: float | None = None,
        stop_price: float | None = None,
    ) -> Order:
        """Cancel/replace: returns the new order (id from ``id_source``, ``created_ts =
        now_ms``, amount defaults to the old remaining). Raises ``OrderError`` if the order
        is not working. If the new order is rejected the old one keeps working."""
        old_w = self._by_id.get(order_id)
        if old_w is None:
            state = self._orders[order_id].status.value if order_id in self._orders else "unknown"
            raise OrderError(
                f"cannot replace order {order_id}: it is {state}, not working; "
                "check open_orders() before replacing"
            )
        old = old_w.order
        new = dataclasses.replace(
            old,
            id=self._id_source(),
            amount=old.remaining if amount is None else amount,
            quote_amount=old.quote_amount if amount is None and old.filled == 0.0 else None,
            price=old.price if price is None else price,
            stop_price=old.stop_price if stop_price is None else stop_price,
            created_ts=now_ms,
            status=OrderStatus.NEW,
            filled=0.0,
            avg_price=0.0,
            fee=0.0,
            triggered=old.triggered,
            updated_ts=0,
            reason="",
            history=[],
        )
        self._register(new)
        w, reason = self._validate(new)
        if w is None:
            self._move(new, _REJECTED, now_ms, reason)
            return new
        for name in ("role", "group", "seen", "armed", "armed_ts"):
            setattr(w, name, getattr(old_w, name))
        if stop_price is None and old_w.best is not None:
            w.best = old_w.best
        g = w.group
        if g is not None:
            if g.entry is old_w:
                g.entry = w
            elif g.sl is old_w:
                g.sl = w
            else:
                i = g.tps.index(old_w)
                g.tps[i] = w
                if w.role == TAKE_PROFIT:
                    f = g.factor()
                    g.weights[i] = new.amount / f if f > 0.0 else new.amount
        old_w.group = None  # the old order leaves the group before it is cancelled
        self._finish(old_w, _CANCELED, now_ms, f"replaced by order {new.id}")
        self._accept(w, now_ms)
        return new

    # ------------------------------------------------------------------ queries
    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Working orders (including held bracket legs), oldest first."""
        if symbol is not None:
            return [w.order for w in self._working.get(symbol, ())]
        ws = sorted(self._by_id.values(), key=lambda w: w.seq)
        return [w.order for w in ws]

    def get(self, order_id: int) -> Order:
        """Any order ever submitted here, by id; ``OrderError`` if unknown."""
        try:
            return self._orders[order_id]
        except KeyError:
            raise OrderError(
                f"unknown order id {order_id}: it was never submitted to this broker"
            ) from None

    def drain_updates(self) -> list[Order]:
        """Orders that changed since the last drain, each once, in order of latest change."""
        if not self._updates:
            return []
        out = list(self._updates.values())
        self._updates.clear()
        return out

    def expire_all(self, now_ms: int) -> None:
        """End of run: every working order expires (reason "end of run")."""
        for w in sorted(self._by_id.values(), key=lambda w: w.seq):
            if w.order.is_open:
                self._finish(w, _EXPIRED, now_ms, "expired: end of run")

    # ------------------------------------------------------------------ matching

    def bar_fast_path(self) -> BarFastPath | None:
        """The port's bar fast path: this broker's per-symbol map of working orders, its
        last-price map and its pending updates (``engine.ports.BarFastPath``'s contract).

        ``on_bar(bar)`` for a symbol absent from ``working`` only stores the close:
        ``last[bar.symbol] = bar.close``, then returns ``[]``. The engine does exactly
        that itself instead of a Python call per bar (most bars of a backtest have
        nothing to match). ``None`` when a subclass overrides ``on_bar`` or
        ``drain_updates``: then every bar must go through it.
        """
        cls = type(self)
        if cls.on_bar is not SimulatedBroker.on_bar or (
            cls.drain_updates is not SimulatedBroker.drain_updates
        ):
            return None
        return BarFastPath(self._working, self._last, self._updates)

    def update_markets(self, specs: Mapping[str, MarketSpec]) -> None:
        """New rules for later orders (``Broker.update_markets``); working orders keep theirs."""
        self.markets.update(specs)

    def set_leverage(self, symbol: str, leverage: float) -> None:
        """Nothing to set: the simulated exchange reads each symbol's leverage and margin
        mode from the account (the portfolio), which checks them against the brackets."""

    def set_margin_mode(self, symbol: str, mode: str) -> None:
        """Nothing to set (``set_leverage``)."""

    def result_events(self) -> list[dict[str, Any]]:
        """Each bar where the intrabar rule decided which order of a group filled first."""
        return [
            {
                "ts": int(w.ts),
                "kind": "intrabar",
                "message": f"{w.symbol}: orders {list(w.order_ids)} reached in one bar; "
                f"{w.rule.value} decided which filled first",
            }
            for w in self.intrabar_warnings
        ]

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Match working orders against ``bar`` (called at its close); record its close."""
        symbol, ts, _, o, h, l, close, volume = bar  # one unpack: cheapest on the hot path
        self._last[symbol] = close
        working = self._working.get(symbol)
        if not working:
            return []  # no working order for this symbol: the common case, kept tiny
        return self._match(working, ts, o, h, l, volume, False)

    def on_trade(self, symbol: str, ts: int, price: float, amount: float) -> list[Fill]:
        """Match working orders against one trade: limits that the price crosses fill at
        their limit (maker); stops that it reaches fill at the trade price (taker)."""
        self._last[symbol] = price
        working = self._working.get(symbol)
        if not working:
            return []
        return self._match(working, ts, price, price, price, amount, True)
