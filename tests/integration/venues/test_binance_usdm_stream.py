"""Binance USDⓈ-M user data stream: a listenKey from ``POST /fapi/v1/listenKey``, events
on ``/private/ws?listenKey=`` (the URL ccxt.pro 4.5.90 builds for linear markets):
ORDER_TRADE_UPDATE and ACCOUNT_UPDATE (reasons ORDER, FUNDING_FEE), liquidation
orders, and the expiry of a closed listenKey."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import ccxt
import ccxt.pro
import pytest
from venues.binance_usdm import BinanceUsdmEmulator
from venues.testing import API_KEY, SECRET, until

pytest_plugins = ["venues.binance_usdm.fixtures"]

BTC = "BTC/USDT:USDT"
H = 3_600_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC


async def _events(usdm: BinanceUsdmEmulator, rest: ccxt.binanceusdm, action: Any,
                  count: int) -> list[dict]:
    """Open the stream, run ``action`` (in a thread), collect ``count`` events."""
    key = (await asyncio.to_thread(rest.fapiPrivatePostListenKey))["listenKey"]
    url = f"{usdm.ws_url}/private/ws?listenKey={key}"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await until(lambda: usdm.user_stream.connections == 1)
        await asyncio.to_thread(action)
        return [json.loads((await ws.receive(timeout=30)).data) for _ in range(count)]


def test_watch_orders_receives_the_market_fill_with_its_usdt_fee(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    async def scenario() -> list:
        pro = ccxt.pro.binanceusdm(usdm.ccxt_config(API_KEY, SECRET))
        try:
            await pro.load_markets()
            watcher = asyncio.ensure_future(pro.watch_orders(BTC))
            await until(lambda: usdm.user_stream.connections == 1)
            placed = await asyncio.to_thread(fut.create_order, BTC, "market", "buy", 0.01)
            await asyncio.wait_for(watcher, 30)
            # NEW and TRADE can arrive in one read: ccxt resolves the waiting future with
            # the first and keeps the later update in its order cache (a second
            # watch_orders would wait for an update that already came), so read the cache
            await until(lambda: pro.orders.hashmap[BTC][placed["id"]]["status"] == "closed",
                        timeout=30)
            return [pro.orders.hashmap[BTC][placed["id"]]]
        finally:
            await pro.close()

    orders = asyncio.run(scenario())
    # 0.01 @ 30000 taker: fee 0.15 USDT
    assert (orders[-1]["status"], orders[-1]["filled"], orders[-1]["fee"]) == \
        ("closed", 0.01, {"currency": "USDT", "cost": 0.15})
    assert usdm.log.count("/fapi/v1/listenKey", "POST") == 1


def test_a_market_fill_streams_new_trade_then_account_update(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    events = asyncio.run(_events(
        usdm, fut, lambda: fut.create_order(BTC, "market", "buy", 0.01), 3))
    assert [(e["e"], e.get("o", {}).get("x")) for e in events] == [
        ("ORDER_TRADE_UPDATE", "NEW"), ("ORDER_TRADE_UPDATE", "TRADE"),
        ("ACCOUNT_UPDATE", None)]
    trade = events[1]["o"]
    assert (trade["X"], trade["l"], trade["L"], trade["n"], trade["N"], trade["m"]) == \
        ("FILLED", "0.01", "30000", "0.15", "USDT", False)
    account = events[2]["a"]
    # wallet 10000 - 0.15; position 0.01 @ 30000; "bc" excludes PnL and commission: 0
    assert (account["m"], account["B"][0]["wb"], account["B"][0]["bc"],
            account["P"][0]["pa"], account["P"][0]["ep"]) == \
        ("ORDER", "9999.85", "0", "0.01", "30000")


def test_closing_reports_the_accumulated_realised_pnl_in_cr(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.create_order(BTC, "market", "buy", 0.01)       # long 0.01 @ 30000
    usdm.set_price(BTC, "30500.1")                     # best bid 30500.0

    def close() -> None:
        fut.create_order(BTC, "market", "sell", 0.01)

    events = asyncio.run(_events(usdm, fut, close, 3))
    # realised 0.01 * (30500 - 30000) = 5, pre-fee
    assert (events[1]["o"]["rp"], events[2]["a"]["P"][0]["cr"],
            events[2]["a"]["P"][0]["pa"]) == ("5", "5", "0")


def test_a_leverage_change_streams_account_config_update(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    events = asyncio.run(_events(usdm, fut, lambda: fut.set_leverage(7, BTC), 1))
    assert (events[0]["e"], events[0]["ac"]) == ("ACCOUNT_CONFIG_UPDATE",
                                                 {"s": "BTCUSDT", "l": 7})


def test_a_market_order_the_book_cannot_fill_expires_with_reason_9(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "0.01")])
    events = asyncio.run(_events(
        usdm, fut, lambda: fut.create_order(BTC, "market", "buy", 0.02), 4))
    # NEW, TRADE 0.01, ACCOUNT_UPDATE, EXPIRED with "er" 9: "Market order could not be
    # filled completely, remaining quantity is canceled"
    assert [(e["o"]["x"], e["o"]["er"]) for e in events if e["e"] == "ORDER_TRADE_UPDATE"] \
        == [("NEW", "0"), ("TRADE", "0"), ("EXPIRED", "9")]


def test_funding_streams_an_account_update_with_reason_funding_fee(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + 7 * H)
    fut.create_order(BTC, "market", "buy", 0.01)
    usdm.set_funding_rates(BTC, [(T0 + 8 * H, "0.0001")])
    events = asyncio.run(_events(usdm, fut, lambda: usdm.set_time(T0 + 8 * H), 1))
    # 0.01 * 30000 * 0.0001 = 0.03 paid: wallet 9999.85 - 0.03 = 9999.82; a crossed
    # position's funding pushes the balance only ("without any position P")
    assert (events[0]["e"], events[0]["a"]["m"], events[0]["a"]["B"][0]["bc"],
            events[0]["a"]["B"][0]["wb"], events[0]["T"], events[0]["a"]["P"]) == \
        ("ACCOUNT_UPDATE", "FUNDING_FEE", "-0.03", "9999.82", T0 + 8 * H, [])


def test_isolated_funding_pushes_the_position_with_its_isolated_wallet(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + 7 * H)
    fut.set_margin_mode("isolated", BTC)
    fut.set_leverage(10, BTC)
    fut.create_order(BTC, "market", "buy", 0.01)       # isolated wallet 300 / 10 = 30
    usdm.set_funding_rates(BTC, [(T0 + 8 * H, "0.0001")])
    events = asyncio.run(_events(usdm, fut, lambda: usdm.set_time(T0 + 8 * H), 1))
    # funding 0.03 is paid from the isolated wallet: 30 - 0.03 = 29.97
    position = events[0]["a"]["P"]
    assert [(p["s"], p["mt"], p["iw"]) for p in position] == [("BTCUSDT", "isolated",
                                                               "29.97")]


def test_liquidation_streams_an_autoclose_calculated_execution(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    fut.set_margin_mode("isolated", BTC)
    fut.set_leverage(10, BTC)
    fut.create_order(BTC, "market", "buy", 0.01)       # isolated wallet 30
    # bankruptcy 30000 - 30 / 0.01 = 27000; liquidation near 27108
    events = asyncio.run(_events(usdm, fut, lambda: usdm.set_mark_price(BTC, "27000"), 3))
    order = events[1]["o"]
    # "X shows as NEW" for the liquidation order; its fill is execution CALCULATED
    assert (events[0]["o"]["X"], order["x"], order["X"], order["o"], order["S"],
            order["L"], order["f"]) == \
        ("NEW", "CALCULATED", "FILLED", "LIQUIDATION", "SELL", "27000", "IOC")
    assert order["c"].startswith("autoclose-")
    assert (events[2]["e"], events[2]["a"]["P"][0]["pa"]) == ("ACCOUNT_UPDATE", "0")


def test_closing_the_listen_key_expires_the_stream(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    events = asyncio.run(_events(usdm, fut, fut.fapiPrivateDeleteListenKey, 1))
    assert events[0]["e"] == "listenKeyExpired"


def test_a_listen_key_without_keepalive_expires_after_60_minutes(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    def an_hour_later() -> None:
        usdm.clock_offset_ms = 60 * 60_000 + 1     # the request clock moves 60 min
        fut.options["timeDifference"] = -usdm.clock_offset_ms   # ccxt signs in step
        fut.fetch_time()                           # the venue notices on any request

    events = asyncio.run(_events(usdm, fut, an_hour_later, 1))
    assert events[0]["e"] == "listenKeyExpired"
    with pytest.raises(ccxt.ExchangeError) as err:          # -1125 once it is gone
        fut.fapiPrivatePutListenKey()
    assert '"code": -1125' in str(err.value)


def test_keepalive_extends_the_listen_key_and_the_docs_ws_path_streams(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    key = fut.fapiPrivatePostListenKey()["listenKey"]
    usdm.clock_offset_ms = 59 * 60_000
    fut.options["timeDifference"] = -usdm.clock_offset_ms
    assert fut.fapiPrivatePutListenKey()["listenKey"] == key   # valid until +119 min
    usdm.clock_offset_ms = 100 * 60_000
    fut.options["timeDifference"] = -usdm.clock_offset_ms
    assert fut.fapiPrivatePostListenKey()["listenKey"] == key  # still the same key

    async def scenario() -> dict:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"{usdm.ws_url}/ws/{key}") as ws:
            await until(lambda: usdm.user_stream.connections == 1)
            await asyncio.to_thread(fut.set_leverage, 3, BTC)
            return json.loads((await ws.receive(timeout=30)).data)

    assert asyncio.run(scenario())["e"] == "ACCOUNT_CONFIG_UPDATE"
