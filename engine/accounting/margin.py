"""Margin arithmetic of linear perpetual swaps, following Binance USDⓈ-M.

Pure functions of plain numbers; ``accounting.perps`` applies them to positions and
the fast path (``engine/vector/perp_nb.py``) repeats them in numba, line for line.

Definitions (Binance's help pages "How to Calculate Liquidation Price of USDⓈ-M
Futures Contracts" and "Leverage and Margin of USDⓈ-M Futures"):

- ``notional = |qty| * price``; ``initial margin = notional / leverage``;
- ``maintenance margin = notional * mmr - cum`` with ``mmr``/``cum`` of the bracket
  holding the notional (``ContractSpec.bracket``);
- ``margin balance = wallet balance + unrealized PnL``; the position is liquidated
  when its margin balance falls to its maintenance margin, at the mark price;
  ``margin ratio = maintenance margin / margin balance`` (1 = liquidation);
- **liquidation price**, one-way mode (``BOTH`` position), the venue's formula::

      LP = (WB - TMM1 + UPNL1 + cumB - side * qty * EP) / (qty * MMR_B - side * qty)

  ``WB`` the wallet balance (cross: the cross wallet balance; isolated: the
  position's isolated margin), ``TMM1``/``UPNL1`` the maintenance margin and
  unrealized PnL of every *other* cross position (0 for isolated), ``side`` +1 long /
  -1 short, ``qty`` the absolute size, ``EP`` the entry price, ``MMR_B``/``cumB`` the
  bracket's rate and amount. The bracket is the one holding the notional *at the
  liquidation price*: the formula is tried with each bracket and the consistent
  answer kept (Binance: "if your position at the liquidation price and the current
  position are of different levels, substitute the level at the liquidation price").

An isolated long at entry 60,000, 10x leverage, 0.4 % maintenance (Binance's first
BTCUSDT tier): ``LP = (6000 - 60000) / (0.004 - 1) = 54216.87`` per BTC, the
familiar ``EP * (1 - 1/L) / (1 - MMR)``:

>>> from tradeloom.engine.contracts import ContractSpec, LeverageBracket
>>> spec = ContractSpec(brackets=(LeverageBracket(0.0, 50_000.0, 125.0, 0.004, 0.0),
...                               LeverageBracket(50_000.0, 600_000.0, 100.0, 0.005, 50.0)))
>>> round(liquidation_price(spec, 1.0, 0.1, 60_000.0, 600.0), 2)
54216.87
>>> round(liquidation_price(spec, -1.0, 0.1, 60_000.0, 600.0), 2)
65737.05
"""

from __future__ import annotations

import math

from tradeloom.engine.contracts import ContractSpec


def initial_margin(qty: float, price: float, leverage: float) -> float:
    """``|qty| * price / leverage``.

    >>> initial_margin(-0.5, 30_000.0, 5.0)
    3000.0
    """
    return abs(qty) * price / leverage


def maintenance_margin(spec: ContractSpec, qty: float, price: float) -> float:
    """Maintenance margin of ``qty`` (base units, either sign) marked at ``price``."""
    return spec.maintenance_margin(abs(qty) * price)


def liquidation_price(spec: ContractSpec, side: float, qty: float, entry: float,
                      wallet: float, other_mm: float = 0.0, other_upnl: float = 0.0) -> float:
    """Binance's one-way liquidation price (module docstring) of a position of ``qty``
    base units (``side`` +1 long, -1 short) entered at ``entry``.

    ``wallet``: the isolated margin (isolated) or the cross wallet balance (cross);
    ``other_mm``/``other_upnl``: the other cross positions' maintenance margin and
    unrealized PnL (0 for isolated). Returns 0.0 for a long no price can liquidate (the
    margin covers a fall to zero) and ``inf`` for a short that cannot be liquidated.
    """
    qty = abs(qty)
    if qty == 0.0:
        return 0.0 if side > 0 else math.inf
    base = wallet - other_mm + other_upnl - side * qty * entry
    chosen = math.nan
    for b in spec.brackets:
        denominator = qty * b.mmr - side * qty
        price = (base + b.cum) / denominator
        notional = qty * price
        if price > 0.0 and b.floor <= notional < b.cap:
            chosen = price
            break
    if math.isnan(chosen):
        # No bracket is consistent: the price is <= 0 (a long covered to zero) or the
        # notional is beyond the last cap; use the bracket of the entry notional.
        b = spec.bracket(qty * entry)
        chosen = (base + b.cum) / (qty * b.mmr - side * qty)
    if side > 0:
        return max(chosen, 0.0)
    return chosen if chosen > 0.0 else math.inf


def bankruptcy_price(side: float, qty: float, entry: float, wallet: float) -> float:
    """The price at which ``wallet`` (the margin behind the position) is exactly lost:
    ``EP - side * wallet / qty`` (0 floor for a long).

    >>> bankruptcy_price(1.0, 0.1, 60_000.0, 600.0)
    54000.0
    """
    qty = abs(qty)
    if qty == 0.0:
        return 0.0
    return max(entry - side * wallet / qty, 0.0)


def margin_ratio(maint: float, margin_balance: float) -> float:
    """``maintenance margin / margin balance`` (inf once the balance is gone).

    >>> margin_ratio(24.0, 600.0)
    0.04
    """
    if margin_balance <= 0.0:
        return math.inf if maint > 0.0 else 0.0
    return maint / margin_balance


__all__ = [
    "bankruptcy_price",
    "initial_margin",
    "liquidation_price",
    "maintenance_margin",
    "margin_ratio",
]
