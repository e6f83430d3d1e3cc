"""Size limits of the ``RiskEngine``: the largest order each limit allows, and the decision.

Max notional, max order %, max position %, max total exposure %, per-strategy
budgets and fee-aware cash each give the largest notional that fits. Open entry
orders count as if filled; the fee of this order counts as already paid, so a
limit ``L`` on a notional ``n`` with fee rate ``f`` reads ``held + n <= L * (E - f n)``,
i.e. ``n <= (L E - held) / (1 + L f)``. The fee rate is the run's fee model's
(``FeeModel.rate``, taker, at this order's notional): the very model the broker
charges fills with (``RiskEngine.bind(fees=...)``, given the broker's ``fees`` when the
engine starts), so an order sizing approved is an order the broker can pay for. The smallest cap wins: the order is
approved if it fits, else rejected, or resized to the cap when
``on_size_breach = "resize"`` (fee-aware cash sizing always resizes). A result
under the minimum notional (``MarketSpec.min_notional`` or ``risk.min_notional``)
is rejected.

The price of an order is its limit price (limit, stop-limit), else its stop
price, else the mark. A quote-sized market buy of ``q`` is ``q / (1 + f)`` of
notional, and its decision amount is in quote units.

>>> from tradeloom.engine.orders import Order, Side, OrderType
>>> o = Order(1, "BTC/USDT", Side.BUY, OrderType.LIMIT, 2.0, created_ts=0, price=95.0)
>>> order_price(o, 100.0), pending_notional(o, 100.0, 0.001)
(95.0, 190.0)
"""

from __future__ import annotations

import math
from typing import Any

from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Liquidity, Order, OrderType, Side
from tradeloom.engine.ports import FeeModel
from tradeloom.engine.risk.codes import RiskCode, RiskDecision
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.gate import RiskView
from tradeloom.engine.risk.ledger import RiskLedger

#: Relative slack when comparing a size with its cap (float rounding only).
EPS = 1e-12

Cap = tuple[float, RiskCode, float, float, str, str, bool, bool]

_TAKER = Liquidity.TAKER


class SizeLimits:
    """The size part of a risk decision (see the module docstring).

    ``markets`` and ``symbols`` are shared with the owning ``RiskEngine`` (it adds to them);
    ``fees`` is the run's fee model (the broker's, set by ``RiskEngine.bind``).
    """

    __slots__ = ("config", "fees", "ledger", "markets", "symbols")

    def __init__(
        self,
        config: RiskConfig,
        markets: dict[str, MarketSpec],
        symbols: dict[str, None],
        ledger: RiskLedger,
        fees: FeeModel | None = None,
    ) -> None:
        self.config = config
        self.markets = markets
        self.symbols = symbols
        self.ledger = ledger
        self.fees: FeeModel = fees if fees is not None else MakerTakerFees()

    def decide(
        self, order: Order, view: RiskView, pos: float, base: dict[str, Any],
        closing: float,
    ) -> RiskDecision:
        """Apply the size limits: approve, resize to the tightest cap, or reject.

        ``closing`` is the part of the order that closes the opposite position (a
        perpetual order through zero): an exit, free of the limits; the limits judge the
        rest, the new position, as if the old one were already closed; resized, the close
        is kept (alone when nothing more fits). The minimum notional is the venue's
        filter, on the whole order."""
        cfg = self.config
        symbol = order.symbol
        spec = self.markets.get(symbol)
        quote_sized = order.quote_amount is not None
        price = order_price(order, view.mark(symbol))
        if quote_sized:
            planned: float | None = base["requested"]  # the spend, fee included
        elif price > 0.0 and math.isfinite(price):
            planned = order.amount * price
        else:
            planned = None
        fee = self.fee(spec, planned)
        min_notional = max(spec.min_notional if spec is not None else 0.0, cfg.min_notional or 0.0)
        if quote_sized:
            notional = base["requested"] / (1.0 + fee)
        elif price > 0.0 and math.isfinite(price):
            notional = (order.amount - closing) * price
        else:
            if self._needs_price(min_notional):
                return RiskDecision.reject(
                    RiskCode.NO_PRICE,
                    **base,
                    limit=None,
                    observed=None,
                    setting="risk",
                    what=f"no price for {symbol} yet (no bar seen and no limit price)",
                    fix="place entries after the symbol's first bar",
                )
            return RiskDecision.approve(**base)
        caps = self.caps(order, view, pos, notional, fee, closing)
        if caps and caps[0][0] <= 0.0 and caps[0][1] is RiskCode.NO_EQUITY:
            return RiskDecision.reject(
                RiskCode.NO_EQUITY,
                **base,
                limit=0.0,
                observed=view.equity,
                setting="risk",
                what="equity is {observed}; percentage limits cannot be met",
                fix="add funds",
            )
        tight = min(caps, key=lambda c: c[0]) if caps else None
        cash_cap = next((c for c in caps if c[7]), None)  # fee-aware sizing: no float slack
        if tight is None or notional <= tight[0] * (1 + EPS):
            if cash_cap is not None and _fill_cost(notional, price, fee, quote_sized) > cash_cap[2]:
                tight = cash_cap  # within float noise of a cap, but not payable: resize
            else:
                full = notional + closing * price
                if min_notional > 0.0 and full < min_notional * (1 - EPS):
                    return self._min_notional(base, full, min_notional, spec)
                return RiskDecision.approve(**base)
        cap, code, limit, observed, setting, what, pct, always_resize = tight
        if closing > 0.0 and cap <= 0.0 and cfg.on_size_breach == "resize":
            cap = 0.0  # nothing more fits: the close alone
        elif not (always_resize or cfg.on_size_breach == "resize") or cap <= 0.0:
            return RiskDecision.reject(
                code, **base, limit=limit, observed=observed, setting=setting, what=what, pct=pct
            )
        if quote_sized:
            amount = cap * (1.0 + fee)
        else:
            amount = closing + cap / price
            if spec is not None:
                amount = spec.round_amount(amount)
        if always_resize:
            amount = _payable(amount, price, fee, limit, quote_sized, spec)
        new_notional = amount / (1.0 + fee) if quote_sized else amount * price
        if amount <= 0.0 or (min_notional > 0.0 and new_notional < min_notional * (1 - EPS)):
            return RiskDecision.reject(
                code,
                **base,
                limit=limit,
                observed=observed,
                setting=setting,
                pct=pct,
                what=what
                + f"; the most that fits ({new_notional:.6g}) is under the minimum notional {min_notional:.6g}",
            )
        return RiskDecision.resize(
            code,
            **base,
            amount=amount,
            limit=limit,
            observed=observed,
            setting=setting,
            what=what,
            pct=pct,
        )

    def caps(
        self, order: Order, view: RiskView, pos: float, notional: float, fee: float,
        closing: float,
    ) -> list[Cap]:
        """Largest notional each configured size limit allows: (cap, code, limit, observed, setting, what, pct, always_resize)."""
        cfg = self.config
        symbol = order.symbol
        caps: list[Cap] = []
        if cfg.max_notional is not None:
            caps.append(
                (
                    cfg.max_notional,
                    RiskCode.MAX_NOTIONAL,
                    cfg.max_notional,
                    notional,
                    "risk.max_notional",
                    "order notional {observed} exceeds {limit}",
                    False,
                    False,
                )
            )
        pct_limits = (cfg.max_order_pct, cfg.max_position_pct, cfg.max_exposure_pct)
        sid = order.strategy_id
        budget = cfg.strategy_budgets.get(sid) if cfg.strategy_budgets else None
        limits = cfg.strategy_limits.get(sid) if cfg.strategy_limits else None
        own_cap = limits.max_position_pct if limits is not None else None
        if any(v is not None for v in pct_limits) or budget is not None or own_cap is not None:
            equity = view.equity
            if not (equity > 0.0 and math.isfinite(equity)):
                return [(0.0, RiskCode.NO_EQUITY, 0.0, equity, "risk", "", False, False)]
            after = equity - fee * notional  # equity once this order's fee is paid
            exposure = self.exposure(view, fee)
            if closing:  # the position this order closes first holds nothing after it
                left = exposure.get(symbol, 0.0) - closing * view.mark(symbol)
                exposure[symbol] = left if left > 0.0 else 0.0

            def pct_cap(limit: float, held: float, code: RiskCode, setting: str, what: str) -> None:
                cap = (limit * equity - held) / (1.0 + limit * fee)
                caps.append(
                    (
                        cap,
                        code,
                        limit,
                        (held + notional) / after if after > 0 else math.inf,
                        setting,
                        what,
                        True,
                        False,
                    )
                )

            if cfg.max_order_pct is not None:
                pct_cap(
                    cfg.max_order_pct,
                    0.0,
                    RiskCode.MAX_ORDER_PCT,
                    "risk.max_order_pct",
                    "order would be {observed} of equity, limit {limit}",
                )
            if cfg.max_position_pct is not None:
                pct_cap(
                    cfg.max_position_pct,
                    exposure.get(symbol, 0.0),
                    RiskCode.MAX_POSITION,
                    "risk.max_position_pct",
                    f"{symbol} position would be {{observed}} of equity, limit {{limit}}",
                )
            if cfg.max_exposure_pct is not None:
                pct_cap(
                    cfg.max_exposure_pct,
                    sum(exposure.values()),
                    RiskCode.MAX_EXPOSURE,
                    "risk.max_exposure_pct",
                    "total exposure would be {observed} of equity, limit {limit}",
                )
            if budget is not None:
                used = self._strategy_exposure(order.strategy_id, view, fee)
                pct_cap(
                    budget,
                    used,
                    RiskCode.STRATEGY_BUDGET,
                    f"risk.strategy_budgets.{order.strategy_id}",
                    f"strategy {order.strategy_id!r} would use {{observed}} of equity, budget {{limit}}",
                )
            if own_cap is not None:
                pct_cap(
                    own_cap,
                    self._strategy_exposure(sid, view, fee, symbol),
                    RiskCode.STRATEGY_POSITION,
                    f"risk.strategy_limits.{sid}.max_position_pct",
                    f"strategy {sid!r} position in {symbol} would be {{observed}} of equity, "
                    "limit {limit}",
                )
        spec = self.markets.get(symbol)
        if cfg.fee_aware_sizing and order.side is Side.BUY and not (
                spec is not None and spec.is_perp):
            # A perpetual buy costs margin, not its notional in cash (and one that covers a
            # short frees margin): the simulated exchange's margin check (perp_funds) and
            # the venue's size it; this cash cap is for spot buys.
            reserved = sum(
                pending_notional(o, view.mark(o.symbol), fee) * (1.0 + fee)
                for o in view.open_orders()
                if o.side is Side.BUY and not o.reduce_only
            )
            free = view.cash - reserved
            caps.append(
                (
                    free / (1.0 + fee),
                    RiskCode.INSUFFICIENT_CASH,
                    free,
                    notional * (1.0 + fee),
                    "risk.fee_aware_sizing",
                    "order plus fees costs {observed}, free cash is {limit}",
                    False,
                    True,
                )
            )
        return caps

    # ------------------------------------------------------------------ helpers

    def fee(self, spec: MarketSpec | None, notional: float | None = None) -> float:
        """The fee rate sizing plans with: the fee model's taker rate on ``spec``'s market
        at ``notional`` (0 for a symbol whose market the engine was not given)."""
        return self.fees.rate(spec, _TAKER, notional) if spec is not None else 0.0

    def _needs_price(self, min_notional: float) -> bool:
        cfg = self.config
        return bool(
            min_notional > 0.0
            or cfg.max_notional is not None
            or cfg.max_order_pct is not None
            or cfg.max_position_pct is not None
            or cfg.max_exposure_pct is not None
            or cfg.strategy_budgets
            or cfg.strategy_limits
            or cfg.fee_aware_sizing
        )

    def exposure(self, view: RiskView, fee: float) -> dict[str, float]:
        """Gross value per symbol: |position| * mark plus open entry orders as if filled."""
        out: dict[str, float] = {}
        for s in self.symbols:
            pos = view.position(s)
            if pos != 0.0:
                mark = view.mark(s)
                if math.isfinite(mark):
                    out[s] = abs(pos) * mark
        for o in view.open_orders():
            s = o.symbol
            if is_entry(o, view.position(s)):
                out[s] = out.get(s, 0.0) + pending_notional(o, view.mark(s), fee)
        return out

    def _strategy_exposure(
        self, strategy_id: str, view: RiskView, fee: float, symbol: str | None = None
    ) -> float:
        """Value one strategy holds (its own fills) plus its open entries, at the marks;
        of one symbol only when ``symbol`` is given."""
        used = 0.0
        for s, amount in self.ledger.strategy_positions(strategy_id).items():
            mark = view.mark(s)
            if math.isfinite(mark) and (symbol is None or s == symbol):
                used += abs(amount) * mark
        for o in view.open_orders(symbol):
            if o.strategy_id == strategy_id and is_entry(o, view.position(o.symbol)):
                used += pending_notional(o, view.mark(o.symbol), fee)
        return used

    def _min_notional(
        self, base: dict[str, Any], notional: float, limit: float, spec: MarketSpec | None
    ) -> RiskDecision:
        setting = (
            "risk.min_notional"
            if spec is None or (self.config.min_notional or 0.0) >= spec.min_notional
            else "market.min_notional"
        )
        return RiskDecision.reject(
            RiskCode.MIN_NOTIONAL,
            **base,
            limit=limit,
            observed=notional,
            setting=setting,
            what="order notional {observed} is under the minimum {limit}",
            fix="increase the size",
        )


def is_entry(order: Order, pos: float) -> bool:
    """An open order that would add to (or open) the position."""
    return not order.reduce_only and (pos == 0.0 or order.side.sign * pos > 0.0)


def order_price(order: Order, mark: float) -> float:
    if order.price is not None and order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return order.price
    if order.stop_price is not None:
        return order.stop_price
    return mark


def pending_notional(order: Order, mark: float, fee: float) -> float:
    """Notional of what is left of an open order (quote-sized market buys: quote / (1 + fee))."""
    if order.quote_amount is not None and order.filled == 0.0:
        return order.quote_amount / (1.0 + fee)
    price = order_price(order, mark)
    left = order.amount - order.filled
    return left * price if left > 0.0 and math.isfinite(price) else 0.0


def _fill_cost(size: float, price: float, fee: float, quote_sized: bool) -> float:
    """Cash a market buy of ``size`` takes, computed as the broker and portfolio do.

    ``size`` is a notional for base-sized orders and the quote spend for quote-sized
    ones (the broker buys ``quote / (price * (1 + fee))`` base units).
    """
    if quote_sized:
        if not price > 0.0:
            return size
        amount = size / (price * (1.0 + fee))
        return amount * price * (1.0 + fee)
    return size * (1.0 + fee)


def _payable(
    amount: float, price: float, fee: float, free: float, quote_sized: bool, spec: MarketSpec | None
) -> float:
    """Step ``amount`` down (by ulps, or lots) until the fill it makes costs at most ``free``.

    The cap ``free / (1 + fee)`` is exact on paper; in floats the cost recomputed
    from it can land one ulp above the free cash, which a real exchange refuses.
    """
    lot = spec.lot_step if (spec is not None and not quote_sized) else None
    for _ in range(64):
        size = amount if quote_sized else amount * price
        if amount <= 0.0 or _fill_cost(size, price, fee, quote_sized) <= free:
            return amount
        amount = amount - lot if lot else math.nextafter(amount, 0.0)
        if lot and spec is not None:
            amount = spec.round_amount(amount)
    return 0.0
