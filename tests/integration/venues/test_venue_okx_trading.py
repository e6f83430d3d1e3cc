"""OKX spot through the real ccxt client: the same scenarios as Binance's on OKX's
rules (fee in the currency received, reported negative with ``feeCcy``; orders placed
through the batch endpoint; OKX error codes; order states live/partially_filled/
filled/canceled).

Rates are set to 0.1 % maker and taker (OKX's regular tier charges 0.08 %/0.10 %) so
the arithmetic matches the Binance file; OKX keeps fees unrounded.
"""

from __future__ import annotations

import ccxt
import pytest
from venues.okx_spot import OkxSpotEmulator
from venues.testing import API_KEY, SECRET, D, free, sellable, total

pytest_plugins = ["venues.fixtures"]

BTC = "BTC/USDT"


def _round_trip(okx: OkxSpotEmulator, client: ccxt.okx, ask: str, bid: str,
                buy: str) -> tuple[D, D]:
    okx.set_book(BTC, bids=[(bid, "1")], asks=[(ask, "1")])
    client.create_order(BTC, "market", "buy", float(buy))
    amount, dust = sellable(client, BTC)
    client.create_order(BTC, "market", "sell", float(amount))
    return amount, dust


def test_three_buy_then_sell_all_round_trips_leave_only_sub_lot_dust(
        okx: OkxSpotEmulator, okx_client: ccxt.okx) -> None:
    # RT1 buy 0.01 @ 30000: USDT 1000 - 300 = 700; BTC 0.01 - 0.00001 fee = 0.00999
    #     sell 0.00999 @ 29990: 299.6001 - fee 0.2996001 -> USDT 999.3004999, BTC 0
    assert _round_trip(okx, okx_client, "30000", "29990", "0.01") == (D("0.00999"), D("0"))
    balance = okx_client.fetch_balance()
    assert (total(balance, "BTC"), total(balance, "USDT")) == (D("0"), D("999.3004999"))

    # RT2 buy 0.012345 @ 31000: USDT 999.3004999 - 382.695 = 616.6054999
    #     fee 0.1 % = 0.000012345 BTC (unrounded) -> BTC 0.012332655
    #     sell floor(0.012332655, lotSz 0.00000001) = 0.01233265 @ 30990:
    #     382.1888235 - fee 0.3821888235 = 381.8066346765 -> USDT 998.4121345765
    #     left: 0.000000005 BTC, under one lot
    assert _round_trip(okx, okx_client, "31000", "30990", "0.012345") == \
        (D("0.01233265"), D("0.000000005"))
    balance = okx_client.fetch_balance()
    assert (total(balance, "BTC"), total(balance, "USDT")) == (D("0.000000005"),
                                                               D("998.4121345765"))

    # RT3 buy 0.02 @ 29000: USDT 418.4121345765; BTC 0.000000005 + 0.01998 = 0.019980005
    #     sell 0.01998 @ 28990: 579.2202 - 0.5792202 = 578.6409798 -> USDT 997.0531143765
    assert _round_trip(okx, okx_client, "29000", "28990", "0.02") == \
        (D("0.01998"), D("0.000000005"))
    balance = okx_client.fetch_balance()
    assert (total(balance, "BTC"), total(balance, "USDT")) == (D("0.000000005"),
                                                               D("997.0531143765"))
    market = okx_client.market(BTC)
    lot, minimum = D(market["precision"]["amount"]), D(market["limits"]["amount"]["min"])
    assert D("0.000000005") < lot < minimum  # under one lot: no order can sell it
    # REST fills report the fee positive in ccxt and in the coin received
    fees = [(t["side"], t["fee"]["currency"]) for t in okx_client.fetch_my_trades(BTC)]
    assert sorted(set(fees)) == [("buy", "BTC"), ("sell", "USDT")]
    assert all(r.path == "/api/v5/trade/batch-orders"
               for r in okx.log.records(method="POST") if "order" in r.path)


def test_selling_the_bought_amount_ignoring_the_fee_is_51008(
        okx: OkxSpotEmulator, okx_client: ccxt.okx) -> None:
    okx.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])
    okx_client.create_order(BTC, "market", "buy", 0.01)  # 0.01 - 0.00001 fee = 0.00999 BTC
    with pytest.raises(ccxt.InsufficientFunds, match='"sCode": "51008", "sMsg": '
                       '"Order failed. Insufficient BTC balance in account"'):
        okx_client.create_order(BTC, "market", "sell", 0.01)
    assert free(okx_client.fetch_balance(), "BTC") == D("0.00999")


def test_market_buy_walks_three_levels_into_three_fills(
        okx: OkxSpotEmulator, okx_client: ccxt.okx) -> None:
    okx.set_book(BTC, bids=[("29990", "1")],
                 asks=[("30000", "0.002"), ("30001", "0.003"), ("30005", "0.01")])
    placed = okx_client.create_order(BTC, "market", "buy", 0.008)
    order = okx_client.fetch_order(placed["id"], BTC)
    # 0.002 @ 30000 + 0.003 @ 30001 + 0.003 @ 30005 = 240.018; avgPx 30002.25
    # fee: -(0.008 * 0.001) = -0.000008 BTC, ccxt reports the cost positive
    assert (order["status"], order["filled"], order["average"], order["cost"]) == \
        ("closed", 0.008, 30002.25, 240.018)
    assert order["fee"] == {"cost": 0.000008, "currency": "BTC"}
    assert order["info"]["fee"] == "-0.000008"
    fills = okx_client.fetch_my_trades(BTC)
    assert sorted((t["price"], t["amount"], t["fee"]["cost"]) for t in fills) == [
        (30000.0, 0.002, 0.000002), (30001.0, 0.003, 0.000003), (30005.0, 0.003, 0.000003)]
    balance = okx_client.fetch_balance()
    assert (free(balance, "BTC"), free(balance, "USDT")) == (D("0.007992"), D("759.982"))


def test_partial_fill_then_cancel_books_the_filled_part(
        okx: OkxSpotEmulator, okx_client: ccxt.okx) -> None:
    okx.set_book(BTC, bids=[("29940", "1")], asks=[("30000", "1")])
    placed = okx_client.create_order(BTC, "limit", "buy", 0.01, 29950,
                                     params={"clientOrderId": "okxpf1"})
    assert okx_client.fetch_order(placed["id"], BTC)["info"]["state"] == "live"
    balance = okx_client.fetch_balance()
    # 0.01 * 29950 = 299.5 USDT frozen
    assert (free(balance, "USDT"), D(balance["USDT"]["used"])) == (D("700.5"), D("299.5"))

    okx.set_book(BTC, bids=[("29900", "1")], asks=[("29945", "0.004"), ("29960", "1")])
    partial = okx_client.fetch_order(placed["id"], BTC)
    assert (partial["info"]["state"], partial["filled"]) == ("partially_filled", 0.004)

    okx_client.cancel_order(placed["id"], BTC)
    done = okx_client.fetch_order(placed["id"], BTC)
    assert (done["status"], done["filled"], done["remaining"], done["average"]) == \
        ("canceled", 0.004, 0.006, 29950.0)
    assert (done["info"]["cancelSource"], done["fee"]) == \
        ("1", {"cost": 0.000004, "currency": "BTC"})  # maker fee 0.1 % of 0.004
    balance = okx_client.fetch_balance()
    # USDT 1000 - 0.004 * 29950 = 880.2, nothing frozen; BTC 0.004 - 0.000004
    assert (free(balance, "USDT"), D(balance["USDT"]["used"]), total(balance, "BTC")) == \
        (D("880.2"), D("0"), D("0.003996"))


def test_a_market_order_larger_than_the_book_is_partly_filled_then_canceled(
        okx: OkxSpotEmulator, okx_client: ccxt.okx) -> None:
    okx.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "0.002"), ("30001", "0.003")])
    placed = okx_client.create_order(BTC, "market", "buy", 0.01)
    order = okx_client.fetch_order(placed["id"], BTC)
    assert (order["status"], order["filled"], order["info"]["cancelSource"]) == \
        ("canceled", 0.005, "0")


class TestRejections:
    @pytest.fixture(autouse=True)
    def _book(self, okx: OkxSpotEmulator) -> None:
        okx.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])

    def test_a_size_off_the_new_lot_is_51121(self, okx: OkxSpotEmulator,
                                             okx_client: ccxt.okx) -> None:
        okx.set_instrument(BTC, lot_sz="0.0001")  # the client still has 0.00000001
        with pytest.raises(ccxt.InvalidOrder, match='"sCode": "51121", "sMsg": "Order '
                           'quantity must be a multiple of the lot size."'):
            okx_client.create_order(BTC, "limit", "buy", 0.00015, 29000)

    def test_a_size_under_the_minimum_is_51020(self, okx_client: ccxt.okx) -> None:
        with pytest.raises(ccxt.InvalidOrder, match='"51020".*"Your order should meet or '
                           'exceed the minimum order amount."'):
            okx_client.create_order(BTC, "limit", "buy", 0.000005, 29000)

    def test_a_price_off_the_new_tick_is_a_px_error(self, okx: OkxSpotEmulator,
                                                    okx_client: ccxt.okx) -> None:
        okx.set_instrument(BTC, tick_sz="1")
        with pytest.raises(ccxt.BadRequest, match='"51000", "sMsg": "Parameter px error "'):
            okx_client.create_order(BTC, "limit", "buy", 0.001, 29000.5)

    def test_unknown_orders_are_51603_and_51400(self, okx_client: ccxt.okx) -> None:
        with pytest.raises(ccxt.OrderNotFound, match="51603"):
            okx_client.fetch_order("123", BTC)
        with pytest.raises(ccxt.OrderNotFound, match="51400"):
            okx_client.cancel_order("123", BTC)
        assert okx_client.fetch_open_orders(BTC) == []
        assert free(okx_client.fetch_balance(), "USDT") == D("1000")

    def test_a_wrong_passphrase_is_50105(self, okx: OkxSpotEmulator) -> None:
        client = ccxt.okx(okx.ccxt_config(API_KEY, SECRET, "wrong"))
        with pytest.raises(ccxt.AuthenticationError, match="50105"):
            client.fetch_balance()

    def test_too_many_requests_is_429_50011(self, okx: OkxSpotEmulator,
                                            okx_client: ccxt.okx) -> None:
        # Get balance allows 10 requests per 2 seconds; a frozen clock keeps one window
        limiter = okx.set_rate_limits({}, clock=lambda: 1_700_000_000.0)
        for _ in range(10):
            okx_client.fetch_balance()
        with pytest.raises(ccxt.RateLimitExceeded, match="50011"):
            okx_client.fetch_balance()
        assert okx.log.records("/api/v5/account/balance")[-1].status == 429
        limiter.elapse(2)
        assert free(okx_client.fetch_balance(), "USDT") == D("1000")
