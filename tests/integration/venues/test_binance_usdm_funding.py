"""Binance USDⓈ-M funding through the real ccxt binanceusdm client: at 00:00, 08:00
and 16:00 UTC an open position pays (or receives) ``positionAmt * mark * rate``;
positive rates: longs pay shorts. Booked to the wallet and listed as income
FUNDING_FEE (ccxt fetch_funding_history)."""

from __future__ import annotations

import ccxt
from venues.binance_usdm import BinanceUsdmEmulator
from venues.testing import D

pytest_plugins = ["venues.binance_usdm.fixtures"]

BTC = "BTC/USDT:USDT"
H = 3_600_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC


def _bar(ts: int, price: str) -> tuple:
    return (ts, price, price, price, price, "1")


def test_long_pays_positive_funding_at_the_mark(usdm: BinanceUsdmEmulator,
                                                fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + 7 * H)
    fut.create_order(BTC, "market", "buy", 0.01)     # fee 0.15 -> wallet 9999.85
    usdm.set_funding_rates(BTC, [(T0 + 8 * H, "0.0001")])
    # the 08:00 bar opens at 30000: 0.01 BTC long at mark 30000, rate 0.0001 pays 0.03
    usdm.step_bar(BTC, _bar(T0 + 8 * H, "30000"))
    history = fut.fetch_funding_history(BTC)
    assert [(h["timestamp"], h["amount"], h["code"]) for h in history] == \
        [(T0 + 8 * H, -0.03, "USDT")]
    assert D(fut.fetch_balance()["info"]["totalWalletBalance"]) == D("9999.82")


def test_a_funding_time_reached_by_the_clock_and_then_by_its_bar_settles_once(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + 7 * H)
    fut.create_order(BTC, "market", "buy", 0.01)     # fee 0.15 -> wallet 9999.85
    usdm.set_funding_rates(BTC, [(T0 + 8 * H, "0.0001")])
    usdm.set_time(T0 + 8 * H)                        # settles: 0.01 * 30000 * 0.0001 = 0.03
    usdm.step_bar(BTC, _bar(T0 + 8 * H, "30000"))    # the bar opening at 08:00: nothing more
    assert [h["amount"] for h in fut.fetch_funding_history(BTC)] == [-0.03]
    assert D(fut.fetch_balance()["info"]["totalWalletBalance"]) == D("9999.82")


def test_short_receives_positive_funding(usdm: BinanceUsdmEmulator,
                                         fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + 15 * H)
    usdm.set_price(BTC, "30000.1")
    fut.create_order(BTC, "market", "sell", 0.02)    # short 0.02 @ 30000 (best bid)
    usdm.set_funding_rates(BTC, [(T0 + 16 * H, "0.0001")])
    usdm.set_mark_price(BTC, "31000")
    usdm.set_time(T0 + 16 * H)
    # receives 0.02 * 31000 * 0.0001 = 0.062
    assert [h["amount"] for h in fut.fetch_funding_history(BTC)] == [0.062]


def test_negative_rate_pays_shorts_and_flat_accounts_pay_nothing(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + H)
    usdm.set_funding_rates(BTC, [(T0 + 8 * H, "-0.0005"), (T0 + 16 * H, "0.0002")])
    fut.create_order(BTC, "market", "buy", 0.1)      # long 0.1 @ 30000
    usdm.set_time(T0 + 8 * H)                        # long receives 0.1*30000*0.0005 = 1.5
    fut.create_order(BTC, "market", "sell", 0.1)     # flat before 16:00
    usdm.set_time(T0 + 16 * H)
    assert [h["amount"] for h in fut.fetch_funding_history(BTC)] == [1.5]


def test_funding_times_with_no_rate_set_settle_nothing(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + H)
    fut.create_order(BTC, "market", "buy", 0.01)
    usdm.set_time(T0 + 24 * H)
    assert fut.fetch_funding_history(BTC) == []
    assert fut.fetch_funding_rate_history(BTC) == []


def test_funding_income_is_in_the_income_endpoint_with_its_type(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + 7 * H)
    fut.create_order(BTC, "market", "buy", 0.01)
    usdm.set_funding_rates(BTC, [(T0 + 8 * H, "0.0001")])
    usdm.set_time(T0 + 8 * H)
    sent = usdm.log.records("/fapi/v1/income")
    fut.fetch_funding_history(BTC)
    sent = usdm.log.records("/fapi/v1/income")
    assert sent[-1].params["incomeType"] == "FUNDING_FEE"
    rows = fut.fapiPrivateGetIncome({"symbol": "BTCUSDT"})
    assert [(r["incomeType"], r["income"]) for r in rows] == \
        [("COMMISSION", "-0.15000000"), ("FUNDING_FEE", "-0.03000000")]
