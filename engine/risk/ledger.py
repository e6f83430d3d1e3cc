"""What the ``RiskEngine`` remembers from fills: holdings per strategy and round-trip PnL.

The portfolio knows positions per symbol, not per strategy, and realized PnL gross
of fees; per-strategy budgets and the loss-based breakers need both, so the risk
engine keeps this small ledger from the fills it is shown (``on_fill``).

A round trip runs from flat to flat on one symbol; its PnL includes the fees of
every fill in it. Partial exits accumulate into the trip. Holdings move by each
fill's ``base_change()`` (a fee charged in the coin bought leaves 0.00999 of 0.01),
and a trip also ends when what a reducing fill leaves is dust (``dust(amount, price)``,
the market's ``MarketSpec.is_dust``: the remainder cannot be sold).

>>> from tradeloom.engine.orders import Fill, Side, Liquidity
>>> led = RiskLedger()
>>> led.on_fill(Fill(1, "BTC/USDT", Side.BUY, 0, 100.0, 2.0, 0.2, Liquidity.TAKER, strategy_id="a"))
>>> led.on_fill(Fill(2, "BTC/USDT", Side.SELL, 1, 99.0, 2.0, 0.198, Liquidity.TAKER, strategy_id="a"))
-2.398
>>> led.strategy_positions("a")
{}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tradeloom.engine.orders import Fill, Side

#: A position within this fraction of the fill size of zero counts as flat.
FLAT_TOLERANCE = 1e-9


@dataclass(slots=True)
class _Trip:
    amount: float = 0.0  # signed base units
    cost: float = 0.0  # quote paid for what is held, fees included
    pnl: float = 0.0  # realized so far in this trip, fees included


class RiskLedger:
    """Per-strategy signed holdings and per-symbol round trips, from fills only."""

    __slots__ = ("_by_strategy", "_trips")

    def __init__(self) -> None:
        self._by_strategy: dict[str, dict[str, float]] = {}
        self._trips: dict[str, _Trip] = {}

    def strategy_positions(self, strategy_id: str) -> dict[str, float]:
        """Non-zero signed holdings of one strategy, by symbol."""
        return dict(self._by_strategy.get(strategy_id, {}))

    def on_fill(self, fill: Fill,
                dust: Callable[[float, float], bool] | None = None) -> float | None:
        """Book a fill; returns the round trip's PnL (fees included) when it closes one, else
        None. ``dust(amount, price)``: True when ``amount`` left at ``price`` cannot be
        sold, which ends the trip."""
        qty = abs(fill.base_change()) if fill.fee_currency else fill.amount
        signed = qty * fill.side.sign
        held = self._by_strategy.setdefault(fill.strategy_id, {})
        left = held.get(fill.symbol, 0.0) + signed
        if abs(left) <= FLAT_TOLERANCE * qty or (
                dust is not None and signed < 0 and dust(abs(left), fill.price)):
            held.pop(fill.symbol, None)
        else:
            held[fill.symbol] = left
        trip = self._trips.setdefault(fill.symbol, _Trip())
        increasing = trip.amount == 0.0 or (trip.amount > 0) == (fill.side is Side.BUY)
        if increasing:
            trip.amount += signed
            trip.cost += fill.price * qty * fill.side.sign + fill.fee
            return None
        closing = min(qty, abs(trip.amount))
        share = closing / abs(trip.amount)
        basis = trip.cost * share
        close_fee = fill.fee * closing / qty
        proceeds = fill.price * closing * -fill.side.sign  # sell of a long: +price*amount
        trip.pnl += proceeds - basis - close_fee
        trip.cost -= basis
        trip.amount -= closing * -fill.side.sign
        if abs(trip.amount) > FLAT_TOLERANCE * qty and (
                dust is None or not dust(abs(trip.amount), fill.price)):
            return None
        pnl = trip.pnl
        if abs(trip.amount) > FLAT_TOLERANCE * qty:
            # Closed with dust left over: the dust (and what it cost) starts the next trip,
            # whose exit sells it; it never opens a trip of its own.
            self._trips[fill.symbol] = _Trip(trip.amount, trip.cost)
            return round(pnl, 10)
        opened = qty - closing  # an order that crosses zero opens a new trip with the rest
        self._trips[fill.symbol] = _Trip()
        if opened > FLAT_TOLERANCE * qty:
            self._trips[fill.symbol] = _Trip(
                opened * fill.side.sign, fill.price * opened * fill.side.sign + fill.fee - close_fee
            )
        return round(pnl, 10)
