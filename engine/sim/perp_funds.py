"""Perpetual swaps in the simulated exchange: margin checks, reduce-only, sizing at the fill.

A part of ``ExchangeCore`` (a mixin beside ``funds``). The account is the portfolio
(``engine.accounting.perps``); fills of one matching call that are not booked yet are
kept in ``_perp_pending`` so each later fill of the call sees them, as ``funds`` does
for spot balances.

- **Fees** are charged in the settle currency (the quote), maker or taker, on the
  notional: ``FeeModel.fee`` (a fee asset such as BNB is not used for perpetuals).
- **Margin check** (``_perp_affordable``): a fill that only reduces the position is
  always allowed (the venue lets a close through; its fee comes out of the margin). A
  fill that opens or adds must leave the account's *available balance* >= 0 after its
  initial margin (``notional / leverage``) and fee; otherwise it is cut to what the
  balance allows (when that still meets the minimums and partial fills are allowed) and
  the rest is cancelled, or the order is cancelled "insufficient margin". A position
  that would exceed the notional cap of its leverage (the brackets' ``max_notional``;
  Binance -2027 "Exceeded the maximum allowable position at current leverage") is
  cancelled with that reason.
- **Reduce-only** (``_perp_reducible``): a reduce-only order reduces a position on the
  other side, never opens or flips one: it is capped at the open quantity and cancelled
  "no position left to reduce" when there is none.
- **Sizing at the fill** (``_perp_target_amount``, orders with ``target_pct``): with
  ``E`` the equity marked at the fill price, ``L`` the symbol's leverage, ``r`` the fee
  rate, ``N0`` the position's signed notional at the fill price and ``s`` the sign of
  ``pct``, the target notional ``N >= 0`` solves::

      N / L + r * |s * N - N0| = |pct| * E / L

  "the target position's margin plus the fee of getting there uses ``|pct| / L`` of the
  equity". With ``L = 1`` and ``pct = +-1`` from flat this is the all-in ``E / (p * (1 +
  r))`` that spot uses (and vectorbt's ``size=inf``); through zero it closes the old
  position first, exactly as vectorbt's reversal. The order's amount is ``|s * N / p -
  q0|`` rounded down to the lot step.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tradeloom.engine.costs.fees import FeeModel
from tradeloom.engine.orders import Liquidity, Side, TimeInForce
from tradeloom.engine.sim.order_checks import minimums_error

if TYPE_CHECKING:
    from tradeloom.engine.sim.groups import Working

__all__ = ["PerpFunds", "target_notional"]

_BUY = Side.BUY
_FOK = TimeInForce.FOK
#: Float noise allowed on the available balance after a sized fill (relative to it).
_SLACK = 1e-9


def target_notional(pct: float, equity: float, leverage: float, rate: float,
                    current: float) -> float:
    """``N >= 0`` solving ``N / L + r * |s * N - N0| = |pct| * E / L`` (module docstring).

    >>> round(target_notional(1.0, 1000.0, 1.0, 0.001, 0.0), 6)   # all-in: 1000 / 1.001
    999.000999
    >>> round(target_notional(-1.0, 1000.0, 1.0, 0.001, 500.0), 6)  # flip a 500 long
    998.501499
    """
    s = 1.0 if pct > 0.0 else -1.0
    budget = abs(pct) * equity / leverage
    u = s * current  # the current notional, counted in the target's direction
    inv = 1.0 / leverage
    n = (budget + rate * u) / (inv + rate)
    if n < u:
        n = (budget - rate * u) / (inv - rate) if inv > rate else 0.0
    return n if n > 0.0 else 0.0


class PerpFunds:
    """Perpetual rules of ``ExchangeCore`` (module docstring)."""

    __slots__ = ()
    fees: FeeModel
    account: Any
    _perp_pending: list[tuple[str, float, float, float]]

    def _perp_now(self, symbol: str) -> float:
        """The symbol's signed position including this call's fills not booked yet."""
        pending = self._perp_pending
        if not pending:
            return self.account.perp_position(symbol)
        return self.account.perp_trial(pending, symbol, 0.0, 1.0, 0.0).after

    def _perp_reducible(self, w: Working, matching: bool = True) -> float:
        """How much of the position a reduce-only order on ``w``'s side may close: with
        this call's fills not booked yet while ``matching``, else (at submit, between
        calls, when the last call's fills are booked) the account's position alone."""
        symbol = w.spec.symbol
        q = self._perp_now(symbol) if matching else self.account.perp_position(symbol)
        if (q > 0.0 and w.order.side is not _BUY) or (q < 0.0 and w.order.side is _BUY):
            return abs(q)
        return 0.0

    def _perp_reduce_only_error(self, w: Working) -> str:
        """Submit-time check of a reduce-only perpetual order (caps its amount)."""
        order = w.order
        cap = self._perp_reducible(w, matching=False)
        if cap <= 0.0:
            q = self.account.perp_position(w.spec.symbol)
            held = "no position" if q == 0.0 else f"a {'long' if q > 0 else 'short'} of {q:g}"
            return (f"rejected: reduce-only {order.side.value} on {w.spec.symbol} but the account "
                    f"holds {held}: nothing to reduce on that side; drop reduce_only")
        order.amount = min(order.amount, cap)
        return ""

    def _perp_target_amount(self, w: Working, price: float, liq: Liquidity) -> float:
        """The amount a ``target_pct`` order trades at ``price`` (module docstring), 0.0
        when the position is already at or beyond the target on the order's side."""
        order, spec = w.order, w.spec
        pct = order.target_pct or 0.0
        trial = self.account.perp_trial(self._perp_pending, spec.symbol, 0.0, price, 0.0)
        q0 = trial.before
        leverage = self.account.perp(spec.symbol).leverage
        rate = self.fees.rate(spec, liq, None)
        n = target_notional(pct, trial.equity, leverage, rate, q0 * price)
        target = math.copysign(n / price, pct)
        amount = target - q0 if order.side is _BUY else q0 - target
        if amount <= 0.0:
            return 0.0
        return spec.round_amount(amount)

    def _perp_affordable(self, w: Working, price: float, liq: Liquidity,
                         amount: float) -> tuple[float, str]:
        """Cap ``amount`` to what margin allows; ``(amount, reason to cancel the rest)``."""
        spec, order = w.spec, w.order
        account = self.account
        sign = 1.0 if order.side is _BUY else -1.0
        pending = self._perp_pending
        fee = self.fees.fee(spec, price, amount, liq)
        trial = account.perp_trial(pending, spec.symbol, sign * amount, price, fee)
        q0, q1 = trial.before, trial.after
        if abs(q1) <= abs(q0) and (q1 == 0.0 or (q1 > 0.0) == (q0 > 0.0)):
            return amount, ""  # only reduces: always allowed
        pos = account.perp(spec.symbol)
        cap = spec.contract.max_notional(pos.leverage)
        if abs(q1) * price > cap * (1.0 + 1e-12):
            return 0.0, (
                f"canceled: the position would be {abs(q1) * price:.2f} {spec.quote}, more than "
                f"{cap:.2f}, the largest allowed at {pos.leverage:g}x on {spec.symbol}; lower "
                "the leverage or the amount")
        if trial.available >= -_SLACK * max(1.0, abs(trial.available)):
            return amount, ""
        # Cut to what the available balance pays: the closing part is free, each unit
        # opened costs price * (1 / L + r).
        closing = abs(q0) if (q0 > 0.0) != (sign > 0.0) else 0.0
        base = account.perp_trial(pending, spec.symbol, sign * closing, price,
                                  self.fees.fee(spec, price, closing, liq) if closing else 0.0)
        rate = self.fees.rate(spec, liq, price * amount)
        per_unit = price * (1.0 / pos.leverage + rate)
        room = max(base.available, 0.0) / per_unit if per_unit > 0.0 else 0.0
        reduced = spec.round_amount(min(amount, closing + room))
        for _ in range(64):  # float noise: step down until the balance truly pays
            if reduced <= 0.0 or self._perp_pays(w, sign * reduced, price, liq):
                break
            reduced = spec.round_amount(
                math.nextafter(reduced, 0.0) if spec.lot_step is None else reduced - spec.lot_step)
        else:
            # Not noise: the estimate used the fee rate of the whole order's notional, and
            # a fee whose rate depends on the notional (a flat fee per fill) costs more
            # per unit on a smaller fill. Bisect for the largest payable amount.
            reduced = self._perp_payable(w, sign, reduced, price, liq)
        need = (f"need {-trial.available:.2f} {spec.quote} more margin at {pos.leverage:g}x "
                f"({spec.symbol} {amount:.10g} @ {price:.10g})")
        if reduced <= 0.0 or order.tif is _FOK or minimums_error(spec, price, reduced):
            return 0.0, f"canceled: insufficient margin: {need}; reduce the amount or add funds"
        return reduced, f"canceled: insufficient margin for the rest: {need}; filled what was payable"

    def _perp_pays(self, w: Working, signed: float, price: float, liq: Liquidity) -> bool:
        """True when a fill of ``signed`` at ``price`` (after this call's pending fills)
        leaves the available balance >= 0, within float noise."""
        check = self.account.perp_trial(self._perp_pending, w.spec.symbol, signed, price,
                                        self.fees.fee(w.spec, price, abs(signed), liq))
        return check.available >= -_SLACK * max(1.0, abs(check.available))

    def _perp_payable(self, w: Working, sign: float, high: float, price: float,
                      liq: Liquidity) -> float:
        """The largest amount below ``high`` (which the balance does not pay), on the lot
        grid, that the balance pays (0.0 when none): bisection, the cost of a fill
        growing with its amount."""
        spec = w.spec
        low = 0.0  # pays (an empty fill)
        for _ in range(128):
            mid = spec.round_amount((low + high) / 2.0)
            if not low < mid < high:
                break
            if self._perp_pays(w, sign * mid, price, liq):
                low = mid
            else:
                high = mid
        return low

    def _book_perp(self, w: Working, side: Side, price: float, amount: float, fee: float) -> None:
        """Remember a fill of this call (the portfolio books it after the call)."""
        self._perp_pending.append(
            (w.spec.symbol, amount if side is _BUY else -amount, price, fee))
