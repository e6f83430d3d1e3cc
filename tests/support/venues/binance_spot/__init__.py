"""Binance spot rules: filters, commission side and BNB option, matching, REST and the
websocket API user data stream. Start with :class:`BinanceSpotEmulator`."""

from venues.binance_spot.account import Account, FeeSettings
from venues.binance_spot.emulator import BinanceSpotEmulator, BookShape
from venues.binance_spot.rules import SymbolRules

__all__ = ["Account", "BinanceSpotEmulator", "BookShape", "FeeSettings", "SymbolRules"]
