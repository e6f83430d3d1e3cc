"""Binance USDⓈ-M leverage, margin type, initial-margin and reduceOnly rules through
the real ccxt binanceusdm client, with the venue's error codes."""

from __future__ import annotations

import ccxt
import pytest
from venues.binance_usdm import BinanceUsdmEmulator
from venues.testing import API_KEY, SECRET, D

pytest_plugins = ["venues.binance_usdm.fixtures"]

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def _code(err: Exception) -> int:
    import json
    return json.loads(str(err).split(" ", 1)[1])["code"]


def test_leverage_accepts_1_to_the_first_brackets_maximum(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    assert fut.set_leverage(125, BTC)["leverage"] == 125      # BTCUSDT bracket 1: 125x
    assert fut.set_leverage(1, BTC)["leverage"] == 1
    assert fut.set_leverage(100, ETH)["leverage"] == 100      # ETHUSDT bracket 1: 100x
    with pytest.raises(ccxt.BadRequest) as err:               # -4028: ccxt BadRequest
        fut.set_leverage(101, ETH)
    assert _code(err.value) == -4028
    assert "Leverage 101 is not valid" in str(err.value)


def test_margin_type_unchanged_is_4046_which_ccxt_raises_as_already_set(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    # ccxt 4.5.90: options.setMarginMode.throwMarginModeAlreadySet defaults to True
    with pytest.raises(ccxt.MarginModeAlreadySet) as err:
        fut.set_margin_mode("cross", BTC)                      # new symbols are CROSSED
    assert _code(err.value) == -4046
    assert usdm.log.records("/fapi/v1/marginType")[0].status == 400
    assert fut.set_margin_mode("isolated", BTC) == {"code": 200, "msg": "success"}
    assert usdm.account(API_KEY).settings("BTCUSDT").margin_type == "ISOLATED"


def test_without_the_exceptions_override_futures_codes_are_plain_exchange_errors(
        usdm: BinanceUsdmEmulator) -> None:
    # ccxt picks exceptions['linear'] only for https://fapi.binance.com/ URLs
    config = usdm.ccxt_config(API_KEY, SECRET)
    del config["exceptions"]
    client = ccxt.binanceusdm(config)
    with pytest.raises(ccxt.ExchangeError) as err:
        client.create_order(BTC, "market", "buy", 0.003)      # 90 USDT < 100: -4164
    assert type(err.value) is ccxt.ExchangeError
    assert _code(err.value) == -4164


def test_margin_type_cannot_change_with_an_open_position_4048(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.create_order(BTC, "market", "buy", 0.01)
    with pytest.raises(ccxt.ExchangeError) as err:
        fut.set_margin_mode("isolated", BTC)
    assert _code(err.value) == -4048


def test_order_needing_more_initial_margin_than_available_is_2019(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.set_leverage(2, BTC)
    # a MARKET buy is costed at the FAQ's assumed price, best ask 30000 * 1.0005 = 30015,
    # plus the open loss against mark 30000 (15 a BTC):
    # 0.7 BTC: 0.7 * 30015 / 2 + 0.7 * 15 = 10505.25 + 10.5 = 10515.75 > 10000
    with pytest.raises(ccxt.InsufficientFunds) as err:
        fut.create_order(BTC, "market", "buy", 0.7)
    assert (_code(err.value), "Margin is insufficient." in str(err.value)) == (-2019, True)
    # 0.6 BTC: 9004.5 + 9 = 9013.5 <= 10000: accepted
    assert fut.create_order(BTC, "market", "buy", 0.6)["filled"] == 0.6


def test_closing_part_of_an_order_needs_no_margin(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.set_leverage(1, BTC)
    fut.create_order(BTC, "market", "buy", 0.3)   # 9000 notional, 9000 margin; fee 4.5
    # available: 10000 - 4.5 - 9000 = 995.5; selling 0.33 closes 0.3 (no margin) and
    # opens 0.03 short, costed at max(best bid 29999.9, mark 30000) = 30000: 900 at 1x
    # (no open loss): accepted
    fut.create_order(BTC, "market", "sell", 0.33)
    assert usdm.account(API_KEY).positions["BTCUSDT"].amount == D("-0.03")


def test_reduce_only_that_would_increase_is_2022(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    with pytest.raises(ccxt.InvalidOrder) as err:            # flat: nothing to reduce
        fut.create_order(BTC, "market", "sell", 0.01, params={"reduceOnly": True})
    assert _code(err.value) == -2022
    fut.create_order(BTC, "market", "buy", 0.01)
    with pytest.raises(ccxt.InvalidOrder) as err:            # a buy would add to the long
        fut.create_order(BTC, "market", "buy", 0.01, params={"reduceOnly": True})
    assert _code(err.value) == -2022


def test_reduce_only_larger_than_the_position_closes_only_the_position(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.create_order(BTC, "market", "buy", 0.01)
    order = fut.create_order(BTC, "market", "sell", 0.05, params={"reduceOnly": True})
    assert usdm.log.records("/fapi/v1/order", "POST")[-1].params["reduceOnly"] == "true"
    assert (order["filled"], order["status"]) == (0.01, "expired")
    assert fut.fetch_positions([BTC]) == []


def test_min_notional_is_4164_but_waived_for_reduce_only(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    # 0.003 BTC @ 30000 = 90 < 100
    with pytest.raises(ccxt.InvalidOrder) as err:
        fut.create_order(BTC, "market", "buy", 0.003)
    assert _code(err.value) == -4164
    fut.create_order(BTC, "market", "buy", 0.004)            # 120: accepted
    closed = fut.create_order(BTC, "market", "sell", 0.003, params={"reduceOnly": True})
    assert closed["filled"] == 0.003


def test_balance_reports_wallet_margin_and_available(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.set_leverage(10, BTC)
    fut.create_order(BTC, "market", "buy", 0.1)              # 3000 notional, fee 1.5
    usdm.set_mark_price(BTC, "30500")
    info = fut.fetch_balance()["info"]
    # wallet 9998.5; unrealised 0.1 * 500 = 50; position IM 3050 / 10 = 305
    # available = 9998.5 + 50 - 305 = 9743.5; maintenance 3050 * 0.004 = 12.2
    assert (D(info["totalWalletBalance"]), D(info["totalUnrealizedProfit"]),
            D(info["totalMarginBalance"]), D(info["totalPositionInitialMargin"]),
            D(info["availableBalance"]), D(info["totalMaintMargin"])) == \
        (D("9998.5"), D("50"), D("10048.5"), D("305"), D("9743.5"), D("12.2"))
    balance = fut.fetch_balance()["USDT"]
    assert (balance["free"], balance["used"], balance["total"]) == (9743.5, 305.0, 10048.5)


def test_v2_position_risk_reports_leverage_and_margin_type(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.set_margin_mode("isolated", BTC)
    fut.set_leverage(10, BTC)
    fut.create_order(BTC, "market", "buy", 0.1)              # isolated wallet 3000/10 = 300
    position = fut.fetch_positions([BTC], params={"useV2": True})[0]
    assert (position["leverage"], position["marginMode"], position["collateral"]) == \
        (10.0, "isolated", 300.0)
    assert usdm.log.count("/fapi/v2/positionRisk") == 1


def test_symbol_config_and_position_mode_report_the_settings(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    assert fut.fetch_margin_mode(BTC)["marginMode"] == "cross"     # a new symbol
    fut.set_margin_mode("isolated", BTC)
    fut.set_leverage(7, BTC)
    leverage = fut.fetch_leverages([BTC])[BTC]
    assert (leverage["marginMode"], leverage["longLeverage"]) == ("isolated", 7)
    assert fut.fetch_position_mode(BTC)["hedged"] is False       # one-way mode only


def test_the_cost_to_open_includes_the_faqs_open_loss(usdm: BinanceUsdmEmulator,
                                                      fut: ccxt.binanceusdm) -> None:
    # Binance FAQ "How to Calculate Cost Required to Open a Position": 1 BTC limit at
    # 9,253.30, mark 9,259.84, 20x: initial margin 9,253.30 / 20 = 462.665; a long has
    # no open loss (cost 462.665), a short loses 9,259.84 - 9,253.30 = 6.54 at once
    # (cost 469.205)
    usdm.account(API_KEY).wallet = D("469")
    usdm.set_book(BTC, bids=[("9250", "5")], asks=[("9260", "5")])
    usdm.set_mark_price(BTC, "9259.84")
    fut.set_leverage(20, BTC)
    long = fut.create_order(BTC, "limit", "buy", 1, 9253.3)          # 462.665 <= 469
    fut.cancel_order(long["id"], BTC)
    with pytest.raises(ccxt.InsufficientFunds):                       # 469.205 > 469
        fut.create_order(BTC, "limit", "sell", 1, 9253.3)
    usdm.account(API_KEY).wallet = D("469.21")
    assert fut.create_order(BTC, "limit", "sell", 1, 9253.3)["status"] == "open"
