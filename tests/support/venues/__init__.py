"""Venue-faithful test exchanges for the real ccxt client, on 127.0.0.1 only.

Each emulator models one venue's documented rules, not tradeloom's: which asset pays
the fee (Binance/OKX spot: the asset received; Binance's BNB option), order books that
market orders walk level by level, the venue's filters and error codes, its rate-limit
answers, every order state, and its user-data websocket. Every rule cites its source
(venue docs section, captured response, or ccxt function) next to the code;
``venues/NOTES.md`` lists the facts, the assumptions where docs are silent, and what
ccxt needs (including why ccxt 4.5.90's Binance websocket login raises
``KeyError('spot')``).

- :class:`~venues.binance_spot.BinanceSpotEmulator`: REST ``/api/v3/*`` and the
  websocket API ``/ws-api/v3`` (``userDataStream.subscribe.signature``).
- :class:`~venues.okx_spot.OkxSpotEmulator`: REST ``/api/v5/*`` (orders through
  ``trade/batch-orders``, as ccxt sends them) and ``/ws/v5/private`` (``orders``).
- :class:`~venues.binance_usdm.BinanceUsdmEmulator`: Binance USDⓈ-M perpetuals, REST
  ``/fapi/v1|v2|v3/*`` and the listenKey user data stream (``/private/ws``): one-way
  positions, leverage brackets, margin, funding, liquidation. For the product's
  factory: ``ExchangeSettings(id="binanceusdm", api_url=emu.api_url, ws_url=emu.ws_url,
  options=emu.ccxt_options())`` (NOTES.md "Binance USDⓈ-M": futures error codes map
  to ccxt classes only with ``emu.ccxt_exceptions()`` passed as ``exceptions``).
- :class:`~venues.binance_usdm.combined.BinanceSpotPerpEmulator`: both on one server
  for one ``ccxt.binance`` client (spot ``BTC/USDT`` and perpetual ``BTC/USDT:USDT``).

Driving one from a test (a context manager on a free port; stop() on exit)::

    with BinanceSpotEmulator(["BTC/USDT"]) as emu:
        emu.add_account("key", "secret", {"USDT": "1000"})       # balances
        emu.set_fees("key", bnb_enabled=True); emu.set_bnb_price("300")
        emu.set_book("BTC/USDT", bids=[("29990", "1")], asks=[("30000", "0.5")])
        emu.set_price("BTC/USDT", "30100")                      # a fresh book around it
        emu.step_bar("BTC/USDT")                                 # walk the next real bar
        emu.set_rules("BTC/USDT", step_size="0.001")             # the venue changes filters
        emu.set_weight_limit(100)                                # 429/418 after 100 weight
        client = ccxt.binance(emu.ccxt_config("key", "secret"))  # or ccxt.pro.binance
        emu.log.records("/api/v3/order")                         # what the client sent

From tradeloom's own live tests, point the product's client factory at it with the
same URL convention (scheme/host/port replaced, paths kept)::

    settings = ExchangeSettings(id="binance", api_url=emu.api_url, ws_url=emu.ws_url,
                                options=emu.ccxt_options())      # CLI: --api-url
    make_client(settings, credentials=Credentials("key", "secret"))

For OKX: ``ExchangeSettings(id="okx", api_url=emu.api_url, ws_url=emu.ws_url,
options=emu.ccxt_options())`` plus ``client.has['fetchCurrencies'] = False`` (ccxt
calls a private currencies endpoint in ``load_markets`` otherwise);
``emu.ccxt_config()`` sets that for a directly built client.

>>> import ccxt
>>> from venues.binance_spot import BinanceSpotEmulator
>>> with BinanceSpotEmulator(["BTC/USDT"]) as emu:
...     _ = emu.add_account("key", "secret", {"USDT": "1000"})
...     emu.set_book("BTC/USDT", bids=[("29990", "1")], asks=[("30000", "1")])
...     client = ccxt.binance(emu.ccxt_config("key", "secret"))
...     order = client.create_order("BTC/USDT", "market", "buy", 0.01)
...     order["fee"], client.fetch_balance()["BTC"]["free"]
({'currency': 'BTC', 'cost': 1e-05}, 0.00999)
"""

from venues.binance_spot import BinanceSpotEmulator
from venues.binance_usdm import BinanceUsdmEmulator
from venues.okx_spot import OkxSpotEmulator

__all__ = ["BinanceSpotEmulator", "BinanceUsdmEmulator", "OkxSpotEmulator"]
