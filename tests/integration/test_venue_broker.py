"""The ccxt broker against the venue-faithful emulators (Binance spot, OKX spot), real
ccxt client on 127.0.0.1: a partial fill followed by a cancel is booked exactly, fees in
the coin received, and a refused order carries the venue's own reason.

Balances are worked out by hand in the comments: a limit buy of 0.01 BTC at 30000 meets
0.004 BTC offered at 30000 (taker) and rests for the other 0.006 until cancelled.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from venue_live import Venue, venue
from venues.testing import API_KEY, PASSPHRASE, SECRET

from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import Credentials, make_client, market_specs_from_ccxt
from tradeloom.adapters.live.reconcile import reconcile
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.adapters.store.ingest import RetryPolicy
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.errors import InsufficientFunds
from tradeloom.engine.orders import Order, OrderStatus, OrderType, Side

BTC = "BTC/USDT"
FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02, seed=1)


@pytest.fixture(params=["binance", "okx"])
def v(request: pytest.FixtureRequest) -> Iterator[Venue]:
    with venue(request.param) as running:
        yield running


def make_broker(v: Venue, tmp: Path, run_id: str = "vb1") -> CcxtBroker:
    client = make_client(v.settings(), credentials=Credentials(API_KEY, SECRET, PASSPHRASE))
    client.load_markets()
    markets = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode,
                                     exchange_id=client.id)
    tmp.mkdir(parents=True, exist_ok=True)
    store = LiveStateStore(tmp / "state.sqlite", run_id=run_id)
    return CcxtBroker(client, {BTC: markets[BTC]}, store, retry=FAST)


def wallet(v: Venue, asset: str) -> tuple[Decimal, Decimal]:
    account = v.emu.account(API_KEY) if v.name == "binance" else v.emu.engine.accounts[API_KEY]
    return account.wallet.free(asset), account.wallet.locked(asset)


def test_a_partial_fill_then_a_cancel_is_booked_exactly(v: Venue, tmp_path: Path) -> None:
    v.emu.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "0.004"), ("30100", "1")])
    broker = make_broker(v, tmp_path)
    try:
        order = Order(1, BTC, Side.BUY, OrderType.LIMIT, 0.01, created_ts=0, price=30000.0)
        broker.submit(order, 0)
        fills = broker.poll(0, wait=True)
        assert order.status is OrderStatus.PARTIALLY_FILLED
        broker.cancel(order.id, 1)
        fills += broker.poll(1, wait=True)
        report = reconcile(broker, broker.store, 2)
    finally:
        broker.close()
    assert order.status is OrderStatus.CANCELED and order.filled == 0.004
    # One trade: 0.004 BTC at 30000, the fee in BTC: Binance 0.1 % x 0.004 = 0.000004,
    # OKX (taker 0.15 %) 0.000006.
    rate = {"binance": 0.001, "okx": 0.0015}[v.name]
    [fill] = fills
    assert (fill.price, fill.amount, fill.fee_currency) == (30000.0, 0.004, "BTC")
    assert fill.fee_cost == pytest.approx(0.004 * rate, abs=1e-15)
    assert fill.fee == pytest.approx(0.004 * rate * 30000.0)  # its value in USDT
    # The account: USDT 1000 - 0.004 x 30000 = 880, nothing locked after the cancel;
    # BTC 0.004 - 0.000004 = 0.003996 (OKX: 0.003994).
    net = {"binance": Decimal("0.003996"), "okx": Decimal("0.003994")}[v.name]
    assert wallet(v, "USDT") == (Decimal("880"), 0)
    assert wallet(v, "BTC") == (net, 0)
    pf = Portfolio(1000.0, "USDT")
    pf.apply_fill(fill)
    assert pf.cash == 880.0 and pf.position(BTC) == pytest.approx(float(net), abs=1e-15)
    assert report.ok and report.mismatches == {}


@pytest.mark.parametrize(("change", "amount", "reasons"), [
    # the venue tightened its lot step after the broker loaded the markets
    ({"binance": ("set_rules", {"step_size": "0.001", "min_qty": "0.001"}),
      "okx": ("set_instrument", {"lot_sz": "0.001"})}, 0.0123,
     {"binance": "-1013", "okx": "51121"}),
    # ... or its minimum (Binance: NOTIONAL 50 USDT; OKX: minimum size 0.1 BTC)
    ({"binance": ("set_rules", {"min_notional": "50"}),
      "okx": ("set_instrument", {"min_sz": "0.1"})}, 0.001,
     {"binance": "-1013", "okx": "51020"}),
])
def test_a_refused_order_carries_the_venue_reason(v: Venue, tmp_path: Path, change: dict,
                                                  amount: float, reasons: dict) -> None:
    broker = make_broker(v, tmp_path)
    method, rules = change[v.name]
    getattr(v.emu, method)(BTC, **rules)
    messages = {"-1013": ("Filter failure: LOT_SIZE" if "step_size" in rules
                          else "Filter failure: NOTIONAL"),
                "51121": "Order quantity must be a multiple of the lot size.",
                "51020": "Your order should meet or exceed the minimum order amount."}
    try:
        order = Order(1, BTC, Side.BUY, OrderType.MARKET, amount, created_ts=0)
        broker.submit(order, 0)
        broker.poll(0, wait=True)
    finally:
        broker.close()
    assert order.status is OrderStatus.REJECTED
    assert order.reason.startswith("rejected by the exchange: ")
    assert messages[reasons[v.name]] in order.reason
    assert broker.fatal is None  # one refused order: trading goes on


def test_insufficient_balance_is_reported_with_the_venue_reason_and_stops(
        v: Venue, tmp_path: Path) -> None:
    broker = make_broker(v, tmp_path)
    text = {"binance": "Account has insufficient balance for requested action.",
            "okx": "Order failed. Insufficient USDT balance in account"}[v.name]
    try:
        order = Order(1, BTC, Side.BUY, OrderType.MARKET, 1.0, created_ts=0)  # ~19,300 USDT
        broker.submit(order, 0)
        with pytest.raises(InsufficientFunds, match="trading stopped"):
            broker.poll(0, wait=True)
    finally:
        broker.close()
    assert order.status is OrderStatus.REJECTED and text in order.reason
    assert isinstance(broker.fatal, InsufficientFunds)


def test_a_sell_of_more_than_the_account_holds_sells_what_it_holds(
        v: Venue, tmp_path: Path) -> None:
    """0.01 BTC bought leaves 0.00999 (OKX 0.009985): a sell of the 0.01 bought is cut to
    what is free, so the exit never meets "insufficient balance"."""
    broker = make_broker(v, tmp_path)
    try:
        buy = Order(1, BTC, Side.BUY, OrderType.MARKET, 0.01, created_ts=0)
        broker.submit(buy, 0)
        broker.poll(0, wait=True)
        sell = Order(2, BTC, Side.SELL, OrderType.MARKET, 0.01, created_ts=1)
        broker.submit(sell, 1)
        fills = broker.poll(1, wait=True)
    finally:
        broker.close()
    held = {"binance": 0.00999, "okx": 0.009985}[v.name]
    assert [f.amount for f in fills] == [held]
    assert sell.status is OrderStatus.FILLED and broker.fatal is None
    assert wallet(v, "BTC") == (0, 0)


def test_the_kill_switch_for_the_whole_account_cancels_every_open_order(
        v: Venue, tmp_path: Path) -> None:
    """``kill --all``: our resting buy and one another session placed both go. OKX has no
    cancel-all endpoint for spot (ccxt ``has['cancelAllOrders']`` is False), so each open
    order is cancelled by id; Binance takes ``DELETE /api/v3/openOrders``."""
    v.emu.set_book(BTC, bids=[("29990", "1")], asks=[("30100", "1")])
    ours, theirs = make_broker(v, tmp_path), make_broker(v, tmp_path / "other", "vb2")
    try:
        mine = Order(1, BTC, Side.BUY, OrderType.LIMIT, 0.001, created_ts=0, price=29000.0)
        other = Order(1, BTC, Side.BUY, OrderType.LIMIT, 0.002, created_ts=0, price=28000.0)
        ours.submit(mine, 0)
        theirs.submit(other, 0)
        ours.poll(0, wait=True)
        theirs.poll(0, wait=True)
        assert mine.status is OrderStatus.OPEN and other.status is OrderStatus.OPEN
        report = ours.cancel_all(1, all_orders=True, timeout_s=10.0)
        assert report.errors == ()
        assert sorted(report.cancelled) == sorted([mine.client_id, other.client_id])
        assert report.still_open == 0
        # nothing is locked on the venue any more: 0.001 x 29000 + 0.002 x 28000 freed
        assert wallet(v, "USDT")[1] == 0
    finally:
        ours.close()
        theirs.close()
