"""Binance's BNB fee option: with it the commission is paid in BNB at a 25 % discount
and the traded coins are untouched; without enough BNB the full commission comes out
of the asset received (faqs/commission_faq.md)."""

from __future__ import annotations

import ccxt
import pytest
from venues.binance_spot import BinanceSpotEmulator
from venues.testing import API_KEY, D, free, total

pytest_plugins = ["venues.fixtures"]

BTC = "BTC/USDT"


@pytest.fixture(autouse=True)
def _bnb_fees(binance: BinanceSpotEmulator) -> None:
    binance.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])
    binance.set_fees(API_KEY, bnb_enabled=True)
    binance.set_bnb_price("300")  # 1 BNB = 300 USDT


def test_bnb_pays_the_commission_and_the_base_coin_stays_whole(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    binance.set_balance(API_KEY, "BNB", "1")
    bought = client.create_order(BTC, "market", "buy", 0.01)
    # commission 0.1 % of 300 USDT = 0.3 USDT, 25 % off = 0.225 USDT = 0.00075 BNB
    assert bought["fee"] == {"currency": "BNB", "cost": 0.00075}
    balance = client.fetch_balance()
    # BTC 0.01 exactly; USDT 1000 - 300 = 700; BNB 1 - 0.00075 = 0.99925
    assert (free(balance, "BTC"), free(balance, "USDT"), free(balance, "BNB")) == \
        (D("0.01"), D("700"), D("0.99925"))

    sold = client.create_order(BTC, "market", "sell", 0.01)  # the whole 0.01 is sellable
    # 0.01 @ 29990 = 299.9 USDT; commission 0.2999 USDT, 25 % off = 0.224925 USDT
    #   = 0.224925 / 300 = 0.00074975 BNB
    assert sold["fee"] == {"currency": "BNB", "cost": 0.00074975}
    balance = client.fetch_balance()
    # BTC 0; USDT 700 + 299.9 = 999.9; BNB 0.99925 - 0.00074975 = 0.99850025
    assert (total(balance, "BTC"), free(balance, "USDT"), free(balance, "BNB")) == \
        (D("0"), D("999.9"), D("0.99850025"))
    assert [t["fee"]["currency"] for t in client.fetch_my_trades(BTC)] == ["BNB", "BNB"]


def test_without_enough_bnb_the_full_commission_comes_from_the_coin_received(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    binance.set_balance(API_KEY, "BNB", "0.0005")  # < the 0.00075 BNB this buy would cost
    bought = client.create_order(BTC, "market", "buy", 0.01)
    assert bought["fee"] == {"currency": "BTC", "cost": 0.00001}  # 0.1 %, no discount
    balance = client.fetch_balance()
    assert (free(balance, "BTC"), free(balance, "BNB")) == (D("0.00999"), D("0.0005"))


def test_the_account_reports_its_commission_rates(client: ccxt.binance) -> None:
    info = client.fetch_balance()["info"]
    assert (info["makerCommission"], info["takerCommission"]) == (10, 10)
    assert info["commissionRates"]["taker"] == "0.00100000"
