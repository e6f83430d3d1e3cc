"""Pytest fixtures for the venue scenarios: one running emulator per test.

Test modules load them with ``pytest_plugins = ["venues.fixtures"]``: a
``conftest.py`` next to the tests would be imported as a second top-level module named
``conftest`` and shadow the root one, which ``test_exchange.py`` imports by that name.
"""

from __future__ import annotations

from collections.abc import Iterator

import ccxt
import pytest

from venues.binance_spot import BinanceSpotEmulator
from venues.okx_spot import OkxSpotEmulator
from venues.testing import API_KEY, PASSPHRASE, SECRET


@pytest.fixture
def binance() -> Iterator[BinanceSpotEmulator]:
    """Binance spot with BTC/USDT and ETH/USDT; one account holding 1000 USDT."""
    with BinanceSpotEmulator(["BTC/USDT", "ETH/USDT"]) as emu:
        emu.add_account(API_KEY, SECRET, {"USDT": "1000"})
        yield emu


@pytest.fixture
def client(binance: BinanceSpotEmulator) -> ccxt.binance:
    """The real (sync) ccxt Binance client, markets loaded, pointed at the emulator."""
    exchange = ccxt.binance(binance.ccxt_config(API_KEY, SECRET, enableRateLimit=False))
    exchange.load_markets()
    return exchange


@pytest.fixture
def okx() -> Iterator[OkxSpotEmulator]:
    """OKX spot with BTC/USDT; one account holding 1000 USDT, 0.1 % maker and taker."""
    with OkxSpotEmulator(["BTC/USDT"]) as emu:
        emu.add_account(API_KEY, SECRET, PASSPHRASE, {"USDT": "1000"},
                        maker="0.001", taker="0.001")
        yield emu


@pytest.fixture
def okx_client(okx: OkxSpotEmulator) -> ccxt.okx:
    """The real (sync) ccxt OKX client, markets loaded, pointed at the emulator."""
    exchange = ccxt.okx(okx.ccxt_config(API_KEY, SECRET, PASSPHRASE, enableRateLimit=False))
    exchange.load_markets()
    return exchange
