"""The margin formulas against their definitions (hypothesis), on Binance's BTCUSDT tiers.

- At the liquidation price the margin balance equals the maintenance margin (Binance's
  definition of liquidation), isolated (``WB`` the position's margin) and cross (``WB``
  the cross wallet, with the other cross positions' maintenance and unrealized PnL); a
  price 1 % on the safe side leaves more balance than maintenance.
- A long whose liquidation price is 0 keeps a balance at a price of 0 (covered).
- At the bankruptcy price the margin behind the position is exactly lost.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeloom.engine.accounting.margin import bankruptcy_price, liquidation_price
from tradeloom.engine.contracts import ContractSpec, LeverageBracket

#: Binance BTCUSDT's first four tiers (cum by the venue's rule: 50, 1,300, 16,300).
TIERS = ContractSpec(brackets=(
    LeverageBracket(0.0, 50_000.0, 125.0, 0.004, 0.0),
    LeverageBracket(50_000.0, 250_000.0, 100.0, 0.005, 50.0),
    LeverageBracket(250_000.0, 1_000_000.0, 50.0, 0.01, 1_300.0),
    LeverageBracket(1_000_000.0, math.inf, 20.0, 0.025, 16_300.0)))

sides = st.sampled_from([1.0, -1.0])
qtys = st.floats(0.001, 50.0)
entries = st.floats(0.05, 100_000.0)
leverages = st.floats(1.0, 125.0)


def balance(wallet: float, side: float, qty: float, entry: float, price: float) -> float:
    return wallet + side * qty * (price - entry)


@given(sides, qtys, entries, leverages)
def test_isolated_balance_equals_maintenance_at_the_liquidation_price(side, qty, entry, lev):
    wallet = qty * entry / lev
    lp = liquidation_price(TIERS, side, qty, entry, wallet)
    if side > 0 and lp == 0.0:
        assert balance(wallet, side, qty, entry, 0.0) >= -1e-9 * qty * entry
        return
    assert 0.0 < lp < math.inf
    scale = qty * max(lp, entry)
    assert balance(wallet, side, qty, entry, lp) == pytest.approx(
        TIERS.maintenance_margin(qty * lp), rel=1e-9, abs=1e-9 * scale)
    safe = lp * (1.0 + 0.01 * side)  # 1 % above a long's price, below a short's
    assert balance(wallet, side, qty, entry, safe) > TIERS.maintenance_margin(qty * safe)


@given(sides, qtys, entries, st.floats(0.0, 1e6), st.floats(0.0, 5e4), st.floats(-5e4, 5e4))
def test_cross_balance_equals_maintenance_at_the_liquidation_price(side, qty, entry, wallet,
                                                                   other_mm, other_upnl):
    lp = liquidation_price(TIERS, side, qty, entry, wallet, other_mm, other_upnl)
    account = wallet - other_mm + other_upnl  # what the other positions leave
    if not 0.0 < lp < math.inf:
        return
    scale = qty * max(lp, entry) + abs(wallet) + other_mm + abs(other_upnl)
    assert balance(account, side, qty, entry, lp) == pytest.approx(
        TIERS.maintenance_margin(qty * lp), rel=1e-9, abs=1e-9 * scale)


@given(sides, qtys, entries, leverages)
def test_the_margin_is_lost_at_the_bankruptcy_price(side, qty, entry, lev):
    wallet = qty * entry / lev
    bp = bankruptcy_price(side, qty, entry, wallet)
    assert balance(wallet, side, qty, entry, bp) == pytest.approx(0.0, abs=1e-9 * qty * entry)
