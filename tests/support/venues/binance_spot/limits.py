"""Binance's IP request-weight limit: 429 with Retry-After, then a 418 IP ban.

rest-api.md "LIMITS" / "IP Limits":

- each route has a weight; the REQUEST_WEIGHT limit is per minute per IP, and every
  answer carries ``X-MBX-USED-WEIGHT-1M`` with the weight used so far;
- "Requests fail with HTTP status code 429 when you exceed the request rate limit";
- "Repeatedly violating rate limits and/or failing to back off after receiving 429s
  will result in an automated IP ban (HTTP status 418)";
- "IP bans are tracked and scale in duration for repeat offenders, from 2 minutes to
  3 days";
- "A Retry-After header is sent with a 418 or 429 responses and will give the number
  of seconds required to wait, in the case of a 429, to prevent a ban, or, in the
  case of a 418, until the ban is over."

Bodies are -1003 TOO_MANY_REQUESTS with errors.md's texts (the 418 text as in
web-socket-api.md "IP limits": "Way too much request weight used; IP banned until
<ms>. ..."). How many ignored 429s trigger a ban is not published; it is the
``ban_after`` setting (default 2 further requests after the first 429 in a window).
Every request adds its weight, answered or not, so a client that does not back off
stays over the limit until the minute ends. Windows are calendar minutes of the limiter's clock,
which tests can move with :meth:`WeightLimiter.elapse` instead of waiting.

>>> lim = WeightLimiter(limit=10, ban_after=1, clock=lambda: 120.0)
>>> [lim.charge(4).status for _ in range(3)]
[200, 200, 429]
>>> v = lim.charge(1); v.status, v.retry_after_s, v.used
(418, 120, 13)
>>> lim.charge(1).body()["code"]
-1003
>>> lim.elapse(121); lim.charge(1).status
200
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_BAN_S = 3 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the limiter says about one request."""

    status: int  # 200, 429 or 418
    used: int
    retry_after_s: int = 0
    message: str = ""

    def body(self) -> dict[str, Any]:
        return {"code": -1003, "msg": self.message}


class WeightLimiter:
    """REQUEST_WEIGHT per minute, with the ban escalation (not thread-safe: the server
    loop is its only caller)."""

    def __init__(self, *, limit: int = 6000, ban_after: int = 2, first_ban_s: int = 120,
                 clock: Callable[[], float] = time.time) -> None:
        self.limit, self.ban_after, self.first_ban_s = limit, ban_after, first_ban_s
        self._clock = clock
        self._offset = 0.0
        self._window = -1
        self.used = 0
        self._violations = 0
        self._banned_until = 0.0
        self._next_ban_s = first_ban_s

    def now(self) -> float:
        return self._clock() + self._offset

    def elapse(self, seconds: float) -> None:
        """Let ``seconds`` pass for the limiter only (windows roll, bans end)."""
        self._offset += seconds

    def charge(self, weight: int) -> Verdict:
        now = self.now()
        window = int(now // 60)
        if window != self._window:
            self._window, self.used, self._violations = window, 0, 0
        if now < self._banned_until:
            return self._ban_verdict(now)
        self.used += weight
        if self.used <= self.limit:
            return Verdict(200, self.used)
        self._violations += 1
        if self._violations > self.ban_after:
            self._banned_until = now + self._next_ban_s
            self._next_ban_s = min(self._next_ban_s * 2, MAX_BAN_S)
            return self._ban_verdict(now)
        retry = math.ceil((window + 1) * 60 - now)
        return Verdict(429, self.used, retry,
                       f"Too much request weight used; current limit is {self.limit} request "
                       "weight per 1 MINUTE. Please use WebSocket Streams for live updates to "
                       "avoid polling the API.")

    def _ban_verdict(self, now: float) -> Verdict:
        until_ms = int(self._banned_until * 1000)
        return Verdict(418, self.used, math.ceil(self._banned_until - now),
                       f"Way too much request weight used; IP banned until {until_ms}. Please "
                       "use WebSocket Streams for live updates to avoid bans.")


def route_weight(method: str, path: str, params: dict[str, Any]) -> int:
    """The documented weight of a route (rest-api.md, "Weight:" of each endpoint)."""
    if path == "/api/v3/depth":
        limit = int(params.get("limit") or 100)
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if path == "/api/v3/openOrders" and method == "GET":
        return 6 if params.get("symbol") else 80
    if path == "/api/v3/myTrades":
        return 5 if params.get("orderId") else 20
    if path == "/api/v3/order" and method == "GET":
        return 4
    return {"/api/v3/exchangeInfo": 20, "/api/v3/klines": 2, "/api/v3/allOrders": 20,
            "/api/v3/account": 20}.get(path, 1)
