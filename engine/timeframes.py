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

#: Where the buckets of a higher timeframe start: the Unix epoch for every unit but
#: weeks, which start on Mondays (1970-01-05, four days after the epoch), as exchanges
#: and DuckDB's ``time_bucket`` cut them.
WEEK_ORIGIN_MS = 4 * MS_PER_DAY


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


def bucket_origin(timeframe: str) -> int:
    """The time (UTC ms) from which the buckets of ``timeframe`` are counted.

    >>> bucket_origin("4h"), bucket_origin("1w")
    (0, 345600000)
    """
    timeframe_to_ms(timeframe)
    return WEEK_ORIGIN_MS if str(timeframe).endswith("w") else 0


def bucket_start(ts: int, timeframe: str) -> int:
    """Open time of the ``timeframe`` bucket holding time ``ts``.

    >>> bucket_start(5 * 3_600_000 + 1, "4h") // 3_600_000
    4
    """
    tf_ms = timeframe_to_ms(timeframe)
    origin = bucket_origin(timeframe)
    return ts - (ts - origin) % tf_ms


def check_resample(timeframe: str, base_timeframe: str) -> int:
    """How many ``base_timeframe`` bars make one ``timeframe`` bar; ``ConfigError`` when
    ``timeframe`` cannot be built from ``base_timeframe`` bars.

    >>> check_resample("4h", "1h"), check_resample("1w", "1d")
    (4, 7)
    >>> check_resample("90m", "1h")
    Traceback (most recent call last):
    ...
    tradeloom.engine.errors.ConfigError: timeframe '90m' cannot be built from '1h' bars: it must be a whole multiple of '1h' (e.g. '2h', '4h', '1d', '1w')
    """
    tf_ms, base_ms = timeframe_to_ms(timeframe), timeframe_to_ms(base_timeframe)
    if tf_ms < base_ms or tf_ms % base_ms or bucket_origin(timeframe) % base_ms:
        examples = ", ".join(
            repr(t) for t in ("2h", "4h", "1d", "1w")
            if timeframe_to_ms(t) > base_ms and timeframe_to_ms(t) % base_ms == 0
        )
        hint = f" (e.g. {examples})" if examples else ""
        raise ConfigError(
            f"timeframe {timeframe!r} cannot be built from {base_timeframe!r} bars: it must be "
            f"a whole multiple of {base_timeframe!r}{hint}"
        )
    return tf_ms // base_ms


def timeframe_name(ms: int) -> str:
    """The ccxt-style name of a length in ms (the largest unit that divides it).

    >>> timeframe_name(14_400_000), timeframe_name(90 * 60_000), timeframe_name(604_800_000)
    ('4h', '90m', '1w')
    """
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_MS[unit]
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    raise ConfigError(f"{ms} ms is not a whole number of seconds; use a timeframe such as '1m'")
