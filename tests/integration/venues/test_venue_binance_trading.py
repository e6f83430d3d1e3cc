"""Binance spot trading through the real ccxt client: fees in the asset received,
book-walking market orders, resting orders, partial fills and cancels.

Fees are Binance's default 0.1 % (maker and taker). Every expected balance is
computed by hand in the comments, row by row: the venue rule is that a BUY pays its
commission in the base coin received and a SELL in the quote received.
"""

from __future__ import annotations

import ccxt
import pytest
from venues.binance_spot import BinanceSpotEmulator
from venues.testing import D, floor_step, free, sellable, total

pytest_plugins = ["venues.fixtures"]

BTC = "BTC/USDT"


def _round_trip(binance: BinanceSpotEmulator, client: ccxt.binance, ask: str, bid: str,
                buy: str) -> tuple[dict, dict, D, D]:
    binance.set_book(BTC, bids=[(bid, "1")], asks=[(ask, "1")])
    bought = client.create_order(BTC, "market", "buy", float(buy))
    amount, dust = sellable(client, BTC)
    sold = client.create_order(BTC, "market", "sell", float(amount))
    return bought, sold, amount, dust


def test_three_buy_then_sell_all_round_trips_leave_only_reported_dust(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    # start: 1000 USDT, 0 BTC
    # RT1 buy 0.01 @ 30000:   USDT 1000 - 300         = 700
    #                         BTC  0.01 - 0.01*0.001   = 0.00999   (fee 0.00001 BTC)
    #     sell 0.00999 @ 29990: notional 299.6001, fee 0.2996001 USDT
    #                         USDT 700 + 299.6001 - 0.2996001 = 999.3004999, BTC 0
    bought, sold, amount, dust = _round_trip(binance, client, "30000", "29990", "0.01")
    assert (bought["fee"], bought["filled"]) == ({"currency": "BTC", "cost": 0.00001}, 0.01)
    assert (amount, dust) == (D("0.00999"), D("0"))
    assert sold["fee"] == {"currency": "USDT", "cost": 0.2996001}
    balance = client.fetch_balance()
    assert (total(balance, "BTC"), total(balance, "USDT")) == (D("0"), D("999.3004999"))

    # RT2 buy 0.01234 @ 31000: USDT 999.3004999 - 382.54 = 616.7604999
    #                          BTC  0.01234 - 0.00001234 = 0.01232766
    #     sell floor(0.01232766, step 0.00001) = 0.01232 @ 30990: notional 381.7968,
    #                          fee 0.3817968 -> USDT 616.7604999 + 381.4150032 = 998.1755031
    #                          BTC 0.01232766 - 0.01232 = 0.00000766 (dust)
    bought, sold, amount, dust = _round_trip(binance, client, "31000", "30990", "0.01234")
    assert bought["fee"] == {"currency": "BTC", "cost": 0.00001234}
    assert (amount, dust) == (D("0.01232"), D("0.00000766"))
    balance = client.fetch_balance()
    assert (total(balance, "BTC"), total(balance, "USDT")) == (D("0.00000766"),
                                                               D("998.1755031"))

    # RT3 buy 0.02 @ 29000: USDT 998.1755031 - 580 = 418.1755031
    #                       BTC  0.00000766 + 0.02 - 0.00002 = 0.01998766
    #     sell 0.01998 @ 28990: notional 579.2202, fee 0.5792202
    #                       USDT 418.1755031 + 578.6409798 = 996.8164829, BTC 0.00000766
    bought, sold, amount, dust = _round_trip(binance, client, "29000", "28990", "0.02")
    assert (amount, dust) == (D("0.01998"), D("0.00000766"))
    balance = client.fetch_balance()
    assert (total(balance, "BTC"), total(balance, "USDT")) == (D("0.00000766"),
                                                               D("996.8164829"))
    # what is left is dust: below LOT_SIZE minQty (0.00001) and worth 0.22 USDT,
    # under the 5 USDT minimum notional, so no sell order could take it
    market = client.market(BTC)
    assert dust < D(market["limits"]["amount"]["min"])
    assert dust * D("28990") < D(market["limits"]["cost"]["min"])
    assert [o["status"] for o in client.fetch_orders(BTC)] == ["closed"] * 6


def test_selling_the_bought_amount_ignoring_the_fee_is_insufficient_balance(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    binance.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])
    client.create_order(BTC, "market", "buy", 0.01)  # BTC 0.01 - 0.00001 fee = 0.00999
    with pytest.raises(ccxt.InsufficientFunds,
                       match="Account has insufficient balance for requested action."):
        client.create_order(BTC, "market", "sell", 0.01)
    assert free(client.fetch_balance(), "BTC") == D("0.00999")
    assert len(client.fetch_orders(BTC)) == 1  # the rejected sell left no order
    assert binance.log.records("/api/v3/order", "POST")[-1].status == 400


def test_market_buy_walks_three_levels_into_three_fills(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    binance.set_book(BTC, bids=[("29990", "1")],
                     asks=[("30000", "0.002"), ("30001", "0.003"), ("30005", "0.01")])
    order = client.create_order(BTC, "market", "buy", 0.008)
    # fills: 0.002 @ 30000 = 60.000, 0.003 @ 30001 = 90.003, 0.003 @ 30005 = 90.015
    # cost 240.018; average 240.018 / 0.008 = 30002.25
    # fees 0.1 % of each quantity in BTC: 0.000002 + 0.000003 + 0.000003 = 0.000008
    assert [(t["price"], t["amount"], t["fee"]["cost"]) for t in order["trades"]] == [
        (30000.0, 0.002, 0.000002), (30001.0, 0.003, 0.000003), (30005.0, 0.003, 0.000003)]
    assert (order["status"], order["cost"], order["average"]) == ("closed", 240.018, 30002.25)
    assert order["fee"] == {"currency": "BTC", "cost": 0.000008}
    balance = client.fetch_balance()
    # BTC 0.008 - 0.000008 = 0.007992; USDT 1000 - 240.018 = 759.982
    assert (free(balance, "BTC"), free(balance, "USDT")) == (D("0.007992"), D("759.982"))
    assert client.fetch_order_book(BTC)["asks"] == [[30005.0, 0.007]]  # 0.01 - 0.003 left
    assert [t["order"] for t in client.fetch_my_trades(BTC)] == [order["id"]] * 3


def test_market_order_larger_than_the_book_fills_what_there_is_and_expires(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    binance.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "0.002"), ("30001", "0.003")])
    order = client.create_order(BTC, "market", "buy", 0.01)
    # filled 0.005 of 0.01 for 60 + 90.003 = 150.003; the rest expires
    assert (order["status"], order["filled"], order["remaining"], order["cost"]) == \
        ("expired", 0.005, 0.005, 150.003)
    assert order["info"]["expiryReason"] == "INSUFFICIENT_LIQUIDITY"
    balance = client.fetch_balance()
    # BTC 0.005 - 0.000005 = 0.004995; USDT 1000 - 150.003 = 849.997
    assert (free(balance, "BTC"), free(balance, "USDT")) == (D("0.004995"), D("849.997"))


def test_partial_fill_then_cancel_books_the_filled_part_and_releases_the_rest(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    binance.set_book(BTC, bids=[("29940", "1")], asks=[("30000", "1")])
    order = client.create_order(BTC, "limit", "buy", 0.01, 29950,
                                params={"clientOrderId": "pf-1"})
    assert order["status"] == "open"
    balance = client.fetch_balance()
    # 0.01 * 29950 = 299.5 USDT locked: free 700.5, used 299.5
    assert (free(balance, "USDT"), D(balance["USDT"]["used"])) == (D("700.5"), D("299.5"))

    # another trader sells 0.004 at 29945: the resting bid fills 0.004 at its own
    # price 29950 as maker (119.8 USDT), fee 0.1 % of 0.004 = 0.000004 BTC
    binance.set_book(BTC, bids=[("29900", "1")], asks=[("29945", "0.004"), ("29960", "1")])
    assert client.fetch_order(order["id"], BTC)["status"] == "open"
    assert client.fetch_order(order["id"], BTC)["info"]["status"] == "PARTIALLY_FILLED"

    canceled = client.cancel_order(order["id"], BTC)
    assert canceled["status"] == "canceled"
    after = client.fetch_order(order["id"], BTC)
    assert (after["status"], after["filled"], after["remaining"], after["average"]) == \
        ("canceled", 0.004, 0.006, 29950.0)
    balance = client.fetch_balance()
    # USDT: 1000 - 119.8 = 880.2 free, nothing locked; BTC 0.004 - 0.000004 = 0.003996
    assert (free(balance, "USDT"), D(balance["USDT"]["used"])) == (D("880.2"), D("0"))
    assert total(balance, "BTC") == D("0.003996")
    [trade] = client.fetch_my_trades(BTC)
    assert (trade["price"], trade["amount"], trade["takerOrMaker"], trade["fee"]) == \
        (29950.0, 0.004, "maker", {"currency": "BTC", "cost": 0.000004})
    assert client.fetch_open_orders(BTC) == []


def test_resting_buy_fills_when_a_real_bar_trades_through_it(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    bar = binance.bars["BTCUSDT"].row(binance.bar_index["BTCUSDT"])  # open, high, low, ...
    price = floor_step((bar[0] + bar[2]) / 2, D("0.01"))  # between the open and the low
    binance.set_price(BTC, bar[0])
    order = client.create_order(BTC, "limit", "buy", 0.001, float(price))
    assert client.fetch_order(order["id"], BTC)["status"] == "open"
    visited = binance.step_bar(BTC)
    assert min(visited) <= price < visited[0]
    filled = client.fetch_order(order["id"], BTC)
    assert (filled["status"], filled["average"]) == ("closed", float(price))
    [trade] = client.fetch_my_trades(BTC)
    assert (trade["takerOrMaker"], trade["fee"]) == ("maker", {"currency": "BTC", "cost": 0.000001})
    assert free(client.fetch_balance(), "BTC") == D("0.000999")  # 0.001 - 0.000001


def test_ioc_and_fok_leftovers_expire_and_a_crossing_post_only_is_rejected(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    binance.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "0.004"), ("30010", "1")])
    ioc = client.create_order(BTC, "limit", "buy", 0.01, 30000, params={"timeInForce": "IOC"})
    assert (ioc["status"], ioc["filled"], ioc["info"]["expiryReason"]) == \
        ("expired", 0.004, "UNFILLED_IOC_QUANTITY_EXPIRED")
    fok = client.create_order(BTC, "limit", "buy", 0.01, 30000, params={"timeInForce": "FOK"})
    assert (fok["status"], fok["filled"], fok["trades"]) == ("expired", 0.0, [])
    with pytest.raises(ccxt.OrderImmediatelyFillable,
                       match="Order would immediately match and take."):
        client.create_order(BTC, "limit", "buy", 0.001, 30010, params={"postOnly": True})
    balance = client.fetch_balance()
    # only the IOC traded: USDT 1000 - 0.004 * 30000 = 880, nothing left locked
    assert (free(balance, "USDT"), D(balance["USDT"]["used"])) == (D("880"), D("0"))
