"""Keep API keys and secrets out of log records, including ccxt's own debug logging.

ccxt logs every request at DEBUG on ``ccxt.base.exchange`` with its headers (Binance's
``X-MBX-APIKEY`` holds the API key) and signed query strings. A filter on that logger
rewrites each record with the registered secrets and any ``signature=...`` replaced by
``<redacted>`` before a handler sees it. Filters on a parent logger do not apply to
records of its children, so the filter sits on the emitting loggers themselves.

>>> install_secret_filter(["k3y-123"])
>>> rec = logging.LogRecord("ccxt.base.exchange", 10, "", 0, "key %s", ("k3y-123",), None)
>>> _FILTER.filter(rec), rec.getMessage()
(True, 'key <redacted>')
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

_SIGNATURE = re.compile(r"(signature=|sign['\"]?:\s*['\"]?)[0-9A-Za-z+/=%]+")
LOGGERS = ("ccxt.base.exchange", "tradeloom.adapters.ccxt.sender", "tradeloom.adapters.ccxt.broker",
           "tradeloom.adapters.ccxt.exchange")


class SecretFilter(logging.Filter):
    """Replaces registered secret strings and request signatures in every record."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: set[str] = set()

    def add(self, secrets: Iterable[str | None]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _SIGNATURE.sub(r"\1<redacted>", message)
        with self._lock:
            for secret in self._secrets:
                clean = clean.replace(secret, "<redacted>")
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = SecretFilter()


def install_secret_filter(secrets: Iterable[str | None]) -> None:
    """Register ``secrets`` and make sure the filter sits on ccxt's and our loggers."""
    _FILTER.add(secrets)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
