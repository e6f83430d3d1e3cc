"""Binance USDⓈ-M order rules and list windows through the real ccxt binanceusdm
client: the filters with their error codes, PERCENT_PRICE and MIN_NOTIONAL against
the mark price, newOrderRespType ACK, the 3-day/7-day visibility rules of orders,
trades and income, post-only (GTX) and the commission-rate endpoint."""

from __future__ import annotations

import json

import ccxt
import pytest
from venues.binance_usdm import BinanceUsdmEmulator
from venues.testing import API_KEY

pytest_plugins = ["venues.binance_usdm.fixtures"]

BTC = "BTC/USDT:USDT"
DAY = 86_400_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC


def _code(err: Exception) -> int:
    return json.loads(str(err).split(" ", 1)[1])["code"]


def _raw_order(fut: ccxt.binanceusdm, **params: str) -> int:
    """Send POST /fapi/v1/order as given (no ccxt rounding); the venue's error code."""
    with pytest.raises(ccxt.ExchangeError) as err:
        fut.fapiPrivatePostOrder({"symbol": "BTCUSDT", **params})
    return _code(err.value)


def test_filters_answer_their_documented_codes(usdm: BinanceUsdmEmulator,
                                               fut: ccxt.binanceusdm) -> None:
    limit = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    # BTCUSDT publishes pricePrecision 2 with tickSize 0.10 ("please do not use it as
    # tickSize"): 30000.055 has too many decimals -> -1111, 30000.05 is off-tick ->
    # -4014; quantity 0.0015 has more than quantityPrecision 3 -> -1111
    assert _raw_order(fut, **limit, quantity="0.01", price="30000.055") == -1111
    assert _raw_order(fut, **limit, quantity="0.01", price="30000.05") == -4014
    assert _raw_order(fut, **limit, quantity="0.0015", price="30000") == -1111
    assert _raw_order(fut, **limit, quantity="0.01", price="500") == -4013   # < 556.80
    assert _raw_order(fut, **limit, quantity="0", price="30000") == -4003
    assert _raw_order(fut, **limit, quantity="1001", price="30000") == -4005  # > 1000
    assert _raw_order(fut, side="BUY", type="MARKET", quantity="121") == -4005  # > 120


def test_percent_price_bounds_limit_prices_around_the_mark(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    # mark 30000, multiplierUp 1.05 / multiplierDown 0.95: buy above 31500 -> -4016,
    # sell below 28500 -> -4024
    assert _raw_order(fut, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                      price="31500.1") == -4016
    assert _raw_order(fut, side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.01",
                      price="28499.9") == -4024
    assert fut.create_order(BTC, "limit", "buy", 0.01, 31500)["status"] == "closed"


def test_market_min_notional_is_checked_at_the_mark_price(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_mark_price(BTC, "20000")       # last 30000, mark 20000
    # 0.004 BTC: 120 USDT at the last price, 80 at the mark -> below 100: -4164
    with pytest.raises(ccxt.InvalidOrder) as err:
        fut.create_order(BTC, "market", "buy", 0.004)
    assert _code(err.value) == -4164
    assert fut.create_order(BTC, "market", "buy", 0.005)["filled"] == 0.005   # 100


def test_ack_is_the_default_answer_and_shows_nothing_executed(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    # ccxt sends newOrderRespType=RESULT; a client that does not gets the ACK answer
    acked = fut.create_order(BTC, "market", "buy", 0.01,
                             params={"newOrderRespType": "ACK"})
    assert (acked["status"], acked["filled"]) == ("open", 0.0)
    assert fut.fetch_order(acked["id"], BTC)["status"] == "closed"     # it did fill
    assert usdm.log.records("/fapi/v1/order", "POST")[0].params["newOrderRespType"] == "ACK"


def test_a_cancelled_unfilled_order_vanishes_three_days_after_creation(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0)
    order = fut.create_order(BTC, "limit", "buy", 0.01, 29000)
    fut.cancel_order(order["id"], BTC)
    usdm.set_time(T0 + 3 * DAY)
    assert fut.fetch_order(order["id"], BTC)["status"] == "canceled"
    usdm.set_time(T0 + 3 * DAY + 1)
    with pytest.raises(ccxt.OrderNotFound) as err:
        fut.fetch_order(order["id"], BTC)
    assert _code(err.value) == -2013


def test_trades_and_income_default_to_the_last_seven_days(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0)
    fut.create_order(BTC, "market", "buy", 0.01)
    usdm.set_time(T0 + 7 * DAY + 1)
    assert fut.fetch_my_trades(BTC) == []
    assert [t["timestamp"] for t in fut.fetch_my_trades(BTC, since=T0)] == [T0]
    assert fut.fapiPrivateGetIncome() == []
    assert len(fut.fapiPrivateGetIncome({"startTime": T0})) == 1    # the commission


def test_post_only_that_would_take_is_rejected_5022(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    with pytest.raises(ccxt.OrderNotFillable) as err:       # best ask 30000
        fut.create_order(BTC, "limit", "buy", 0.01, 30000, params={"timeInForce": "GTX"})
    assert _code(err.value) == -5022
    rests = fut.create_order(BTC, "limit", "buy", 0.01, 29999.9,
                             params={"timeInForce": "GTX"})
    assert (rests["status"], rests["postOnly"]) == ("open", True)


def test_client_order_ids_follow_the_documented_pattern_and_are_unique_while_open(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    with pytest.raises(ccxt.ExchangeError) as err:
        fut.create_order(BTC, "limit", "buy", 0.01, 29000, params={"clientOrderId": "a b"})
    assert _code(err.value) == -4015
    fut.create_order(BTC, "limit", "buy", 0.01, 29000, params={"clientOrderId": "mine-1"})
    with pytest.raises(ccxt.InvalidOrder) as err:
        fut.create_order(BTC, "limit", "buy", 0.01, 29000, params={"clientOrderId": "mine-1"})
    assert _code(err.value) == -4116


def test_isolated_leverage_cannot_be_reduced_with_a_position_4161(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.set_margin_mode("isolated", BTC)
    fut.set_leverage(10, BTC)
    fut.create_order(BTC, "market", "buy", 0.01)
    with pytest.raises(ccxt.ExchangeError) as err:
        fut.set_leverage(5, BTC)
    assert _code(err.value) == -4161
    assert fut.set_leverage(20, BTC)["leverage"] == 20             # raising is allowed


def test_leverage_that_the_position_notional_exceeds_is_2027(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.account(API_KEY).wallet = usdm.account(API_KEY).wallet * 100   # 1,000,000 USDT
    usdm.set_book(BTC, bids=[("29999.9", "100")], asks=[("30000", "100")])
    fut.set_leverage(20, BTC)
    fut.create_order(BTC, "market", "buy", 60)     # 1,800,000 notional: bracket 3
    # 125x is allowed only up to the first bracket's cap, 50,000
    with pytest.raises(ccxt.OperationRejected) as err:
        fut.set_leverage(125, BTC)
    assert _code(err.value) == -2027


def test_fetch_trading_fee_reads_the_account_commission_rates(
        fut: ccxt.binanceusdm) -> None:
    fee = fut.fetch_trading_fee(BTC)
    assert (fee["maker"], fee["taker"]) == (0.0002, 0.0005)


def test_request_weight_over_the_minute_limit_is_429_then_a_418_ban(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    limiter = usdm.set_weight_limit(12, ban_after=1, clock=lambda: 600.0)
    fut.fetch_positions([BTC])          # leverageBracket 1 + positionRisk v3 5 = 6
    assert fut.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "6"
    fut.fetch_balance()                 # account v3: 5 -> 11
    with pytest.raises(ccxt.DDoSProtection) as err:        # income 30: 41 > 12
        fut.fetch_funding_history(BTC)
    assert "429" in str(err.value) and "current limit is 12 requests per minute" \
        in str(err.value)
    with pytest.raises(ccxt.DDoSProtection) as err:        # not backing off: banned
        fut.fetch_time()
    assert "418" in str(err.value)
    limiter.elapse(121)                 # the 2-minute ban is over, a new minute
    assert fut.fetch_time() == usdm.now_ms()


def test_conditional_types_on_the_order_endpoint_are_4120(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    # STOP_MARKET & co. belong to the Algo Order API (ccxt sends them to
    # /fapi/v1/algoOrder, which the emulator does not serve); the order endpoint says so
    code = _raw_order(fut, side="SELL", type="STOP_MARKET", quantity="0.01",
                      stopPrice="29000")
    assert code == -4120
