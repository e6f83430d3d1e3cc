"""User data stream payloads: ORDER_TRADE_UPDATE and ACCOUNT_UPDATE.

Shapes: USDⓈ-M user data streams "Event: Order Update" (``e``, ``E`` event time,
``T`` transaction time, ``o`` with ``s`` symbol, ``c`` client order id, ``S`` side,
``o`` order type, ``f`` time in force, ``q`` quantity, ``p`` price, ``ap`` average
price, ``sp`` stop price, ``x`` execution type, ``X`` order status, ``i`` order id,
``l`` last filled qty, ``z`` cumulative filled qty, ``L`` last price, ``N``
commission asset, ``n`` commission, ``T`` trade time, ``t`` trade id, ``b``/``a``
bid/ask notional, ``m`` maker, ``R`` reduce only, ``wt``, ``ot`` original type,
``ps`` position side, ``cp``, ``rp`` realised profit of the trade, ``V``, ``pm``,
``gtd``, ``er`` expire reason) and "Event: Balance and Position Update" (``a.m``
reason: ORDER, FUNDING_FEE, MARGIN_TYPE_CHANGE, ...; ``a.B`` balances
``a``/``wb``/``cw``/``bc`` - "bc" is "the balance change except for PnL and
commission", so 0 for fills; ``a.P`` "only symbols of changed positions": ``s``/``pa``/
``ep``/``bep``/``cr`` (pre-fee) accumulated realised/``up``/``mt``/``iw``/``ps``;
funding on a crossed position pushes ``B`` only, on an isolated one ``B`` and that
position). Liquidation: order type LIQUIDATION, client id "autoclose-XXX", "X shows as
NEW", and execution type CALCULATED ("Liquidation Execution"). Leverage changes push
"ACCOUNT_CONFIG_UPDATE" with ``ac: {s, l}``. Source: the USDⓈ-M "User Data Streams"
pages (developers.binance.com, mirrored in rosssaunders/coincise
``docs/binance/usdm/private_websocket_api.md``).

>>> from venues.binance_usdm.orders import Order
>>> from venues.common.money import dec
>>> o = Order(7, "c", "BTCUSDT", "BUY", "MARKET", "GTC", dec("0.01"), dec("0"), False, 5)
>>> order_update(o, execution="NEW", time=5)["o"]["X"]
'NEW'
"""

from __future__ import annotations

from typing import Any

from venues.binance_usdm.orders import Order, Trade
from venues.binance_usdm.position import Position
from venues.common.money import ZERO, Decimal, plain


def order_update(order: Order, *, execution: str, time: int,
                 trade: Trade | None = None) -> dict[str, Any]:
    return {
        "e": "ORDER_TRADE_UPDATE", "E": time, "T": time,
        "o": {"s": order.symbol, "c": order.client_id, "S": order.side, "o": order.type,
              "f": order.tif, "q": plain(order.qty), "p": plain(order.price),
              "ap": plain(order.avg_price), "sp": "0", "x": execution,
              "X": order.status.value, "i": order.order_id,
              "l": plain(trade.qty) if trade else "0", "z": plain(order.filled),
              "L": plain(trade.price) if trade else "0", "N": "USDT",
              "n": plain(trade.commission) if trade else "0", "T": time,
              "t": trade.trade_id if trade else 0, "b": "0", "a": "0",
              "m": trade.maker if trade else False, "R": order.reduce_only,
              "wt": "CONTRACT_PRICE", "ot": order.type, "ps": "BOTH", "cp": False,
              "rp": plain(trade.realized_pnl) if trade else "0", "pP": False, "si": 0,
              "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0,
              "er": str(order.expire_reason)}}


def account_update(*, reason: str, time: int, wallet: Decimal, cross_wallet: Decimal,
                   change: Decimal, positions: list[tuple[Position, Decimal, str,
                                                          Decimal]]) -> dict[str, Any]:
    """``positions``: (position, unrealised PnL, margin type, isolated wallet)."""
    return {
        "e": "ACCOUNT_UPDATE", "E": time, "T": time,
        "a": {"m": reason,
              "B": [{"a": "USDT", "wb": plain(wallet), "cw": plain(cross_wallet),
                     "bc": plain(change)}],
              "P": [{"s": p.symbol, "pa": plain(p.amount), "ep": plain(p.entry),
                     "bep": plain(p.entry), "cr": plain(p.accumulated), "up": plain(up),
                     "mt": margin_type.lower(), "iw": plain(iw if iw else ZERO),
                     "ps": "BOTH"} for p, up, margin_type, iw in positions]}}


def config_update(*, market_id: str, leverage: int, time: int) -> dict[str, Any]:
    """ACCOUNT_CONFIG_UPDATE for a leverage change."""
    return {"e": "ACCOUNT_CONFIG_UPDATE", "E": time, "T": time,
            "ac": {"s": market_id, "l": leverage}}
