"""The hook every order passes before it reaches a broker.

The full ``RiskEngine`` (limits, breakers, kill switch) implements ``RiskGate``;
the loop only needs this protocol. A gate answers each order intent with a
decision: approve as is, approve a smaller amount, or reject with a reason that
names the limit. Denials are data (recorded in the run's results), never a bare
exception.

``amount`` in a decision is in the units the order is sized in: base units, or
quote units for a market buy sized by ``quote_amount``.

>>> from tradeloom.engine.orders import Side, OrderType
>>> o = Order(1, "BTC/USDT", Side.BUY, OrderType.MARKET, 0.5, created_ts=0)
>>> PassThroughGate().check(o, None)
GateDecision(approved=True, amount=0.5, reason='')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tradeloom.engine.orders import Order


class RiskDecisionLike(Protocol):
    """What the loop reads from a gate's answer."""

    @property
    def approved(self) -> bool: ...

    @property
    def amount(self) -> float: ...

    @property
    def reason(self) -> str: ...


class RiskView(Protocol):
    """The read-only account view a gate decides on (the strategy ``Context`` is one)."""

    @property
    def now(self) -> int: ...

    @property
    def cash(self) -> float: ...

    @property
    def equity(self) -> float: ...

    def position(self, symbol: str) -> float: ...

    def mark(self, symbol: str) -> float: ...

    def open_orders(self, symbol: str | None = None) -> Sequence[Order]: ...


class RiskGate(Protocol):
    def check(self, order: Order, view: RiskView) -> RiskDecisionLike:
        """Approve, resize (``amount`` smaller than asked) or reject ``order``."""
        ...


@dataclass(frozen=True, slots=True)
class GateDecision:
    """A minimal decision value; the RiskEngine may return a richer one."""

    approved: bool
    amount: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RecordedDecision:
    """A non-trivial decision (reject or resize) as kept in the run's results."""

    ts: int
    order_id: int
    symbol: str
    approved: bool
    requested: float
    amount: float
    reason: str


def order_size(order: Order) -> float:
    """The size a gate decides on: ``quote_amount`` for quote-sized buys, else ``amount``."""
    return order.quote_amount if order.quote_amount is not None else order.amount


class PassThroughGate:
    """Approves every order unchanged (the default when no risk engine is given)."""

    __slots__ = ()

    def check(self, order: Order, view: RiskView | None) -> GateDecision:
        return GateDecision(True, order_size(order))
