"""Pushed order updates: the venue's user-data stream (ccxt.pro ``watch_my_trades`` /
``watch_orders``) books a resting order's fill in the ccxt broker without a poll, once;
a refused subscription is reported with the venue's own error and polling carries on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from venue_live import Venue, venue
from venues.testing import API_KEY, PASSPHRASE, SECRET, until

from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import Credentials, make_client, market_specs_from_ccxt
from tradeloom.adapters.ccxt.user_stream import UserStream
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.engine.orders import Order, OrderStatus, OrderType, Side

BTC = "BTC/USDT"
TRADES_PATH = {"binance": "/api/v3/myTrades", "okx": "/api/v5/trade/fills"}


def clients(v: Venue, secret: str = SECRET):
    creds = Credentials(API_KEY, secret, PASSPHRASE)
    sync = make_client(v.settings(), credentials=creds)
    sync.load_markets()
    pro = make_client(v.settings(), credentials=creds, async_=True)
    v.clock.follow(pro)  # OKX: its websocket login signs on the emulator's clock
    return sync, pro


def trade_requests(v: Venue) -> int:
    return len(v.emu.log.records(TRADES_PATH[v.name]))


@pytest.mark.parametrize("name", ["binance", "okx"])
def test_a_pushed_fill_is_booked_without_a_poll(name: str, tmp_path: Path) -> None:
    with venue(name) as v:
        v.emu.set_book(BTC, bids=[("29990", "1")], asks=[("30010", "1")])
        sync, pro = clients(v)
        specs = market_specs_from_ccxt(sync.markets, exchange_id=sync.id)
        broker = CcxtBroker(sync, {BTC: specs[BTC]}, LiveStateStore(tmp_path / "s.sqlite",
                                                                     run_id="us1"))
        reports: list[tuple[str, dict]] = []
        order = Order(1, BTC, Side.BUY, OrderType.LIMIT, 0.01, created_ts=0, price=30000.0)

        async def scenario() -> list:
            await pro.load_markets()
            stream = UserStream(pro, broker, [BTC], report=lambda k, p: reports.append((k, p)))
            stream.start()
            try:
                await asyncio.sleep(0.3)  # the subscriptions are in place
                broker.submit(order, 0)  # rests at 30000, under the best ask
                broker.flush()
                broker.collect(0)
                polled = trade_requests(v)
                # another trader sells into the bid: the resting order fills as maker
                v.emu.set_book(BTC, bids=[("29990", "1")], asks=[("29995", "1")])
                await asyncio.wait_for(stream.wait(), 30)
                await until(lambda: stream.trades >= 1)
                fills = broker.collect(1)
                assert trade_requests(v) == polled  # no REST trades request: it was pushed
                return fills
            finally:
                await stream.close()
                await pro.close()
                broker.close()

        [fill] = asyncio.run(scenario())
    # 0.01 at the order's own price; the fee in BTC: Binance maker 0.1 % = 0.00001,
    # OKX maker 0.1 % = 0.00001 (OKX pushes it negative: booked as a charge)
    assert (fill.price, fill.amount, fill.fee_currency) == (30000.0, 0.01, "BTC")
    assert fill.fee_cost == pytest.approx(0.00001, abs=1e-15)
    assert order.filled == 0.01 and order.status is OrderStatus.FILLED
    assert reports == []
    assert len(broker.store.fills()) == 1  # once, whatever polls later


def test_a_refused_binance_subscription_reports_the_venue_error(tmp_path: Path) -> None:
    """ccxt 4.5.90 raises ``KeyError('spot')`` for any refused Binance subscription; the
    stream reports the error behind it (a bad signature: -1022) and stops."""
    with venue("binance") as v:
        sync, pro = clients(v, secret="not-the-secret")
        broker = CcxtBroker(sync, market_specs_from_ccxt(sync.markets, exchange_id="binance"),
                            LiveStateStore(tmp_path / "s.sqlite", run_id="us2"))
        reports: list[tuple[str, dict]] = []

        async def scenario() -> UserStream:
            await pro.load_markets()
            stream = UserStream(pro, broker, [BTC], report=lambda k, p: reports.append((k, p)))
            stream.start()
            try:
                await until(lambda: stream.failed is not None)
                return stream
            finally:
                await stream.close()
                await pro.close()
                broker.close()

        stream = asyncio.run(scenario())
    [(kind, payload)] = reports
    assert kind == "user_stream_refused" and not stream.running
    assert "AuthenticationError" in payload["error"] and "-1022" in payload["error"]
    assert "KeyError" not in payload["error"]
    assert "order updates are polled" in payload["action"]
