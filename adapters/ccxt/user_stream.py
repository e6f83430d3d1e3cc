"""Pushed order updates: the venue's user-data stream through ccxt.pro, into the broker.

Why: polling finds a fill up to ``broker_poll_s`` late (and costs a request per symbol
per round); the venues push every order change and trade on a private websocket
(Binance spot: the websocket API's ``userDataStream.subscribe.signature`` with
``executionReport`` events; OKX: the ``orders`` channel after a login). ccxt.pro
exposes them as ``watch_my_trades`` and ``watch_orders``, one task each per symbol
here. Every pushed trade is booked by the ``CcxtBroker`` exactly as a polled one
(``on_pushed_trade``: once, by trade id, fee in the currency charged) and every order
update becomes a status report (``on_pushed_order``); the runner, woken by ``wait``,
steps the fills at once. Polling stays on, as the fallback and for reconciliation: a
push that is lost, or cannot be booked yet, is found by the next poll.

Failures (each reported once through ``report``, then the stream stops and polling
carries on alone):

- ccxt 4.5.90's Binance subscription turns any refusal into ``KeyError('spot')`` (it
  deletes its subscription record twice, see ``tests/support/venues/NOTES.md``): the
  venue's real error is the ``KeyError``'s ``__context__``, reported as
  ``user_stream_refused`` with that error (mapped like any ccxt error). The session
  has checked the credentials over REST before (reconciliation, balances), so a refusal
  here is about the stream itself (permissions, clock, the endpoint);
- an authentication or other non-network ccxt error: ``user_stream_refused``;
- a dropped connection (``ccxt.NetworkError``): ``user_stream_error`` and a retry
  after ``retry_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import ccxt

from tradeloom.adapters.ccxt.exchange import map_ccxt_error

log = logging.getLogger(__name__)

Report = Callable[[str, dict[str, Any]], None]


class PushTarget(Protocol):
    """What the stream hands its updates to (``CcxtBroker``)."""

    def on_pushed_trade(self, trade: Mapping[str, Any]) -> bool: ...

    def on_pushed_order(self, order: Mapping[str, Any]) -> bool: ...


def supports_user_stream(client: Any) -> bool:
    """True when the (ccxt.pro) client can watch the account's trades and orders."""
    has = getattr(client, "has", {}) or {}
    return bool(has.get("watchMyTrades")) and bool(has.get("watchOrders"))


def refusal(error: BaseException) -> BaseException:
    """The venue's own error behind what ccxt raised (Binance: ``KeyError('spot')``
    hides it in ``__context__``).

    >>> try:
    ...     try:
    ...         raise ccxt.AuthenticationError('{"code":-1022,"msg":"Signature invalid."}')
    ...     except ccxt.AuthenticationError:
    ...         raise KeyError("spot")
    ... except KeyError as err:
    ...     type(refusal(err)).__name__
    'AuthenticationError'
    """
    if isinstance(error, KeyError) and error.__context__ is not None:
        return error.__context__
    return error


class UserStream:
    """One ``watch_my_trades`` and one ``watch_orders`` task per symbol (see the module
    docstring). ``start`` on the runner's event loop; ``close`` to stop."""

    def __init__(self, client: Any, target: PushTarget, symbols: Sequence[str], *,
                 report: Report, retry_s: float = 1.0) -> None:
        self.client = client
        self.target = target
        self.symbols = tuple(symbols)
        self.report = report
        self.retry_s = float(retry_s)
        self.trades = 0  # pushed trades booked
        self.updates = 0  # pushed order updates applied
        self.failed: str | None = None  # why the stream stopped (polling carries on)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        return bool(self._tasks) and self.failed is None

    def start(self) -> None:
        if self._tasks:
            return
        for symbol in self.symbols:
            self._tasks.append(asyncio.create_task(
                self._watch("watch_my_trades", symbol, self.target.on_pushed_trade, "trades"),
                name=f"watch_my_trades {symbol}"))
            self._tasks.append(asyncio.create_task(
                self._watch("watch_orders", symbol, self.target.on_pushed_order, "updates"),
                name=f"watch_orders {symbol}"))

    async def wait(self) -> None:
        """Return once something was pushed and booked since the last ``wait``."""
        await self._wake.wait()
        self._wake.clear()

    async def _watch(self, method: str, symbol: str,
                     apply: Callable[[Mapping[str, Any]], bool], counter: str) -> None:
        while self.failed is None:
            try:
                items = await getattr(self.client, method)(symbol)
            except asyncio.CancelledError:
                raise
            except ccxt.NetworkError as exc:
                self.report("user_stream_error", {"symbol": symbol, "method": method,
                                                  "error": str(map_ccxt_error(exc))})
                await asyncio.sleep(self.retry_s)
                continue
            except (ccxt.BaseError, KeyError) as exc:
                self._refused(method, symbol, exc)
                return
            booked = 0
            for item in items or ():
                booked += bool(apply(item))
            if booked:
                setattr(self, counter, getattr(self, counter) + booked)
                self._wake.set()

    def _refused(self, method: str, symbol: str, exc: BaseException) -> None:
        real = refusal(exc)
        text = (str(map_ccxt_error(real, context=f"{getattr(self.client, 'id', '?')} {method}"))
                if isinstance(real, ccxt.BaseError) else f"{type(real).__name__}: {real}")
        if self.failed is None:
            self.failed = text
            self.report("user_stream_refused", {
                "symbol": symbol, "method": method, "error": text,
                "action": "order updates are polled (broker_poll_s); check the API key's "
                          "permissions and the clock, then restart to use the stream"})
            log.error("user-data stream refused (%s); polling for order updates", text)
        self._wake.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []


__all__ = ["PushTarget", "UserStream", "refusal", "supports_user_stream"]
