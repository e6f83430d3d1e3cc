"""Binance rejections as the real ccxt client reports them: filter failures (-1013),
unknown orders (-2013/-2011), signatures and timestamps (-1022/-1021/-2015), and the
request-weight limit (429, then a 418 ban, each with Retry-After)."""

from __future__ import annotations

import ccxt
import pytest
from venues.binance_spot import BinanceSpotEmulator
from venues.testing import API_KEY, SECRET, D, free

pytest_plugins = ["venues.fixtures"]

BTC, ETH = "BTC/USDT", "ETH/USDT"


@pytest.fixture(autouse=True)
def _book(binance: BinanceSpotEmulator) -> None:
    binance.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])
    binance.set_book(ETH, bids=[("1999", "10")], asks=[("2000", "10")])


def _nothing_happened(client: ccxt.binance) -> None:
    assert client.fetch_open_orders(BTC) == []
    assert client.fetch_orders(BTC) == []
    balance = client.fetch_balance()
    assert (free(balance, "USDT"), D(balance["USDT"]["used"])) == (D("1000"), D("0"))


class TestFilters:
    def test_a_quantity_off_the_new_lot_step_is_lot_size(self, binance: BinanceSpotEmulator,
                                                         client: ccxt.binance) -> None:
        # the venue coarsens BTCUSDT's LOT_SIZE after the client cached 0.00001
        binance.set_rules(BTC, step_size="0.001", min_qty="0.001")
        with pytest.raises(ccxt.InvalidOrder, match="-1013.*Filter failure: LOT_SIZE"):
            client.create_order(BTC, "limit", "buy", 0.0015, 30000)
        _nothing_happened(client)

    def test_a_price_off_the_new_tick_is_price_filter(self, binance: BinanceSpotEmulator,
                                                      client: ccxt.binance) -> None:
        binance.set_rules(BTC, tick_size="1.00")
        with pytest.raises(ccxt.InvalidOrder, match="-1013.*Filter failure: PRICE_FILTER"):
            client.create_order(BTC, "limit", "buy", 0.001, 29950.5)
        _nothing_happened(client)

    def test_an_order_under_the_minimum_notional_is_notional(self,
                                                             client: ccxt.binance) -> None:
        # 0.0001 BTC * 30000 = 3 USDT < minNotional 5; ccxt maps -1013 to BadRequest
        with pytest.raises(ccxt.BadRequest, match="-1013.*Filter failure: NOTIONAL"):
            client.create_order(BTC, "limit", "buy", 0.0001, 30000)
        with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
            client.create_order(BTC, "market", "buy", 0.0001)  # priced at the last price
        _nothing_happened(client)

    def test_a_symbol_with_the_legacy_filter_answers_min_notional(self,
                                                                  client: ccxt.binance) -> None:
        # ETHUSDT publishes MIN_NOTIONAL: 0.002 ETH * 2000 = 4 USDT < 5
        assert "MIN_NOTIONAL" in [f["filterType"] for f in client.market(ETH)["info"]["filters"]]
        with pytest.raises(ccxt.BadRequest, match="Filter failure: MIN_NOTIONAL"):
            client.create_order(ETH, "limit", "buy", 0.002, 2000)

    def test_a_market_order_over_the_market_maximum_is_market_lot_size(
            self, client: ccxt.binance) -> None:
        # MARKET_LOT_SIZE maxQty 100 BTC (LOT_SIZE allows 9000); filters run before funds
        with pytest.raises(ccxt.ExchangeError, match="Filter failure: MARKET_LOT_SIZE"):
            client.create_order(BTC, "market", "buy", 101)
        _nothing_happened(client)

    def test_a_rejected_order_leaves_no_order_to_find(self, client: ccxt.binance) -> None:
        with pytest.raises(ccxt.BadRequest):
            client.create_order(BTC, "limit", "buy", 0.0001, 30000,
                                params={"clientOrderId": "never-accepted"})
        with pytest.raises(ccxt.OrderNotFound, match="-2013"):
            client.fetch_order(None, BTC, params={"origClientOrderId": "never-accepted"})


class TestUnknownOrders:
    def test_querying_an_unknown_order_is_minus_2013(self, client: ccxt.binance) -> None:
        with pytest.raises(ccxt.OrderNotFound, match='-2013.*"Order does not exist."'):
            client.fetch_order("424242", BTC)

    def test_cancelling_an_unknown_or_filled_order_is_minus_2011(self,
                                                                 client: ccxt.binance) -> None:
        with pytest.raises(ccxt.OrderNotFound, match='-2011.*"Unknown order sent."'):
            client.cancel_order("424242", BTC)
        filled = client.create_order(BTC, "market", "buy", 0.001)
        with pytest.raises(ccxt.OrderNotFound, match="Unknown order sent."):
            client.cancel_order(filled["id"], BTC)

    def test_a_client_order_id_in_use_by_an_open_order_is_a_duplicate(
            self, client: ccxt.binance) -> None:
        client.create_order(BTC, "limit", "buy", 0.001, 29000, params={"clientOrderId": "dup"})
        with pytest.raises(ccxt.InvalidOrder, match="-2010.*Duplicate order sent."):
            client.create_order(BTC, "limit", "buy", 0.001, 29000,
                                params={"clientOrderId": "dup"})


class TestAuthentication:
    def test_a_wrong_secret_is_minus_1022(self, binance: BinanceSpotEmulator) -> None:
        client = ccxt.binance(binance.ccxt_config(API_KEY, "not-the-secret"))
        with pytest.raises(ccxt.AuthenticationError,
                           match="-1022.*Signature for this request is not valid."):
            client.fetch_balance()

    def test_an_unknown_key_is_minus_2015(self, binance: BinanceSpotEmulator) -> None:
        client = ccxt.binance(binance.ccxt_config("nobody", SECRET))
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            client.fetch_balance()
        assert binance.log.records("/api/v3/account")[-1].status == 401

    def test_timestamps_outside_the_window_are_minus_1021(self, binance: BinanceSpotEmulator,
                                                          client: ccxt.binance) -> None:
        binance.clock_offset_ms = 20_000  # the venue runs 20 s ahead; ccxt's window is 10 s
        with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
            client.fetch_balance()
        binance.clock_offset_ms = -2_000  # the client is 2 s ahead of the venue
        with pytest.raises(ccxt.InvalidNonce, match="1000ms ahead of the server's time"):
            client.fetch_balance()


class TestRequestWeight:
    def test_over_the_budget_is_429_then_continuing_is_a_418_ban(
            self, binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
        # a frozen limiter clock 10 s into a minute: windows move only by elapse()
        limiter = binance.set_weight_limit(30, ban_after=1, clock=lambda: 1_699_999_990.0)
        for _ in range(6):  # depth (limit 100) weighs 5: 6 * 5 = 30, the whole budget
            client.fetch_order_book(BTC)
        assert client.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "30"

        with pytest.raises(ccxt.DDoSProtection, match="429.*-1003.*Too much request weight "
                                                      "used; current limit is 30 request"):
            client.fetch_order_book(BTC)
        # Retry-After: seconds to the end of the minute (50 s after 10 s in)
        assert client.last_response_headers["Retry-After"] == "50"

        with pytest.raises(ccxt.DDoSProtection,
                           match="418.*-1003.*IP banned until 1700000110000"):
            client.fetch_order_book(BTC)  # did not back off: banned for 2 minutes
        assert client.last_response_headers["Retry-After"] == "120"
        assert [r.status for r in binance.log.records("/api/v3/depth")][-3:] == [200, 429, 418]

        limiter.elapse(120)  # the ban is over and a new minute has begun
        assert client.fetch_order_book(BTC)["asks"] == [[30000.0, 1.0]]
