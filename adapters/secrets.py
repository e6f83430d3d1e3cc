"""Secrets: the one rule for what counts as a credential, and the one redactor.

Credentials come only from the environment or a secrets file, never from a config
file, a journal, an audit entry, a log record or a report. Every place that must
refuse or scrub them asks this module:

- :func:`is_credential_key` is the credential-name rule (config keys, journal payload
  keys, audit detail keys); :func:`credential_keys` finds such keys in nested data and
  :func:`reject_credentials` refuses a config that has one.
- :func:`redact_secrets_in_logs` registers this process's secret strings and puts the
  one log filter (:data:`REDACTOR`) on every logger that can carry them. ccxt logs
  every request at DEBUG on ``ccxt.base.exchange`` with its headers (Binance's
  ``X-MBX-APIKEY`` holds the API key) and signed query strings; urllib3 logs the
  signed URL. The filter rewrites each record (message and traceback) with the
  registered secrets and any ``signature=...`` replaced by ``<redacted>`` before a
  handler sees it.
- :func:`scrub` is the same replacement for text that does not go through logging
  (exception messages built from ccxt errors, reports).

**The credential-name rule.** A key is a credential if its name, lower-cased with
everything but letters and digits removed, contains ``apikey``, ``privatekey``,
``secretkey``, ``accesskey``, ``secret``, ``passw``, ``passphrase``, ``token``,
``signature`` or ``credential``, or is exactly ``uid`` - unless it names *where* a
secret comes from: ``secrets_file``, ``api_key_env``, ``secret_env``,
``password_env``, ``token_env``, or the config table ``credentials`` that holds
those (a table only: its keys are checked like any other).

**Why filters on named loggers.** Python applies a logger's filters only to records
that logger creates, not to records of its children passing through, so the filter
sits on each emitting logger: ccxt's, urllib3's and aiohttp's, and every
``tradeloom.*`` logger that exists when a session starts (``redact_secrets_in_logs``
is called again by each session and broker, and is idempotent).

>>> reject_credentials({"exchange": {"id": "binance"}, "credentials": {"api_key_env": "K"}})
>>> reject_credentials({"exchange": {"apiKey": "abc"}})
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: config key 'exchange.apiKey' looks like a credential; credentials never go in a config file - set the environment variables named in [credentials] (default TRADELOOM_API_KEY / TRADELOOM_API_SECRET) or name a secrets_file
>>> [is_credential_key(k) for k in ("X-MBX-APIKEY", "auth_token", "api_key_env", "key")]
[True, True, False, False]
>>> redact_secrets_in_logs("k3y-123")
>>> rec = logging.LogRecord("ccxt.base.exchange", 10, "", 0, "key %s", ("k3y-123",), None)
>>> REDACTOR.filter(rec), rec.getMessage()
(True, 'key <redacted>')
>>> scrub("GET /api/v3/order?timestamp=1&signature=deadbeef01")
'GET /api/v3/order?timestamp=1&signature=<redacted>'
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from tradeloom.engine.errors import ConfigError

_CREDENTIAL = re.compile(
    r"apikey|privatekey|secretkey|accesskey|secret|passw|passphrase|token|signature|credential"
    r"|^uid$")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
#: Names of where a secret comes from (an environment variable, a file), never a secret.
ALLOWED_NAMES = frozenset({"secrets_file", "api_key_env", "secret_env", "password_env",
                           "token_env"})
#: Tables that hold such names; allowed as a table, refused as a value.
_SECTIONS = frozenset({"credentials"})

_SIGNATURE = re.compile(r"(signature=|sign['\"]?:\s*['\"]?)[0-9A-Za-z+/=%]+")
REDACTED = "<redacted>"
#: Loggers that can carry a secret, filtered by name (plus every ``tradeloom.*`` logger).
LOGGERS = ("ccxt", "ccxt.base.exchange", "urllib3.connectionpool", "aiohttp.client", "asyncio",
           "tradeloom", "tradeloom.adapters.ccxt.exchange", "tradeloom.adapters.ccxt.broker",
           "tradeloom.adapters.ccxt.sender", "tradeloom.adapters.ccxt.bar_feed",
           "tradeloom.adapters.ccxt.trade_feed", "tradeloom.adapters.live.runner",
           "tradeloom.app.session")


def is_credential_key(name: str) -> bool:
    """Whether a key named ``name`` would hold a credential (see the module docstring)."""
    if name in ALLOWED_NAMES:
        return False
    return _CREDENTIAL.search(_NOT_ALNUM.sub("", name.lower())) is not None


def credential_keys(data: Any, path: str = "") -> Iterator[str]:
    """The dotted path of every credential-like key in ``data`` (mappings and lists, nested)."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            name = str(key)
            where = f"{path}.{name}" if path else name
            if is_credential_key(name) and not (name in _SECTIONS and isinstance(value, Mapping)):
                yield where
            yield from credential_keys(value, where)
    elif isinstance(data, (list, tuple)):
        for item in data:
            yield from credential_keys(item, path)


def reject_credentials(data: Any) -> None:
    """Raise ``ConfigError`` if any key of ``data`` (recursively) looks like a credential."""
    where = next(credential_keys(data), None)
    if where is not None:
        raise ConfigError(
            f"config key {where!r} looks like a credential; credentials never go in a "
            "config file - set the environment variables named in [credentials] "
            "(default TRADELOOM_API_KEY / TRADELOOM_API_SECRET) or name a secrets_file")


class SecretRedactor(logging.Filter):
    """Replaces registered secrets and request signatures in every record it sees."""

    def __init__(self) -> None:
        super().__init__("tradeloom-secrets")
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()  # longest first, replaced as a whole tuple

    def add(self, *secrets: str | None) -> None:
        """Register secret strings (``None`` and empty strings are ignored)."""
        with self._lock:
            known = set(self._secrets).union(s for s in secrets if s)
            self._secrets = tuple(sorted(known, key=lambda s: (-len(s), s)))

    def scrub(self, text: str) -> str:
        """``text`` with every registered secret and request signature replaced."""
        clean = _SIGNATURE.sub(rf"\1{REDACTED}", text)
        for secret in self._secrets:
            clean = clean.replace(secret, REDACTED)
        return clean

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set: format the traceback once, scrubbed.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


#: The process's one redactor (logging is process-wide, so the registry is too).
REDACTOR = SecretRedactor()


def redact_secrets_in_logs(*secrets: str | None) -> None:
    """Register ``secrets`` and make sure every logger that could print them is filtered."""
    REDACTOR.add(*secrets)
    names = set(LOGGERS).union(
        name for name in list(logging.root.manager.loggerDict)
        if name.startswith(("tradeloom.", "ccxt.")))
    for name in sorted(names):
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)


def scrub(text: str) -> str:
    """``text`` with request signatures and every registered secret replaced by ``<redacted>``."""
    return REDACTOR.scrub(text)


__all__ = ["ALLOWED_NAMES", "LOGGERS", "REDACTED", "REDACTOR", "SecretRedactor",
           "credential_keys", "is_credential_key", "redact_secrets_in_logs", "reject_credentials",
           "scrub"]
