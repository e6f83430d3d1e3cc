"""Binance USDⓈ-M perpetual futures: contracts, one-way positions, margin, funding,
liquidation, REST ``/fapi`` and the listenKey user data stream. Start with
:class:`BinanceUsdmEmulator`.

>>> import ccxt
>>> from venues.binance_usdm import BinanceUsdmEmulator
>>> with BinanceUsdmEmulator(["BTC/USDT:USDT"]) as emu:
...     _ = emu.add_account("key", "secret", {"USDT": "10000"})
...     emu.set_price("BTC/USDT:USDT", "30000")     # last = mark, a book around it
...     client = ccxt.binanceusdm(emu.ccxt_config("key", "secret"))
...     order = client.create_order("BTC/USDT:USDT", "market", "buy", 0.01)  # fee 0.05 %
...     emu.set_mark_price("BTC/USDT:USDT", "31000")
...     position = client.fetch_positions(["BTC/USDT:USDT"])[0]
...     trade = client.fetch_my_trades("BTC/USDT:USDT")[0]
...     order["status"], order["average"], trade["fee"], position["unrealizedPnl"]
('closed', 30000.0, {'currency': 'USDT', 'cost': 0.15}, 10.0)
"""

from venues.binance_usdm.account import FuturesAccount
from venues.binance_usdm.emulator import BinanceUsdmEmulator, BookShape
from venues.binance_usdm.rules import ContractRules

__all__ = ["BinanceUsdmEmulator", "BookShape", "ContractRules", "FuturesAccount"]
