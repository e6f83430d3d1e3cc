"""API-key age: warn when the key a live session trades with is older than its rotation
period.

Why: exchange keys leak through laptops, CI logs and old servers; rotating them on a
schedule limits the damage, and people forget. A key's creation date comes from, in
this order:

1. ``credentials.key_created`` in the config (``key_created = 2025-01-31``);
2. ``created = 2025-01-31`` in the ``secrets_file`` (next to ``api_key``/``secret``);
3. the ``secrets_file``'s modification time (when the key was written there).

Keys from environment variables without ``key_created`` have no known age (``doctor``
says how to record it). The period is ``credentials.rotate_after_days`` (default 90).
``open_live`` logs and journals the warning; ``tradeloom doctor`` shows it.

>>> from tradeloom.app.live_config import CredentialSource
>>> src = CredentialSource(key_created="2025-01-01", rotate_after_days=90)
>>> key_age(src, now_ms=1_743_465_600_000)   # 2025-04-01
KeyAge(days=90, created=datetime.date(2025, 1, 1), origin='credentials.key_created', limit_days=90)
>>> key_age_warning(src, now_ms=1_743_465_600_000) is None
True
>>> print(key_age_warning(src, now_ms=1_743_552_000_000))   # 2025-04-02
API key is 91 days old (created 2025-01-01, from credentials.key_created), past its rotation period of 90 days (credentials.rotate_after_days): create a new key on the exchange, revoke this one, then update the key and key_created
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tradeloom.app.live_config import CredentialSource

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class KeyAge:
    """How old the key is, from which source, and the rotation period."""

    days: int
    created: dt.date
    origin: str
    limit_days: int

    @property
    def overdue(self) -> bool:
        return self.days > self.limit_days


def _secrets_file_created(path: Path) -> tuple[dt.date, str] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        data = {}
    created = data.get("created")
    if isinstance(created, dt.datetime):
        return created.date(), f"created in {path}"
    if isinstance(created, dt.date):
        return created, f"created in {path}"
    if isinstance(created, str):
        try:
            return dt.date.fromisoformat(created), f"created in {path}"
        except ValueError:
            pass
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    return (dt.datetime.fromtimestamp(mtime, dt.UTC).date(),
            f"modification time of {path}")


def key_age(source: CredentialSource, now_ms: int, *,
            base_dir: Path | None = None) -> KeyAge | None:
    """The key's age in whole days, or ``None`` when its creation date is unknown."""
    found: tuple[dt.date, str] | None = None
    if source.key_created is not None:
        found = (source.key_created, "credentials.key_created")
    elif source.secrets_file is not None:
        path = source.secrets_file
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        found = _secrets_file_created(path)
    if found is None:
        return None
    created, origin = found
    today = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).date()
    return KeyAge((today - created).days, created, origin, source.rotate_after_days)


def key_age_warning(source: CredentialSource, now_ms: int, *,
                    base_dir: Path | None = None) -> str | None:
    """The warning for a key past its rotation period; ``None`` otherwise."""
    age = key_age(source, now_ms, base_dir=base_dir)
    if age is None or not age.overdue:
        return None
    return (f"API key is {age.days} days old (created {age.created.isoformat()}, from "
            f"{age.origin}), past its rotation period of {age.limit_days} days "
            "(credentials.rotate_after_days): create a new key on the exchange, revoke this "
            "one, then update the key and key_created")


__all__ = ["KeyAge", "key_age", "key_age_warning"]
