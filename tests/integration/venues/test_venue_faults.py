"""Faults injected into the emulators' request pipeline, and cancel-all, as the real
ccxt client sees them."""

from __future__ import annotations

import ccxt
import pytest
from venues.binance_spot import BinanceSpotEmulator
from venues.common.server import Fault
from venues.testing import D, free

pytest_plugins = ["venues.fixtures"]

BTC = "BTC/USDT"


def test_an_injected_503_reaches_ccxt_as_exchange_not_available(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    # a gateway error without a Binance body (rest-api.md: 5XX, execution status unknown)
    binance.faults.inject(Fault("status", status=503), path="/api/v3/account")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_balance()
    assert free(client.fetch_balance(), "USDT") == D("1000")  # one request only
    assert [r.status for r in binance.log.records("/api/v3/account")] == [503, 200]


def test_a_dropped_connection_reaches_ccxt_as_a_network_error(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    binance.faults.inject(Fault("drop"), path="/api/v3/openOrders")
    with pytest.raises(ccxt.NetworkError):
        client.fetch_open_orders(BTC)
    assert client.fetch_open_orders(BTC) == []


def test_cancel_all_releases_every_resting_order_shown_in_the_depth(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    binance.set_book(BTC, bids=[("29000", "1")], asks=[("31000", "1")])
    client.create_order(BTC, "limit", "buy", 0.001, 29500)
    client.create_order(BTC, "limit", "buy", 0.002, 29000)
    # own orders are on the book: 29500 alone, 29000 on top of the other trader's 1 BTC
    assert client.fetch_order_book(BTC)["bids"] == [[29500.0, 0.001], [29000.0, 1.002]]
    assert D(client.fetch_balance()["USDT"]["used"]) == D("87.5")  # 29.5 + 58
    canceled = client.cancel_all_orders(BTC)
    assert [o["status"] for o in canceled] == ["canceled", "canceled"]
    balance = client.fetch_balance()
    assert (free(balance, "USDT"), D(balance["USDT"]["used"])) == (D("1000"), D("0"))
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        client.cancel_all_orders(BTC)  # nothing left to cancel
