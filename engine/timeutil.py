"""Conversions between UTC milliseconds and human time strings (no wall clock here)."""

from __future__ import annotations

from datetime import UTC, datetime

from tradeloom.engine.errors import ConfigError


def parse_utc_ms(text: str | float, setting: str = "time") -> int:
    """Parse '2024-01-01', '2024-01-01T12:00', '2024-01-01T12:00:00Z' or epoch ms into UTC ms.

    Naive strings are read as UTC.

    >>> parse_utc_ms("2024-01-01")
    1704067200000
    >>> parse_utc_ms(1704067200000)
    1704067200000
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text)
    s = str(text).strip()
    if s.lstrip("-").isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"{setting}: cannot read {text!r} as a UTC time; use ISO 8601 such as "
            "'2024-01-01' or '2024-01-01T12:00:00Z', or epoch milliseconds"
        ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def format_utc_ms(ms: int) -> str:
    """ISO 8601 UTC string for epoch milliseconds.

    >>> format_utc_ms(1704067200000)
    '2024-01-01T00:00:00Z'
    """
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")
