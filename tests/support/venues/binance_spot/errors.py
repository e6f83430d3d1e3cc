"""Binance's error answers: ``{"code": -1013, "msg": "..."}`` with an HTTP status.

Codes and texts are those of binance-spot-api-docs ``errors.md`` (section named at
each constant); the HTTP status follows rest-api.md "HTTP Return Codes" (4XX for
the sender's mistakes, 429 rate limit, 418 IP ban).

>>> err = BinanceError.filter_failure("LOT_SIZE")
>>> err.code, err.msg, err.body()
(-1013, 'Filter failure: LOT_SIZE', {'code': -1013, 'msg': 'Filter failure: LOT_SIZE'})
"""

from __future__ import annotations

from typing import Any

# errors.md "Messages for -1010 ERROR_MSG_RECEIVED, -2010 NEW_ORDER_REJECTED, -2011
# CANCEL_REJECTED": the matching engine's texts.
INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."
UNKNOWN_ORDER = "Unknown order sent."
DUPLICATE_ORDER = "Duplicate order sent."
WOULD_TAKE = "Order would immediately match and take."


class BinanceError(Exception):
    """A Binance error answer."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}

    # -- the ones the emulator raises, by errors.md section ------------------------
    @classmethod
    def filter_failure(cls, name: str) -> BinanceError:
        """-1013 INVALID_MESSAGE with errors.md "Filter failures" text."""
        return cls(-1013, f"Filter failure: {name}")

    @classmethod
    def new_order_rejected(cls, msg: str) -> BinanceError:
        """-2010 NEW_ORDER_REJECTED with one of the matching engine's messages."""
        return cls(-2010, msg)

    @classmethod
    def cancel_rejected(cls, msg: str = UNKNOWN_ORDER) -> BinanceError:
        """-2011 CANCEL_REJECTED ("Unknown order sent." for a missing/finished order)."""
        return cls(-2011, msg)

    @classmethod
    def no_such_order(cls) -> BinanceError:
        """-2013 NO_SUCH_ORDER."""
        return cls(-2013, "Order does not exist.")

    @classmethod
    def bad_symbol(cls) -> BinanceError:
        """-1121 BAD_SYMBOL."""
        return cls(-1121, "Invalid symbol.")

    @classmethod
    def mandatory(cls, name: str) -> BinanceError:
        """-1102 MANDATORY_PARAM_EMPTY_OR_MALFORMED."""
        return cls(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                          "or malformed.")

    @classmethod
    def bad_precision(cls, name: str) -> BinanceError:
        """-1111 BAD_PRECISION."""
        return cls(-1111, f"Parameter '{name}' has too much precision.")

    @classmethod
    def illegal_chars(cls, name: str) -> BinanceError:
        """-1100 ILLEGAL_CHARS."""
        return cls(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                          "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")

    @classmethod
    def invalid_param(cls, name: str) -> BinanceError:
        """-1130 INVALID_PARAMETER."""
        return cls(-1130, f"Data sent for parameter '{name}' is not valid.")
