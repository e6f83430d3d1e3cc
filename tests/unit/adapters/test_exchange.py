"""adapters/ccxt/exchange.py: settings, client factory, market parsing, error mapping, retries.

Network tests use the real ccxt client against the loopback Binance emulator.
"""

from __future__ import annotations

import asyncio
import random

import ccxt
import pytest
from emulator import BinanceEmulator, Fault
from pydantic import ValidationError

from tradeloom.adapters.ccxt.exchange import (
    Credentials,
    ExchangeSettings,
    RateLimitedError,
    backoff_delay,
    call_ccxt,
    make_client,
    map_ccxt_error,
    market_specs_from_ccxt,
    retry_transient,
)
from tradeloom.engine.errors import (
    ConfigError,
    ExchangeAuthenticationError,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    TransientExchangeError,
    UnknownSymbol,
)
from tradeloom.engine.market import MarketSpec


def emulator_settings(emu: BinanceEmulator, **kw) -> ExchangeSettings:
    return ExchangeSettings(id="binance", api_url=emu.base_url, rate_limit_ms=1,
                            timeout_ms=2_000, **kw)


class TestSettings:
    def test_unknown_exchange_suggests_the_closest_id(self):
        with pytest.raises(ValidationError, match="did you mean 'binance'"):
            ExchangeSettings(id="binanse")

    def test_frozen_and_strict(self):
        settings = ExchangeSettings(id="binance")
        with pytest.raises(ValidationError):
            settings.id = "kraken"  # type: ignore[misc]
        with pytest.raises(ValidationError, match="extra"):
            ExchangeSettings(id="binance", api_key="x")  # type: ignore[call-arg]

    @pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://127.0.0.1", "http://",
                                     "http://127.0.0.1/?a=1"])
    def test_api_url_must_be_an_http_base(self, url):
        with pytest.raises(ValidationError, match="api_url"):
            ExchangeSettings(id="binance", api_url=url)

    def test_binance_defaults_keep_load_markets_to_one_request_and_merge_overrides(self):
        options = ExchangeSettings(
            id="binance", options={"fetchMarkets": {"loadAllOptions": False},
                                   "adjustForTimeDifference": True}).ccxt_options()
        assert options["fetchMarkets"] == {"types": ["spot"], "loadAllOptions": False}
        assert options["fetchCurrencies"] is False and options["fetchMargins"] is False
        assert options["adjustForTimeDifference"] is True
        assert options["defaultType"] == "spot"

    def test_credentials_never_show_in_repr(self):
        creds = Credentials(api_key="KEY123", secret="SECRET456")
        assert "KEY123" not in repr(creds) and "SECRET456" not in repr(creds)


class TestMakeClient:
    def test_every_rest_url_points_at_the_override_keeping_the_path(self):
        client = make_client(ExchangeSettings(id="binance", api_url="http://127.0.0.1:9/pre"))
        assert client.urls["api"]["public"] == "http://127.0.0.1:9/pre/api/v3"
        assert client.urls["api"]["fapiPublic"] == "http://127.0.0.1:9/pre/fapi/v1"
        assert client.urls["test"]["public"] == "http://127.0.0.1:9/pre/api/v3"
        assert client.urls["demo"]["public"] == "http://127.0.0.1:9/pre/api/v3"
        assert client.urls["www"] == "https://www.binance.com"  # not an API URL

    def test_sandbox_uses_the_rewritten_test_urls(self):
        client = make_client(ExchangeSettings(id="binance", api_url="http://127.0.0.1:9",
                                              sandbox=True))
        assert client.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"

    def test_async_pro_client_rewrites_websocket_urls(self):
        settings = ExchangeSettings(id="binance", api_url="http://127.0.0.1:9",
                                    ws_url="ws://127.0.0.1:9")

        async def build():
            client = make_client(settings, async_=True)
            try:
                return client.urls["api"]["ws"]["spot"], client.urls["api"]["public"]
            finally:
                await client.close()

        ws, rest = asyncio.run(build())
        assert ws == "ws://127.0.0.1:9/ws"
        assert rest == "http://127.0.0.1:9/api/v3"

    def test_load_markets_is_one_request(self, emulator):
        client = make_client(emulator_settings(emulator))
        client.load_markets()
        assert [r.path for r in emulator.log] == ["/api/v3/exchangeInfo"]


class TestMarketSpecs:
    def test_specs_equal_the_exchange_info_filters(self, emulator):
        client = make_client(emulator_settings(emulator))
        specs = market_specs_from_ccxt(client.load_markets(),
                                       precision_mode=client.precisionMode)
        assert specs == {
            # BTCUSDT: PRICE_FILTER tickSize 0.01, LOT_SIZE stepSize/minQty 0.00001,
            # NOTIONAL minNotional 5; ccxt's default binance spot fees 0.1 %, charged in
            # the asset received (ccxt's binance market feeSide "get")
            "BTC/USDT": MarketSpec("BTC/USDT", tick_size=0.01, lot_step=0.00001,
                                   min_amount=0.00001, min_notional=5.0,
                                   maker_fee=0.001, taker_fee=0.001, fee_side="get"),
            "ETH/USDT": MarketSpec("ETH/USDT", tick_size=0.01, lot_step=0.0001,
                                   min_amount=0.0001, min_notional=5.0,
                                   maker_fee=0.001, taker_fee=0.001, fee_side="get"),
        }

    @pytest.mark.parametrize(("market", "exchange_id", "override", "side"), [
        ({"feeSide": "get"}, "binance", None, "get"),      # declared by ccxt: Binance, Bybit
        ({"feeSide": "quote"}, "okx", None, "quote"),      # a declared side wins the table
        ({}, "okx", None, "get"),                          # OKX: ccxt is silent, docs say get
        ({}, "coinbase", None, "quote"),                   # ccxt's default
        ({"feeSide": "get"}, "binance", "quote", "quote"),  # the config's override wins
    ])
    def test_fee_side(self, market, exchange_id, override, side):
        markets = {"BTC/USDT": {"precision": {}, "limits": {}, **market}}
        spec = market_specs_from_ccxt(markets, exchange_id=exchange_id, fee_side=override)
        assert spec["BTC/USDT"].fee_side.value == side

    def test_decimal_places_mode_and_missing_limits(self):
        markets = {"ABC/USD": {"precision": {"price": 2, "amount": 3}, "limits": {},
                               "maker": 0.0002, "taker": 0.0007}}
        spec = market_specs_from_ccxt(markets, precision_mode=ccxt.DECIMAL_PLACES)["ABC/USD"]
        assert spec == MarketSpec("ABC/USD", tick_size=0.01, lot_step=0.001, min_amount=0.0,
                                  min_notional=0.0, maker_fee=0.0002, taker_fee=0.0007)


class TestErrorMapping:
    @pytest.mark.parametrize(("ccxt_error", "ours"), [
        (ccxt.NetworkError, TransientExchangeError),
        (ccxt.RequestTimeout, TransientExchangeError),
        (ccxt.ExchangeNotAvailable, TransientExchangeError),
        (ccxt.OnMaintenance, TransientExchangeError),
        (ccxt.InvalidNonce, TransientExchangeError),
        (ccxt.OperationFailed, TransientExchangeError),
        (ccxt.DDoSProtection, RateLimitedError),
        (ccxt.RateLimitExceeded, RateLimitedError),
        (ccxt.AuthenticationError, ExchangeAuthenticationError),
        (ccxt.PermissionDenied, ExchangeAuthenticationError),
        (ccxt.InsufficientFunds, InsufficientFunds),
        (ccxt.BadSymbol, UnknownSymbol),
        (ccxt.InvalidOrder, InvalidOrder),
        (ccxt.OrderNotFound, InvalidOrder),
        (ccxt.BadRequest, ExchangeError),
        (ccxt.NotSupported, ExchangeError),
        (ccxt.ExchangeError, ExchangeError),
    ])
    def test_table(self, ccxt_error, ours):
        mapped = map_ccxt_error(ccxt_error("binance boom"), context="binance fetch_ohlcv")
        assert type(mapped) is ours
        assert str(mapped).startswith("binance fetch_ohlcv: ")
        assert "binance boom" in str(mapped)
        assert isinstance(mapped, TransientExchangeError) == issubclass(
            ccxt_error, ccxt.OperationFailed)

    def test_signatures_are_scrubbed(self):
        mapped = map_ccxt_error(ccxt.AuthenticationError(
            "GET /api/v3/account?timestamp=1&signature=deadbeef01 -2015"))
        assert "deadbeef01" not in str(mapped) and "signature=<redacted>" in str(mapped)

    def test_call_ccxt_carries_retry_after_and_chains_the_original(self, emulator):
        client = make_client(emulator_settings(emulator))
        client.load_markets()
        emulator.faults.inject(Fault.rate_limit(retry_after_s=7), path="/api/v3/klines")
        with pytest.raises(RateLimitedError) as info:
            call_ccxt(client, "fetch_ohlcv", "BTC/USDT", "1h", None, 2)
        assert info.value.retry_after_s == 7.0
        assert isinstance(info.value.__cause__, ccxt.DDoSProtection)

    def test_unknown_symbol_maps_to_unknown_symbol(self, emulator):
        client = make_client(emulator_settings(emulator))
        client.load_markets()
        with pytest.raises(UnknownSymbol, match="DOGE/USDT"):
            call_ccxt(client, "fetch_ohlcv", "DOGE/USDT", "1h")


class TestRetry:
    def test_backoff_schedule_is_exponential_jittered_and_reproducible(self):
        slept: list[float] = []
        calls = []

        def flaky():
            calls.append(1)
            if len(calls) < 6:
                raise TransientExchangeError("503")
            return "ok"

        result = retry_transient(flaky, attempts=6, base_delay_s=1.0, max_delay_s=8.0,
                                 rng=random.Random(42), sleep=slept.append)
        assert result == "ok" and len(calls) == 6
        ref = random.Random(42)
        caps = [1.0, 2.0, 4.0, 8.0, 8.0]  # base * 2**n, capped at max_delay_s
        assert slept == [cap / 2 + ref.uniform(0, cap / 2) for cap in caps]
        for delay, cap in zip(slept, caps):
            assert cap / 2 <= delay <= cap

    def test_retry_after_is_a_floor(self):
        slept: list[float] = []
        errors = iter([RateLimitedError("429", retry_after_s=30.0)])

        def limited():
            for err in errors:
                raise err
            return 1

        retry_transient(limited, attempts=3, base_delay_s=0.1, max_delay_s=1.0,
                        rng=random.Random(0), sleep=slept.append)
        assert slept == [30.0]

    def test_only_transient_errors_are_retried(self):
        calls = []

        def refused():
            calls.append(1)
            raise ExchangeAuthenticationError("bad key")

        with pytest.raises(ExchangeAuthenticationError):
            retry_transient(refused, attempts=5, base_delay_s=0.1, max_delay_s=1.0,
                            rng=random.Random(0), sleep=lambda s: None)
        assert len(calls) == 1

    def test_gives_up_after_attempts_naming_them(self):
        def down():
            raise TransientExchangeError("binance fetch_ohlcv: ExchangeNotAvailable 503")

        with pytest.raises(TransientExchangeError, match="gave up after 3 attempts") as info:
            retry_transient(down, attempts=3, base_delay_s=0.1, max_delay_s=1.0,
                            rng=random.Random(0), sleep=lambda s: None)
        assert isinstance(info.value.__cause__, TransientExchangeError)

    def test_backoff_delay_bounds(self):
        rng = random.Random(1)
        assert 0.05 <= backoff_delay(1, base_delay_s=0.1, max_delay_s=5, rng=rng) <= 0.1
        assert 2.5 <= backoff_delay(10, base_delay_s=0.1, max_delay_s=5, rng=rng) <= 5.0

    def test_bad_attempts_is_a_config_error(self):
        with pytest.raises(ConfigError, match="attempts"):
            retry_transient(lambda: 1, attempts=0, base_delay_s=0.1, max_delay_s=1.0,
                            rng=random.Random(0))


class TestEmulatorFidelity:
    """The emulator answers like Binance where ingest and later brokers depend on it."""

    def test_end_time_alone_gives_the_last_bars_up_to_it(self, emulator):
        client = make_client(emulator_settings(emulator))
        client.load_markets()
        ts = [int(t) for t in emulator.bars("BTC/USDT")["ts"]]
        rows = client.fetch_ohlcv("BTC/USDT", "1h", limit=3, params={"until": ts[10]})
        assert [r[0] for r in rows] == ts[8:11]

    def test_latest_page_ends_with_the_partial_open_bar(self, emulator):
        client = make_client(emulator_settings(emulator))
        client.load_markets()
        source = emulator.bars("BTC/USDT")
        emulator.now_ms = int(source["ts"].iloc[100]) + 15 * 60_000  # 15 min into bar 100
        rows = client.fetch_ohlcv("BTC/USDT", "1h", limit=2)
        assert [r[0] for r in rows] == source["ts"].iloc[99:101].tolist()
        assert rows[0][1:] == source.iloc[99, 1:].tolist()  # closed bar: exact
        assert rows[1][5] == pytest.approx(source["volume"].iloc[100] / 4)  # open: partial
        assert client.fetch_time() == emulator.now_ms

    def test_limit_above_1000_is_refused_like_binance(self, emulator):
        client = make_client(emulator_settings(emulator))
        client.load_markets()
        with pytest.raises(ccxt.BadRequest, match="-1130"):
            client.publicGetKlines({"symbol": "BTCUSDT", "interval": "1h", "limit": 1001})


def test_loopback_guard_blocks_other_hosts_before_any_packet_leaves():
    import socket

    import conftest

    try:
        with pytest.raises(conftest.NonLoopbackConnection, match="10.255.255.1"):
            socket.create_connection(("10.255.255.1", 9), timeout=0.1)
        with pytest.raises(conftest.NonLoopbackConnection, match="example.com"):
            socket.getaddrinfo("example.com", 443)
    finally:
        conftest._GUARD["violations"].clear()  # expected here; other tests fail on them
