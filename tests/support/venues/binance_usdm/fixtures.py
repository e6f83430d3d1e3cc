"""Pytest fixtures for the USDⓈ-M scenarios (load with
``pytest_plugins = ["venues.binance_usdm.fixtures"]``, as the spot tests load theirs).

The emulator starts at 2023-11-14 22:13:20 UTC (``emulator.DEFAULT_START_MS``); the
account holds 10000 USDT; BTCUSDT last = mark = 30000, ETHUSDT 2000.
"""

from __future__ import annotations

from collections.abc import Iterator

import ccxt
import pytest

from venues.binance_usdm.emulator import BinanceUsdmEmulator
from venues.testing import API_KEY, SECRET

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


@pytest.fixture
def usdm() -> Iterator[BinanceUsdmEmulator]:
    """USDⓈ-M with BTCUSDT and ETHUSDT perpetuals; one account with 10000 USDT."""
    with BinanceUsdmEmulator([BTC, ETH]) as emu:
        emu.add_account(API_KEY, SECRET, {"USDT": "10000"})
        emu.set_price(BTC, "30000")
        emu.set_price(ETH, "2000")
        yield emu


@pytest.fixture
def fut(usdm: BinanceUsdmEmulator) -> ccxt.binanceusdm:
    """The real (sync) ccxt binanceusdm client, markets loaded, pointed at the emulator."""
    exchange = ccxt.binanceusdm(usdm.ccxt_config(API_KEY, SECRET, enableRateLimit=False))
    exchange.load_markets()
    return exchange
