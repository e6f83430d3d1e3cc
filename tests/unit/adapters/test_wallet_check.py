"""The futures wallet a reconciliation expects (``adapters.live.wallet_check``): each
perpetual fill booked on the one-way position as the engine books it, hand-computed."""

from __future__ import annotations

import pytest

from tradeloom.adapters.live.state import FillRecord
from tradeloom.adapters.live.wallet_check import expected_futures_wallet

PERP = "BTC/USDT:USDT"
SETTLE = {PERP: "USDT"}


def fill(side: str, price: float, amount: float, fee: float, currency: str = "USDT",
         symbol: str = PERP) -> FillRecord:
    return FillRecord("t", "c", 1, symbol, side, 0, price, amount, fee,
                      fee_currency=currency, fee_cost=fee)


def test_a_flip_through_zero_realizes_the_closed_part_and_opens_the_rest_at_its_price():
    fills = [fill("buy", 100.0, 2.0, 0.1),     # long 2 at 100
             fill("sell", 110.0, 3.0, 0.165),  # closes 2: +20; short 1 at 110
             fill("buy", 105.0, 1.0, 0.0525)]  # closes the short: +5
    # 1000 + 20 + 5 - (0.1 + 0.165 + 0.0525) = 1024.6825
    assert expected_futures_wallet(1000.0, {}, {}, fills, SETTLE) == pytest.approx(1024.6825,
                                                                                   abs=1e-9)


def test_the_snapshots_position_and_entry_are_where_the_fills_start():
    # short 0.5 at 200 held at the snapshot; buying 0.5 at 180 realizes (200 - 180) x 0.5
    got = expected_futures_wallet(500.0, {PERP: -0.5}, {PERP: 200.0},
                                  [fill("buy", 180.0, 0.5, 0.045)], SETTLE)
    assert got == pytest.approx(500.0 + 10.0 - 0.045, abs=1e-12)


def test_a_fee_paid_in_bnb_and_a_spot_fill_leave_the_futures_wallet_alone():
    fills = [fill("sell", 100.0, 1.0, 0.0001, currency="BNB"),
             fill("buy", 100.0, 1.0, 0.001, currency="BTC", symbol="BTC/USDT")]
    assert expected_futures_wallet(1000.0, {}, {}, fills, SETTLE, funding=-0.25) == 999.75


def test_a_venue_liquidation_takes_its_close_and_the_clearance_from_the_wallet():
    from tradeloom.adapters.ccxt.positions import VenueLiquidation

    liq = VenueLiquidation(PERP, 5, -0.331, 40199.8, 0.02206667, "autoclose")
    got = expected_futures_wallet(10_000.0, {PERP: -0.331}, {PERP: 30149.9}, [], SETTLE,
                                  liquidations=[liq])
    # the whole isolated margin, 0.331 x 30149.9 / 3 = 3326.53896667, is lost:
    # (30149.9 - 40199.8) x 0.331 = -3326.5169, less the clearance 0.02206667
    assert got == pytest.approx(10_000.0 - 3326.53896667, abs=1e-8)
