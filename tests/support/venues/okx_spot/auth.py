"""OKX request authentication, REST and websocket login.

REST (OKX docs "REST Authentication"): headers ``OK-ACCESS-KEY``, ``OK-ACCESS-SIGN``,
``OK-ACCESS-TIMESTAMP`` (ISO 8601 UTC with milliseconds), ``OK-ACCESS-PASSPHRASE``;
the sign is Base64(HMAC-SHA256(timestamp + METHOD + requestPath + body)), GET query
parameters being part of requestPath; "The server rejects requests where this differs
from server time by more than 30 seconds (error 50102)". Errors (API class, HTTP
401): 50103-50107 empty headers, 50105 passphrase, 50111 key, 50112 timestamp
format, 50113 signature.

Websocket (docs "Login"): ``{"op": "login", "args": [{apiKey, passphrase, timestamp
(seconds), sign}]}`` with sign = Base64(HMAC-SHA256(timestamp + 'GET' +
'/users/self/verify')); "The request will expire 30 seconds after the timestamp".
Errors (docs "Error Code", websocket): 60005 Invalid apiKey, 60006 Timestamp request
expired, 60007 Invalid sign, 60024 Wrong passphrase.

>>> sign("s", "2020-12-08T09:08:57.715ZGET/api/v5/account/balance")[:8]
's0ANUy47'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from venues.okx_spot.errors import OkxError

WINDOW_MS = 30_000


def sign(secret: str, prehash: str) -> str:
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_rest(headers: Mapping[str, str], method: str, path_qs: str, body: str,
               accounts: Mapping[str, Any], now_ms: int) -> Any:
    """The account a signed REST request belongs to, or the documented error."""
    values = {name: headers.get(f"OK-ACCESS-{name}") for name in
              ("KEY", "PASSPHRASE", "SIGN", "TIMESTAMP")}
    for code, name in (("50103", "KEY"), ("50104", "PASSPHRASE"), ("50106", "SIGN"),
                       ("50107", "TIMESTAMP")):
        if not values[name]:
            raise OkxError(code, f'Request header "OK-ACCESS-{name}" cannot be empty.', 401)
    account = accounts.get(values["KEY"])
    if account is None:
        raise OkxError("50111", "Invalid OK-ACCESS-KEY.", 401)
    try:
        stamp = datetime.fromisoformat(values["TIMESTAMP"].replace("Z", "+00:00"))
    except ValueError:
        raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP.", 401) from None
    if abs(now_ms - int(stamp.timestamp() * 1000)) > WINDOW_MS:
        raise OkxError("50102", "Timestamp request expired.", 401)
    if values["PASSPHRASE"] != account.passphrase:
        raise OkxError("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)
    expected = sign(account.secret, values["TIMESTAMP"] + method + path_qs + body)
    if not hmac.compare_digest(expected, values["SIGN"]):
        raise OkxError("50113", "Invalid signature.", 401)
    return account


def check_login(arg: Mapping[str, Any], accounts: Mapping[str, Any], now_ms: int) -> Any:
    """The account a websocket ``login`` argument logs in, or the documented error."""
    account = accounts.get(arg.get("apiKey"))
    if account is None:
        raise OkxError("60005", "Invalid apiKey")
    try:
        stamp = int(float(arg.get("timestamp", "")))
    except ValueError:
        raise OkxError("60004", "Invalid timestamp") from None
    if abs(now_ms - stamp * 1000) > WINDOW_MS:
        raise OkxError("60006", "Timestamp request expired")
    if arg.get("passphrase") != account.passphrase:
        raise OkxError("60024", "Wrong passphrase")
    expected = sign(account.secret, f"{arg.get('timestamp')}GET/users/self/verify")
    if not hmac.compare_digest(expected, str(arg.get("sign", ""))):
        raise OkxError("60007", "Invalid sign")
    return account
