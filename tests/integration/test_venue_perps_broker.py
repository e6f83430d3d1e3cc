"""The ccxt broker on a perpetual swap (Binance USDⓈ-M emulator, real ccxt client): a sell
beyond zero opens a short (the spot rule "never sell more than the account holds" is for
spot only), a reduce-only exit goes out with ccxt's ``reduceOnly`` and the venue caps it
at the position, and the margin mode already set is not a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from perp_venue import PERP, futures_venue, settings
from venues.testing import API_KEY, SECRET

from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import Credentials, make_client, market_specs_from_ccxt
from tradeloom.adapters.live.reconcile import reconcile
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.adapters.store.ingest import RetryPolicy
from tradeloom.engine.errors import VenueSettingRefused
from tradeloom.engine.orders import Order, OrderStatus, OrderType, Side

FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02, seed=1)


def make_broker(emu, tmp: Path) -> CcxtBroker:
    client = make_client(settings(emu), credentials=Credentials(API_KEY, SECRET))
    client.load_markets()
    markets = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode,
                                     exchange_id=client.id)
    store = LiveStateStore(tmp / "state.sqlite", run_id="pb1")
    return CcxtBroker(client, {PERP: markets[PERP]}, store, retry=FAST)


def test_a_sell_beyond_zero_shorts_and_a_reduce_only_exit_stops_at_flat(tmp_path: Path):
    with futures_venue() as (emu, _clock):
        broker = make_broker(emu, tmp_path)
        try:
            short = Order(1, PERP, Side.SELL, OrderType.MARKET, 0.004, created_ts=0)  # 120 USDT
            broker.submit(short, 0)
            broker.poll(0, wait=True)
            # twice the position, reduce-only: the venue fills 0.004 and expires the rest
            exit_ = Order(2, PERP, Side.BUY, OrderType.MARKET, 0.008, created_ts=1,
                          reduce_only=True)
            broker.submit(exit_, 1)
            fills = broker.poll(1, wait=True)
            report = reconcile(broker, broker.store, 2)
        finally:
            broker.close()
        venue_orders = sorted(emu.engine.orders.values(), key=lambda o: o.order_id)
        position = emu.account(API_KEY).positions["BTCUSDT"].amount
    assert short.status is OrderStatus.FILLED and short.filled == 0.004
    assert [o.reduce_only for o in venue_orders] == [False, True]  # ccxt sent reduceOnly
    assert [(f.side, f.amount) for f in fills] == [(Side.BUY, 0.004)]
    assert position == 0 and report.ok and report.positions == {}


def test_margin_mode_twice_is_not_a_refusal_and_a_spot_symbol_has_none(tmp_path: Path):
    with futures_venue() as (emu, _clock):
        broker = make_broker(emu, tmp_path)
        try:
            broker.set_margin_mode(PERP, "isolated")
            broker.set_margin_mode(PERP, "isolated")  # -4046 No need to change margin type
            broker.set_leverage(PERP, 7)
            with pytest.raises(VenueSettingRefused, match="whole leverage"):
                broker.set_leverage(PERP, 2.5)
        finally:
            broker.close()
        chosen = emu.account(API_KEY).settings("BTCUSDT")
    assert (chosen.margin_type, chosen.leverage) == ("ISOLATED", 7)
