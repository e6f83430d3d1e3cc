"""Binance request signing (HMAC keys) and timing security, REST and websocket API.

REST (rest-api.md "SIGNED Endpoint Examples for POST /api/v3/order", "HMAC Keys"):
"The signature payload of your request is the query string concatenated without
separator to the HTTP body"; the signature is the hex HMAC-SHA256 of that payload
keyed by the secret, sent as the ``signature`` parameter; "Signatures generated
using HMAC are not case-sensitive". The key is the ``X-MBX-APIKEY`` header.

Websocket API (web-socket-api.md "SIGNED request example (HMAC)"): take all params
except ``signature``, sort them by name, join ``name=value`` with ``&`` (values in
UTF-8), HMAC-SHA256 hex.

Timing (both, "Timing security"): ``timestamp < serverTime + 1000`` and
``serverTime - timestamp <= recvWindow``; ``recvWindow`` defaults to 5000 and may
not exceed 60000. Errors: -2014 "API-key format invalid.", -2015 "Invalid API-key,
IP, or permissions for action." (HTTP 401), -1022 "Signature for this request is
not valid.", -1021 with its two texts, -1102 for a missing signature/timestamp
(errors.md).

>>> sig = hmac_hex("secret", "symbol=BTCUSDT&timestamp=5")
>>> check_signature("secret", "symbol=BTCUSDT&timestamp=5", sig.upper())
>>> check_timing(timestamp=1000, recv_window=None, server_ms=7000)
Traceback (most recent call last):
...
venues.binance_spot.errors.BinanceError: -1021: Timestamp for this request is outside \
of the recvWindow.
>>> ws_payload({"timestamp": 5, "apiKey": "k", "signature": "x"})
'apiKey=k&timestamp=5'
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from venues.binance_spot.errors import BinanceError

DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def check_signature(secret: str, payload: str, signature: str | None) -> None:
    if not signature:
        raise BinanceError.mandatory("signature")
    if not hmac.compare_digest(hmac_hex(secret, payload), signature.lower()):
        raise BinanceError(-1022, "Signature for this request is not valid.")


def rest_payload(query_string: str, body: str) -> tuple[str, str | None]:
    """(signed payload, signature) from the raw query string and form body."""
    total = query_string + body
    parts = total.split("&")
    signature = None
    kept = []
    for part in parts:
        if part.startswith("signature=") and signature is None:
            signature = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), signature


def ws_payload(params: Mapping[str, Any]) -> str:
    """The websocket API's signature payload: params but ``signature``, sorted by name."""
    return "&".join(f"{k}={_text(v)}" for k, v in sorted(params.items()) if k != "signature")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_timing(*, timestamp: Any, recv_window: Any, server_ms: int) -> None:
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        raise BinanceError.mandatory("timestamp") from None
    try:
        window = float(recv_window) if recv_window not in (None, "") else DEFAULT_RECV_WINDOW
    except (TypeError, ValueError):
        raise BinanceError.illegal_chars("recvWindow") from None
    if window > MAX_RECV_WINDOW:
        raise BinanceError.invalid_param("recvWindow")
    if stamp >= server_ms + 1000:
        raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the "
                                  "server's time.")
    if server_ms - stamp > window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def check_key(api_key: str | None, known: Mapping[str, Any]) -> Any:
    """The account for ``api_key`` or the documented error (HTTP 401)."""
    if not api_key:
        raise BinanceError(-2014, "API-key format invalid.", 401)
    account = known.get(api_key)
    if account is None:
        raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    return account
