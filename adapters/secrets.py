"""Secrets: the one rule for what counts as a credential.

Credentials come only from the environment or a secrets file, never from a config
file, a journal, an audit entry, a log record or a report. Every place that must
refuse or scrub them asks this module.

>>> reject_credentials({"exchange": {"id": "binance"}, "credentials": {"api_key_env": "K"}})
>>> reject_credentials({"exchange": {"apiKey": "abc"}})
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: config key 'exchange.apiKey' looks like a credential; credentials never go in a config file - set the environment variables named in [credentials] (default TRADELOOM_API_KEY / TRADELOOM_API_SECRET) or name a secrets_file
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tradeloom.engine.errors import ConfigError

_CREDENTIAL_KEY = re.compile(
    r"^(api_?key|apikey|secret|api_?secret|password|passphrase|private_?key|token|uid)$",
    re.IGNORECASE)
_ALLOWED = {"secrets_file", "api_key_env", "secret_env", "password_env"}


def reject_credentials(data: Any, path: str = "") -> None:
    """Raise ``ConfigError`` if any key of ``data`` (recursively) looks like a credential."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            name = str(key)
            where = f"{path}.{name}" if path else name
            if name not in _ALLOWED and _CREDENTIAL_KEY.match(name):
                raise ConfigError(
                    f"config key {where!r} looks like a credential; credentials never go in a "
                    "config file - set the environment variables named in [credentials] "
                    "(default TRADELOOM_API_KEY / TRADELOOM_API_SECRET) or name a secrets_file")
            reject_credentials(value, where)
    elif isinstance(data, (list, tuple)):
        for item in data:
            reject_credentials(item, path)


__all__ = ["reject_credentials"]
