"""Results broken down per strategy: who placed which trades, what each earned and held.

Every order and fill carries its ``strategy_id`` (the strategy's id, or the sleeve's in
a ``SleevePortfolio``), so a run's result splits by strategy without extra records:

- :func:`trades_by_strategy`: round trips per (strategy, symbol), the conventions of
  ``trades`` applied to each strategy's own fills, with a ``strategy_id`` column (two
  sleeves trading one symbol have separate round trips);
- :func:`strategy_breakdown`: one row per strategy - orders, fills, trades, PnL (closed
  trades realized; open ones, and the dust its exits left, marked at the final marks;
  fees included), fees, win rate,
  traded notional, its ``contribution`` to the account's return (PnL over the initial
  cash; the contributions add up to the total return) and ``exposure_time`` (the share
  of the recorded steps in which it held a position);
- :func:`strategy_equity`: per recorded step, each strategy's PnL so far (its cash flows
  plus its holdings at the marks) and the value it holds, from the bars the run traded.
  A fill at a bar's open belongs to the step of that bar's close, as in the equity curve;
  a fee charged in the coin traded reduces the holding (``Fill.base_change``), one in a
  third asset (BNB) counts at its quote value when it was paid.

>>> import pandas as pd
>>> fills = pd.DataFrame({"order_id": [1, 2, 3], "symbol": ["BTC/USDT"] * 3,
...     "side": ["buy", "buy", "sell"], "ts": [0, 0, 3_600_000], "price": [100.0, 100.0, 110.0],
...     "amount": [1.0, 2.0, 1.0], "fee": [0.1, 0.2, 0.11], "tag": ["", "", ""],
...     "strategy_id": ["a", "b", "a"]})
>>> t = trades_by_strategy(fills, timeframe_ms=3_600_000, final_ts=7_200_000,
...                        final_marks={"BTC/USDT": 105.0})
>>> t[["strategy_id", "is_open", "pnl"]].values.tolist()
[['a', False, 9.79], ['b', True, 9.8]]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.orders import Side
from tradeloom.engine.results.frames import TRADE_COLUMN_KINDS, make_frame
from tradeloom.engine.results.trades import TRADE_COLUMNS, trade_rows

_FILL_FIELDS = ("order_id", "symbol", "side", "ts", "price", "amount", "fee", "tag")
_FEE_FIELDS = ("fee_currency", "fee_cost")  # where the venue charged the fee, when known

BREAKDOWN_COLUMNS = (
    "strategy_id", "orders", "fills", "trades", "open_trades", "pnl", "realized_pnl",
    "unrealized_pnl", "fees", "win_rate", "traded_notional", "contribution", "exposure_time",
)


def strategy_ids(orders: pd.DataFrame, fills: pd.DataFrame) -> list[str]:
    """Every strategy id of a run, in the order its first order (or fill) appeared."""
    seen = dict.fromkeys(orders["strategy_id"].tolist()) if len(orders) else {}
    seen.update(dict.fromkeys(fills["strategy_id"].tolist()) if len(fills) else {})
    return [str(s) for s in seen]


def trades_by_strategy(fills: pd.DataFrame, *, timeframe_ms: int, final_ts: int | None,
                       final_marks: Mapping[str, float],
                       dust: Mapping[int, float] | None = None) -> pd.DataFrame:
    """Round trips per (strategy, symbol): ``strategy_id`` then the trade columns, strategies
    in first-fill order, each one's trades in the order they opened (ids from 1). ``dust``
    is the run's, keyed by fill number (the ``fills`` row), as ``trades.trade_rows`` takes it."""
    parts: list[pd.DataFrame] = []
    dust = dust or {}
    for sid, group in fills.groupby("strategy_id", sort=False):
        cols = {f: group[f].tolist() for f in _FILL_FIELDS}
        cols.update({f: group[f].tolist() for f in _FEE_FIELDS if f in group.columns})
        cols["side"] = [Side(v) for v in cols["side"]]
        local = {i: dust[int(row)] for i, row in enumerate(group.index) if int(row) in dust}
        rows = trade_rows(cols, timeframe_ms=timeframe_ms, final_ts=final_ts,
                          final_marks=final_marks, dust=local)
        frame = make_frame(dict(zip(TRADE_COLUMNS, map(list, zip(*rows)))) if rows
                           else {c: [] for c in TRADE_COLUMNS}, TRADE_COLUMN_KINDS)
        frame.insert(0, "strategy_id", pd.array([str(sid)] * len(frame), dtype="str"))
        parts.append(frame)
    if not parts:
        empty = make_frame({c: [] for c in TRADE_COLUMNS}, TRADE_COLUMN_KINDS)
        empty.insert(0, "strategy_id", pd.array([], dtype="str"))
        return empty
    return pd.concat(parts, ignore_index=True)


def strategy_breakdown(*, orders: pd.DataFrame, fills: pd.DataFrame, trades: pd.DataFrame,
                       equity_ts: np.ndarray, initial_cash: float,
                       final_marks: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per strategy (see the module docstring); ``trades`` from
    :func:`trades_by_strategy`. Dust (what an exit could not sell) is in no trade but
    still in the account's equity: its value at ``final_marks`` counts as unrealized
    PnL of the strategy whose exit left it, so the contributions add up to the return."""
    rows: list[dict[str, Any]] = []
    ts = np.asarray(equity_ts, dtype=np.int64)
    marks = final_marks or {}
    for sid in strategy_ids(orders, fills):
        own_fills = fills[fills["strategy_id"] == sid]
        own = trades[trades["strategy_id"] == sid]
        closed = own[~own["is_open"].to_numpy(dtype=bool)]
        realized = float(closed["pnl"].sum())
        held_open = own[own["is_open"].to_numpy(dtype=bool)]
        unrealized = float(held_open["pnl"].sum()) + _dust_value(own_fills, held_open, marks)
        pnl = realized + unrealized
        wins = int((closed["pnl"] > 0).sum())
        rows.append({
            "strategy_id": sid,
            "orders": int((orders["strategy_id"] == sid).sum()),
            "fills": len(own_fills),
            "trades": len(closed),
            "open_trades": len(own) - len(closed),
            "pnl": pnl,
            "realized_pnl": realized,
            "unrealized_pnl": unrealized,
            "fees": float(own_fills["fee"].sum()),
            "win_rate": wins / len(closed) if len(closed) else float("nan"),
            "traded_notional": float((own_fills["price"] * own_fills["amount"]).sum()),
            "contribution": pnl / initial_cash,
            "exposure_time": _held_share(own, ts),
        })
    frame = pd.DataFrame(rows, columns=list(BREAKDOWN_COLUMNS))
    return frame.astype({"orders": "int64", "fills": "int64", "trades": "int64",
                         "open_trades": "int64"})


def _dust_value(fills: pd.DataFrame, open_trades: pd.DataFrame,
                marks: Mapping[str, float]) -> float:
    """Quote value at ``marks`` of the base ``fills`` left held beyond their open trades:
    the dust their exits left (a fee charged in the coin traded, ``Fill.base_change``,
    is not held)."""
    if not len(fills) or not marks:
        return 0.0
    symbols = fills["symbol"].astype(str)
    amount = fills["amount"].to_numpy(dtype=np.float64)
    base_fee = np.zeros(len(fills))
    if "fee_currency" in fills:
        in_base = (fills["fee_currency"].astype(str) == symbols.str.partition("/")[0]).to_numpy()
        base_fee = np.where(in_base, fills["fee_cost"].to_numpy(dtype=np.float64), 0.0)
    buy = (fills["side"].astype(str) == Side.BUY.value).to_numpy()
    change = pd.Series(np.where(buy, amount - base_fee, -(amount + base_fee)), index=fills.index)
    held = change.groupby(symbols).sum()
    still_open = open_trades.groupby("symbol")["open_amount"].sum()
    value = 0.0
    for symbol, amount_held in held.items():
        dust = float(amount_held) - float(still_open.get(symbol, 0.0))
        if dust > 0.0 and symbol in marks:
            value += dust * float(marks[symbol])
    return value


def _held_share(trades: pd.DataFrame, ts: np.ndarray) -> float:
    """Share of the steps ``ts`` (close times) in which one of ``trades`` was held: a trade
    entered at a bar's open holds from that bar's close to its exit bar's open."""
    if ts.size == 0:
        return float("nan")
    held = np.zeros(ts.size, dtype=bool)
    for entry, exit_, is_open in zip(trades["entry_ts"].to_numpy(), trades["exit_ts"].to_numpy(),
                                     trades["is_open"].to_numpy(dtype=bool)):
        lo = np.searchsorted(ts, entry, side="right")
        hi = ts.size if is_open else np.searchsorted(ts, exit_, side="right")
        held[lo:hi] = True
    return float(held.mean())


def strategy_equity(*, fills: pd.DataFrame, equity_ts: np.ndarray, bars: pd.DataFrame,
                    timeframe_ms: int, sids: list[str]) -> pd.DataFrame:
    """Per recorded step: ``ts``, then per strategy ``<id>`` (its PnL so far, quote) and
    ``<id>:held`` (the value of its holdings at the marks). ``bars`` has columns ts,
    [symbol,] close of the symbols traded (the run's bars, e.g. ``ResearchResult.bars()``)."""
    ts = np.asarray(equity_ts, dtype=np.int64)
    marks = _marks_at(bars, ts, timeframe_ms, sorted(set(fills["symbol"].tolist())))
    out: dict[str, Any] = {"ts": ts}
    for sid in sids:
        own = fills[fills["strategy_id"] == sid]
        step = np.searchsorted(ts, own["ts"].to_numpy(dtype=np.int64), side="right")
        sign = np.where(own["side"].to_numpy() == "buy", 1.0, -1.0)
        amount = own["amount"].to_numpy(dtype=np.float64)
        notional = own["price"].to_numpy(dtype=np.float64) * amount
        fee = own["fee"].to_numpy(dtype=np.float64)
        base = own["symbol"].str.split("/").str[0].to_numpy(dtype=object)
        if "fee_currency" in own.columns:  # a fee in the coin traded moves the holding
            in_base = own["fee_currency"].to_numpy(dtype=object) == base
            base_fee = np.where(in_base, own["fee_cost"].to_numpy(dtype=np.float64), 0.0)
        else:
            in_base = np.zeros(len(own), dtype=bool)
            base_fee = np.zeros(len(own))
        cash = np.zeros(ts.size + 1)
        # quote flows; a fee in another asset (BNB) counts at its quote value when paid
        np.add.at(cash, step, -sign * notional - np.where(in_base, 0.0, fee))
        held_value = np.zeros(ts.size)
        symbols = own["symbol"].to_numpy(dtype=object)
        for symbol in sorted(set(symbols.tolist())):
            mine = symbols == symbol
            amounts = np.zeros(ts.size + 1)
            np.add.at(amounts, step[mine], sign[mine] * amount[mine] - base_fee[mine])
            held_value += np.cumsum(amounts)[:-1] * marks[symbol]
        out[sid] = np.cumsum(cash)[:-1] + held_value
        out[f"{sid}:held"] = np.abs(held_value)
    return pd.DataFrame(out)


def _marks_at(bars: pd.DataFrame, ts: np.ndarray, timeframe_ms: int,
              symbols: list[str]) -> dict[str, np.ndarray]:
    """Each symbol's last close at or before every step (NaN before its first bar)."""
    out: dict[str, np.ndarray] = {}
    for symbol in symbols:
        rows = bars[bars["symbol"] == symbol] if "symbol" in bars.columns else bars
        close_ts = rows["ts"].to_numpy(dtype=np.int64) + timeframe_ms
        idx = np.searchsorted(close_ts, ts, side="right") - 1
        closes = rows["close"].to_numpy(dtype=np.float64)
        mark = np.where(idx >= 0, closes[np.maximum(idx, 0)], np.nan)
        out[symbol] = np.nan_to_num(mark, nan=0.0)
    return out


__all__ = ["BREAKDOWN_COLUMNS", "strategy_breakdown", "strategy_equity", "strategy_ids",
           "trades_by_strategy"]
