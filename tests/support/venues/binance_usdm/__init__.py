"""Binance USDⓈ-M perpetual futures: contracts, one-way positions, margin, funding,
liquidation, REST ``/fapi`` and the listenKey user data stream. Start with
:class:`BinanceUsdmEmulator` (rules and sources: ``venues/NOTES.md``)::

    with BinanceUsdmEmulator(["BTC/USDT:USDT", "ETH/USDT:USDT"]) as emu:
        emu.add_account("key", "secret", {"USDT": "10000"})
        emu.set_price("BTC/USDT:USDT", "30000")        # last = mark, a book around it
        emu.set_mark_price("BTC/USDT:USDT", "30010")   # mark apart (liquidations run)
        emu.set_funding_rates("BTC/USDT:USDT", [(ts_ms, "0.0001")])  # settles at ts_ms
        emu.step_bar("BTC/USDT:USDT", (ts_ms, o, h, l, c, v), mark=(o, h, l, c))
        emu.set_time(ts_ms)                            # venue clock; funding crossed
        client = ccxt.binanceusdm(emu.ccxt_config("key", "secret"))
        emu.log.records("/fapi/v1/order")              # what the client sent

For the product's factory: ``ExchangeSettings(id="binanceusdm", api_url=emu.api_url,
ws_url=emu.ws_url, options=emu.ccxt_options())`` (plus ``emu.ccxt_exceptions()`` as the
client's ``exceptions`` for venue-like error classes).

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
from venues.binance_usdm.combined import BinanceSpotPerpEmulator
from venues.binance_usdm.emulator import BinanceUsdmEmulator, BookShape
from venues.binance_usdm.rules import ContractRules

__all__ = ["BinanceSpotPerpEmulator", "BinanceUsdmEmulator", "BookShape", "ContractRules",
           "FuturesAccount"]
