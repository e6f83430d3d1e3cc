"""OKX's private ``orders`` channel through ccxt.pro: login, pushed fills, and the
sign ccxt 4.5.90 gives a pushed fill's fee (see venues/NOTES.md)."""

from __future__ import annotations

import asyncio

import ccxt
import ccxt.pro
from venues.okx_spot import OkxSpotEmulator
from venues.testing import API_KEY, PASSPHRASE, SECRET, until

pytest_plugins = ["venues.fixtures"]

BTC = "BTC/USDT"


def _pro(okx: OkxSpotEmulator, passphrase: str = PASSPHRASE) -> ccxt.pro.okx:
    return ccxt.pro.okx(okx.ccxt_config(API_KEY, SECRET, passphrase, enableRateLimit=False))


def test_watch_orders_and_watch_my_trades_receive_a_market_fill(okx: OkxSpotEmulator) -> None:
    okx.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])

    async def scenario() -> tuple[list, list]:
        ex = _pro(okx)
        try:
            await ex.load_markets()
            orders = asyncio.create_task(ex.watch_orders(BTC))
            trades = asyncio.create_task(ex.watch_my_trades(BTC))
            client = ex.client(ex.urls["api"]["ws"] + "/private")
            await until(lambda: {"orders:BTC-USDT", f"orders::myTrades::{BTC}"}
                        <= set(client.futures) and okx.private_stream.subscriptions == 2)
            placed = await ex.create_order(BTC, "market", "buy", 0.01)
            await asyncio.wait_for(orders, 30)
            fills = await asyncio.wait_for(trades, 30)
            await until(lambda: ex.orders.hashmap[BTC][placed["id"]]["status"] == "closed")
            return [ex.orders.hashmap[BTC][placed["id"]]], fills
        finally:
            await ex.close()

    [order], [fill] = asyncio.run(scenario())
    assert (order["status"], order["filled"], order["fee"]) == \
        ("closed", 0.01, {"cost": 0.00001, "currency": "BTC"})
    # the push carries fillFee "-0.00001"; ccxt's order_to_trade copies it unnegated,
    # while REST fetch_my_trades negates it: a consumer must not trust the sign
    assert (fill["price"], fill["amount"], fill["takerOrMaker"], fill["fee"]) == \
        (30000.0, 0.01, "taker", {"currency": "BTC", "cost": -0.00001})
    assert fill["info"]["fillFee"] == "-0.00001"


def test_a_refused_login_reaches_the_caller_as_an_authentication_error(
        okx: OkxSpotEmulator) -> None:
    async def scenario() -> BaseException:
        ex = _pro(okx, passphrase="wrong")
        try:
            await ex.load_markets()
            try:
                await asyncio.wait_for(ex.watch_orders(BTC), 30)
            except ccxt.BaseError as error:
                return error
            raise AssertionError("login with a wrong passphrase succeeded")
        finally:
            await ex.close()

    error = asyncio.run(scenario())
    assert isinstance(error, ccxt.AuthenticationError)
    assert '"code":"60024","msg":"Wrong passphrase"' in str(error)
