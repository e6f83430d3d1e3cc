"""OKX spot rules: instruments, fees in the currency received (negative ``fee`` with
``feeCcy``), batch order placement, OKX error codes, REST and the private ``orders``
websocket channel. Start with :class:`OkxSpotEmulator`."""

from venues.okx_spot.emulator import OkxSpotEmulator
from venues.okx_spot.engine import Account
from venues.okx_spot.rules import Instrument

__all__ = ["Account", "Instrument", "OkxSpotEmulator"]
