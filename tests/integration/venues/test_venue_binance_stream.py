"""Binance's user data stream over the websocket API: ccxt.pro ``watch_orders`` /
``watch_my_trades`` / ``watch_balance`` receive pushed fills, the raw stream carries
the documented event sequence, and a failed subscription is what ccxt 4.5.90 turns
into ``KeyError('spot')`` (see venues/NOTES.md)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import ccxt
import ccxt.pro
import pytest
from venues.binance_spot import BinanceSpotEmulator
from venues.binance_spot.auth import hmac_hex, ws_payload
from venues.testing import API_KEY, SECRET, until

pytest_plugins = ["venues.fixtures"]

BTC = "BTC/USDT"


def _pro(binance: BinanceSpotEmulator, secret: str = SECRET) -> ccxt.pro.binance:
    return ccxt.pro.binance(binance.ccxt_config(API_KEY, secret, enableRateLimit=False))


async def _watching(ex: ccxt.pro.binance, *hashes: str) -> None:
    """Wait until ccxt has registered the futures of ``hashes`` on the ws-api client,
    so no pushed event can arrive before a watcher listens for it."""
    client = ex.client(ex.urls["api"]["ws"]["ws-api"]["spot"])
    await until(lambda: set(hashes) <= set(client.futures))


def test_watch_orders_and_watch_my_trades_receive_a_market_fill(
        binance: BinanceSpotEmulator) -> None:
    binance.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])

    async def scenario() -> tuple[list, list, list]:
        ex = _pro(binance)
        try:
            await ex.load_markets()
            orders = asyncio.create_task(ex.watch_orders(BTC))
            trades = asyncio.create_task(ex.watch_my_trades(BTC))
            await _watching(ex, f"orders:{BTC}", f"myTrades:{BTC}")
            placed = await ex.create_order(BTC, "market", "buy", 0.01,
                                           params={"clientOrderId": "ws-1"})
            first = await asyncio.wait_for(orders, 30)
            fills = await asyncio.wait_for(trades, 30)
            await until(lambda: ex.orders.hashmap[BTC][placed["id"]]["status"] == "closed")
            return first, fills, [ex.orders.hashmap[BTC][placed["id"]]]
        finally:
            await ex.close()

    first, fills, [final] = asyncio.run(scenario())
    # the NEW report woke watch_orders; the list it returned is ccxt's live order cache
    assert [o["clientOrderId"] for o in first] == ["ws-1"]
    [fill] = fills
    assert (fill["price"], fill["amount"], fill["fee"]) == \
        (30000.0, 0.01, {"currency": "BTC", "cost": 0.00001})
    assert (final["status"], final["filled"], final["fee"]) == \
        ("closed", 0.01, {"currency": "BTC", "cost": 0.00001})


def test_watch_balance_receives_the_account_position_after_a_fill(
        binance: BinanceSpotEmulator) -> None:
    binance.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])

    async def scenario() -> dict:
        ex = _pro(binance)
        try:
            await ex.load_markets()
            watch = asyncio.create_task(ex.watch_balance())
            await _watching(ex, "spot:balance")
            await ex.create_order(BTC, "market", "buy", 0.01)
            return await asyncio.wait_for(watch, 30)
        finally:
            await ex.close()

    balance = asyncio.run(scenario())
    # outboundAccountPosition after the fill: BTC 0.01 - 0.00001, USDT 1000 - 300
    assert (balance["BTC"]["free"], balance["USDT"]["free"]) == (0.00999, 700.0)


def test_the_raw_stream_pushes_the_documented_events_for_a_partial_fill_and_cancel(
        binance: BinanceSpotEmulator) -> None:
    binance.set_book(BTC, bids=[("29940", "1")], asks=[("30000", "1")])

    async def scenario() -> tuple[dict, list[dict]]:
        rest = ccxt.async_support.binance(binance.ccxt_config(API_KEY, SECRET))
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(binance.ws_url + "/ws-api/v3")
            params = {"apiKey": API_KEY, "timestamp": int(time.time() * 1000)}
            params["signature"] = hmac_hex(SECRET, ws_payload(params))
            await ws.send_json({"id": "sub-1", "method": "userDataStream.subscribe.signature",
                                "params": params})
            answer = await ws.receive_json(timeout=5)
            try:
                await rest.load_markets()
                order = await rest.create_order(BTC, "limit", "buy", 0.01, 29950,
                                                params={"clientOrderId": "pf-2"})
                binance.set_book(BTC, bids=[("29900", "1")],
                                 asks=[("29945", "0.004"), ("29960", "1")])
                await rest.cancel_order(order["id"], BTC, params={"newClientOrderId": "cx-2"})
            finally:
                await rest.close()
            events = [(await ws.receive_json(timeout=5))["event"] for _ in range(6)]
            await ws.close()
            return answer, events

    answer, events = asyncio.run(scenario())
    assert answer == {"id": "sub-1", "status": 200, "result": {"subscriptionId": 0}}
    assert [(e["e"], e.get("x"), e.get("X")) for e in events] == [
        ("executionReport", "NEW", "NEW"),
        ("outboundAccountPosition", None, None),
        ("executionReport", "TRADE", "PARTIALLY_FILLED"),
        ("outboundAccountPosition", None, None),
        ("executionReport", "CANCELED", "CANCELED"),
        ("outboundAccountPosition", None, None)]
    new, locked, trade, _, cancel, final = events
    assert (new["c"], new["q"], new["p"], new["w"]) == ("pf-2", "0.01000000", "29950.00000000",
                                                        True)
    assert {b["a"]: b["l"] for b in locked["B"]}["USDT"] == "299.50000000"  # 0.01 * 29950
    assert (trade["l"], trade["L"], trade["z"], trade["n"], trade["N"], trade["m"]) == \
        ("0.00400000", "29950.00000000", "0.00400000", "0.00000400", "BTC", True)
    assert (cancel["c"], cancel["C"], cancel["z"]) == ("cx-2", "pf-2", "0.00400000")
    # USDT 1000 - 0.004 * 29950 = 880.2 free, none locked; BTC 0.004 - 0.000004
    assert {b["a"]: (b["f"], b["l"]) for b in final["B"]} == {
        "BTC": ("0.00399600", "0.00000000"), "USDT": ("880.20000000", "0.00000000")}


@pytest.mark.parametrize("fault", ["wrong secret", "stale timestamp"])
def test_a_refused_subscription_reaches_the_caller_as_ccxts_key_error(
        binance: BinanceSpotEmulator, fault: str) -> None:
    secret = "not-the-secret" if fault == "wrong secret" else SECRET
    if fault == "stale timestamp":
        binance.clock_offset_ms = 20_000  # -1021 for the subscription's timestamp

    async def scenario() -> BaseException:
        ex = _pro(binance, secret)
        try:
            await ex.load_markets()
            with pytest.raises((KeyError, ccxt.BaseError)) as raised:
                await asyncio.wait_for(ex.watch_orders(BTC), 30)
            return raised.value
        finally:
            await ex.close()

    error = asyncio.run(scenario())
    # the venue's answer is in the chain; ccxt 4.5.90 deletes client.subscriptions['spot']
    # twice (handle_ws_error, then the except block of the subscribe), so the KeyError
    # raised by the second delete replaces it
    venue_error = error if isinstance(error, ccxt.BaseError) else error.__context__
    expected = ccxt.AuthenticationError if fault == "wrong secret" else ccxt.InvalidNonce
    assert isinstance(venue_error, expected)
    assert json.loads(str(venue_error).split(" ", 1)[1])["code"] in (-1022, -1021)
    if ccxt.__version__ == "4.5.90":
        assert isinstance(error, KeyError) and error.args == ("spot",)
