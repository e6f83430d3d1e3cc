"""Timeframes as ccxt names them ('1m', '5m', '1h', '1d', '1w') and their length in ms.

All time inside tradeloom is integer milliseconds since the Unix epoch, UTC. A bar's
``ts`` is its *open* time; it becomes known at ``ts + timeframe_ms`` (its close).
"""

from __future__ import annotations

import re

from tradeloom.engine.errors import ConfigError

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdw])$")

MS_PER_DAY = 86_400_000


def timeframe_to_ms(timeframe: str) -> int:
    """Length of one bar in milliseconds.

    >>> timeframe_to_ms("1h")
    3600000
    >>> timeframe_to_ms("15m")
    900000
    """
    match = _PATTERN.match(str(timeframe))
    if match is None:
        raise ConfigError(
            f"unknown timeframe {timeframe!r}: use a number and one of s, m, h, d, w "
            "(e.g. '1m', '15m', '1h', '4h', '1d'); calendar months are not a fixed length"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def bars_per_year(timeframe: str) -> float:
    """Bars in a 365-day year (crypto trades 24/7), for annualising metrics.

    >>> bars_per_year("1d")
    365.0
    """
    return 365.0 * MS_PER_DAY / timeframe_to_ms(timeframe)
