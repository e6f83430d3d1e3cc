"""Round-trip trades as columns, the common case in numpy: every trade one entry fill and
one exit fill.

:func:`trade_columns` gives what :func:`.trades.trade_rows` gives, one sequence per
``TRADE_COLUMNS`` field instead of one tuple per trade. ``trade_rows`` is the rule; most
runs (an SMA cross, a target-percent rotation: whole positions in, whole positions out)
are simpler than its general case, and for those the same figures come out of a few
numpy operations instead of a Python step per fill. :func:`paired_trade_columns` says
when that holds and why it is exact; anything else (a scale-in or -out, a flip through
zero, a fill that breaks a check) goes to ``trade_rows``, which also raises its errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import is_
from typing import Any

import numpy as np

from tradeloom.engine.errors import DataError
from tradeloom.engine.orders import Side
from tradeloom.engine.results.trades import OPEN_EXIT_TAG, POSITION_RTOL, TRADE_COLUMNS, trade_rows

__all__ = ["paired_trade_columns", "rows_to_columns", "trade_columns"]

TradeColumns = dict[str, Sequence[Any]]
"""One sequence (list or numpy array) per ``TRADE_COLUMNS`` field, in that order."""


def trade_columns(
    fill_columns: Mapping[str, Sequence[Any]],
    *,
    timeframe_ms: int,
    final_ts: int | None = None,
    final_marks: Mapping[str, float] | None = None,
    dust: Mapping[int, float] | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
) -> TradeColumns:
    """:func:`.trades.trade_rows`' trades as columns (same arguments, same values and
    errors): :func:`paired_trade_columns` when it applies, else ``trade_rows``'s tuples
    transposed. ``arrays``: ``frames.fill_arrays`` of the same columns, if at hand."""
    if timeframe_ms <= 0:
        raise DataError(f"timeframe_ms must be positive, got {timeframe_ms}")
    cols = paired_trade_columns(fill_columns, timeframe_ms=timeframe_ms, final_ts=final_ts,
                                final_marks=final_marks or {}, arrays=arrays)
    if cols is not None:
        return cols
    return rows_to_columns(trade_rows(fill_columns, timeframe_ms=timeframe_ms, final_ts=final_ts,
                                      final_marks=final_marks, dust=dust))


def rows_to_columns(rows: Sequence[tuple[Any, ...]]) -> TradeColumns:
    """``trade_rows``' tuples as one list per ``TRADE_COLUMNS`` field."""
    if not rows:
        return {name: [] for name in TRADE_COLUMNS}
    return dict(zip(TRADE_COLUMNS, map(list, zip(*rows))))


def paired_trade_columns(
    fill_columns: Mapping[str, Sequence[Any]],
    *,
    timeframe_ms: int,
    final_ts: int | None,
    final_marks: Mapping[str, float],
    arrays: Mapping[str, np.ndarray] | None = None,
) -> TradeColumns | None:
    """``trade_rows``' columns when, in every symbol, the fills alternate entry, exit,
    entry, exit... and each exit takes the position back to flat; ``None`` otherwise.

    Exact because it is the same arithmetic: in that case ``trade_rows`` opens a trade
    per entry fill (accumulators at 0.0: ``0.0 + qty``, ``0.0 + qty * price``,
    ``0.0 + fee``) and the exit, in the other direction with ``rest <= tol``, closes
    ``close_qty = qty`` with ``fee * (qty / qty)`` and leaves ``|position| <= tol``, so
    the trade ends there (dust only matters for a position left above ``tol``, so it
    plays no part). numpy evaluates those same IEEE-754 double operations element-wise,
    on the same values, in the same order; the checks (``tol``, flat) are the same
    comparisons. Required besides: ``ts`` are ``int`` and ``price``, ``amount``,
    ``fee`` (and ``fee_cost`` of base-currency fees) ``float`` (what ``Fill`` holds;
    Python would compute ints exactly), every ``price`` and ``amount`` > 0, ``ts`` in
    order per symbol, and a positive final mark for a trade still open (whose entry
    lies before the end); ``trade_rows`` raises its errors for the rest. ``arrays``
    (``frames.fill_arrays``) saves converting the columns again.
    """
    symbols = fill_columns["symbol"]
    n = len(symbols)
    if n == 0:
        return None
    ts_list, sides = fill_columns["ts"], fill_columns["side"]
    floats = [fill_columns["price"], fill_columns["amount"], fill_columns["fee"]]
    if not (_only(ts_list, int) and all(_only(col, float) for col in floats)):
        return None
    got = arrays or {}
    price, raw_qty, fee = (
        got[name] if name in got else np.asarray(fill_columns[name], dtype=np.float64)
        for name in ("price", "amount", "fee")
    )
    if not (bool(np.all(raw_qty > 0)) and bool(np.all(price > 0))):
        return None
    ts = got["ts"] if "ts" in got else np.asarray(ts_list, dtype=np.int64)
    buy = np.fromiter(map(is_, sides, repeat(Side.BUY)), dtype=bool, count=n)
    qty = _net_of_base_fees(fill_columns, raw_qty, buy)
    if qty is None or not bool(np.all(qty > 0)):
        return None

    # Each symbol's fills in execution order, and each fill's place among them.
    if symbols.count(symbols[0]) == n:
        order = np.arange(n)
        place = order
        last_of_symbol = np.zeros(n, dtype=bool)
        last_of_symbol[-1] = True
    else:
        code_of = {s: i for i, s in enumerate(dict.fromkeys(symbols))}
        codes = np.fromiter(map(code_of.__getitem__, symbols), dtype=np.intp, count=n)
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        sizes = np.diff(np.r_[starts, n])
        place = np.arange(n) - np.repeat(starts, sizes)
        last_of_symbol = np.zeros(n, dtype=bool)
        last_of_symbol[starts + sizes - 1] = True
    ts_sorted = ts[order]
    same_symbol = ~last_of_symbol[:-1]
    if bool(np.any((ts_sorted[1:] < ts_sorted[:-1]) & same_symbol)):
        return None  # out of order: trade_rows names the fill

    entry_pos = place % 2 == 0
    has_exit = entry_pos & ~last_of_symbol
    entries_sorted = np.flatnonzero(has_exit)
    e, x = order[entries_sorted], order[entries_sorted + 1]
    q_e, q_x = qty[e], qty[x]
    position = 0.0 + q_e
    tol = POSITION_RTOL * np.maximum(q_x, position)
    if not (
        bool(np.all(buy[e] != buy[x]))
        and bool(np.all(q_x - np.minimum(q_x, position) <= tol))
        and bool(np.all(np.abs(position - q_x) <= tol))
    ):
        return None

    entry = np.sort(order[entry_pos])  # trades are numbered in the order they opened
    exit_of = np.full(n, -1, dtype=np.intp)
    exit_of[e] = x
    exit_idx = exit_of[entry]
    is_open = exit_idx < 0
    closed_exit = exit_idx[~is_open]
    open_entry = entry[is_open]
    m = entry.size

    end_ts = final_ts if final_ts is not None else int(ts.max())
    marks = np.empty(open_entry.size)
    for j, i in enumerate(open_entry.tolist()):
        mark = final_marks.get(symbols[i])
        if mark is None or not mark > 0 or type(mark) is not float or end_ts < ts_list[i]:
            return None  # trade_rows raises (or computes with a non-float mark)
        marks[j] = mark

    pos = 0.0 + qty[entry]
    entry_qty = 0.0 + qty[entry]
    entry_notional = 0.0 + qty[entry] * price[entry]
    entry_fees = 0.0 + fee[entry]
    exit_qty = np.empty(m)
    exit_notional = np.empty(m)
    exit_fees = np.empty(m)
    exit_ts = np.empty(m, dtype=np.int64)
    closed = ~is_open
    qx = qty[closed_exit]
    exit_qty[closed] = 0.0 + qx
    exit_notional[closed] = 0.0 + qx * price[closed_exit]
    exit_fees[closed] = 0.0 + fee[closed_exit] * (qx / qx)
    exit_ts[closed] = ts[closed_exit]
    remainder = pos[is_open]
    exit_qty[is_open] = 0.0 + remainder
    exit_notional[is_open] = 0.0 + remainder * marks
    exit_fees[is_open] = 0.0
    exit_ts[is_open] = end_ts

    sign = np.where(buy[entry], 1.0, -1.0)
    gross = sign * (exit_notional - entry_notional)
    fees = entry_fees + exit_fees
    pnl = gross - fees
    cost = entry_notional + entry_fees
    with np.errstate(divide="ignore", invalid="ignore"):
        return_pct = np.where(cost > 0, pnl / cost, np.nan)
    entry_ts = ts[entry]
    duration = exit_ts - entry_ts
    tags = fill_columns["tag"]
    tags_or_open = [*tags, OPEN_EXIT_TAG]  # index -1 (no exit fill): the open trade's tag
    exit_tags = list(map(tags_or_open.__getitem__, exit_idx.tolist()))
    entry_list = entry.tolist()
    cols: TradeColumns = {
        "trade_id": np.arange(1, m + 1, dtype=np.int64),
        "symbol": list(map(symbols.__getitem__, entry_list)),
        "side": np.where(buy[entry], "long", "short").tolist(),
        "is_open": is_open,
        "entry_ts": entry_ts,
        "exit_ts": exit_ts,
        "duration_ms": duration,
        "bars_held": duration // timeframe_ms,
        "entry_price": entry_notional / entry_qty,
        "exit_price": exit_notional / exit_qty,
        "amount": entry_qty,
        "max_position": np.maximum(0.0, pos),
        "open_amount": np.where(is_open, pos, 0.0),
        "entry_notional": entry_notional,
        "exit_notional": exit_notional,
        "gross_pnl": gross,
        "entry_fees": entry_fees,
        "exit_fees": exit_fees,
        "fees": fees,
        "pnl": pnl,
        "return_pct": return_pct,
        "n_fills": np.where(is_open, 1, 2).astype(np.int64),
        "entry_tag": list(map(tags.__getitem__, entry_list)),
        "exit_tag": exit_tags,
    }
    return cols


def _only(values: Sequence[Any], kind: type) -> bool:
    """Whether every value is exactly of type ``kind`` (not a subclass: ``bool`` is an
    ``int``)."""
    return set(map(type, values)) == {kind}


def _net_of_base_fees(
    fill_columns: Mapping[str, Sequence[Any]], qty: np.ndarray, buy: np.ndarray
) -> np.ndarray | None:
    """Each fill's amount as ``trade_rows`` moves the position by it: less a fee charged in
    the base currency for a buy, plus it for a sell (``None``: a non-float fee cost)."""
    currencies = fill_columns.get("fee_currency")
    if not currencies:
        return qty
    symbols = fill_columns["symbol"]
    bases = {s.partition("/")[0] for s in set(symbols)}
    if not set(currencies) & bases:
        return qty  # no fee in any symbol's base currency (the usual quote fees)
    pairs = set(zip(symbols, currencies))
    in_base = {(s, c) for s, c in pairs if c and c == s.partition("/")[0]}
    if any(c in bases and (s, c) not in in_base for s, c in pairs):
        return None  # a fee paid with another traded symbol's coin: trade_rows' rule
    if not in_base:
        return qty
    mask = np.fromiter(map(in_base.__contains__, zip(symbols, currencies)), dtype=bool,
                       count=len(symbols))
    costs = fill_columns.get("fee_cost") or [0.0] * len(symbols)
    picked = [costs[i] for i in np.flatnonzero(mask).tolist()]
    if not _only(picked, float):
        return None
    cost = np.zeros(len(symbols))
    cost[mask] = picked
    return np.where(mask, np.where(buy, qty - cost, qty + cost), qty)
