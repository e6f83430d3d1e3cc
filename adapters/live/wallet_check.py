"""The futures wallet at reconciliation: what it should hold after the fills since the
last reconciled snapshot, to compare with what the venue says it holds.

Why: a perpetual's fills move no balance of the traded coins, only the futures wallet
(Binance USDⓈ-M "Account Information": ``walletBalance`` = deposits + realised PnL -
commission + funding fees), and the position comparison alone would miss a fee or a
PnL booked wrong. From the snapshot (the wallet, and each position with its entry
price, as the venue gave them), the expected wallet is

    wallet + sum(realized PnL of each perpetual fill) - sum(its fee in the settle
    currency) + sum(the venue's funding payments the snapshot's wallet did not hold:
    ``reconcile.unseen_funding``) + each venue liquidation's
    realized PnL at its trade price - its fee (the insurance clearance included)

with each fill booked on the one-way position exactly as the engine books it
(``engine.accounting.perps.book_fill``: average entry on an increase, ``(price -
entry) * closed`` on a decrease, the rest through zero at the fill's price). Funding
amounts are the venue's own (live books the venue's payments); the fills are ours.

The difference allowed is the one the balances step states (``ReconcilePolicy``): the
venue's fee rounding (``fee_quantum``) once per fill since the snapshot and once more,
at least ``policy.tolerance``, or ``policy.rel_tolerance`` of the wallet.

>>> from tradeloom.adapters.live.state import FillRecord
>>> short = FillRecord("t1", "c1", 1, "BTC/USDT:USDT", "sell", 0, 30000.0, 0.2, 3.0,
...                    fee_currency="USDT", fee_cost=3.0)
>>> cover = FillRecord("t2", "c2", 2, "BTC/USDT:USDT", "buy", 1, 29000.0, 0.1, 1.45,
...                    fee_currency="USDT", fee_cost=1.45)
>>> # 1000 - 3 - 1.45 + (30000 - 29000) x 0.1 + 0.6 funding = 1096.15
>>> round(expected_futures_wallet(1000.0, {}, {}, [short, cover], {"BTC/USDT:USDT": "USDT"},
...                               funding=0.6), 10)
1096.15
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tradeloom.adapters.ccxt.positions import VenueLiquidation
from tradeloom.adapters.live.state import FillRecord
from tradeloom.engine.accounting.perps import book_fill


def _fee_in(fill: FillRecord, settle: str) -> float:
    """The fill's fee charged in the settle currency (a fee in another asset, such as
    BNB, leaves the settle currency alone)."""
    if not fill.fee_currency:
        return fill.fee
    return fill.fee_cost if fill.fee_currency == settle else 0.0


def expected_futures_wallet(wallet: float, positions: Mapping[str, float],
                            entries: Mapping[str, float], fills: Iterable[FillRecord],
                            settle: Mapping[str, str], *, funding: float = 0.0,
                            liquidations: Iterable[VenueLiquidation] = ()) -> float:
    """The futures wallet after ``fills`` (module docstring): ``settle`` maps each
    perpetual symbol to its settle currency (other symbols' fills are skipped)."""
    qty = {s: float(q) for s, q in positions.items()}
    entry = {s: float(e) for s, e in entries.items()}
    total = float(wallet) + float(funding)
    for fill in fills:
        currency = settle.get(fill.symbol)
        if currency is None:
            continue
        signed = fill.amount if fill.side == "buy" else -fill.amount
        q, e, realized = book_fill(qty.get(fill.symbol, 0.0), entry.get(fill.symbol, 0.0),
                                   signed, fill.price)
        qty[fill.symbol], entry[fill.symbol] = q, e
        total += realized - _fee_in(fill, currency)
    for liq in liquidations:  # the venue's close of what is held after the fills
        _, _, realized = book_fill(qty.get(liq.symbol, 0.0), entry.get(liq.symbol, 0.0),
                                   -liq.qty, liq.price)
        total += realized - liq.fee
    return total


__all__ = ["expected_futures_wallet"]
