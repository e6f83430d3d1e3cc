"""Binance USDⓈ-M liquidation through the real ccxt binanceusdm client.

Liquidation price (Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures
Contracts", one-way mode)::

    LP = (WB - TMM1 + UPNL1 + cumB - Side * Pos * EP) / (Pos * MMR - Side * Pos)

WB: cross wallet balance (isolated: the position's isolated wallet, TMM1 = UPNL1 =
0). The venue liquidates when margin balance <= maintenance margin (notional at mark
x MMR - cum) and closes at the bankruptcy price (margin balance zero) with an order of
type LIQUIDATION and client id "autoclose-<ms>".

The FAQ's worked numbers use its (2020) BTCUSDT table: 50k 0.4 %, 250k 0.5 %, 1M 1 %
(cum 0 / 50 / 1,300): "if the position size ... is 264,000 USDT, then the maintenance
margin rate would be 1%"; "500,000 USDT, then the maintenance amount would be 1,300
USDT"; "Maintenance Amount on Level 3 = 250,000 * (1% - 0.5%) + 50 USDT = 1,300".
"""

from __future__ import annotations

import ccxt
import pytest
from venues.binance_usdm import BinanceUsdmEmulator
from venues.binance_usdm.brackets import Bracket, BracketTable
from venues.binance_usdm.rules import rules_for
from venues.testing import API_KEY, SECRET, D

pytest_plugins = ["venues.binance_usdm.fixtures"]

BTC = "BTC/USDT:USDT"
D_ = D

FAQ_2020 = BracketTable("BTCUSDT", (
    Bracket(1, 125, D("0"), D("50000"), D("0.004"), D("0")),
    Bracket(2, 100, D("50000"), D("250000"), D("0.005"), D("50")),
    Bracket(3, 50, D("250000"), D("1000000"), D("0.01"), D("1300")),
    Bracket(4, 20, D("1000000"), D("10000000"), D("0.025"), D("16300")),
))


@pytest.fixture
def faq() -> BinanceUsdmEmulator:
    rules = {BTC: rules_for(BTC).with_(brackets=FAQ_2020)}
    with BinanceUsdmEmulator([BTC], rules=rules) as emu:
        emu.add_account(API_KEY, SECRET, {"USDT": "100000"})
        emu.set_book(BTC, bids=[("24999.9", "50")], asks=[("25000", "50")])
        yield emu


def _client(emu: BinanceUsdmEmulator) -> ccxt.binanceusdm:
    client = ccxt.binanceusdm(emu.ccxt_config(API_KEY, SECRET))
    client.load_markets()
    return client


def test_faq_maintenance_amount_and_rate_at_500k_notional(faq: BinanceUsdmEmulator) -> None:
    client = _client(faq)
    client.set_margin_mode("isolated", BTC)
    client.set_leverage(10, BTC)
    client.create_order(BTC, "market", "buy", 20)              # 20 @ 25000 = 500,000
    faq.set_mark_price(BTC, "25000")
    row = client.fapiPrivateV3GetPositionRisk({"symbol": "BTCUSDT"})[0]
    # 500,000 is in level 3: MMR 1 %, maintenance amount 1,300 (the FAQ's figure)
    # maintenance margin = 500,000 * 0.01 - 1,300 = 3,700
    assert D(row["maintMargin"]) == D("3700")
    assert FAQ_2020.at(D("264000")).maint_ratio == D("0.01")   # the FAQ's 264,000 row


def test_faq_formula_gives_the_isolated_liquidation_price(faq: BinanceUsdmEmulator) -> None:
    client = _client(faq)
    client.set_margin_mode("isolated", BTC)
    client.set_leverage(10, BTC)
    client.create_order(BTC, "market", "buy", 20)
    # isolated WB = 500,000 / 10 = 50,000; level 3 (MMR 0.01, cum 1,300):
    # LP = (50,000 + 1,300 - 20 * 25,000) / (20 * 0.01 - 20) = -448,700 / -19.8
    #    = 22,661.61616161...; notional at LP 453,232 stays in level 3
    position = client.fetch_positions([BTC])[0]
    assert D(position["info"]["liquidationPrice"]) == D("22661.61616162")
    assert (position["marginMode"], position["collateral"]) == ("isolated", 50000.0)


def test_isolated_position_is_liquidated_at_the_bankruptcy_price(
        faq: BinanceUsdmEmulator) -> None:
    client = _client(faq)
    client.set_margin_mode("isolated", BTC)
    client.set_leverage(10, BTC)
    client.create_order(BTC, "market", "buy", 20)             # fee 500,000 * 0.0005 = 250
    # mark 22,661.7: margin 50,000 + 20 * (22,661.7 - 25,000) = 3,234 >
    #   maintenance 20 * 22,661.7 * 0.01 - 1,300 = 3,232.34: still open
    faq.set_mark_price(BTC, "22661.7")
    assert client.fetch_positions([BTC])[0]["contracts"] == 20.0
    # mark 22,661.6: margin 3,232 <= maintenance 3,232.32: liquidated
    faq.set_mark_price(BTC, "22661.6")
    assert client.fetch_positions([BTC]) == []
    trade = client.fetch_my_trades(BTC)[-1]
    # bankruptcy price = EP - WB / amount = 25,000 - 50,000 / 20 = 22,500
    assert (trade["side"], trade["amount"], trade["price"]) == ("sell", 20.0, 22500.0)
    assert trade["info"]["realizedPnl"] == "-50000"
    order = client.fetch_order(trade["order"], BTC)
    assert order["clientOrderId"].startswith("autoclose-")
    assert order["info"]["type"] == "LIQUIDATION"
    # wallet 100,000 - 250 - 50,000 = 49,750: the isolated margin is lost, no more
    assert D(client.fetch_balance()["info"]["totalWalletBalance"]) == D("49750")


def test_cross_position_is_liquidated_when_the_whole_margin_is_used(
        usdm: BinanceUsdmEmulator) -> None:
    client = ccxt.binanceusdm(usdm.ccxt_config(API_KEY, SECRET))
    usdm.account(API_KEY).wallet = D("1000")                # a 1000 USDT account
    client.set_leverage(20, BTC)
    client.create_order(BTC, "market", "buy", 0.5)           # 0.5 @ 30000, fee 7.5
    # WB 992.5: LP = (992.5 - 0.5 * 30000) / (0.5 * 0.004 - 0.5) = 28127.51004016
    position = client.fetch_positions([BTC])[0]
    assert D(position["info"]["liquidationPrice"]) == D("28127.51004016")
    usdm.set_mark_price(BTC, "28127.6")   # margin 56.30 > maintenance 56.2552: open
    assert client.fetch_positions([BTC])[0]["contracts"] == 0.5
    usdm.set_mark_price(BTC, "28127.5")   # margin 56.25 <= maintenance 56.255
    assert client.fetch_positions([BTC]) == []
    trade = client.fetch_my_trades(BTC)[-1]
    # bankruptcy price 30000 - 992.5 / 0.5 = 28015; the wallet ends at 0
    assert trade["price"] == 28015.0
    assert D(client.fetch_balance()["info"]["totalWalletBalance"]) == D("0")


def test_tick_rounding_leftover_goes_to_the_insurance_fund(
        usdm: BinanceUsdmEmulator) -> None:
    client = ccxt.binanceusdm(usdm.ccxt_config(API_KEY, SECRET))
    client.set_margin_mode("isolated", BTC)
    client.set_leverage(3, BTC)
    client.create_order(BTC, "market", "buy", 0.007)          # 210 notional, IW 70
    # bankruptcy 30000 - 70 / 0.007 = 20000 exactly; make the wallet 70.0005 instead
    usdm.account(API_KEY).settings("BTCUSDT").isolated_wallet = D("70.0005")
    usdm.set_mark_price(BTC, "20050")
    # raw bankruptcy 30000 - 70.0005 / 0.007 = 19999.92857..., rounded up to the tick:
    # 20000.0; realised 0.007 * -10000 = -70; the 0.0005 left is INSURANCE_CLEAR
    assert client.fetch_my_trades(BTC)[-1]["price"] == 20000.0
    rows = client.fapiPrivateGetIncome({"incomeType": "INSURANCE_CLEAR"})
    assert [r["income"] for r in rows] == ["-0.00050000"]
