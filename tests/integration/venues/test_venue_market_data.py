"""Market data and less common order shapes on the emulators: replayed real klines,
Binance ``quoteOrderQty`` market buys, OKX's quote-sized default for market buys,
and tradeloom's own client factory pointed at an emulator."""

from __future__ import annotations

import ccxt
from venues.binance_spot import BinanceSpotEmulator
from venues.okx_spot import OkxSpotEmulator
from venues.testing import API_KEY, SECRET, D, free, total

pytest_plugins = ["venues.fixtures"]

BTC = "BTC/USDT"


def test_klines_replay_the_sample_bars_with_the_open_bar_last(
        binance: BinanceSpotEmulator, client: ccxt.binance) -> None:
    bars = binance.bars["BTCUSDT"]
    index = binance.bar_index["BTCUSDT"]  # bar 100 is in progress
    rows = client.fetch_ohlcv(BTC, "1h", limit=3)
    assert [r[0] for r in rows] == [int(t) for t in bars.ts[index - 2:index + 1]]
    assert rows[0][1:5] == [float(x) for x in bars.values[index - 2][:4]]  # closed bar
    assert rows[-1][1:] == [float(bars.values[index][0])] * 4 + [0.0]  # open: no trades yet
    binance.step_bar(BTC)
    assert client.fetch_ohlcv(BTC, "1h", limit=2)[0][1:5] == \
        [float(x) for x in bars.values[index][:4]]  # now closed, whole


def test_a_market_buy_by_quote_amount_buys_whole_lots(binance: BinanceSpotEmulator,
                                                      client: ccxt.binance) -> None:
    binance.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])
    order = client.create_market_buy_order_with_cost(BTC, 100)
    # 100 USDT / 30000 = 0.0033333..., floored to the 0.00001 step: 0.00333 for 99.9 USDT
    assert (order["status"], order["filled"], order["cost"]) == ("closed", 0.00333, 99.9)
    assert order["info"]["origQuoteOrderQty"] == "100.00000000"
    balance = client.fetch_balance()
    # BTC 0.00333 - 0.00000333 fee = 0.00332667; USDT 1000 - 99.9 = 900.1
    assert (free(balance, "BTC"), free(balance, "USDT")) == (D("0.00332667"), D("900.1"))


def test_okx_reads_a_market_buy_without_tgtccy_as_quote_to_spend(
        okx: OkxSpotEmulator, okx_client: ccxt.okx) -> None:
    okx.set_book(BTC, bids=[("29990", "1")], asks=[("30000", "1")])
    answer = okx_client.privatePostTradeOrder({"instId": "BTC-USDT", "tdMode": "cash",
                                               "side": "buy", "ordType": "market", "sz": "100"})
    order = okx_client.fetch_order(answer["data"][0]["ordId"], BTC)
    # sz 100 is USDT: 100 / 30000 floored to lotSz 0.00000001 = 0.00333333 BTC
    # for 99.9999 USDT; fee 0.1 % = 0.00000333333 BTC (unrounded)
    assert (order["info"]["state"], order["info"]["tgtCcy"], order["filled"]) == \
        ("filled", "quote_ccy", 0.00333333)
    balance = okx_client.fetch_balance()
    assert (total(balance, "BTC"), free(balance, "USDT")) == (D("0.00332999667"),
                                                              D("900.0001"))


def test_okx_resting_sell_fills_when_a_real_bar_trades_through_it(
        okx: OkxSpotEmulator, okx_client: ccxt.okx) -> None:
    okx.set_balance(API_KEY, "BTC", "0.01")
    o, h = okx.bars["BTC-USDT"].row(okx.bar_index["BTC-USDT"])[:2]
    price = o + (h - o) / 2  # between the open and the high, on the 0.1 tick
    price = price.quantize(D("0.1"))
    okx.set_price(BTC, o)
    placed = okx_client.create_order(BTC, "limit", "sell", 0.01, float(price))
    visited = okx.step_bar(BTC)
    assert visited[0] < price <= max(visited)
    order = okx_client.fetch_order(placed["id"], BTC)
    assert (order["status"], order["average"], order["info"]["execType"]) == \
        ("closed", float(price), "M")
    # a sell is charged in the quote received: 0.01 * price * 0.001
    assert order["fee"] == {"cost": float(D("0.01") * price * D("0.001")), "currency": "USDT"}


def test_tradeloom_client_factory_reaches_the_emulator_through_its_url_overrides(
        binance: BinanceSpotEmulator) -> None:
    from tradeloom.adapters.ccxt.exchange import Credentials, ExchangeSettings, make_client

    settings = ExchangeSettings(id="binance", api_url=binance.api_url, ws_url=binance.ws_url,
                                options=binance.ccxt_options())
    exchange = make_client(settings, credentials=Credentials(API_KEY, SECRET))
    assert exchange.urls["api"]["private"] == binance.api_url + "/api/v3"
    assert free(exchange.fetch_balance(), "USDT") == D("1000")
    assert binance.log.count("/api/v3/exchangeInfo") == 1  # load_markets: one request
