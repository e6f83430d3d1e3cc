r"""Request parameter parsing shared by the USDⓈ-M routes (texts from "Error Codes").

Decimals must match ``^([0-9]{1,20})(\.[0-9]{1,20})?$`` (-1100 otherwise); mandatory
parameters missing are -1102; list endpoints take ``limit`` within their documented
maximum (-1130); Account Trade List, Get Income History and All Orders answer "the
last 7 days" when neither ``startTime`` nor ``endTime`` is sent.

>>> recent({}, now=10 * DAY_MS)
(259200000, None)
>>> decimal({"quantity": "0.010"}, "quantity")
Decimal('0.010')
"""

from __future__ import annotations

import re

from venues.binance_spot.errors import BinanceError
from venues.common.money import Decimal, dec

_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
DAY_MS = 86_400_000
#: Account Trade List / Income / All Orders default window: "the last 7 days"
RECENT_MS = 7 * DAY_MS
Params = dict[str, str]


def decimal(p: Params, name: str) -> Decimal | None:
    text = p.get(name)
    if text in (None, ""):
        return None
    if not _DECIMAL.match(text):
        raise BinanceError.illegal_chars(name)
    return dec(text)


def integer(p: Params, name: str) -> int | None:
    text = p.get(name)
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise BinanceError.illegal_chars(name) from None


def required(p: Params, name: str) -> str:
    value = p.get(name)
    if not value:
        raise BinanceError.mandatory(name)
    return value


def page_limit(p: Params, default: int, maximum: int) -> int:
    value = integer(p, "limit") or default
    if not 1 <= value <= maximum:
        raise BinanceError.invalid_param("limit")
    return value


def recent(p: Params, now: int) -> tuple[int | None, int | None]:
    """(startTime, endTime), defaulting to the last 7 days when neither is sent."""
    start, end = integer(p, "startTime"), integer(p, "endTime")
    if start is None and end is None:
        return now - RECENT_MS, None
    return start, end
