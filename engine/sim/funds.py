"""Funds of the simulated exchange: which balance pays a fill's fee, what the account
can afford, and the balances of one matching call, fill after fill.

A part of ``ExchangeCore`` (a mixin, split out to keep modules small): the rules are
listed in ``engine.sim.broker``'s module docstring ("Funds", "Fee currency").

- **Fee routing** (``_fee_mode``, ``_charge``): the account's fee asset (BNB) when it
  is set, valued and enough of it is free; else the market's ``fee_side``: the base
  currency (``BASE_FEE``: the coin received on a Binance buy) or the quote
  (``QUOTE_FEE``). A fee in the base currency is the received amount times the rate
  (Binance's commission FAQ), valued at the fill price.
- **Affordability** (``_affordable``): a buy must be payable from free quote (the fee
  included when it is paid in quote), a sell may not exceed free base (with the fee
  when it is paid in base); an unaffordable fill is cut to what is payable when that
  meets the minimums and partial fills are allowed.
- **Balances** (``_book_quote``/``_book_other``): the portfolio's own expressions, so
  the broker's view and the portfolio's agree bit for bit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

from tradeloom.engine.costs.fees import FeeAsset, FeeModel
from tradeloom.engine.orders import Liquidity, Side, TimeInForce
from tradeloom.engine.sim.order_checks import minimums_error

if TYPE_CHECKING:
    from tradeloom.engine.sim.execution import AccountView
    from tradeloom.engine.sim.groups import Working

__all__ = ["ASSET_FEE", "BASE_FEE", "QUOTE_FEE", "Charge", "Funds", "Reason", "reason_text"]

_BUY = Side.BUY
_FOK = TimeInForce.FOK
_EPS = 1e-12


class Charge(NamedTuple):
    """Who pays a fill's fee: ``currency`` (``QUOTE``, ``BASE`` or the fee asset's code),
    ``cost`` in that currency and ``value`` in the quote currency."""

    currency: str
    cost: float
    value: float


#: Where a fill's fee is charged (``ExchangeCore._fee_mode``).
QUOTE_FEE, BASE_FEE, ASSET_FEE = 0, 1, 2

#: Why the rest of a fill is cancelled: the text, or a ``str.format`` template and its
#: values, formatted by ``reason_text`` only when the order keeps an unfilled rest (a
#: float-noise shortfall of an all-in buy leaves the order filled: nobody reads it).
Reason = str | tuple[str, tuple[object, ...]]


def reason_text(reason: Reason) -> str:
    """The text of a ``Reason``.

    >>> reason_text(("need {:.2f} {}", (1.005, "USDT")))
    'need 1.00 USDT'
    >>> reason_text("canceled: no funds")
    'canceled: no funds'
    """
    return reason if isinstance(reason, str) else reason[0].format(*reason[1])



class Funds:
    """Fee routing, affordability and call balances of ``ExchangeCore`` (see the module
    docstring). Uses the core's ``fees``, ``fee_asset``, ``account``, ``_bal`` and
    ``_last``."""

    __slots__ = ()
    fees: FeeModel
    fee_asset: FeeAsset | None
    account: AccountView
    _bal: dict[str, float]
    _last: dict[str, float]

    def _fee_mode(self, w: Working, buy: bool, price: float, amount: float,
                  liq: Liquidity) -> int:
        """Which balance pays this fill's fee: the account's fee asset when it is set,
        valued (its market has a price) and enough of it is free for ``amount`` beside
        what the fill itself takes of it (a sale of BNB/USDT); else the
        market's ``fee_side`` (the base or the quote currency), as Binance takes "the full
        commission out of your received amount" when BNB runs short."""
        asset = self.fee_asset
        if asset is not None:
            rate = self._asset_price(w, asset)
            if rate is not None:
                need = self._asset_cost(w, asset, rate, price, amount, liq)
                free = self._free(asset.asset)
                if asset.asset == w.base and not buy:
                    free -= amount  # selling the fee coin itself: the fee needs what is left
                if 0.0 < need <= free:
                    return ASSET_FEE
        return BASE_FEE if w.spec.fee_side.in_base(buy) else QUOTE_FEE

    def _asset_price(self, w: Working, asset: FeeAsset) -> float | None:
        """The fee asset's price in the market's quote currency: its last close, else the
        setting's fixed ``rate``."""
        price = self._last.get(f"{asset.asset}/{w.quote}")
        if price is None:
            return asset.rate
        return price if price > 0.0 else None

    def _asset_cost(self, w: Working, asset: FeeAsset, rate: float, price: float,
                    amount: float, liq: Liquidity) -> float:
        """The standard commission converted to the fee asset, less its discount."""
        return self.fees.fee(w.spec, price, amount, liq) * (1.0 - asset.discount) / rate

    def _charge(self, w: Working, mode: int, price: float, amount: float,
                liq: Liquidity) -> Charge:
        """The fee of a fill not paid in the quote currency (``_fee_mode``)."""
        spec = w.spec
        if mode == BASE_FEE:
            # The commission is the received amount times the rate (Binance's FAQ), so a
            # buy of 0.01 at 0.1 % pays 0.00001 base; valued at the fill price.
            cost = amount * self.fees.rate(spec, liq, price * amount)
            return Charge(w.base, cost, cost * price)
        asset = self.fee_asset
        rate = self._asset_price(w, asset)  # type: ignore[arg-type]
        cost = self._asset_cost(w, asset, rate, price, amount, liq)  # type: ignore[arg-type]
        return Charge(asset.asset, cost, cost * rate)  # type: ignore[union-attr,operator]

    def _max_buy(self, w: Working, price: float, budget: float, liq: Liquidity) -> float:
        """The largest buy ``budget`` quote units pay for at ``price``: the fee model's
        ``max_amount`` when the fee is paid in the quote currency, ``budget / price``
        when it comes out of the coin received (or the fee asset)."""
        if (w.quote_fees and self.fee_asset is None) or self._fee_mode(
                w, True, price, budget / price if price > 0.0 else 0.0, liq) == QUOTE_FEE:
            return self.fees.max_amount(w.spec, price, budget, liq)
        return budget / price if budget > 0.0 and price > 0.0 else 0.0

    def _affordable(
        self, w: Working, price: float, liq: Liquidity, amount: float, mode: int = QUOTE_FEE
    ) -> tuple[float, Reason]:
        """Cap ``amount`` to the free balance; ``(amount, reason to cancel the rest or "")``
        (a ``Reason``: its text is ``reason_text(reason)``)."""
        order, spec = w.order, w.spec
        free_quote = self._bal.get(w.quote)  # self._free(w.quote), inlined
        if free_quote is None:
            free_quote = self._bal[w.quote] = self.account.free(w.quote)
        if order.side is _BUY:
            if mode != QUOTE_FEE:  # the fee comes out of what is received: the notional pays
                cost = price * amount
                if cost <= free_quote:
                    return amount, ""
                reduced = spec.round_amount(free_quote / price)
                for _ in range(64):  # float noise: step down until truly payable
                    if reduced <= 0.0 or price * reduced <= free_quote:
                        break
                    reduced = spec.round_amount(
                        math.nextafter(reduced, 0.0)
                        if spec.lot_step is None
                        else reduced - spec.lot_step
                    )
                need = ("need {:.2f} {}, free {:.2f}", (cost, w.quote, free_quote))
                return self._shortfall(w, price, amount, reduced, need)
            cost = price * amount + self.fees.fee(spec, price, amount, liq)
            if cost <= free_quote:
                return amount, ""
            reduced = spec.round_amount(self.fees.max_amount(spec, price, free_quote, liq))
            for _ in range(64):  # float noise: step down until truly payable
                if (
                    reduced <= 0.0
                    or price * reduced + self.fees.fee(spec, price, reduced, liq) <= free_quote
                ):
                    break
                reduced = spec.round_amount(
                    math.nextafter(reduced, 0.0)
                    if spec.lot_step is None
                    else reduced - spec.lot_step
                )
            need = ("need {:.2f} {}, free {:.2f}", (cost, w.quote, free_quote))
        else:
            free_base = self._free(w.base)
            if mode == BASE_FEE:
                # The fee leaves the base holding too: amount * (1 + rate) must be held.
                rate = self.fees.rate(spec, liq, price * amount)
                need_base = amount * (1.0 + rate)
                if need_base <= free_base:
                    return amount, ""
                reduced = spec.round_amount(free_base / (1.0 + rate))
                need = ("need {:.10g} {} with the fee, free {:.10g}", (need_base, w.base, free_base))
                return self._shortfall(w, price, amount, reduced, need)
            if abs(amount - free_base) <= _EPS * amount:
                # Float noise either way (e.g. 0.1 + 0.2 bought, 0.3 sold): sell exactly what
                # is free, so a full exit leaves no 5e-17 of dust that keeps the position open.
                reduced = free_base
            elif amount <= free_base:
                reduced = amount
            else:
                reduced = spec.round_amount(free_base)
                if 0.0 <= free_base - reduced <= _EPS * free_base:
                    reduced = free_base  # the lot rounding only lost float noise: all of it
                elif reduced > free_base:
                    # Rounded up within the lot rounding's tolerance: float noise of the
                    # whole holding (8.137999... for 8.138), which is sold exactly; more
                    # than noise: one lot less.
                    reduced = free_base if reduced - free_base <= _EPS * reduced else max(
                        0.0, spec.round_amount(reduced - (spec.lot_step or 0.0)))
            if mode == QUOTE_FEE:
                fee = self.fees.fee(spec, price, reduced, liq)
                if reduced > 0.0 and free_quote + price * reduced - fee < 0.0:
                    return 0.0, (
                        f"canceled: insufficient funds: the fee {fee:.2f} {spec.quote} exceeds "
                        f"proceeds plus free {spec.quote}; deposit {spec.quote} or raise the "
                        "amount"
                    )
            if reduced >= amount:  # all of it (or the whole holding, a float noise above)
                return reduced, ""
            need = ("need {:.10g} {}, free {:.10g}", (amount, w.base, free_base))
        return self._shortfall(w, price, amount, reduced, need)

    def _shortfall(self, w: Working, price: float, amount: float, reduced: float,
                   need: tuple[str, tuple[object, ...]]) -> tuple[float, Reason]:
        """An unaffordable fill: the payable part when partial fills are allowed and it
        meets the minimums (the rest is cancelled), else nothing. ``need`` (what the fill
        needs and what is free) is a ``Reason`` template and its values."""
        if reduced >= amount:
            return amount, ""
        template, values = need
        if reduced <= 0.0 or w.order.tif is _FOK or minimums_error(w.spec, price, reduced):
            return 0.0, (f"canceled: insufficient funds: {template.format(*values)}; reduce the "
                         "amount or add funds")
        # Read only when the rest stays unfilled (``reason_text``): a third of all-in buys
        # come here for a float-noise shortfall that leaves the order filled.
        return reduced, (
            "canceled: insufficient funds for the rest: " + template + "; filled what was payable",
            values,
        )

    def _free(self, asset: str) -> float:
        """Free balance after this call's earlier fills."""
        bal = self._bal.get(asset)
        if bal is None:
            bal = self._bal[asset] = self.account.free(asset)
        return bal

    def _book_quote(self, w: Working, side: Side, price: float, amount: float,
                    fee: float) -> None:
        """Apply a fill whose fee is in the quote currency to this call's balances with the
        portfolio's own expressions (``cash - (price * amount + fee)``), fill after fill,
        so that the broker's view and the portfolio's agree bit for bit (the loop books
        fills after ``on_bar``)."""
        bal = self._bal
        base, quote = w.base, w.quote
        # self._free(base), inlined (a fill's hot path)
        free_base = bal.get(base)
        if free_base is None:
            free_base = self.account.free(base)
        free_quote = bal[quote]  # read by ``_affordable``, which every booked fill passes
        if side is _BUY:
            bal[quote] = free_quote - (price * amount + fee)
            bal[base] = free_base + amount
        else:
            bal[quote] = free_quote + (price * amount - fee)
            bal[base] = free_base - amount

    def _book_other(self, w: Working, side: Side, price: float, amount: float, currency: str,
                    cost: float) -> None:
        """``_book_quote`` for a fee of ``cost`` charged in the base currency or a fee asset:
        ``cash -/+ price * amount``, ``holding + (amount - base fee)``, the fee asset
        ``- cost`` (the portfolio's expressions)."""
        bal = self._bal
        base, quote = w.base, w.quote
        free_base, free_quote = self._free(base), self._free(quote)
        base_fee = cost if currency == base else 0.0
        if side is _BUY:
            bal[quote] = free_quote - price * amount
            bal[base] = free_base + (amount - base_fee)
        else:
            bal[quote] = free_quote + price * amount
            bal[base] = free_base - (amount + base_fee)
        if currency != base:
            bal[currency] = self._free(currency) - cost

