"""Turn columnar bars (numpy arrays, Arrow record batches) into ordered ``Bar`` events.

Order: by close time, then by symbol name (ascending) for bars closing together.
That is the store's ``(ts, symbol)`` order too, so a run reads the same event
sequence whether its bars came from arrays or from the store.

Gaps: a missing bar is simply absent. Nothing is filled in (no flat candles, which
would change indicator values, see why-engines-disagree.md point 7): indicators
and history see the bars that exist, in order, and the equity curve has no row
for a time step without bars. ``adapters``' store checks report gaps.

Speed: columns are copied into ``array.array`` buffers a chunk at a time and ``Bar``
tuples are built by ``tuple.__new__(Bar, row)`` inside one C-level ``map`` per chunk,
the chunks chained by ``itertools.chain`` (no Python frame per bar; the eight fields
always come from ``zip``, so the shape is right). Iterating an ``array.array`` yields
the same Python ``int``/``float`` values as ``ndarray.tolist()``, a little faster, and
the buffers are not containers the garbage collector has to scan again and again
while a chunk is consumed. A single symbol needs no sorting at all, several symbols
are merged with one ``numpy.lexsort`` (no per-event heap).

>>> import numpy as np
>>> a = BarArrays.from_columns(ts=[0, 60_000], open=[1.0, 2.0], high=[1.0, 2.0],
...                            low=[1.0, 2.0], close=[1.0, 2.0], volume=[5.0, 5.0])
>>> [(b.symbol, b.ts, b.close_ts) for b in merge_bars({"ETH/USDT": a, "BTC/USDT": a}, 60_000)]
[('BTC/USDT', 0, 60000), ('ETH/USDT', 0, 60000), ('BTC/USDT', 60000, 120000), ('ETH/USDT', 60000, 120000)]
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from typing import Any, NamedTuple

import numpy as np

from tradeloom.engine.errors import DataError
from tradeloom.engine.orders import Bar

#: Rows converted to Python objects at a time. Small enough that the chunk's column
#: lists stay cheap for the garbage collector to scan, large enough to amortise ``tolist``.
CHUNK = 4_096

_tuple_new = tuple.__new__  # Bar(...) without a Python frame: a C call per bar
_PRICE_FIELDS = ("open", "high", "low", "close", "volume")


class BarArrays(NamedTuple):
    """OHLCV columns of one symbol; ``ts`` is the bar open time (int64 ms), ascending."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def from_columns(cls, **columns: Any) -> BarArrays:
        """Build from array-likes named ts, open, high, low, close, volume."""
        missing = [f for f in cls._fields if f not in columns]
        if missing:
            raise DataError(f"bar columns {missing} are missing; need {', '.join(cls._fields)}")
        ts = np.asarray(columns["ts"], dtype=np.int64)
        out = cls(ts, *(np.asarray(columns[f], dtype=np.float64) for f in _PRICE_FIELDS))
        out.check()
        return out

    @classmethod
    def from_frame(cls, frame: Any) -> BarArrays:
        """Build from a DataFrame (or any mapping of columns) with the six OHLCV columns."""
        return cls.from_columns(**{f: np.asarray(frame[f]) for f in cls._fields})

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.ts.shape[0])

    def check(self) -> None:
        """Equal lengths and strictly increasing open times, else ``DataError``."""
        n = self.ts.shape[0]
        for name in _PRICE_FIELDS:
            if getattr(self, name).shape != (n,):
                raise DataError(f"bar column {name} has shape {getattr(self, name).shape}, ts has ({n},)")
        if n > 1:
            bad = np.flatnonzero(np.diff(self.ts) <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                raise DataError(
                    f"bar ts must strictly increase: row {i} ts {int(self.ts[i])} <= row {i - 1} "
                    f"ts {int(self.ts[i - 1])}; sort and de-duplicate the bars first"
                )


class KnownBars(chain):  # type: ignore[type-arg]
    """The bars of ``merge_bars``/``bars_from_arrays``: an iterator of ``Bar`` (a plain
    ``itertools.chain``, iterated at C speed) that also carries the columns it is made
    of, ``columns`` (``{symbol: BarArrays}``), and their ``timeframe_ms``. The ``k``-th bar of a symbol it yields is
    row ``k`` of that symbol's columns, so a consumer that steps every one of its bars
    (``engine.run.backtest.drive``) can compute per-symbol series up front
    (``StrategyData.precompute``).
    """

    __slots__ = ("columns", "timeframe_ms")
    columns: Mapping[str, BarArrays]
    timeframe_ms: int


def _chunk_bars(symbols: Any, ts: np.ndarray, timeframe_ms: int, cols: Sequence[np.ndarray]) -> Iterator[Bar]:
    """Bars of aligned column slices; ``symbols`` is a list, or one str for every row."""
    return chain.from_iterable(_chunk_maps(symbols, ts, timeframe_ms, cols))


def _known(data: Mapping[str, BarArrays], symbols: Any, ts: np.ndarray, timeframe_ms: int,
           cols: Sequence[np.ndarray]) -> KnownBars:
    """``_chunk_bars`` as ``KnownBars`` carrying ``data``."""
    bars = KnownBars.from_iterable(_chunk_maps(symbols, ts, timeframe_ms, cols))
    bars.columns = data
    bars.timeframe_ms = timeframe_ms
    return bars


def _chunk_maps(symbols: Any, ts: np.ndarray, timeframe_ms: int, cols: Sequence[np.ndarray]) -> Iterator[Iterator[Bar]]:
    """One lazy ``map`` building the bars of each chunk of ``CHUNK`` rows."""
    n = ts.shape[0]
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        t = ts[start:stop]
        sym = repeat(symbols) if isinstance(symbols, str) else symbols[start:stop]
        yield map(
            _tuple_new,
            repeat(Bar),
            zip(sym, _values(t), _values(t + timeframe_ms), *(_values(c[start:stop]) for c in cols)),
        )


#: Native int64/float64 columns are iterated through an ``array.array`` copy.
_ARRAY_CODES = {np.dtype(np.int64): "q", np.dtype(np.float64): "d"}


def _values(column: np.ndarray) -> Iterable[Any]:
    """The Python values ``column.tolist()`` gives, as an iterable (see the module doc)."""
    code = _ARRAY_CODES.get(column.dtype)
    if code is None:
        return column.tolist()  # any other dtype: exactly what tolist makes of it
    return array(code, column.tobytes())


def bars_from_arrays(symbol: str, arrays: BarArrays, timeframe_ms: int) -> KnownBars:
    """Bars of one symbol in time order (no sorting needed), as ``KnownBars``.

    >>> a = BarArrays.from_columns(ts=[0], open=[1.0], high=[2.0], low=[0.5], close=[1.5], volume=[9.0])
    >>> next(bars_from_arrays("BTC/USDT", a, 60_000))
    Bar(symbol='BTC/USDT', ts=0, close_ts=60000, open=1.0, high=2.0, low=0.5, close=1.5, volume=9.0)
    """
    _check_timeframe(timeframe_ms)
    return _known({symbol: arrays}, symbol, arrays.ts, timeframe_ms,
                  [getattr(arrays, f) for f in _PRICE_FIELDS])


def merge_bars(data: Mapping[str, BarArrays], timeframe_ms: int) -> KnownBars:
    """Bars of several symbols merged by close time, ties by symbol name, as ``KnownBars``.

    All symbols share one timeframe, so ordering by open time orders by close time.
    """
    _check_timeframe(timeframe_ms)
    symbols = sorted(data)
    if len(symbols) == 1:
        return bars_from_arrays(symbols[0], data[symbols[0]], timeframe_ms)
    ts = np.concatenate([data[s].ts for s in symbols])
    rank = np.concatenate([np.full(len(data[s]), i, dtype=np.int32) for i, s in enumerate(symbols)])
    order = np.lexsort((rank, ts))
    cols = [np.concatenate([getattr(data[s], f) for s in symbols])[order] for f in _PRICE_FIELDS]
    names = np.array(symbols, dtype=object)[rank[order]].tolist()
    return _known({s: data[s] for s in symbols}, names, ts[order], timeframe_ms, cols)


def bars_from_batches(
    batches: Iterable[Any], timeframe_ms: int, symbol: str | None = None
) -> Iterator[Bar]:
    """Bars from Arrow record batches (columns ts, open, high, low, close, volume[, symbol]).

    Without a ``symbol`` column every row belongs to ``symbol``. Each batch is
    re-sorted by ``(ts, symbol)`` with one lexsort and the sequence is checked to
    never go back in time across batches (``DataError`` names the row otherwise).
    """
    _check_timeframe(timeframe_ms)
    last_ts = None
    for batch in batches:
        names = batch.schema.names
        if batch.num_rows == 0:
            continue
        ts = batch.column(names.index("ts")).to_numpy().astype(np.int64, copy=False)
        cols = [
            batch.column(names.index(f)).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            for f in _PRICE_FIELDS
        ]
        if "symbol" in names:
            syms = np.array(batch.column(names.index("symbol")).to_pylist(), dtype=object)
            order = np.lexsort((syms.astype(str), ts))
            ts = ts[order]
            cols = [c[order] for c in cols]
            row_syms: Any = syms[order].tolist()
        elif symbol is None:
            raise DataError("record batches without a 'symbol' column need symbol= to name their symbol")
        else:
            row_syms = symbol
            if ts.shape[0] > 1 and bool(np.any(np.diff(ts) <= 0)):
                i = int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1
                raise DataError(f"{symbol}: bar ts must strictly increase; batch row {i} ts {int(ts[i])}")
        if last_ts is not None and int(ts[0]) < last_ts:
            raise DataError(
                f"record batches go back in time: a batch starts at ts {int(ts[0])} after ts "
                f"{last_ts}; the store must yield batches ordered by (ts, symbol)"
            )
        last_ts = int(ts[-1])
        yield from _chunk_bars(row_syms, ts, timeframe_ms, cols)


def _check_timeframe(timeframe_ms: int) -> None:
    if not isinstance(timeframe_ms, (int, np.integer)) or timeframe_ms <= 0:
        raise DataError(f"timeframe_ms must be a positive int of ms (e.g. 60_000 for '1m'), got {timeframe_ms!r}")
