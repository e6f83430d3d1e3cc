"""The ccxt broker on a perpetual swap (Binance USDⓈ-M emulator, real ccxt client): a sell
beyond zero opens a short (the spot rule "never sell more than the account holds" is for
spot only), a reduce-only exit goes out with ccxt's ``reduceOnly`` and the venue caps it
at the position, and the margin mode already set is not a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from perp_venue import FUNDING_1, HOUR, PERP, futures_venue, settings
from venues.testing import API_KEY, SECRET, D

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


def test_the_futures_wallet_is_reconciled_from_our_fills_and_the_venues_funding(
        tmp_path: Path):
    """Short 0.004, receive the 00:00 funding, cover half: the venue's wallet equals the
    snapshot moved by our fills' PnL and fees and its funding; a deposit nobody booked
    is a mismatch of the futures wallet."""
    with futures_venue() as (emu, clock):
        broker = make_broker(emu, tmp_path)
        try:
            baseline = reconcile(broker, broker.store, clock.now_ms())
            broker.submit(Order(1, PERP, Side.SELL, OrderType.MARKET, 0.004, created_ts=0), 0)
            broker.poll(0, wait=True)
            clock.set(FUNDING_1 + HOUR)  # the 00:00 funding (0.01 %) is paid to the short
            broker.submit(Order(2, PERP, Side.BUY, OrderType.MARKET, 0.002, created_ts=1), 1)
            broker.poll(1, wait=True)
            clean = reconcile(broker, broker.store, clock.now_ms())
            wallet = emu.account(API_KEY).wallet
            emu.account(API_KEY).deposit("USDT", D("1"), time=clock.now_ms())
            after = reconcile(broker, broker.store, clock.now_ms())
            funding = [r["amount"] for r in broker.client.fetch_funding_history(PERP)]
        finally:
            broker.close()
    assert baseline.ok and clean.ok and len(funding) == 1 and funding[0] > 0
    assert not after.ok
    assert after.mismatches == {"USDT futures wallet": (float(wallet), float(wallet) + 1.0)}
