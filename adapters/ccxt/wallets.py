"""Which of a venue's wallets a session trades from, and how ccxt reads each one.

Why: Binance keeps the spot wallet and the USDⓈ-M futures wallet apart under one API
key ("Binance Wallet" vs "USDⓈ-M Futures Wallet"; moving funds between them is a
transfer). One ``ccxt.binance`` client reaches both: ``fetch_balance({"type":
"spot"})`` reads the spot wallet (``GET /api/v3/account``) and ``fetch_balance({"type":
"future"})`` the futures wallet (``GET /fapi/v3/account``), while a bare
``fetch_balance()`` reads whichever ``defaultType`` names. A session trading spot and a
perpetual on one client (``FundingCarry``: long spot, short the perpetual) must read
each wallet by name, compare each with the fills that move it, and never take one for
the other:

- a **spot** fill moves the spot wallet (base and quote, the fee where it is charged);
- a **perpetual** fill, funding and a liquidation move the futures wallet (realized
  PnL, fee, funding in the settle currency); the position itself is not a balance.

The session's portfolio holds one cash balance: the quote currency summed over the
wallets it trades from (spot quote + futures wallet balance), so equity, metrics and
``replay`` see the whole account; the journal keeps each wallet's opening amount
(``balance`` record, ``wallets``), and reconciliation compares the spot wallet's assets
with the spot fills and the perpetuals' positions with the venue's.

``ccxt.binanceusdm`` lists only futures: its one wallet is the futures wallet, read
with a bare ``fetch_balance()``. A spot-only session reads the spot wallet. Venues not
named here keep one wallet per client (``separate`` is False).

>>> from tradeloom.engine.contracts import ContractSpec
>>> from tradeloom.engine.market import MarketSpec
>>> carry = {"BTC/USDT": MarketSpec("BTC/USDT"),
...          "BTC/USDT:USDT": MarketSpec("BTC/USDT:USDT", contract=ContractSpec())}
>>> layout = wallet_layout("binance", carry)
>>> layout.separate, layout.params(Wallet.SPOT), layout.params(Wallet.FUTURES)
(True, {'type': 'spot'}, {'type': 'future'})
>>> wallet_layout("binanceusdm", {"BTC/USDT:USDT": carry["BTC/USDT:USDT"]}).wallets
(<Wallet.FUTURES: 'futures'>,)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tradeloom.engine.market import MarketSpec


class Wallet(str, Enum):
    """A venue wallet a session's markets trade from."""

    SPOT = "spot"
    FUTURES = "futures"


#: ccxt ids of clients that reach a spot wallet and a separate futures wallet, with the
#: ``fetch_balance`` params that read each (ccxt's ``type`` param).
_SEPARATE_WALLETS: dict[str, dict[Wallet, dict[str, Any]]] = {
    "binance": {Wallet.SPOT: {"type": "spot"}, Wallet.FUTURES: {"type": "future"}},
}


@dataclass(frozen=True, slots=True)
class WalletLayout:
    """The wallets of one session: which it trades from and how to read each."""

    exchange_id: str
    wallets: tuple[Wallet, ...]

    @property
    def separate(self) -> bool:
        """True when the session trades from two wallets the venue keeps apart."""
        return len(self.wallets) > 1

    def trades(self, wallet: Wallet) -> bool:
        return wallet in self.wallets

    def params(self, wallet: Wallet) -> dict[str, Any]:
        """``fetch_balance`` params reading ``wallet``: ``{}`` (the client's default) for
        a venue with one wallet per client and for the spot wallet of a spot-only
        session; the wallet's own ``type`` otherwise."""
        named = _SEPARATE_WALLETS.get(self.exchange_id, {})
        if wallet is Wallet.SPOT and not self.separate:
            return {}
        return dict(named.get(wallet, {}))


def wallet_of(spec: MarketSpec) -> Wallet:
    """The wallet a market's fills move: a perpetual's the futures wallet."""
    return Wallet.FUTURES if spec.contract is not None else Wallet.SPOT


def wallet_layout(exchange_id: str, markets: Mapping[str, MarketSpec]) -> WalletLayout:
    """The wallets ``markets`` trade from on ``exchange_id`` (module docstring)."""
    kinds = {wallet_of(spec) for spec in markets.values()}
    if exchange_id not in _SEPARATE_WALLETS:
        # one wallet per client: it is the futures wallet when perpetuals trade on it
        kinds = {Wallet.FUTURES} if Wallet.FUTURES in kinds else {Wallet.SPOT}
    ordered = tuple(w for w in Wallet if w in kinds)
    return WalletLayout(exchange_id, ordered or (Wallet.SPOT,))


def futures_wallet(balance: Mapping[str, Any], quote: str) -> float:
    """The wallet balance of ``quote`` on a futures account: Binance's ``walletBalance``
    (``GET /fapi/v2/account`` assets; ccxt's ``total`` is the margin balance, which
    includes the open positions' unrealized PnL), else ccxt's total.

    >>> futures_wallet({"info": {"assets": [{"asset": "USDT", "walletBalance": "9990.5",
    ...                 "marginBalance": "9995.0"}]}, "total": {"USDT": 9995.0}}, "USDT")
    9990.5
    """
    info = balance.get("info")
    assets = info.get("assets") if isinstance(info, Mapping) else None
    for row in assets or []:
        if row.get("asset") == quote and row.get("walletBalance") is not None:
            return float(row["walletBalance"])
    return float((balance.get("total") or {}).get(quote) or 0.0)


def spot_wallet_shortfall(amount: float, price: float | None, quote_amount: float | None,
                          free_quote: float, spec: MarketSpec) -> str | None:
    """Why a spot buy cannot be paid from the spot wallet, or None when it can (or its
    price is unknown: the venue judges it). The session's cash counts both wallets, so
    the engine may approve a buy the spot wallet alone cannot pay; the venue refuses it
    (Binance ``-2010`` "Account has insufficient balance for requested action.", an
    error that stops trading) - refusing that one order here keeps the session running
    and says which wallet to fund.

    >>> spec = MarketSpec("BTC/USDT")
    >>> print(spot_wallet_shortfall(0.2, 30000.0, None, 5000.0, spec))
    buy of 0.2 BTC costs about 6000 USDT but the spot wallet holds 5000 USDT free (the session's cash counts the spot and futures wallets together; a spot buy is paid from the spot wallet alone): transfer USDT to the spot wallet or trade a smaller size
    >>> spot_wallet_shortfall(0.2, 30000.0, None, 6000.0, spec) is None
    True
    """
    cost = quote_amount if quote_amount is not None else (
        amount * price if price is not None and price > 0 else None)
    if cost is None or cost <= free_quote:
        return None
    what = (f"buy for {cost:.10g} {spec.quote}" if quote_amount is not None else
            f"buy of {amount:.10g} {spec.base} costs about {cost:.10g} {spec.quote}")
    return (f"{what} but the spot wallet holds {free_quote:.10g} {spec.quote} free (the session's cash counts "
            "the spot and futures wallets together; a spot buy is paid from the spot wallet "
            f"alone): transfer {spec.quote} to the spot wallet or trade a smaller size")


__all__ = ["Wallet", "WalletLayout", "futures_wallet", "spot_wallet_shortfall", "wallet_layout", "wallet_of"]
