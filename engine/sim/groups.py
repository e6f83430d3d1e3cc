"""Working-order bookkeeping of the simulated broker: one record per working order and
one per OCO group / bracket.

Kept apart from ``sim_broker`` so the broker reads as the exchange's rules while this
module holds the plain state those rules update.

Bracket amounts (``Group.sync``): the stop-loss always covers the bracket's open
position (what the entry delivered, net of a fee charged in the base currency, minus
exits filled; a remainder no order could sell, under one lot or the minimum amount,
counts as none); take-profits keep the proportions they
were submitted with, scaled to the entry's filled amount (``factor = entry.filled /
planned``, ``planned`` = the entry's amount, or the sum of the take-profit amounts for
an all-in ``quote_amount`` entry, whose take-profit amounts then act as weights). When
the take-profits covered the whole planned entry, the last one takes the lot-rounding
remainder so that they sum exactly to the position (with a fee in the base currency,
to the lot-rounded position: what is left under one lot is dust).
"""

from __future__ import annotations

from tradeloom.engine.market import FeeSide, MarketSpec
from tradeloom.engine.orders import Order, OrderType

# Roles of a working order.
PLAIN, ENTRY, STOP_LOSS, TAKE_PROFIT, OCO_LEG = range(5)

STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP})
_QUOTE_SIDE = FeeSide.QUOTE  # bound once: an enum member lookup goes through the metaclass


class Working:
    """A working order plus the simulator's private state about it."""

    __slots__ = (
        "armed",
        "armed_ts",
        "base",
        "best",
        "check_notional",
        "group",
        "order",
        "perp",
        "quote",
        "quote_fees",
        "role",
        "seen",
        "seq",
        "spec",
    )

    def __init__(self, order: Order, spec: MarketSpec, seq: int, assets: tuple[str, str]) -> None:
        self.order = order
        self.spec = spec
        self.base, self.quote = assets  # spec.base, spec.quote (properties that split a string)
        # Every fill pays its fee in quote and nothing else applies (spot's common case).
        self.perp = spec.contract is not None  # a perpetual: margined (engine.sim.perp_funds)
        self.quote_fees = spec.fee_side is _QUOTE_SIDE and not self.perp
        self.seq = seq  # submission order: the one iteration order, no dict surprises
        self.role = PLAIN
        self.group: Group | None = None
        self.seen = False  # has met the market once (arrival rule for limits, IOC/FOK)
        self.armed = True  # bracket legs: False until the entry fills
        self.armed_ts = -(2**62)  # legs match only data strictly after the arming fill
        self.best: float | None = None  # trailing stops: best price since activation
        self.check_notional = False  # min notional unknown at submit (no price yet)


class Group:
    """An OCO pair (``kind == "oco"``) or a bracket (entry, stop-loss, take-profits)."""

    __slots__ = ("entry", "id", "kind", "planned", "received", "sl", "tps", "weights")

    def __init__(self, gid: int, kind: str) -> None:
        self.id = gid
        self.kind = kind
        self.entry: Working | None = None
        self.sl: Working | None = None
        self.tps: list[Working] = []
        self.weights: list[float] = []
        self.planned = 0.0
        #: Base the entry delivered: its fills, less fees charged in the base currency.
        self.received = 0.0

    @property
    def legs(self) -> list[Working]:
        """The mutually cancelling orders, stop-loss first (oco: both orders)."""
        return ([self.sl] if self.sl is not None else []) + self.tps

    def position_left(self) -> float:
        """Bracket: base amount bought (sold) by the entry and not yet exited."""
        if self.entry is None:
            return 0.0
        exited = sum(w.order.filled for w in self.legs)
        left = self.received - exited
        if not left > 1e-12 * max(1.0, self.received):
            return 0.0
        spec = self.entry.spec
        rounded = spec.round_amount(left)
        if rounded <= 0.0 or rounded < spec.min_amount:
            return 0.0  # dust: no order could sell it
        return left if self.received == self.entry.order.filled else rounded

    def factor(self) -> float:
        if self.entry is None or self.planned <= 0.0:
            return 0.0
        return self.received / self.planned

    def sync(self) -> list[Order]:
        """Resize the legs to the position (see module doc); returns the orders changed."""
        changed: list[Order] = []
        if self.entry is None:
            return changed
        factor = self.factor()
        covers = sum(self.weights) >= self.planned * (1.0 - 1e-9)
        targets = [
            w.spec.round_amount(weight * factor) for w, weight in zip(self.tps, self.weights)
        ]
        if covers and self.tps:
            rest = self.received - sum(targets[:-1])
            # A base fee leaves a position off the lot grid: the last leg sells what a lot
            # rounding allows (the rest is dust), as the venue would.
            targets[-1] = rest if self.received == self.entry.order.filled else (
                self.tps[-1].spec.round_amount(rest))
        for w, target in zip(self.tps, targets):
            order = w.order
            if order.is_open and order.amount != max(target, order.filled):
                order.amount = max(target, order.filled)
                changed.append(order)
        if self.sl is not None and self.sl.order.is_open:
            order = self.sl.order
            target = order.filled + self.position_left()
            if order.amount != target:
                order.amount = target
                changed.append(order)
        return changed
