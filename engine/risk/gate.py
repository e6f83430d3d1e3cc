"""The hook every order passes before it reaches a broker.

The ports (``RiskGate``: ``check``; ``RiskHooks``: ``check`` plus the hooks the loop
calls) are declared in ``engine.ports`` and re-exported here. The full ``RiskEngine``
(limits, breakers, kill switch) implements ``RiskHooks``; a bare ``RiskGate`` is
enough for the loop. A gate answers each order intent with a
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

from dataclasses import dataclass

from tradeloom.engine.orders import Order
from tradeloom.engine.ports import RiskDecisionLike, RiskGate, RiskHooks, RiskView


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


__all__ = [
    "GateDecision",
    "PassThroughGate",
    "RecordedDecision",
    "RiskDecisionLike",
    "RiskGate",
    "RiskHooks",
    "RiskView",
    "order_size",
]
