"""Binance USDⓈ-M public data through the real ccxt binanceusdm client: markets,
server time, klines and mark-price klines, premiumIndex, funding-rate history,
leverage brackets; and that every ccxt fapi URL lands on the emulator."""

from __future__ import annotations

from urllib.parse import urlsplit

import ccxt
from venues.binance_usdm import BinanceUsdmEmulator
from venues.testing import API_KEY, SECRET

pytest_plugins = ["venues.binance_usdm.fixtures"]

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"

H = 3_600_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC, a funding time


def test_load_markets_is_one_exchange_info_request_and_parses_perpetuals(
        usdm: BinanceUsdmEmulator) -> None:
    client = ccxt.binanceusdm(usdm.ccxt_config(API_KEY, SECRET))
    markets = client.load_markets()
    assert [(r.method, r.path) for r in usdm.log.records()] == [("GET", "/fapi/v1/exchangeInfo")]
    btc, eth = markets[BTC], markets[ETH]
    assert (btc["id"], btc["type"], btc["linear"], btc["settle"], btc["contractSize"]) == \
        ("BTCUSDT", "swap", True, "USDT", 1.0)
    # BTCUSDT: tick 0.10, step 0.001, min notional 100; ETHUSDT: tick 0.01, notional 20
    assert (btc["precision"]["price"], btc["precision"]["amount"]) == (0.1, 0.001)
    assert (btc["limits"]["cost"]["min"], btc["limits"]["market"]["max"]) == (100.0, 120.0)
    assert (eth["precision"]["price"], eth["limits"]["cost"]["min"]) == (0.01, 20.0)


def test_every_fapi_url_of_ccxt_maps_to_the_emulator_with_its_path_kept(
        usdm: BinanceUsdmEmulator) -> None:
    api = usdm.ccxt_config()["urls"]["api"]
    for name in ("fapiPublic", "fapiPublicV2", "fapiPublicV3", "fapiPrivate",
                 "fapiPrivateV2", "fapiPrivateV3"):
        url = urlsplit(api[name])
        assert (url.scheme, url.netloc) == ("http", f"127.0.0.1:{usdm.port}")
        assert url.path == "/fapi/" + {"": "v1", "V2": "v2", "V3": "v3"}[
            name.removeprefix("fapiPublic").removeprefix("fapiPrivate")]
    assert api["ws"]["linear"] == f"ws://127.0.0.1:{usdm.port}/ws"


def test_fetch_time_is_the_venue_clock(usdm: BinanceUsdmEmulator,
                                       fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + 5)
    assert fut.fetch_time() == T0 + 5


def test_ohlcv_last_and_mark_klines_come_from_the_stepped_bars(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.step_bar(BTC, (T0, "30000", "30500", "29800", "30200", "12.5"),
                  mark=("30010", "30490", "29810", "30190"))
    usdm.step_bar(BTC, (T0 + H, "30200", "30300", "30100", "30150", "3"))
    last = fut.fetch_ohlcv(BTC, "1h")
    mark = fut.fetch_ohlcv(BTC, "1h", params={"price": "mark"})
    assert last == [[T0, 30000.0, 30500.0, 29800.0, 30200.0, 12.5],
                    [T0 + H, 30200.0, 30300.0, 30100.0, 30150.0, 3.0]]
    assert mark[0] == [T0, 30010.0, 30490.0, 29810.0, 30190.0, 0.0]
    assert usdm.log.count("/fapi/v1/markPriceKlines") == 1
    # after the second bar the clock is at its close time: open + 1 h - 1 ms
    assert usdm.now_ms() == T0 + 2 * H - 1


def test_premium_index_answers_mark_the_coming_rate_and_next_funding_time(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + H)  # 01:00 -> next funding 08:00
    usdm.set_funding_rates(BTC, [(T0 + 8 * H, "0.00025")])
    usdm.set_mark_price(BTC, "30010")
    rate = fut.fetch_funding_rate(BTC)
    assert (rate["markPrice"], rate["fundingRate"], rate["fundingTimestamp"]) == \
        (30010.0, 0.00025, T0 + 8 * H)


def test_funding_rate_history_lists_settled_rates_with_their_mark(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_funding_rates(BTC, [(T0, "0.0001"), (T0 + 8 * H, "-0.0002"),
                                 (T0 + 16 * H, "0.0003")])
    usdm.set_time(T0 - 1)
    usdm.set_mark_price(BTC, "30000")
    usdm.set_time(T0 + 8 * H)   # crosses 00:00 and 08:00; 16:00 not yet
    history = fut.fetch_funding_rate_history(BTC)
    assert [(h["timestamp"], h["fundingRate"]) for h in history] == \
        [(T0, 0.0001), (T0 + 8 * H, -0.0002)]
    assert history[0]["info"]["markPrice"] == "30000.00000000"


def test_leverage_tiers_are_the_published_btcusdt_brackets(fut: ccxt.binanceusdm) -> None:
    tiers = fut.fetch_leverage_tiers([BTC])[BTC]
    assert [(t["maxNotional"], t["maintenanceMarginRate"], t["maxLeverage"])
            for t in tiers[:3]] == [(50000.0, 0.004, 125.0), (600000.0, 0.005, 100.0),
                                    (3000000.0, 0.0065, 75.0)]
    # cum (maintenance amount) follows cum_n = cum_(n-1) + floor_n * (mmr_n - mmr_(n-1))
    assert [t["info"]["cum"] for t in tiers] == [0.0, 50.0, 950.0, 11450.0, 131450.0,
                                                 481450.0, 2981450.0]


def test_tickers_come_from_the_last_price_the_book_and_the_day_of_bars(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.step_bar(BTC, (T0, "30000", "30500", "29900", "30200", "7"))
    ticker = fut.fetch_ticker(BTC)
    # open 30000 -> last 30200: +200, +0.667 %; one bar of 7 BTC in the last 24 h
    assert (ticker["open"], ticker["high"], ticker["low"], ticker["last"],
            ticker["change"], ticker["percentage"], ticker["baseVolume"]) == \
        (30000.0, 30500.0, 29900.0, 30200.0, 200.0, 0.667, 7.0)
    # set_price(30200): best ask 30200.0, best bid one tick below
    quote = fut.fetch_bids_asks([BTC])[BTC]
    assert (quote["bid"], quote["ask"]) == (30199.9, 30200.0)
