"""CcxtBroker against the Binance emulator with the real ccxt client (127.0.0.1 only)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator import BinanceEmulator, Fault
from live_helpers import API_KEY, SECRET, at_bar, binance_client, make_broker

from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import market_specs_from_ccxt
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.engine.errors import ExchangeAuthenticationError, InsufficientFunds
from tradeloom.engine.orders import Bar, Order, OrderStatus, OrderType, Side

SYMBOL = "BTC/USDT"
ORDER_PATH = "/api/v3/order"


@pytest.fixture
def emu() -> Iterator[BinanceEmulator]:
    with BinanceEmulator([SYMBOL]) as emulator:
        emulator.add_account(API_KEY, SECRET, {"USDT": 10_000.0})
        at_bar(emulator, SYMBOL, 100)
        yield emulator


@pytest.fixture
def broker(emu: BinanceEmulator, tmp_path: Path) -> Iterator[CcxtBroker]:
    b, store = make_broker(emu, tmp_path / "live.sqlite", timeout_ms=400)
    yield b
    b.close()
    store.close()


def market(oid: int, amount: float = 0.01, side: Side = Side.BUY) -> Order:
    return Order(oid, SYMBOL, side, OrderType.MARKET, amount, created_ts=0)


def limit(oid: int, price: float, amount: float = 0.01, side: Side = Side.BUY) -> Order:
    return Order(oid, SYMBOL, side, OrderType.LIMIT, amount, created_ts=0, price=price)


def posts(emu: BinanceEmulator) -> list[str]:
    """Client ids of every order POST the exchange received (retries included)."""
    return [r.params.get("newClientOrderId", "") for r in emu.log.records(ORDER_PATH)
            if r.method == "POST"]


def exchange_orders(emu: BinanceEmulator) -> list[str]:
    return [o.client_id for o in emu.trading.orders.values()]


class TestSubmit:
    def test_market_order_is_named_sent_and_filled_with_the_exchange_fee(
            self, emu: BinanceEmulator, broker: CcxtBroker) -> None:
        order = market(1)
        broker.submit(order, 0)
        assert order.client_id == "tl-t1-1" and order.status is OrderStatus.NEW
        (fill,) = broker.poll(0, wait=True)
        open_price = float(emu.bars(SYMBOL)["open"].iloc[100])
        assert (fill.order_id, fill.price, fill.amount) == (1, open_price, 0.01)
        assert fill.fee == pytest.approx(open_price * 0.01 * 0.001)
        assert order.status is OrderStatus.FILLED and order.filled == 0.01
        assert [o.status for o in broker.drain_updates()] == [OrderStatus.FILLED]
        second = market(2)
        broker.submit(second, 0)
        assert second.client_id == "tl-t1-2"

    def test_min_notional_and_lot_refused_before_sending(
            self, emu: BinanceEmulator, broker: CcxtBroker) -> None:
        broker.poll(0, wait=True)  # the broker learns the last price from bars normally
        bars = emu.bars(SYMBOL)
        broker.on_bar(Bar(SYMBOL, int(bars["ts"].iloc[99]), int(bars["ts"].iloc[100]),
                          *bars[["open", "high", "low", "close", "volume"]].iloc[99]))
        tiny = market(1, amount=0.0002)  # ~4 USDT < 5 USDT minimum notional
        broker.submit(tiny, 0)
        assert tiny.status is OrderStatus.REJECTED and "under the minimum 5.0" in tiny.reason
        dust = market(2, amount=0.000004)
        broker.submit(dust, 0)
        assert dust.status is OrderStatus.REJECTED and "lot step" in dust.reason
        broker.flush()
        assert posts(emu) == []

    def test_partial_fills_then_filled(self, emu: BinanceEmulator, broker: CcxtBroker) -> None:
        bars = emu.bars(SYMBOL)
        lows, open_now = bars["low"].to_numpy(), float(bars["open"].iloc[100])
        j = next(i for i in range(101, len(bars)) if math.ceil(max(lows[i:i + 3]) * 100) / 100
                 < open_now)  # three bars in a row reach the price, which is under the market
        price = math.ceil(max(lows[j:j + 3]) * 100) / 100
        emu.trading.partial_fill_qty = 0.004
        order = limit(1, price)
        broker.submit(order, 0)
        broker.poll(0, wait=True)
        assert order.status is OrderStatus.OPEN
        emu.advance_to(int(bars["ts"].iloc[j + 1]))
        fills = broker.poll(0, wait=True)
        assert [f.amount for f in fills] == [0.004] and order.status is OrderStatus.PARTIALLY_FILLED
        emu.step_bar(2)
        fills += broker.poll(0, wait=True)
        assert sum(f.amount for f in fills) == pytest.approx(0.01)
        assert order.status is OrderStatus.FILLED and order.filled == pytest.approx(0.01)


class TestFaults:
    @pytest.mark.parametrize("fault", [Fault.hang_after(1.0), Fault.drop_after()],
                             ids=["timeout", "dropped"])
    def test_lost_answer_after_acceptance_never_doubles_the_order(
            self, emu: BinanceEmulator, broker: CcxtBroker, fault: Fault) -> None:
        emu.faults.inject(fault, path=ORDER_PATH)
        order = market(1)
        broker.submit(order, 0)
        fills = broker.poll(0, wait=True)
        assert exchange_orders(emu) == ["tl-t1-1"]  # looked up by client id, not re-sent
        assert posts(emu) == ["tl-t1-1"]
        assert [f.amount for f in fills] == [0.01] and order.status is OrderStatus.FILLED

    def test_send_that_never_arrived_is_resent_with_the_same_id(
            self, emu: BinanceEmulator, broker: CcxtBroker) -> None:
        emu.faults.inject(Fault.drop(), path=ORDER_PATH)  # dropped before the exchange acts
        broker.submit(market(1), 0)
        broker.poll(0, wait=True)
        assert posts(emu) == ["tl-t1-1", "tl-t1-1"]
        assert exchange_orders(emu) == ["tl-t1-1"]

    def test_429_and_5xx_are_retried_with_backoff_honouring_retry_after(
            self, emu: BinanceEmulator, tmp_path: Path) -> None:
        sleeps: list[float] = []
        client = binance_client(emu)
        store = LiveStateStore(tmp_path / "s.sqlite", run_id="t1")
        broker = CcxtBroker(client, market_specs_from_ccxt(client.markets), store,
                            sleep=sleeps.append)
        try:
            emu.faults.inject(Fault.rate_limit(retry_after_s=3), path=ORDER_PATH)
            emu.faults.inject(Fault.http(503), path=ORDER_PATH)
            order = market(1)
            broker.submit(order, 0)
            assert len(broker.poll(0, wait=True)) == 1
            assert exchange_orders(emu) == ["tl-t1-1"]
            assert len(sleeps) == 2 and sleeps[0] >= 3.0  # Retry-After honoured
        finally:
            broker.close()
            store.close()

    def test_duplicate_fill_reports_are_deduplicated(
            self, emu: BinanceEmulator, broker: CcxtBroker) -> None:
        emu.trading.duplicate_trade_reports(times=5)
        broker.submit(market(1), 0)
        broker.submit(market(2), 0)
        fills = broker.poll(0, wait=True) + broker.poll(0, wait=True)
        assert sorted(f.order_id for f in fills) == [1, 2]
        assert len(broker.store.fills()) == 2


class TestStoppingErrors:
    def test_insufficient_funds_rejects_and_stops(self, broker: CcxtBroker) -> None:
        order = market(1, amount=5.0)
        broker.submit(order, 0)
        with pytest.raises(InsufficientFunds, match="insufficient balance"):
            broker.poll(0, wait=True)
        assert order.status is OrderStatus.REJECTED
        with pytest.raises(InsufficientFunds, match="trading stopped"):
            broker.submit(market(2), 0)

    def test_authentication_error_stops_and_no_secret_leaks(
            self, emu: BinanceEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        client = binance_client(emu)
        client.secret = SECRET[::-1]  # a wrong secret: -1022 on every signed request
        store = LiveStateStore(tmp_path / "s.sqlite", run_id="t1")
        broker = CcxtBroker(client, market_specs_from_ccxt(client.markets), store)
        messages = []
        try:
            order = market(1)
            broker.submit(order, 0)
            with pytest.raises(ExchangeAuthenticationError) as info:
                broker.poll(0, wait=True)
            err: BaseException | None = info.value
            while err is not None:
                messages.append(str(err))
                err = err.__cause__
            assert "check the API key and secret" in messages[0]
            assert order.status is OrderStatus.REJECTED and "-1022" in order.reason
            with pytest.raises(ExchangeAuthenticationError):
                broker.submit(market(2), 0)
        finally:
            broker.close()
            store.close()
        text = caplog.text + "\n".join(messages) + order.reason
        text += (tmp_path / "s.sqlite").read_bytes().decode("latin-1")
        assert API_KEY not in text and SECRET not in text and SECRET[::-1] not in text


class TestCancel:
    def test_cancel_and_kill_switch(self, emu: BinanceEmulator, broker: CcxtBroker) -> None:
        low = round(float(emu.bars(SYMBOL)["open"].iloc[100]) * 0.5, 2)
        orders = [limit(i, low) for i in range(1, 5)]
        for o in orders:
            broker.submit(o, 0)
        broker.poll(0, wait=True)
        assert broker.cancel(1, 0) is True
        broker.poll(0, wait=True)
        assert orders[0].status is OrderStatus.CANCELED
        assert broker.cancel(1, 0) is False
        report = broker.cancel_all(0)
        assert report.ok and report.elapsed_s < 10
        assert sorted(report.cancelled) == ["tl-t1-2", "tl-t1-3", "tl-t1-4"]
        assert emu.trading.open_orders() == []
        assert all(o.status is OrderStatus.CANCELED for o in orders)


class TestLocalBrackets:
    def test_bracket_legs_wait_for_the_entry_and_the_stop_cancels_the_take_profit(
            self, emu: BinanceEmulator, broker: CcxtBroker) -> None:
        open_price = float(emu.bars(SYMBOL)["open"].iloc[100])
        entry = market(1)
        sl = Order(2, SYMBOL, Side.SELL, OrderType.STOP, 0.01, created_ts=0,
                   stop_price=round(open_price * 0.98, 2), reduce_only=True, parent_id=1)
        tp = Order(3, SYMBOL, Side.SELL, OrderType.LIMIT, 0.01, created_ts=0,
                   price=round(open_price * 1.5, 2), reduce_only=True, parent_id=1)
        broker.submit_bracket(entry, sl, [tp], 0)
        assert (sl.status, tp.status) == (OrderStatus.OPEN, OrderStatus.OPEN)
        broker.poll(0, wait=True)  # entry fills -> take-profit sent, stop-loss armed locally
        broker.poll(0, wait=True)
        assert [o.client_id for o in emu.trading.open_orders()] == [tp.client_id]
        crash = Bar(SYMBOL, 0, 1, open_price, open_price, open_price * 0.97, open_price * 0.97, 1.0)
        broker.on_bar(crash)  # the stop price traded: cancel the TP, then sell at market
        fills = broker.poll(0, wait=True) + broker.poll(0, wait=True)
        assert [(f.order_id, f.side) for f in fills] == [(2, Side.SELL)]
        assert (sl.status, tp.status) == (OrderStatus.FILLED, OrderStatus.CANCELED)
        assert emu.trading.open_orders() == []
        assert emu.trading.accounts[API_KEY].free("BTC") == pytest.approx(0.0)
