"""Risk limits of perpetual positions: leverage, margin usage, distance to liquidation,
funding cost and exposure per side. Each refusal is a ``RiskDecision`` naming the
setting, the limit and the figure observed, like every other limit.

Judged by ``RiskEngine.check`` on an order that opens or adds to a position on a
perpetual (reduce-only orders and orders that only reduce are exits, always allowed),
on the account *after* the order, valued at the symbol's mark: the order's amount
(a ``target_percent`` order's amount is the estimate made at the decision) added to
the position at the mark price.

- ``max_leverage``: gross exposure (every position's ``|qty| * mark``, spot included)
  over equity, at most this (3.0 = 3x).
- ``max_margin_usage_pct``: the perpetuals' initial margins (``|qty| * entry /
  leverage``) over equity, at most this fraction.
- ``min_liquidation_distance_pct``: the position's liquidation price (Binance's formula,
  ``engine.accounting.margin``) at least this fraction away from the mark.
- ``max_funding_cost_pct``: what the position would pay at the latest funding rate
  (``qty * mark * rate`` when the rate charges its side), at most this fraction of
  equity per funding period.
- ``max_long_exposure`` / ``max_short_exposure`` / ``max_net_exposure``: the sum of long
  notionals, of short notionals and of signed notionals (absolute), as multiples of
  equity.

>>> from tradeloom.engine.risk.config import RiskConfig
>>> active(RiskConfig()), active(RiskConfig(max_leverage=3.0))
(False, True)
"""

from __future__ import annotations

import math
from typing import Any

from tradeloom.engine.accounting.margin import liquidation_price
from tradeloom.engine.accounting.perps import book_fill
from tradeloom.engine.orders import Order
from tradeloom.engine.risk.codes import RiskCode, RiskDecision
from tradeloom.engine.risk.config import PERP_SETTINGS, RiskConfig


def active(cfg: RiskConfig) -> bool:
    """True when any perpetual limit is set."""
    return any(getattr(cfg, name) is not None for name in PERP_SETTINGS)


def perp_refusal(cfg: RiskConfig, order: Order, view: Any, pos: float,
                 base: dict[str, Any]) -> RiskDecision | None:
    """The first perpetual limit ``order`` breaks (module docstring), or None."""
    account = view.perp_account
    symbol = order.symbol
    if not account.is_perp(symbol):
        return None
    mark = view.mark(symbol)
    equity = view.equity
    if not (mark > 0.0 and math.isfinite(mark)) or not equity > 0.0:
        return None
    signed = order.side.sign * order.amount
    p = account.perp(symbol)
    qty, entry, _ = book_fill(p.qty, p.avg_entry, signed, mark)
    long_n = short_n = margin = 0.0
    gross = 0.0
    for s, held in account.holdings().items():
        q = qty if s == symbol else held
        value = q * (mark if s == symbol else account.mark(s))
        gross += abs(value)
        if account.is_perp(s):
            if value > 0.0:
                long_n += value
            else:
                short_n -= value
            other = account.perp(s)
            margin += abs(q) * (entry if s == symbol else other.avg_entry) / other.leverage
    if symbol not in account.holdings() and qty != 0.0:
        value = qty * mark
        gross += abs(value)
        long_n += max(value, 0.0)
        short_n += max(-value, 0.0)
        margin += abs(qty) * entry / p.leverage

    def reject(code: RiskCode, setting: str, limit: float, observed: float, what: str,
               pct: bool = False) -> RiskDecision:
        return RiskDecision.reject(code, **base, limit=limit, observed=observed, pct=pct,
                                   setting=f"risk.{setting}", what=what,
                                   fix="reduce the size or the leverage, or raise the limit")

    if cfg.max_leverage is not None and gross / equity > cfg.max_leverage * (1 + 1e-9):
        return reject(RiskCode.MAX_LEVERAGE, "max_leverage", cfg.max_leverage, gross / equity,
                      "gross exposure would be {observed}x equity, limit {limit}x")
    usage = margin / equity
    if cfg.max_margin_usage_pct is not None and usage > cfg.max_margin_usage_pct * (1 + 1e-9):
        return reject(RiskCode.MAX_MARGIN_USAGE, "max_margin_usage_pct", cfg.max_margin_usage_pct,
                      usage, "margin in use would be {observed} of equity, limit {limit}", True)
    if cfg.min_liquidation_distance_pct is not None and qty != 0.0:
        side = 1.0 if qty > 0.0 else -1.0
        if p.mode.value == "isolated":
            lp = liquidation_price(p.contract, side, abs(qty), entry, abs(qty) * entry / p.leverage)
        else:
            wallet, other_mm, other_upnl = account._cross_context(symbol)
            lp = liquidation_price(p.contract, side, abs(qty), entry, wallet, other_mm, other_upnl)
        distance = abs(mark - lp) / mark if 0.0 < lp < math.inf else math.inf
        if distance < cfg.min_liquidation_distance_pct * (1 - 1e-9):
            return reject(RiskCode.LIQUIDATION_DISTANCE, "min_liquidation_distance_pct",
                          cfg.min_liquidation_distance_pct, distance,
                          f"the liquidation price {lp:.8g} would be {{observed}} from the mark, "
                          "minimum {limit}", True)
    if cfg.max_funding_cost_pct is not None and qty != 0.0:
        rate = view.funding_rate(symbol)
        cost = qty * mark * rate if math.isfinite(rate) else 0.0
        if cost / equity > cfg.max_funding_cost_pct * (1 + 1e-9):
            return reject(RiskCode.MAX_FUNDING_COST, "max_funding_cost_pct",
                          cfg.max_funding_cost_pct, cost / equity,
                          "funding at the latest rate would cost {observed} of equity per "
                          "period, limit {limit}", True)
    for setting, value in (("max_long_exposure", long_n), ("max_short_exposure", short_n),
                           ("max_net_exposure", abs(long_n - short_n))):
        limit = getattr(cfg, setting)
        if limit is not None and value / equity > limit * (1 + 1e-9):
            return reject(RiskCode.SIDE_EXPOSURE, setting, limit, value / equity,
                          setting.removeprefix("max_").replace("_", " ")
                          + " would be {observed}x equity, limit {limit}x")
    return None


__all__ = ["active", "perp_refusal"]
