"""Live start and restart: the portfolio from the exchange, orders from the state store.

Why: after a crash the process that restarts knows nothing but the state store
(``adapters.live_state``) and what the exchange says. The rule, in this order
(``adapters.session.open_live``):

1. **Reconcile** (``adapters.live_reconcile``): the store is made equal to the exchange:
   intents whose send never returned are looked up by client id, orders that finished
   while nobody watched get their final status, trades since the last seen id are
   stored (once: by trade id).
2. **Restore** (``CcxtBroker.restore``): the working orders left in the store are tracked
   again, held local stops re-armed. Engine order ids continue after every stored id.
3. **Open the portfolio from the exchange's balances** (``opening_portfolio``; a futures
   account's perpetuals from its positions instead, see there): cash is
   the quote currency's *total* (free + locked in open buys), each traded symbol's
   position its base currency's total (free + locked in open sells), at the average
   price of the stored buy fills (else the current price). What the exchange holds is
   what the strategy sees; nothing is re-derived from an earlier process's portfolio.
   A holding no order could sell at the current price (under the lot step, the
   minimum amount or notional) is dust: held, in equity, but not a position. A fee
   asset the account pays fees with (``fee_asset``, BNB) that is not a traded symbol is
   held as a fee-only holding valued at ``fee_rate``.

``RunnerReconciler`` is what the runner calls on start and every ``every_s``: the
blocking reconciliation runs in a worker thread, the fills it found are then
collected on the runner's thread by the runner itself.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tradeloom.adapters.ccxt.positions import VenuePosition
from tradeloom.adapters.ccxt.wallets import futures_wallet
from tradeloom.adapters.live.reconcile import ReconcilePolicy, ReconcileReport, reconcile
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Side

if TYPE_CHECKING:
    from tradeloom.adapters.ccxt.broker import CcxtBroker


def totals(balance: Mapping[str, Any]) -> dict[str, float]:
    """Free + locked per asset from a ccxt ``fetch_balance`` answer."""
    out: dict[str, float] = {}
    for asset, value in (balance.get("total") or {}).items():
        if value:
            out[asset] = float(value)
    return out


def _entry_price(store: LiveStateStore | None, symbol: str, fallback: float) -> float:
    if store is None:
        return fallback
    buys = [f for f in store.fills(symbol) if f.side == "buy"]
    amount = sum(f.amount for f in buys)
    return sum(f.price * f.amount for f in buys) / amount if amount > 0 else fallback


def opening_portfolio(balance: Mapping[str, Any], markets: Mapping[str, MarketSpec],
                      symbols: Sequence[str], prices: Mapping[str, float],
                      store: LiveStateStore | None = None, *, fee_asset: str | None = None,
                      fee_rate: float | None = None,
                      perp_positions: Mapping[str, VenuePosition] | None = None,
                      futures_balance: Mapping[str, Any] | None = None
                      ) -> tuple[Portfolio, dict[str, float]]:
    """The live portfolio at start: quote and base totals of the traded symbols (dust
    marked as such), and the fee asset's total when it is not one of them. With
    perpetuals, the cash is the futures wallet (``futures_wallet``) and each perpetual's
    position the venue's (``perp_positions``, from ``fetch_positions``: signed, at its
    entry price, with the venue's leverage and margin mode), never a balance. A session
    trading spot and perpetuals from two wallets (``adapters.ccxt.wallets``) passes the
    spot wallet as ``balance`` and the futures wallet as ``futures_balance``: the cash is
    the spot quote plus the futures wallet balance.

    Returns it and the opening holdings (symbol -> base amount, dust included) for the
    journal; ``portfolio.is_dust(symbol)`` says which are dust.
    """
    held = totals(balance)
    quote = markets[symbols[0]].quote
    perps = [s for s in symbols if markets[s].contract is not None]
    if futures_balance is not None:
        cash = held.get(quote, 0.0) + futures_wallet(futures_balance, quote)
    else:
        cash = futures_wallet(balance, quote) if perps else held.get(quote, 0.0)
    portfolio = Portfolio(cash, quote, markets={s: markets[s] for s in symbols})
    positions: dict[str, float] = {}
    for symbol in perps:
        venue = (perp_positions or {}).get(symbol)
        if venue is None:
            continue
        open_perp_position(portfolio, symbol, venue.qty, venue.entry, venue.leverage,
                           venue.margin_mode)
        positions[symbol] = venue.qty
    for symbol in symbols:
        if symbol in perps:
            continue
        amount = held.get(markets[symbol].base, 0.0)
        if amount <= 0:
            continue
        book_opening_position(portfolio, symbol, amount,
                              _entry_price(store, symbol, float(prices[symbol])))
        portfolio.mark_dust(symbol, float(prices[symbol]))
        positions[symbol] = amount
    if fee_asset is not None and f"{fee_asset}/{quote}" not in symbols:
        amount = held.get(fee_asset, 0.0)
        if amount > 0:
            if fee_rate is None:
                raise ConfigError(
                    f"fee_asset {fee_asset}: the account holds {amount} {fee_asset} and no "
                    f"{fee_asset}/{quote} price is known to value it; the venue needs a "
                    f"{fee_asset}/{quote} market (or add it to the symbols)")
            portfolio.hold_fee_asset(fee_asset, amount, fee_rate)
    return portfolio, positions


def book_opening_position(portfolio: Portfolio, symbol: str, amount: float,
                          price: float) -> None:
    """Book ``amount`` held at start as a fee-free buy at ``price``; cash unchanged. A
    perpetual's ``amount`` is signed (a short: a fee-free sell) and ``price`` its entry.

    Shared with ``replay``, which starts from the journal's opening positions.
    """
    cash = portfolio.cash
    if portfolio.is_perp(symbol):
        side = Side.BUY if amount > 0 else Side.SELL
        portfolio.apply_fill(Fill(0, symbol, side, 0, price, abs(amount), 0.0, Liquidity.TAKER,
                                  tag="opening position"))
        portfolio.cash = cash
        return
    portfolio.cash = cash + price * amount
    portfolio.apply_fill(Fill(0, symbol, Side.BUY, 0, price, amount, 0.0, Liquidity.TAKER,
                              tag="opening balance"))
    portfolio.cash = cash


def open_perp_position(portfolio: Portfolio, symbol: str, qty: float, entry: float,
                       leverage: float | None, margin_mode: str | None) -> None:
    """A perpetual position the venue holds at start: its margin mode and leverage first
    (the venue's), then the position at its entry (``book_opening_position``). Shared
    with ``replay``."""
    if margin_mode is not None:
        portfolio.set_margin_mode(symbol, margin_mode)
    if leverage is not None:
        portfolio.set_leverage(symbol, leverage)
    book_opening_position(portfolio, symbol, qty, entry)


def order_ids_after(store: LiveStateStore) -> Callable[[], int]:
    """An id source continuing after every order id the store has seen."""
    last = max((r.order_id for r in store.orders()), default=0)
    return itertools.count(max(last, 0) + 1).__next__


class RunnerReconciler:
    """``await reconciler(now_ms)``: one reconciliation off the event loop."""

    def __init__(self, broker: CcxtBroker, store: LiveStateStore, *, every_s: float = 300.0,
                 policy: ReconcilePolicy | None = None, timeout_s: float = 60.0) -> None:
        self.broker = broker
        self.store = store
        self.every_s = float(every_s)
        self.policy = policy or ReconcilePolicy()
        self.timeout_s = timeout_s

    def run_sync(self, now_ms: int) -> ReconcileReport:
        return reconcile(self.broker, self.store, now_ms, self.policy, timeout_s=self.timeout_s,
                         apply_updates=False)

    async def __call__(self, now_ms: int) -> ReconcileReport:
        return await asyncio.to_thread(self.run_sync, now_ms)


__all__ = ["RunnerReconciler", "open_perp_position", "opening_portfolio",
           "order_ids_after", "totals"]
