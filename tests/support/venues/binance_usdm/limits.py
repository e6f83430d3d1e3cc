"""USDⓈ-M request weights and the -1003 answers (the limiter is the spot emulator's).

"General Info" LIMITS: every answer carries ``X-MBX-USED-WEIGHT-1M``; breaking the
REQUEST_WEIGHT limit (exchangeInfo: 2400 a minute) is HTTP 429, "Repeatedly violating
rate limits and/or failing to back off after receiving 429s will result in an
automated IP ban (HTTP status 418)", bans "scale in duration for repeat offenders,
from 2 minutes to 3 days". The counting, Retry-After and ban escalation are
:class:`venues.binance_spot.limits.WeightLimiter` (same rules, cited there); the
futures texts differ and come from "Error Codes" -1003: "Too many requests; current
limit is %s requests per minute. Please use the websocket for live updates to avoid
polling the API." and "Way too many requests; IP banned until %s. Please use the
websocket for live updates to avoid bans.".

Weights are each endpoint page's "Request Weight" (New Order: "0 on IP rate limit",
it counts against the order limits instead).

>>> route_weight("GET", "/fapi/v1/klines", {"limit": "1500"}), route_weight(
...     "GET", "/fapi/v1/openOrders", {}), route_weight("POST", "/fapi/v1/order", {})
(10, 40, 0)
>>> usdm_verdict(Verdict(429, 2401, 5, "spot text"), limit=2400).message[:36]
'Too many requests; current limit is '
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from venues.binance_spot.limits import Verdict, WeightLimiter

__all__ = ["REQUEST_WEIGHT_LIMIT", "Verdict", "WeightLimiter", "route_weight",
           "usdm_verdict"]

#: exchangeInfo ``rateLimits`` REQUEST_WEIGHT per minute ("Common Definition" example)
REQUEST_WEIGHT_LIMIT = 2400

_FIXED = {
    "/fapi/v1/ping": 1, "/fapi/v1/time": 1, "/fapi/v1/exchangeInfo": 1,
    "/fapi/v1/fundingRate": 0,  # a separate 500/5min/IP limit shared with fundingInfo
    "/fapi/v1/leverageBracket": 1, "/fapi/v1/leverage": 1, "/fapi/v1/marginType": 1,
    "/fapi/v1/allOrders": 5, "/fapi/v1/userTrades": 5, "/fapi/v1/income": 30,
    "/fapi/v1/symbolConfig": 5, "/fapi/v1/commissionRate": 20,
    "/fapi/v1/positionSide/dual": 30, "/fapi/v1/allOpenOrders": 1, "/fapi/v1/listenKey": 1,
}
_PER_SYMBOL = {  # (with symbol, without symbol)
    "/fapi/v1/premiumIndex": (1, 10), "/fapi/v1/ticker/24hr": (1, 40),
    "/fapi/v1/ticker/price": (1, 2), "/fapi/v1/ticker/bookTicker": (2, 5),
    "/fapi/v1/openOrders": (1, 40),
}
_ACCOUNT = re.compile(r"^/fapi/v[23]/(positionRisk|account|balance)$")


def route_weight(method: str, path: str, params: dict[str, Any]) -> int:
    """The documented weight of a ``/fapi`` route."""
    if path == "/fapi/v1/order":
        return 0 if method == "POST" else 1
    if path in ("/fapi/v1/klines", "/fapi/v1/markPriceKlines"):
        limit = int(params.get("limit") or 500)
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if path == "/fapi/v1/depth":
        limit = int(params.get("limit") or 500)
        return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
    if path in _PER_SYMBOL:
        with_symbol, without = _PER_SYMBOL[path]
        return with_symbol if params.get("symbol") else without
    if _ACCOUNT.match(path):
        return 5
    return _FIXED.get(path, 1)


def usdm_verdict(verdict: Verdict, *, limit: int) -> Verdict:
    """``verdict`` with the futures -1003 texts."""
    if verdict.status == 429:
        return replace(verdict, message=f"Too many requests; current limit is {limit} "
                       "requests per minute. Please use the websocket for live updates to "
                       "avoid polling the API.")
    if verdict.status == 418:
        until = verdict.message.split("until ")[1].split(".")[0]
        return replace(verdict, message=f"Way too many requests; IP banned until {until}. "
                       "Please use the websocket for live updates to avoid bans.")
    return verdict
