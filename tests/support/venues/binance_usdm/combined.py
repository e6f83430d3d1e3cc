"""Binance spot and USDⓈ-M on one loopback server, for one ``ccxt.binance`` client.

Binance serves spot (``api.binance.com``, ``/api/v3``) and USDⓈ-M (``fapi.binance.com``,
``/fapi``) from different hosts; ccxt's ``binance`` class holds both URL sets and
routes by market type (``BTC/USDT`` → ``/api/v3``, ``BTC/USDT:USDT`` → ``/fapi``), and
under the URL convention both land on this one server. The two venues keep their own
state, exactly as on Binance, where the spot wallet and the USDⓈ-M wallet are separate
accounts behind one API key: :attr:`spot` is a
:class:`~venues.binance_spot.BinanceSpotEmulator`, :attr:`perp` a
:class:`~venues.binance_usdm.BinanceUsdmEmulator`, both attached to this server and
driven through their own controls (``emu.spot.set_price``, ``emu.perp.step_bar``...).
Moving funds between the wallets (``/sapi/v1/futures/transfer``) is not modelled.

>>> import ccxt
>>> with BinanceSpotPerpEmulator(["BTC/USDT"], ["BTC/USDT:USDT"]) as emu:
...     emu.add_account("key", "secret", spot={"USDT": "1000"}, futures={"USDT": "1000"})
...     emu.spot.set_book("BTC/USDT", bids=[("29990", "1")], asks=[("30000", "1")])
...     emu.perp.set_price("BTC/USDT:USDT", "30050")
...     client = ccxt.binance(emu.ccxt_config("key", "secret"))
...     spot = client.create_order("BTC/USDT", "market", "buy", 0.01)
...     perp = client.create_order("BTC/USDT:USDT", "market", "sell", 0.01)
...     spot["average"], perp["average"], [r.path for r in emu.log.records()][:2]
(30000.0, 30049.9, ['/api/v3/exchangeInfo', '/fapi/v1/exchangeInfo'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self

from aiohttp import web

from venues.binance_spot.emulator import BinanceSpotEmulator
from venues.binance_spot.rest import BinanceRest
from venues.binance_usdm.emulator import BinanceUsdmEmulator
from venues.binance_usdm.rest import UsdmRest
from venues.common.money import Number
from venues.common.server import Handler, LoopbackServer
from venues.common.urls import ccxt_urls


class BinanceSpotPerpEmulator(LoopbackServer):
    """Spot ``/api/v3`` (+ ``/ws-api/v3``) and USDⓈ-M ``/fapi`` (+ user data) together."""

    def __init__(self, spot_symbols: Iterable[str] = ("BTC/USDT",),
                 perp_symbols: Iterable[str] = ("BTC/USDT:USDT",), *,
                 spot_options: Mapping[str, Any] | None = None,
                 perp_options: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.spot = BinanceSpotEmulator(spot_symbols, **dict(spot_options or {}))
        self.perp = BinanceUsdmEmulator(perp_symbols, **dict(perp_options or {}))

    # -- lifecycle: the sub-emulators run on this server -------------------------------
    def start(self) -> Self:
        super().start()
        self.spot.attach(self)
        self.perp.attach(self)
        return self

    def stop(self) -> None:
        self.spot.detach()
        self.perp.detach()
        super().stop()

    # -- addresses and ccxt ------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.http_url

    @property
    def ws_url(self) -> str:
        """As the spot emulator's: ``/stream`` keeps ccxt's spot stream URL a spot URL;
        the USDⓈ-M user data paths are served under it too."""
        return f"ws://127.0.0.1:{self.port}/stream"

    def ccxt_options(self) -> dict[str, Any]:
        """``load_markets`` = GET /api/v3/exchangeInfo + GET /fapi/v1/exchangeInfo."""
        return {"fetchMarkets": {"types": ["spot", "linear"]}, "fetchCurrencies": False,
                "fetchMargins": False, "warnOnFetchOpenOrdersWithoutSymbol": False}

    def ccxt_config(self, api_key: str | None = None, secret: str | None = None,
                    **extra: Any) -> dict[str, Any]:
        """Constructor config for ``ccxt.binance`` / ``ccxt.pro.binance``. No
        ``exceptions`` override: ccxt maps by host, and lifting one market's table would
        change the other's classes (NOTES.md)."""
        config: dict[str, Any] = {"urls": ccxt_urls("binance", self.api_url, self.ws_url),
                                  "options": self.ccxt_options(),
                                  "has": {"fetchCurrencies": False}, **extra}
        if api_key is not None:
            config.update(apiKey=api_key, secret=secret)
        return config

    def add_account(self, api_key: str, secret: str, *,
                    spot: Mapping[str, Number] | None = None,
                    futures: Mapping[str, Number] | None = None) -> None:
        """One API key with a spot wallet and a USDⓈ-M wallet."""
        self.spot.add_account(api_key, secret, spot)
        self.perp.add_account(api_key, secret, futures)

    # -- server ------------------------------------------------------------------------
    def register_routes(self, app: web.Application) -> None:
        BinanceRest(self.spot).register(app)
        self.spot.user_stream.register(app)
        UsdmRest(self.perp).register(app)
        self.perp.user_stream.register(app, ws_prefixes=("", "/stream"))

    async def venue_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Each venue's own weight limits (Binance counts them separately)."""
        if request.path.startswith("/api/"):
            return await self.spot.venue_middleware(request, handler)
        return await self.perp.venue_middleware(request, handler)
