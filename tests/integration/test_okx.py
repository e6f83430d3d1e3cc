"""A second exchange: OKX spot through the real ccxt client and CcxtBroker, on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from emulator import OkxEmulator

from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import (
    Credentials,
    ExchangeSettings,
    make_client,
    market_specs_from_ccxt,
)
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.adapters.store.ingest import RetryPolicy
from tradeloom.engine.orders import Order, OrderStatus, OrderType, Side

KEY, SECRET, PASSPHRASE = "okxKEY71c2a9", "okxSECRET4f0d81", "okxPASS9a"


@pytest.fixture
def okx() -> Iterator[OkxEmulator]:
    with OkxEmulator(KEY, SECRET, PASSPHRASE, price=30_000.0) as emu:
        yield emu


def client_for(emu: OkxEmulator, secret: str = SECRET) -> ccxt.Exchange:
    settings = ExchangeSettings(id="okx", api_url=emu.base_url, rate_limit_ms=0,
                                options={"fetchMarkets": {"types": ["spot"]}})
    client = make_client(settings, credentials=Credentials(KEY, secret, PASSPHRASE))
    client.has["fetchCurrencies"] = False
    client.load_markets()
    return client


def test_markets_balance_and_signing(okx: OkxEmulator) -> None:
    client = client_for(okx)
    assert list(client.markets) == ["BTC/USDT"]
    spec = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode)
    assert spec["BTC/USDT"].tick_size == 0.1 and spec["BTC/USDT"].min_amount == 0.00001
    assert client.fetch_balance()["USDT"]["free"] == 10_000.0
    with pytest.raises(ccxt.AuthenticationError):
        client_for(okx, secret="wrong").fetch_balance()


def test_create_fetch_cancel_through_the_broker(okx: OkxEmulator, tmp_path: Path) -> None:
    client = client_for(okx)
    store = LiveStateStore(tmp_path / "okx.sqlite", run_id="o1")
    broker = CcxtBroker(client, market_specs_from_ccxt(client.markets,
                                                       precision_mode=client.precisionMode),
                        store, retry=RetryPolicy(attempts=2, base_delay_s=0.01))
    try:
        resting = Order(1, "BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, created_ts=0,
                        price=20_000.0)
        bought = Order(2, "BTC/USDT", Side.BUY, OrderType.MARKET, 0.01, created_ts=0)
        broker.submit(resting, 0)
        broker.submit(bought, 0)
        assert resting.client_id == "tlo1X1"  # OKX allows letters and digits only
        fills = broker.poll(0, wait=True)
        assert [(f.order_id, f.price, f.amount) for f in fills] == [(2, 30_000.0, 0.01)]
        assert fills[0].fee == pytest.approx(0.3)
        assert (resting.status, bought.status) == (OrderStatus.OPEN, OrderStatus.FILLED)
        fetched = client.fetch_order(None, "BTC/USDT", {"clientOrderId": "tlo1X1"})
        assert fetched["status"] == "open" and fetched["price"] == 20_000.0
        assert broker.cancel(1, 0)
        broker.poll(0, wait=True)
        assert resting.status is OrderStatus.CANCELED
        assert [o["state"] for o in okx.orders.values()] == ["canceled", "filled"]
        assert client.fetch_balance()["BTC"]["total"] == pytest.approx(0.01)
        assert [r.path for r in okx.log.records() if r.method == "POST"].count(
            "/api/v5/trade/batch-orders") == 2
    finally:
        broker.close()
        store.close()
