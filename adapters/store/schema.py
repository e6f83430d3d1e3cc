"""The bar schema and the naming rules of the market-data store.

Every bar file holds exactly the columns ``ts`` (int64, bar open time in UTC
milliseconds) and ``open``/``high``/``low``/``close``/``volume`` (float64), sorted
by ``ts``. Names become directory names (``exchange=binance/timeframe=1h/
symbol=BTC-USDT``), so they are checked here once, before anything touches disk.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.timeutil import format_utc_ms

BAR_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")
VALUE_COLUMNS: tuple[str, ...] = BAR_COLUMNS[1:]
BAR_SCHEMA = pa.schema([("ts", pa.int64())] + [(name, pa.float64()) for name in VALUE_COLUMNS])

#: Bars must open in [1970, 3000): a ts outside is almost always a unit mistake.
MIN_TS = 0
MAX_TS = 32_503_680_000_000

#: 1970-01-01 was a Thursday; weekly bars (ccxt, Binance, Coinbase) open on Mondays.
_WEEK_OFFSET_MS = 4 * 86_400_000

_EXCHANGE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_ASSET = r"[A-Za-z0-9][A-Za-z0-9._]*"
_SYMBOL = re.compile(rf"^({_ASSET})/({_ASSET})(?::([A-Za-z0-9][A-Za-z0-9._-]*))?$")


def grid_offset_ms(timeframe: str) -> int:
    """Where the bar grid of ``timeframe`` starts relative to the epoch.

    Bars of every timeframe open at ``offset + k * timeframe_ms``; only weekly bars
    are shifted (to Monday 00:00 UTC).

    >>> grid_offset_ms("1h"), grid_offset_ms("1w")
    (0, 345600000)
    """
    return _WEEK_OFFSET_MS if str(timeframe).endswith("w") else 0


def check_exchange(exchange: str) -> str:
    """Return ``exchange`` if it is a ccxt-style id (lowercase letters, digits, '_').

    >>> check_exchange("binance")
    'binance'
    """
    if not isinstance(exchange, str) or not _EXCHANGE.match(exchange):
        raise ConfigError(
            f"exchange {exchange!r} is not a ccxt exchange id; use lowercase letters, digits "
            "and '_' as ccxt names them, e.g. 'binance', 'coinbase', 'kraken'"
        )
    return exchange


def check_symbol(symbol: str) -> str:
    """Return ``symbol`` if it looks like ccxt's ``BASE/QUOTE`` (or ``BASE/QUOTE:SETTLE``).

    >>> check_symbol("BTC/USDT")
    'BTC/USDT'
    """
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        raise ConfigError(
            f"symbol {symbol!r} must look like BASE/QUOTE as ccxt writes it, e.g. 'BTC/USDT' "
            "(perpetuals: 'BTC/USDT:USDT'); '-' is not allowed in BASE or QUOTE"
        )
    return symbol


def symbol_dirname(symbol: str) -> str:
    """Directory name of a symbol: ``BTC/USDT`` -> ``BTC-USDT``, ``BTC/USDT:USDT`` -> ``BTC-USDT-USDT``.

    Unambiguous because BASE and QUOTE never contain '-'.

    >>> symbol_dirname("BTC/USDT"), symbol_dirname("ETH/USDT:USDT")
    ('BTC-USDT', 'ETH-USDT-USDT')
    """
    match = _SYMBOL.match(symbol) if isinstance(symbol, str) else None
    if match is None:
        check_symbol(symbol)  # raises the explanatory ConfigError
        raise ConfigError(f"symbol {symbol!r} is not BASE/QUOTE")
    base, quote, settle = match.groups()
    return f"{base}-{quote}" + (f"-{settle}" if settle else "")


def year_of(ts: np.ndarray) -> np.ndarray:
    """UTC calendar year of each ms timestamp (the partition key).

    >>> year_of(np.array([1704067199999, 1704067200000])).tolist()
    [2023, 2024]
    """
    return ts.astype("datetime64[ms]").astype("datetime64[Y]").astype(np.int64) + 1970


def year_bounds(year: int) -> tuple[int, int]:
    """[first ms, first ms of next year) of a UTC calendar year.

    >>> year_bounds(2024)
    (1704067200000, 1735689600000)
    """
    lo = np.datetime64(f"{year:04d}-01-01", "ms").astype(np.int64)
    hi = np.datetime64(f"{year + 1:04d}-01-01", "ms").astype(np.int64)
    return int(lo), int(hi)


def describe_ts(ts: int) -> str:
    """``1704067200000 (2024-01-01T00:00:00Z)``: raw value and readable time for messages."""
    if MIN_TS <= ts < MAX_TS:
        return f"{ts} ({format_utc_ms(int(ts))})"
    return str(ts)


def require_dataframe_columns(columns: list[str], where: str) -> None:
    """DataError unless ``columns`` are exactly the bar columns (any order)."""
    missing = [c for c in BAR_COLUMNS if c not in columns]
    extra = [c for c in columns if c not in BAR_COLUMNS]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise DataError(
            f"{where}: bar frame must have exactly the columns {list(BAR_COLUMNS)}; "
            f"{' and '.join(parts)} (got {columns}); rename or drop columns before writing"
        )
