"""Exchange emulators for tests: real HTTP on 127.0.0.1 for the real ccxt client.

``BinanceFuturesEmulator`` serves USD-M perpetual market data (klines, mark/index
klines, funding history, aggregate trades, open interest history).
``BinanceEmulator`` serves Binance spot public market data from real bars, with a
simulated clock, fault injection (:class:`Fault`) and a request log, plus signed
spot trading and kline websocket streams. ``OkxEmulator`` is a small OKX spot for the
second-exchange tests.
"""

from .binance import BinanceEmulator, BinanceState, SymbolRules, load_sample_bars
from .binance_futures import BinanceFuturesEmulator
from .okx import OkxEmulator
from .server import EmulatorServer, Fault, FaultQueue, RequestLog, RequestRecord

__all__ = [
    "BinanceEmulator",
    "BinanceFuturesEmulator",
    "BinanceState",
    "EmulatorServer",
    "Fault",
    "FaultQueue",
    "OkxEmulator",
    "RequestLog",
    "RequestRecord",
    "SymbolRules",
    "load_sample_bars",
]
