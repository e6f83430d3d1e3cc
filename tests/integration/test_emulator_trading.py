"""The Binance emulator's signed trading endpoints and kline streams, driven by real ccxt."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import ccxt
import pytest
from emulator import BinanceEmulator, Fault
from live_helpers import API_KEY, SECRET, at_bar, binance_client, settings_for

from tradeloom.adapters.ccxt.exchange import Credentials, make_client

SYMBOL = "BTC/USDT"


@pytest.fixture
def emu() -> Iterator[BinanceEmulator]:
    with BinanceEmulator([SYMBOL]) as emulator:
        emulator.add_account(API_KEY, SECRET, {"USDT": 10_000.0})
        at_bar(emulator, SYMBOL, 100)
        yield emulator


class TestSignatures:
    def test_good_signature_reads_the_account(self, emu: BinanceEmulator) -> None:
        balance = binance_client(emu).fetch_balance()
        assert balance["USDT"]["free"] == 10_000.0
        record = emu.log.records("/api/v3/account")[-1]
        assert {"timestamp", "signature"} <= set(record.params)

    def test_wrong_secret_is_minus_1022(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu, secret="not-the-secret")
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            client.fetch_balance()

    def test_unknown_key_is_minus_2015(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu, key="nobody")
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            client.fetch_balance()

    def test_stale_timestamp_is_minus_1021(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu)
        emu.trading.time_skew_ms = 60_000  # the exchange's clock runs a minute ahead
        with pytest.raises(ccxt.InvalidNonce, match="-1021"):
            client.fetch_balance()
        emu.trading.time_skew_ms = -5_000  # now the client is ahead by more than 1 s
        with pytest.raises(ccxt.InvalidNonce, match="ahead"):
            client.fetch_balance()


class TestOrderLifecycle:
    def test_market_buy_fills_at_the_bar_open_with_quote_fee(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu)
        open_price = float(emu.bars(SYMBOL)["open"].iloc[100])
        order = client.create_order(SYMBOL, "market", "buy", 0.01,
                                    params={"clientOrderId": "tl-x-1"})
        assert (order["status"], order["filled"], order["clientOrderId"]) == \
            ("closed", 0.01, "tl-x-1")
        assert order["average"] == pytest.approx(open_price)
        (trade,) = client.fetch_my_trades(SYMBOL)
        assert trade["fee"]["currency"] == "USDT"
        assert trade["fee"]["cost"] == pytest.approx(open_price * 0.01 * 0.001)
        balance = client.fetch_balance()
        assert balance["BTC"]["total"] == pytest.approx(0.01)
        assert balance["USDT"]["total"] == pytest.approx(10_000 - open_price * 0.01 * 1.001)

    def test_limit_rests_locks_funds_and_fills_when_a_bar_crosses(
            self, emu: BinanceEmulator) -> None:
        client = binance_client(emu)
        bars = emu.bars(SYMBOL)
        price = round(float(bars["open"].iloc[100]) * 0.99, 2)
        j = next(i for i in range(101, len(bars)) if bars["low"].iloc[i] <= price)
        client.create_order(SYMBOL, "limit", "buy", 0.01, price,
                            params={"clientOrderId": "tl-x-2"})
        by_cid = {"clientOrderId": "tl-x-2"}
        assert client.fetch_order(None, SYMBOL, by_cid)["status"] == "open"
        assert client.fetch_balance()["USDT"]["used"] == pytest.approx(price * 0.01 * 1.001)
        emu.advance_to(int(bars["ts"].iloc[j]))  # bar j opens: not crossed yet
        assert client.fetch_order(None, SYMBOL, by_cid)["status"] == "open"
        emu.step_bar()  # bar j closed: its low reached the price
        order = client.fetch_order(None, SYMBOL, by_cid)
        assert order["status"] == "closed"
        assert order["average"] == min(price, float(bars["open"].iloc[j]))
        (trade,) = client.fetch_my_trades(SYMBOL)
        assert trade["takerOrMaker"] == "maker"
        assert client.fetch_balance()["USDT"]["used"] == 0

    def test_cancel_duplicates_and_lookup(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu)
        low = round(float(emu.bars(SYMBOL)["open"].iloc[100]) * 0.5, 2)
        client.create_order(SYMBOL, "limit", "buy", 0.01, low, params={"clientOrderId": "tl-x-3"})
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
            client.create_order(SYMBOL, "limit", "buy", 0.01, low,
                                params={"clientOrderId": "tl-x-3"})
        assert [o["clientOrderId"] for o in client.fetch_open_orders(SYMBOL)] == ["tl-x-3"]
        client.cancel_order(None, SYMBOL, {"clientOrderId": "tl-x-3"})
        assert client.fetch_open_orders(SYMBOL) == []
        with pytest.raises(ccxt.OrderNotFound):
            client.cancel_order(None, SYMBOL, {"clientOrderId": "tl-x-3"})
        with pytest.raises(ccxt.OrderNotFound):
            client.fetch_order(None, SYMBOL, {"clientOrderId": "tl-nope-1"})
        with pytest.raises(ccxt.OrderNotFound):  # Binance's answer when nothing is open
            client.cancel_all_orders(SYMBOL)
        assert len(client.fetch_orders(SYMBOL)) == 1

    def test_filters_and_funds(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu)
        with pytest.raises(ccxt.BaseError, match="NOTIONAL"):
            client.create_order(SYMBOL, "market", "buy", 0.00002)
        with pytest.raises(ccxt.InsufficientFunds):
            client.create_order(SYMBOL, "market", "buy", 5.0)
        with pytest.raises(ccxt.InsufficientFunds):
            client.create_order(SYMBOL, "market", "sell", 0.01)

    def test_my_trades_from_id_and_duplicate_reports(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu)
        for i in range(3):
            client.create_order(SYMBOL, "market", "buy", 0.01, params={"clientOrderId": f"m{i}"})
        ids = [t["id"] for t in client.fetch_my_trades(SYMBOL)]
        assert len(ids) == 3
        later = client.fetch_my_trades(SYMBOL, params={"fromId": int(ids[1])})
        assert [t["id"] for t in later] == ids[1:]
        emu.trading.duplicate_trade_reports()
        assert [t["id"] for t in client.fetch_my_trades(SYMBOL)] == [i for i in ids for _ in "ab"]


class TestFaults:
    def test_dropped_answer_after_acceptance_leaves_the_order(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu)
        emu.faults.inject(Fault.drop_after(), path="/api/v3/order")
        with pytest.raises(ccxt.NetworkError):
            client.create_order(SYMBOL, "market", "buy", 0.01, params={"clientOrderId": "tl-d-1"})
        assert client.fetch_order(None, SYMBOL, {"clientOrderId": "tl-d-1"})["status"] == "closed"

    def test_timeout_after_acceptance(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu, timeout_ms=300)
        emu.faults.inject(Fault.hang_after(1.0), path="/api/v3/order")
        with pytest.raises(ccxt.RequestTimeout):
            client.create_order(SYMBOL, "market", "buy", 0.01, params={"clientOrderId": "tl-h-1"})
        assert client.fetch_order(None, SYMBOL, {"clientOrderId": "tl-h-1"})["filled"] == 0.01

    def test_rate_limit_and_5xx(self, emu: BinanceEmulator) -> None:
        client = binance_client(emu)
        emu.faults.inject(Fault.rate_limit(retry_after_s=2), path="/api/v3/account")
        with pytest.raises((ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
            client.fetch_balance()
        assert client.last_response_headers["Retry-After"] == "2"
        emu.faults.inject(Fault.http(503), path="/api/v3/account")
        with pytest.raises(ccxt.ExchangeNotAvailable):
            client.fetch_balance()
        assert client.fetch_balance()["USDT"]["free"] == 10_000.0


class TestKlineStream:
    def test_watch_ohlcv_sees_open_then_closed_bars_and_survives_a_disconnect(
            self, emu: BinanceEmulator) -> None:
        bars = emu.bars(SYMBOL)
        emu.now_ms = int(bars["ts"].iloc[200]) + 30 * 60_000  # half-way through bar 200

        async def run() -> list[float]:
            client = make_client(settings_for(emu), credentials=Credentials(API_KEY, SECRET),
                                 async_=True)
            try:
                await client.load_markets()
                first = await client.watch_ohlcv(SYMBOL, "1h")
                assert first[-1][0] == int(bars["ts"].iloc[200])  # the open bar, partial
                assert first[-1][4] != float(bars["close"].iloc[200])
                # ccxt.pro resolves a watch on the next message: wait first, then move the clock
                waiting = asyncio.ensure_future(client.watch_ohlcv(SYMBOL, "1h"))
                await asyncio.sleep(0.05)
                await asyncio.to_thread(emu.step_bar)
                await asyncio.wait_for(waiting, 30)
                cache = client.ohlcvs[SYMBOL]["1h"]
                for _ in range(200):  # the partial bar 201 follows the closed bar 200
                    if cache[-1][0] == int(bars["ts"].iloc[201]):
                        break
                    await asyncio.sleep(0.01)
                assert cache[-1][0] == int(bars["ts"].iloc[201])
                closed = next(c for c in cache if c[0] == int(bars["ts"].iloc[200]))
                waiting = asyncio.ensure_future(client.watch_ohlcv(SYMBOL, "1h"))
                await asyncio.sleep(0.05)
                await asyncio.to_thread(emu.streams.disconnect_all)
                with pytest.raises(ccxt.NetworkError):
                    await asyncio.wait_for(waiting, 30)
                again = await asyncio.wait_for(client.watch_ohlcv(SYMBOL, "1h"), 30)
                assert again[-1][0] == int(bars["ts"].iloc[201])  # reconnected, resubscribed
                return closed
            finally:
                await client.close()

        closed = asyncio.run(run())
        assert closed[1:5] == [float(bars[c].iloc[200]) for c in ("open", "high", "low", "close")]
