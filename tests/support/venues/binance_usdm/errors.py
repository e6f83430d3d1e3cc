"""Binance USDⓈ-M futures error answers: ``{"code": -2019, "msg": "..."}`` with HTTP 400.

The error class is the spot emulator's :class:`~venues.binance_spot.errors.BinanceError`
(same body shape and HTTP status rules: derivatives docs "Error Codes" page shares
the -1xxx codes with spot). The futures-only codes and texts below are those of the
USDⓈ-M "Error Codes" page (developers.binance.com/docs/derivatives/
usds-margined-futures/error-code), as also quoted in ccxt 4.5.90
``binance.describe()['exceptions']`` (comments next to -2019, -2022, -4164, -4046).

>>> margin_insufficient().body()
{'code': -2019, 'msg': 'Margin is insufficient.'}
>>> min_notional("100").msg
"Order's notional must be no smaller than 100 (unless you choose reduce only)."
"""

from __future__ import annotations

from venues.binance_spot.errors import BinanceError

__all__ = ["BinanceError", "bad_leverage", "margin_insufficient", "margin_type_unchanged",
           "min_notional", "no_such_order", "open_orders_block_margin_type",
           "position_blocks_margin_type", "post_only_rejected", "reduce_only_rejected",
           "unknown_order"]


def margin_insufficient() -> BinanceError:
    """-2019 MARGIN_NOT_SUFFICIEN: "Margin is insufficient."."""
    return BinanceError(-2019, "Margin is insufficient.")


def reduce_only_rejected() -> BinanceError:
    """-2022 REDUCE_ONLY_REJECT: "ReduceOnly Order is rejected."."""
    return BinanceError(-2022, "ReduceOnly Order is rejected.")


def bad_leverage(leverage: object) -> BinanceError:
    """-4028 INVALID_LEVERAGE: "Leverage {0} is not valid" (error-code page text)."""
    return BinanceError(-4028, f"Leverage {leverage} is not valid")


def margin_type_unchanged() -> BinanceError:
    """-4046 NO_NEED_TO_CHANGE_MARGIN_TYPE: "No need to change margin type."."""
    return BinanceError(-4046, "No need to change margin type.")


def open_orders_block_margin_type() -> BinanceError:
    """-4047 MARGIN_TYPE_CANNOT_BE_CHANGED_IF_THERE_EXISTS_OPEN_ORDERS."""
    return BinanceError(-4047, "Margin type cannot be changed if there exists open orders.")


def position_blocks_margin_type() -> BinanceError:
    """-4048 MARGIN_TYPE_CANNOT_BE_CHANGED_IF_THERE_EXISTS_POSITION."""
    return BinanceError(-4048, "Margin type cannot be changed if there exists position.")


def min_notional(notional: str) -> BinanceError:
    """-4164 MIN_NOTIONAL (text as ccxt quotes it for ETHUSDT's 20)."""
    return BinanceError(-4164, f"Order's notional must be no smaller than {notional} "
                               "(unless you choose reduce only).")


def post_only_rejected() -> BinanceError:
    """-5022 GTX_ORDER_REJECT (ccxt binanceusdm ``exceptions.exact['-5022']``)."""
    return BinanceError(-5022, "Due to the order could not be executed as maker, the Post "
                               "Only order will be rejected.")


def unknown_order() -> BinanceError:
    """-2011 CANCEL_REJECTED "Unknown order sent." (cancel of a missing/finished order)."""
    return BinanceError(-2011, "Unknown order sent.")


def no_such_order() -> BinanceError:
    """-2013 NO_SUCH_ORDER "Order does not exist."."""
    return BinanceError(-2013, "Order does not exist.")
