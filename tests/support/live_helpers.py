"""Helpers for the live-broker tests: an emulator account, a real ccxt client, a broker.

The key and secret are distinctive strings so tests can grep every output for them.
"""

from __future__ import annotations

from pathlib import Path

from emulator import BinanceEmulator

from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import (
    Credentials,
    ExchangeSettings,
    make_client,
    market_specs_from_ccxt,
)
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.adapters.store.ingest import RetryPolicy

API_KEY = "tlKEY9f3a1c77d2e44b0"
SECRET = "tlSECRET5b8e2d90c1f7a6"
FAST_RETRY = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05, seed=1)


def settings_for(emu: BinanceEmulator, timeout_ms: int = 2_000) -> ExchangeSettings:
    return ExchangeSettings(id="binance", api_url=emu.base_url, ws_url=emu.ws_url,
                            timeout_ms=timeout_ms, rate_limit_ms=0)


def binance_client(emu: BinanceEmulator, *, key: str = API_KEY, secret: str = SECRET,
                   timeout_ms: int = 2_000):
    client = make_client(settings_for(emu, timeout_ms),
                         credentials=Credentials(key, secret))
    client.load_markets()
    return client


def make_broker(emu: BinanceEmulator, state_path: Path, *, run_id: str = "t1",
                timeout_ms: int = 2_000, retry: RetryPolicy = FAST_RETRY
                ) -> tuple[CcxtBroker, LiveStateStore]:
    client = binance_client(emu, timeout_ms=timeout_ms)
    store = LiveStateStore(state_path, run_id=run_id)
    broker = CcxtBroker(client, market_specs_from_ccxt(client.markets), store, retry=retry)
    return broker, store


def at_bar(emu: BinanceEmulator, symbol: str, index: int) -> float:
    """Put the clock on the open of bar ``index``; returns that bar's open price."""
    bars = emu.bars(symbol)
    emu.now_ms = int(bars["ts"].iloc[index])
    return float(bars["open"].iloc[index])
