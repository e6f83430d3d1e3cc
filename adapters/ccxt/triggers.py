"""Contingent orders the live broker emulates locally: stops, brackets and OCO groups.

Spot exchanges differ (Binance has OCO lists, many have no brackets, stop semantics
vary), so tradeloom keeps contingent logic on its side of the wire, the same for
every exchange:

- **Stops** (``STOP``, ``STOP_LIMIT``) are held here, never sent, until a price at or
  through the stop trades: a bar's low (sells) or high (buys) reaching it, or a trade
  tick. Then they are sent as a MARKET (``STOP``) or LIMIT at ``price``
  (``STOP_LIMIT``) order under the client id they were given at submit.
- **Brackets**: the entry goes to the exchange; the stop-loss and take-profits wait
  here until the entry has filled (or finished with a partial fill), sized to what
  filled. Take-profits then go to the exchange as limit orders; the stop-loss is a
  held stop.
- **Groups** (bracket legs, ``submit_oco`` pairs): when a stop leg fires, its group's
  other legs are cancelled first. When a limit leg fills, stop legs shrink by that
  amount (and are cancelled at zero); in an OCO pair (no parent) the first fill
  cancels the other leg.

A stop is therefore only as fast as the prices the runner feeds ``on_bar``/``on_trade``,
and it is gone if the machine is: the runner must re-submit held stops after a restart
(their records are in the state store with status ``held``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradeloom.engine.orders import Order, OrderType, Side

STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT)


@dataclass
class LocalTriggers:
    """Held stops, bracket legs waiting for their entry, and group membership."""

    stops: dict[int, Order] = field(default_factory=dict)
    waiting_legs: dict[int, list[Order]] = field(default_factory=dict)  # entry id -> legs
    group_of: dict[int, int] = field(default_factory=dict)  # order id -> group key
    members: dict[int, list[Order]] = field(default_factory=dict)  # group key -> legs
    oco_groups: set[int] = field(default_factory=set)  # groups without a parent

    def hold_stop(self, order: Order) -> None:
        self.stops[order.id] = order

    def hold_bracket(self, entry: Order, legs: list[Order]) -> None:
        self.waiting_legs[entry.id] = legs
        self._group(entry.id, legs)

    def link_oco(self, a: Order, b: Order) -> None:
        self._group(a.id, [a, b])
        self.oco_groups.add(a.id)

    def _group(self, key: int, legs: list[Order]) -> None:
        self.members[key] = legs
        for leg in legs:
            self.group_of[leg.id] = key

    def forget(self, order: Order) -> None:
        """An order is finished: it can neither trigger nor wait any more."""
        self.stops.pop(order.id, None)

    def crossed(self, symbol: str, low: float, high: float) -> list[Order]:
        """Held stops of ``symbol`` whose stop price traded within [low, high]; removed."""
        fired = []
        for order in list(self.stops.values()):
            if order.symbol != symbol or order.stop_price is None:
                continue
            hit = low <= order.stop_price if order.side is Side.SELL else high >= order.stop_price
            if hit:
                fired.append(self.stops.pop(order.id))
        return fired

    def legs_ready(self, entry: Order) -> list[Order]:
        """The legs of ``entry``'s bracket once it stopped growing (filled, or finished)."""
        if entry.id not in self.waiting_legs or not (entry.status.is_terminal and entry.filled > 0):
            return []
        return self.waiting_legs.pop(entry.id)

    def drop_bracket(self, entry: Order) -> list[Order]:
        """An entry finished without any fill: its legs are cancelled with it."""
        if entry.status.is_terminal and entry.filled == 0:
            return self.waiting_legs.pop(entry.id, [])
        return []

    def siblings(self, order: Order) -> list[Order]:
        key = self.group_of.get(order.id)
        if key is None:
            return []
        return [o for o in self.members[key] if o.id != order.id and not o.status.is_terminal]

    def is_oco(self, order: Order) -> bool:
        return self.group_of.get(order.id) in self.oco_groups
