"""Binance USDⓈ-M trading through the real ccxt binanceusdm client: one-way positions
netting through zero, entry price, realised PnL, USDT commission on notional,
resting LIMIT orders, cancel/query/open orders.

Default tier fees: taker 0.05 %, maker 0.02 % of each fill's notional, in USDT. The
book from ``set_price(p)``: best ask p, best bid p - tick, 10 BTC a level.
"""

from __future__ import annotations

import ccxt
from venues.binance_usdm import BinanceUsdmEmulator
from venues.testing import API_KEY, D

pytest_plugins = ["venues.binance_usdm.fixtures"]

BTC = "BTC/USDT:USDT"


def _position(client: ccxt.binanceusdm) -> dict:
    rows = client.fetch_positions([BTC])
    return rows[0] if rows else {}


def test_market_buy_opens_a_long_and_pays_taker_fee_in_usdt(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    # buy 0.01 @ 30000 (best ask): notional 300, fee 300 * 0.0005 = 0.15 USDT
    order = fut.create_order(BTC, "market", "buy", 0.01)
    assert (order["status"], order["filled"], order["average"]) == ("closed", 0.01, 30000.0)
    trade = fut.fetch_my_trades(BTC)[0]
    assert (trade["fee"], trade["takerOrMaker"], trade["price"]) == \
        ({"currency": "USDT", "cost": 0.15}, "taker", 30000.0)
    position = _position(fut)
    assert (position["side"], position["contracts"], position["entryPrice"]) == \
        ("long", 0.01, 30000.0)
    # wallet 10000 - 0.15 = 9999.85
    assert D(fut.fetch_balance()["info"]["totalWalletBalance"]) == D("9999.85")


def test_adding_to_a_long_averages_the_entry_price(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.create_order(BTC, "market", "buy", 0.01)            # 0.01 @ 30000
    usdm.set_price(BTC, "31000")
    fut.create_order(BTC, "market", "buy", 0.03)            # 0.03 @ 31000
    # entry = (0.01 * 30000 + 0.03 * 31000) / 0.04 = (300 + 930) / 0.04 = 30750
    position = _position(fut)
    assert (position["contracts"], position["entryPrice"]) == (0.04, 30750.0)


def test_reducing_keeps_entry_and_realises_pnl_on_the_closed_part(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.create_order(BTC, "market", "buy", 0.02)            # 0.02 @ 30000, fee 0.3
    usdm.set_price(BTC, "31000.1")                          # best bid 31000.0
    fut.create_order(BTC, "market", "sell", 0.01)           # 0.01 @ 31000, fee 0.155
    # realised: 0.01 * (31000 - 30000) = 10; wallet 10000 - 0.3 + 10 - 0.155 = 10009.545
    trade = fut.fetch_my_trades(BTC)[-1]
    assert (trade["price"], trade["info"]["realizedPnl"]) == (31000.0, "10")
    position = _position(fut)
    assert (position["contracts"], position["entryPrice"]) == (0.01, 30000.0)
    assert D(fut.fetch_balance()["info"]["totalWalletBalance"]) == D("10009.545")


def test_a_sell_larger_than_the_long_flips_to_a_short_at_the_fill_price(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.create_order(BTC, "market", "buy", 0.01)            # long 0.01 @ 30000
    usdm.set_price(BTC, "29000.1")                          # best bid 29000.0
    fut.create_order(BTC, "market", "sell", 0.03)           # close 0.01, open short 0.02
    # realised on the closed 0.01: 0.01 * (29000 - 30000) = -10; new entry 29000
    assert fut.fetch_my_trades(BTC)[-1]["info"]["realizedPnl"] == "-10"
    position = _position(fut)
    assert (position["side"], position["contracts"], position["entryPrice"]) == \
        ("short", 0.02, 29000.0)
    # unrealised at mark 28000: -0.02 * (28000 - 29000) = +20
    usdm.set_mark_price(BTC, "28000")
    assert _position(fut)["unrealizedPnl"] == 20.0


def test_closing_to_flat_leaves_no_position_row(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.create_order(BTC, "market", "buy", 0.01)
    fut.create_order(BTC, "market", "sell", 0.01)
    assert fut.fetch_positions([BTC]) == []
    assert usdm.account(API_KEY).positions["BTCUSDT"].amount == 0


def test_limit_order_rests_then_fills_as_maker_when_the_price_reaches_it(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    order = fut.create_order(BTC, "limit", "buy", 0.01, 29500)
    assert fut.fetch_open_orders(BTC)[0]["id"] == order["id"]
    assert fut.fetch_order(order["id"], BTC)["status"] == "open"
    usdm.set_price(BTC, "29400")
    filled = fut.fetch_order(order["id"], BTC)
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 0.01, 29500.0)
    # maker fee: 0.01 * 29500 * 0.0002 = 0.059
    trade = fut.fetch_my_trades(BTC)[0]
    assert (trade["takerOrMaker"], trade["fee"]["cost"]) == ("maker", 0.059)
    assert fut.fetch_open_orders(BTC) == []


def test_cancel_removes_a_resting_order_and_a_second_cancel_is_unknown(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    order = fut.create_order(BTC, "limit", "sell", 0.01, 31000)
    cancelled = fut.cancel_order(order["id"], BTC)
    assert cancelled["status"] == "canceled"
    assert fut.fetch_open_orders(BTC) == []
    try:
        fut.cancel_order(order["id"], BTC)
    except ccxt.OrderNotFound as err:
        assert '"code":-2011' in str(err).replace(" ", "")
    else:
        raise AssertionError("a second cancel must fail with -2011")


def test_limit_buy_above_the_ask_takes_the_book_at_the_asks_prices(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "0.01"), ("30000.5", "1")])
    order = fut.create_order(BTC, "limit", "buy", 0.03, 30001)
    # 0.01 @ 30000 + 0.02 @ 30000.5 = 300 + 600.01 = 900.01; average 30000.333...
    assert (order["status"], order["cost"]) == ("closed", 900.01)
    assert [t["price"] for t in fut.fetch_my_trades(BTC)] == [30000.0, 30000.5]
