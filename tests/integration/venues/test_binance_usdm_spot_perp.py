"""Spot and USDⓈ-M on one server for one ``ccxt.binance`` client (the spot+perp carry
set-up): ccxt routes ``BTC/USDT`` to ``/api/v3`` and ``BTC/USDT:USDT`` to ``/fapi``;
the two wallets stay separate, as on Binance."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import ccxt
import ccxt.pro
import pytest
from venues.binance_usdm.combined import BinanceSpotPerpEmulator
from venues.testing import API_KEY, SECRET, D, until

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
H = 3_600_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC


@pytest.fixture
def both() -> Iterator[BinanceSpotPerpEmulator]:
    with BinanceSpotPerpEmulator([SPOT], [PERP]) as emu:
        emu.add_account(API_KEY, SECRET, spot={"USDT": "1000"}, futures={"USDT": "1000"})
        emu.spot.set_book(SPOT, bids=[("29990", "1")], asks=[("30000", "1")])
        emu.perp.set_price(PERP, "30050")          # perp ask 30050, bid 30049.9
        yield emu


@pytest.fixture
def client(both: BinanceSpotPerpEmulator) -> ccxt.binance:
    exchange = ccxt.binance(both.ccxt_config(API_KEY, SECRET, enableRateLimit=False))
    exchange.load_markets()
    return exchange


def test_one_client_loads_spot_and_perpetual_markets(both: BinanceSpotPerpEmulator,
                                                     client: ccxt.binance) -> None:
    assert [r.path for r in both.log.records()] == ["/api/v3/exchangeInfo",
                                                    "/fapi/v1/exchangeInfo"]
    assert (client.market(SPOT)["type"], client.market(PERP)["type"]) == ("spot", "swap")


def test_a_carry_buys_spot_and_shorts_the_perpetual_in_separate_wallets(
        both: BinanceSpotPerpEmulator, client: ccxt.binance) -> None:
    client.create_order(SPOT, "market", "buy", 0.01)   # 300 USDT; fee 0.00001 BTC
    client.create_order(PERP, "market", "sell", 0.01)  # short @ 30049.9; fee 0.1502495
    spot = client.fetch_balance()
    futures = client.fetch_balance({"type": "future"})
    # spot: 1000 - 300 = 700 USDT, 0.01 - 0.00001 = 0.00999 BTC; futures wallet
    # 1000 - 30049.9 * 0.01 * 0.0005 = 1000 - 0.1502495 = 999.8497505
    assert (D(spot["USDT"]["free"]), D(spot["BTC"]["free"])) == (D("700"), D("0.00999"))
    assert D(futures["info"]["totalWalletBalance"]) == D("999.8497505")
    position = client.fetch_positions([PERP])[0]
    assert (position["side"], position["contracts"]) == ("short", 0.01)


def test_the_short_leg_receives_funding(both: BinanceSpotPerpEmulator,
                                       client: ccxt.binance) -> None:
    both.perp.set_time(T0 + 7 * H)
    client.create_order(PERP, "market", "sell", 0.01)
    both.perp.set_funding_rates(PERP, [(T0 + 8 * H, "0.0002")])
    both.perp.set_mark_price(PERP, "30000")
    both.perp.set_time(T0 + 8 * H)
    # 0.01 * 30000 * 0.0002 = 0.06 received
    assert [h["amount"] for h in client.fetch_funding_history(PERP)] == [0.06]


def test_pro_watch_orders_streams_perpetual_fills_under_the_stream_path(
        both: BinanceSpotPerpEmulator, client: ccxt.binance) -> None:
    async def scenario() -> list:
        pro = ccxt.pro.binance(both.ccxt_config(API_KEY, SECRET))
        try:
            await pro.load_markets()
            watcher = asyncio.ensure_future(pro.watch_orders(PERP))
            await until(lambda: both.perp.user_stream.connections == 1)
            placed = await asyncio.to_thread(client.create_order, PERP, "market", "buy", 0.01)
            await asyncio.wait_for(watcher, 30)
            # NEW and TRADE can arrive in one read: ccxt resolves the waiting future with
            # the first and keeps the later update in its order cache (a second
            # watch_orders would wait for an update that already came), so read the cache
            await until(lambda: pro.orders.hashmap[PERP][placed["id"]]["status"] == "closed",
                        timeout=30)
            return [pro.orders.hashmap[PERP][placed["id"]]]
        finally:
            await pro.close()

    orders = asyncio.run(scenario())
    assert (orders[-1]["symbol"], orders[-1]["filled"]) == (PERP, 0.01)
    assert both.log.count("/fapi/v1/listenKey", "POST") == 1
