"""The kinds of market data the store holds, their columns, and where their files go.

Every kind lives in the same hive layout and the same catalog, keyed by
``(kind, exchange, timeframe, symbol)``:

============== ============================================ ========== ==============
kind           columns (``ts`` int64 UTC ms, values)         timeframe  one row per ts
============== ============================================ ========== ==============
ohlcv          open, high, low, close, volume (float64)      yes        yes
mark           mark-price bars, same columns                 yes        yes
index          index-price bars, same columns                yes        yes
funding        funding_rate (float64)                        no         yes
open_interest  open_interest, open_interest_value (float64)  yes        yes
trades         price, amount (float64), side, id (string)    no         no
============== ============================================ ========== ==============

Paths: ``<kind>/exchange=<id>/[timeframe=<tf>/]symbol=<BASE-QUOTE[-SETTLE]>/<part>.parquet``.
``ohlcv`` keeps the layout it always had. A *part* is one UTC calendar year
(``2024.parquet``), or one UTC day (``2024-01-05.parquet``) for trades and bars
shorter than a minute, so no file grows past a few million rows and a write never
has to hold more than one part in memory. Funding times keep the exchange's few ms
past the hour (Binance reports ``...00:00:00.001``), so funding has no bar grid.

>>> spec("funding").columns
('ts', 'funding_rate')
>>> partition_path("ohlcv", "binance", "1h", "BTC/USDT", 2024)
'ohlcv/exchange=binance/timeframe=1h/symbol=BTC-USDT/2024.parquet'
>>> partition_path("trades", "binance", "", "BTC/USDT:USDT", 20240105)
'trades/exchange=binance/symbol=BTC-USDT-USDT/2024-01-05.parquet'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pyarrow as pa

from tradeloom.adapters.store.schema import BAR_SCHEMA, symbol_dirname, year_bounds, year_of
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeframes import timeframe_to_ms


class DataKind(StrEnum):
    """What one dataset holds."""

    OHLCV = "ohlcv"
    MARK = "mark"
    INDEX = "index"
    FUNDING = "funding"
    OPEN_INTEREST = "open_interest"
    TRADES = "trades"


#: The bar reader's ``price=`` names and the kind each reads.
PRICE_KINDS: dict[str, DataKind] = {
    "trade": DataKind.OHLCV, "mark": DataKind.MARK, "index": DataKind.INDEX}
BAR_KINDS = frozenset({DataKind.OHLCV, DataKind.MARK, DataKind.INDEX})

FUNDING_SCHEMA = pa.schema([("ts", pa.int64()), ("funding_rate", pa.float64())])
OPEN_INTEREST_SCHEMA = pa.schema([("ts", pa.int64()), ("open_interest", pa.float64()),
                                  ("open_interest_value", pa.float64())])
TRADES_SCHEMA = pa.schema([("ts", pa.int64()), ("price", pa.float64()),
                           ("amount", pa.float64()), ("side", pa.string()),
                           ("id", pa.string())])


@dataclass(frozen=True, slots=True)
class KindSpec:
    """The rules of one kind: columns, whether it has a timeframe and a grid."""

    kind: DataKind
    schema: pa.Schema
    has_timeframe: bool
    unique_ts: bool
    noun: str

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)

    @property
    def value_columns(self) -> tuple[str, ...]:
        return self.columns[1:]

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema if f.name != "ts" and pa.types.is_floating(f.type))

    @property
    def is_bars(self) -> bool:
        return self.kind in BAR_KINDS


_SPECS = {
    DataKind.OHLCV: KindSpec(DataKind.OHLCV, BAR_SCHEMA, True, True, "bars"),
    DataKind.MARK: KindSpec(DataKind.MARK, BAR_SCHEMA, True, True, "mark-price bars"),
    DataKind.INDEX: KindSpec(DataKind.INDEX, BAR_SCHEMA, True, True, "index-price bars"),
    DataKind.FUNDING: KindSpec(DataKind.FUNDING, FUNDING_SCHEMA, False, True, "funding rates"),
    DataKind.OPEN_INTEREST: KindSpec(DataKind.OPEN_INTEREST, OPEN_INTEREST_SCHEMA, True, True,
                                     "open interest"),
    DataKind.TRADES: KindSpec(DataKind.TRADES, TRADES_SCHEMA, False, False, "trades"),
}


def check_kind(kind: str | DataKind) -> DataKind:
    """``kind`` as a :class:`DataKind`; a ConfigError lists the kinds otherwise.

    >>> check_kind("mark")
    <DataKind.MARK: 'mark'>
    """
    try:
        return DataKind(kind)
    except ValueError:
        raise ConfigError(f"data kind {kind!r} is not one of "
                          f"{[k.value for k in DataKind]}") from None


def spec(kind: str | DataKind) -> KindSpec:
    """The :class:`KindSpec` of ``kind``."""
    return _SPECS[check_kind(kind)]


def price_kind(price: str) -> DataKind:
    """The kind behind a bar reader's ``price=`` (``trade``, ``mark`` or ``index``).

    >>> price_kind("mark")
    <DataKind.MARK: 'mark'>
    """
    if price not in PRICE_KINDS:
        raise ConfigError(f"price {price!r} must be one of {list(PRICE_KINDS)} "
                          "(trade = traded-price bars, mark/index = the venue's mark/index price)")
    return PRICE_KINDS[price]


def check_kind_timeframe(kind: DataKind, timeframe: str | None) -> str:
    """The catalog's timeframe for ``kind``: the bar length, or ``""`` for kinds without one."""
    if not spec(kind).has_timeframe:
        if timeframe:
            raise ConfigError(f"{kind.value} data has no timeframe (got {timeframe!r}); leave "
                              "--timeframe out")
        return ""
    if not timeframe:
        raise ConfigError(f"{kind.value} data needs a timeframe, e.g. '1h'")
    timeframe_to_ms(timeframe)
    return timeframe


def is_daily(kind: DataKind, timeframe: str) -> bool:
    """Whether ``kind``/``timeframe`` is stored one file per UTC day (else one per year)."""
    if kind is DataKind.TRADES:
        return True
    return bool(timeframe) and timeframe_to_ms(timeframe) < 60_000


def part_of(ts: np.ndarray, daily: bool) -> np.ndarray:
    """The partition key of each ms timestamp: the year, or ``yyyymmdd`` for daily parts.

    >>> part_of(np.array([1704067200000, 1704499200000]), True).tolist()
    [20240101, 20240106]
    """
    if not daily:
        return year_of(ts)
    days = ts.astype("datetime64[ms]").astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    y = years.astype(np.int64) + 1970
    m = (months - years).astype(np.int64) + 1
    d = (days - months).astype(np.int64) + 1
    return y * 10_000 + m * 100 + d


def part_bounds(part: int, daily: bool) -> tuple[int, int]:
    """``[first ms, first ms of the next part)`` of a partition key.

    >>> part_bounds(20240105, True)
    (1704412800000, 1704499200000)
    """
    if not daily:
        return year_bounds(part)
    day = np.datetime64(part_name(part, True), "ms").astype(np.int64)
    return int(day), int(day) + 86_400_000


def part_name(part: int, daily: bool) -> str:
    """``2024`` or ``2024-01-05``: the file stem of a partition."""
    if not daily:
        return f"{part:04d}"
    return f"{part // 10_000:04d}-{part // 100 % 100:02d}-{part % 100:02d}"


def dataset_dir(kind: str | DataKind, exchange: str, timeframe: str, symbol: str) -> str:
    """The directory of one dataset, relative to the store root."""
    kind = check_kind(kind)
    tf = f"timeframe={timeframe}/" if spec(kind).has_timeframe else ""
    return f"{kind.value}/exchange={exchange}/{tf}symbol={symbol_dirname(symbol)}"


def dataset_base(kind: str | DataKind, exchange: str, timeframe: str) -> str:
    """The directory holding one exchange/timeframe's symbol directories."""
    kind = check_kind(kind)
    tf = f"/timeframe={timeframe}" if spec(kind).has_timeframe else ""
    return f"{kind.value}/exchange={exchange}{tf}"


def partition_path(kind: str | DataKind, exchange: str, timeframe: str, symbol: str,
                   part: int) -> str:
    """The file of one partition, relative to the store root."""
    kind = check_kind(kind)
    daily = is_daily(kind, timeframe)
    return f"{dataset_dir(kind, exchange, timeframe, symbol)}/{part_name(part, daily)}.parquet"


def describe_dataset(kind: str | DataKind, exchange: str, timeframe: str, symbol: str) -> str:
    """``binance BTC/USDT 1h`` for bars, ``binance BTC/USDT:USDT funding`` for other kinds.

    >>> describe_dataset("mark", "binance", "8h", "BTC/USDT:USDT")
    'binance BTC/USDT:USDT 8h mark'
    """
    kind = check_kind(kind)
    words = [exchange, symbol]
    if timeframe:
        words.append(timeframe)
    if kind is not DataKind.OHLCV:
        words.append(kind.value)
    return " ".join(words)


__all__ = [
    "BAR_KINDS",
    "FUNDING_SCHEMA",
    "OPEN_INTEREST_SCHEMA",
    "PRICE_KINDS",
    "TRADES_SCHEMA",
    "DataKind",
    "KindSpec",
    "check_kind",
    "check_kind_timeframe",
    "dataset_base",
    "dataset_dir",
    "describe_dataset",
    "is_daily",
    "part_bounds",
    "part_name",
    "part_of",
    "partition_path",
    "price_kind",
    "spec",
]
