"""The in-memory result of one backtest: frames, metrics, manifest, comparison.

``BacktestResult.build(...)`` is what the loop calls at the end of a run; it
turns orders, fills and the recorded equity curve into DataFrames with fixed
columns and dtypes, builds round-trip trades (:mod:`.trades`) and computes the
metrics (:mod:`.metrics`). Saving and loading live in
``tradeloom.adapters.store.results_io`` because the engine does no I/O.

Metric conventions (see :mod:`.metrics` for the formulas):

- the series the return metrics see is the recorded curve with the account
  *before the first bar* prepended: ``(ts[0] - timeframe_ms, initial_cash)``.
  So every recorded bar contributes one return, including fills at the first
  bar's open, and ``total_return = final_equity / initial_cash - 1``;
- trade statistics (``n_trades``, ``win_rate``, ``profit_factor``, averages,
  best/worst) count **closed** trades only; ``n_open_trades`` counts the rest;
- ``exposure_time`` is over the recorded steps; ``turnover`` is the sum of fill
  notionals over the mean of the same equity series as the returns.

Every metric is a float (counts too) so ``metrics`` is a ``dict[str, float]``
with the keys of ``METRIC_KEYS`` in that order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import mul
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.orders import Fill, Order
from tradeloom.engine.results import metrics as m
from tradeloom.engine.results.derivatives import (
    derivatives_summary,
    funding_frame,
    liquidations_frame,
)
from tradeloom.engine.results.frames import (
    EQUITY_COLUMNS,
    FILL_COLUMNS,
    ORDER_COLUMNS,
    TRADE_COLUMN_KINDS,
    ColumnKind,
    as_mapping,
    check_json,
    diff_frames,
    equity_frame_from_block,
    fill_arrays,
    fill_columns,
    fills_frame_from_columns,
    make_frame,
    orders_frame,
    records_frame,
)
from tradeloom.engine.results.paired_trades import trade_columns
from tradeloom.engine.results.pandas_views import PandasViews
from tradeloom.engine.results.trades import POSITION_RTOL, TRADE_COLUMNS
from tradeloom.engine.timeframes import bars_per_year, timeframe_to_ms

__all__ = [
    "EQUITY_COLUMNS",
    "FILL_COLUMNS",
    "METRIC_KEYS",
    "ORDER_COLUMNS",
    "TRADE_COLUMN_KINDS",
    "BacktestResult",
    "ColumnKind",
    "check_final_positions",
    "EquityCurve",
    "build_parts",
    "compute_metrics",
]


METRIC_KEYS: tuple[str, ...] = (
    "initial_cash",
    "final_equity",
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration_ms",
    "max_drawdown_duration_bars",
    "n_trades",
    "n_open_trades",
    "win_rate",
    "profit_factor",
    "avg_trade_pnl",
    "avg_trade_return",
    "best_trade_pnl",
    "worst_trade_pnl",
    "best_trade_return",
    "worst_trade_return",
    "exposure_time",
    "turnover",
    "fees_paid",
)
"""Metric names in display and file order; stable across versions (append only)."""


# --------------------------------------------------------------------------- equity


@dataclass(frozen=True, eq=False)
class EquityCurve:
    """Account state recorded by the loop once per distinct bar-close time.

    All arrays have the same length; ``ts`` (int64 ms, the close time) strictly
    increases; ``exposure`` is the gross market value of positions (>= 0);
    ``fees_cum`` the cumulative fees paid. Arrays are copied and made read-only.

    >>> c = EquityCurve(ts=[1, 2], equity=[100.0, 101.0], cash=[100.0, 0.0],
    ...                 exposure=[0.0, 101.0], fees_cum=[0.0, 0.1])
    >>> len(c), c.equity.tolist()
    (2, [100.0, 101.0])
    """

    ts: npt.NDArray[np.int64]
    equity: npt.NDArray[np.float64]
    cash: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    fees_cum: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        for name in EQUITY_COLUMNS:
            object.__setattr__(self, name, _read_only_column(name, getattr(self, name), copy=True))
        self._check()

    @classmethod
    def adopt(cls, **columns: npt.NDArray[Any]) -> EquityCurve:
        """Like ``EquityCurve(**columns)`` but takes over arrays nobody else holds instead of
        copying them (``collect`` passes ``Engine.recorded()``'s fresh arrays). The arrays
        become read-only; the checks are the constructor's."""
        curve = cls.__new__(cls)
        for name in EQUITY_COLUMNS:
            object.__setattr__(curve, name, _read_only_column(name, columns[name], copy=False))
        curve._check()
        return curve

    @classmethod
    def adopt_block(cls, ts: npt.NDArray[np.int64], block: npt.NDArray[np.float64]) -> EquityCurve:
        """:meth:`adopt` from ``Engine.recorded_block()``: ``ts`` and one C-contiguous
        float64 ``(4, n)`` array whose rows are equity, cash, exposure, fees_cum.

        The columns are read-only views of the two arrays, and :meth:`to_frame` hands
        the arrays themselves to the frame (the block as its one float block), so
        building the equity frame copies nothing. Nobody else may hold them.
        """
        block = np.asarray(block)
        ts = np.asarray(ts)
        if (
            block.dtype != np.float64
            or ts.dtype != np.int64
            or block.ndim != 2
            or block.shape[0] != len(_FLOAT_COLUMNS)
            or not block.flags.c_contiguous
        ):
            return cls.adopt(ts=ts, **dict(zip(_FLOAT_COLUMNS, block)))
        curve = cls.adopt(ts=ts.view(), **dict(zip(_FLOAT_COLUMNS, block)))
        object.__setattr__(curve, "_frame_arrays", (ts, block))
        return curve

    def _check(self) -> None:
        n = self.ts.size
        for name in EQUITY_COLUMNS:
            if getattr(self, name).size != n:
                raise DataError(
                    f"EquityCurve.{name} has {getattr(self, name).size} values but ts has {n}; "
                    "record every column once per step"
                )
        if n > 1 and not bool(np.all(self.ts[1:] > self.ts[:-1])):  # no full-length int temporary
            i = int(np.argmax(np.diff(self.ts) <= 0)) + 1
            raise DataError(
                f"EquityCurve.ts must strictly increase: row {i} ts {int(self.ts[i])} <= "
                f"row {i - 1} ts {int(self.ts[i - 1])}; record once per distinct close time"
            )
        if not bool(np.all(np.isfinite(self.equity))):
            i = int(np.argmax(~np.isfinite(self.equity)))
            raise DataError(
                f"EquityCurve.equity row {i} is {self.equity[i]}; equity must be finite"
            )
        if bool(np.any(self.exposure < 0)):
            i = int(np.argmax(self.exposure < 0))
            raise DataError(
                f"EquityCurve.exposure row {i} is {self.exposure[i]}; record gross exposure (>= 0)"
            )

    def __len__(self) -> int:
        return int(self.ts.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EquityCurve):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, n), getattr(other, n), equal_nan=n != "ts")
            for n in EQUITY_COLUMNS
        )

    __hash__ = None  # type: ignore[assignment]

    def to_frame(self) -> pd.DataFrame:
        """Columns ts, equity, cash, exposure, fees_cum with a RangeIndex."""
        arrays = self.__dict__.pop("_frame_arrays", None)  # handed over once: the frame owns them
        if arrays is not None:
            return equity_frame_from_block(*arrays)
        return make_frame({n: getattr(self, n) for n in EQUITY_COLUMNS}, EQUITY_COLUMNS)


_FLOAT_COLUMNS = tuple(n for n in EQUITY_COLUMNS if n != "ts")


def _read_only_column(name: str, raw: Any, *, copy: bool) -> npt.NDArray[Any]:
    dtype = np.int64 if name == "ts" else np.float64
    arr = np.array(raw, dtype=dtype, copy=True) if copy else np.asarray(raw, dtype=dtype)
    if arr.ndim != 1:
        raise DataError(f"EquityCurve.{name} must be 1-D, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True, eq=False)
class BacktestResult(PandasViews):
    """Everything one run produced, as frames and plain dicts.

    Build it with :meth:`build`; the constructor takes the already-built frames
    (that is what loading does). Compare with ``==``/:meth:`equals` (every frame
    exactly: columns, dtypes, values, NaN equal to NaN) and :meth:`diff`.
    ``equity_df``, ``trades_df``, ``orders_df``, ``fills_df`` and ``to_pandas()`` give
    the frames indexed by UTC time (:mod:`.pandas_views`).
    """

    orders: pd.DataFrame
    fills: pd.DataFrame
    trades: pd.DataFrame
    equity: pd.DataFrame
    risk_decisions: pd.DataFrame
    metrics: dict[str, float]
    manifest: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    timeframe: str = "1m"
    initial_cash: float = 0.0
    quote_currency: str = ""
    final_positions: dict[str, float] = field(default_factory=dict)
    final_marks: dict[str, float] = field(default_factory=dict)

    FRAMES = ("orders", "fills", "trades", "equity", "risk_decisions")
    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def build(
        cls,
        *,
        orders: Sequence[Order],
        fills: Sequence[Fill],
        equity: EquityCurve,
        timeframe: str,
        initial_cash: float,
        quote_currency: str,
        manifest: Mapping[str, Any],
        risk_decisions: Sequence[Mapping[str, Any]] = (),
        events: Sequence[Mapping[str, Any]] = (),
        final_positions: Mapping[str, float] = {},
        final_marks: Mapping[str, float] = {},
    ) -> BacktestResult:
        """Assemble a result at the end of a run (see the module docstring for conventions).

        ``final_positions``, when given, is checked against the positions the
        fills imply: a mismatch means the fills handed over are incomplete and raises
        DataError. The tolerance is ``POSITION_RTOL`` times the symbol's traded amount:
        each round trip closed "back to flat" within ``POSITION_RTOL`` of what it traded
        (see ``trades``) and the holding kept that float remainder.
        """
        fields, pending = build_parts(
            orders=orders, fills=fills, equity=equity, timeframe=timeframe,
            initial_cash=initial_cash, quote_currency=quote_currency, manifest=manifest,
            risk_decisions=risk_decisions, events=events, final_positions=final_positions,
            final_marks=final_marks,
        )
        # The pending parts in the order they were always built in: orders, fills, metrics.
        return cls(**fields, **{name: make() for name, make in pending.items()})

    # ------------------------------------------------------------------ derivatives

    @property
    def funding(self) -> pd.DataFrame:
        """Funding payments (``engine.results.derivatives.funding_frame``)."""
        return funding_frame(self.events)

    @property
    def liquidations(self) -> pd.DataFrame:
        """Liquidations (``engine.results.derivatives.liquidations_frame``)."""
        return liquidations_frame(self.events)

    def derivatives(self) -> dict[str, Any]:
        """Funding per symbol, liquidations and the long/short breakdown
        (``engine.results.derivatives.derivatives_summary``)."""
        return derivatives_summary(self.events, self.trades)

    # ------------------------------------------------------------------ comparison

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BacktestResult):
            return NotImplemented
        return self.equals(other)

    def equals(self, other: BacktestResult) -> bool:
        """True when every frame, dict and setting is exactly equal (NaN equals NaN)."""
        return not self.diff(other, limit=1)

    def diff(self, other: BacktestResult, limit: int = 20) -> list[str]:
        """Human-readable differences, most useful first; empty when equal.

        Settings and metric deltas first, then, per frame, a schema or length
        difference or the first differing row with every differing column, then
        manifest keys and the first differing event. At most ``limit`` lines.
        """
        out: list[str] = []
        for name in (
            "timeframe",
            "initial_cash",
            "quote_currency",
            "final_positions",
            "final_marks",
        ):
            a, b = getattr(self, name), getattr(other, name)
            if not _same(a, b):
                out.append(f"{name}: {a!r} != {b!r}")
        out.extend(_diff_metrics(self.metrics, other.metrics))
        for name in self.FRAMES:
            msg = diff_frames(getattr(self, name), getattr(other, name), name)
            if msg:
                out.append(msg)
        out.extend(_diff_dicts(self.manifest, other.manifest, "manifest"))
        if self.events != other.events:
            n = min(len(self.events), len(other.events))
            i = next((j for j in range(n) if self.events[j] != other.events[j]), n)
            if i < n:
                out.append(f"events[{i}]: {self.events[i]!r} != {other.events[i]!r}")
            else:
                out.append(f"events: {len(self.events)} != {len(other.events)} events")
        return out[:limit]

    # ------------------------------------------------------------------ per strategy

    def trades_by_strategy(self) -> pd.DataFrame:
        """Round trips per (strategy, symbol) with a ``strategy_id`` column (see
        ``results.strategies``); equal to ``trades`` plus that column for one strategy."""
        from tradeloom.engine.results.strategies import trades_by_strategy

        dust = {int(e["fill"]): float(e["amount"]) for e in self.events
                if e.get("kind") == "dust" and "fill" in e}
        return trades_by_strategy(
            self.fills, timeframe_ms=timeframe_to_ms(self.timeframe),
            final_ts=int(self.equity["ts"].iloc[-1]) if len(self.equity) else None,
            final_marks=self.final_marks, dust=dust)

    def by_strategy(self) -> pd.DataFrame:
        """One row per strategy: orders, fills, trades, PnL, fees, win rate, traded notional,
        contribution to the return and exposure time (``results.strategies``)."""
        from tradeloom.engine.results.strategies import strategy_breakdown

        return strategy_breakdown(orders=self.orders, fills=self.fills,
                                  trades=self.trades_by_strategy(),
                                  equity_ts=self.equity["ts"].to_numpy(),
                                  initial_cash=self.initial_cash, final_marks=self.final_marks)

    def strategy_equity(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Per recorded step, each strategy's PnL so far and the value it holds, valued with
        ``bars`` (the run's bars: ts, [symbol,] close); see ``results.strategies``."""
        from tradeloom.engine.results.strategies import strategy_equity, strategy_ids

        return strategy_equity(fills=self.fills, equity_ts=self.equity["ts"].to_numpy(),
                               bars=bars, timeframe_ms=timeframe_to_ms(self.timeframe),
                               sids=strategy_ids(self.orders, self.fills))

    # ------------------------------------------------------------------ display

    def summary(self) -> str:
        """The metrics as a plain two-column text table (deterministic).

        Fractions show as percentages, durations as days, counts as integers.
        """
        rows = [("strategy", str(self.manifest.get("strategy", ""))), ("timeframe", self.timeframe)]
        if len(self.equity):
            rows.append(("bars", str(len(self.equity))))
        for key in METRIC_KEYS:
            rows.append(
                (key, _fmt_metric(key, self.metrics.get(key, math.nan), self.quote_currency))
            )
        width = max(len(k) for k, _ in rows)
        vwidth = max(len(v) for _, v in rows)
        rule = "-" * (width + 2 + vwidth)
        lines = [rule] + [f"{k:<{width}}  {v:>{vwidth}}" for k, v in rows] + [rule]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"BacktestResult(timeframe={self.timeframe!r}, bars={len(self.equity)}, "
            f"fills={len(self.fills)}, trades={len(self.trades)}, "
            f"final_equity={self.metrics.get('final_equity')!r})"
        )


Pending = dict[str, Callable[[], Any]]
"""``build_parts``' fields still to build: name -> a function building it (at most once)."""


def build_parts(
    *,
    orders: Sequence[Order],
    fills: Sequence[Fill],
    equity: EquityCurve,
    timeframe: str,
    initial_cash: float,
    quote_currency: str,
    manifest: Mapping[str, Any],
    risk_decisions: Sequence[Mapping[str, Any]] = (),
    events: Sequence[Mapping[str, Any]] = (),
    final_positions: Mapping[str, float] = {},
    final_marks: Mapping[str, float] = {},
) -> tuple[dict[str, Any], Pending]:
    """What :meth:`BacktestResult.build` assembles, in two parts: the fields built now
    (every check that can fail, the trades, the equity frame, the settings) and, for
    ``orders``, ``fills`` and ``metrics``, a function that builds the field from values
    fixed here (the orders as a new list, the fills' columns), so building it later gives
    the field it would have been now. ``engine.results.deferred`` builds those on read.
    """
    tf_ms = timeframe_to_ms(timeframe)
    if not (
        isinstance(initial_cash, (int, float))
        and math.isfinite(initial_cash)
        and initial_cash > 0
    ):
        raise ConfigError(
            f"initial_cash must be a positive finite number, got {initial_cash!r}"
        )
    manifest_plain = check_json(dict(manifest), "manifest")
    events_plain = [
        check_json(as_mapping(e, f"events[{i}]"), f"events[{i}]") for i, e in enumerate(events)
    ]
    marks = {str(k): float(v) for k, v in sorted(final_marks.items())}
    positions = {str(k): float(v) for k, v in sorted(final_positions.items())}
    final_ts = int(equity.ts[-1]) if len(equity) else None
    # Each fill attribute is read once, into lists shared by trades, fills and metrics.
    fill_cols = fill_columns(fills)
    fill_nums = fill_arrays(fill_cols)  # converted once: the trades and the fills frame
    dust = {int(e["fill"]): float(e["amount"]) for e in events_plain
            if e.get("kind") == "dust" and "fill" in e}
    trade_cols = trade_columns(fill_cols, timeframe_ms=tf_ms, final_ts=final_ts,
                               final_marks=marks, dust=dust, arrays=fill_nums)
    if final_positions:
        _check_positions(_open_positions_of_columns(trade_cols), positions,
                         _traded(fill_cols, fill_nums["amount"]))
    trades = make_frame(trade_cols, TRADE_COLUMN_KINDS)
    order_list = list(orders)
    cash = float(initial_cash)
    fields: dict[str, Any] = {
        "trades": trades,
        "equity": equity.to_frame(),
        "risk_decisions": records_frame(risk_decisions),
        "manifest": manifest_plain,
        "events": events_plain,
        "timeframe": timeframe,
        "initial_cash": cash,
        "quote_currency": str(quote_currency),
        "final_positions": positions,
        "final_marks": marks,
    }
    pending: Pending = {
        "orders": lambda: orders_frame(order_list),
        "fills": lambda: fills_frame_from_columns({**fill_cols, **fill_nums}),
        "metrics": lambda: compute_metrics(
            equity,
            trades,
            # the same products and left-to-right sums as iterating the fills
            traded_notional=float(sum(map(mul, fill_cols["price"], fill_cols["amount"]))),
            fees_paid=float(sum(fill_cols["fee"])),
            timeframe=timeframe,
            initial_cash=cash,
        ),
    }
    return fields, pending


def compute_metrics(
    equity: EquityCurve,
    trades: pd.DataFrame,
    *,
    traded_notional: float,
    fees_paid: float,
    timeframe: str,
    initial_cash: float,
) -> dict[str, float]:
    """The ``METRIC_KEYS`` metrics of a run (conventions in the module docstring)."""
    tf_ms = timeframe_to_ms(timeframe)
    bpy = bars_per_year(timeframe)
    start_ts = int(equity.ts[0]) - tf_ms if len(equity) else 0
    e = np.concatenate([[initial_cash], equity.equity])
    # ``ts`` is ``[start_ts] + equity.ts``; only its ends and a few indices are ever read,
    # so it is not built (a full-length copy per run).
    ts = _PrependedTs(start_ts, equity.ts)
    r = m.step_returns(e)
    closed = trades[~trades["is_open"].to_numpy(dtype=bool)]
    pnl = closed["pnl"].to_numpy(dtype=np.float64)
    ret = closed["return_pct"].to_numpy(dtype=np.float64)
    cagr = m.cagr(e, ts.ends())
    mdd, (dd_ms, dd_bars) = m.drawdown_stats(e, ts.take)
    std = m.std_or_nan(r)  # volatility and Sharpe share it (same value either way)
    values: dict[str, float] = {
        "initial_cash": float(initial_cash),
        "final_equity": float(e[-1]),
        "total_return": m.total_return(e),
        "cagr": cagr,
        "volatility": m.volatility(r, bpy, std=std),
        "sharpe": m.sharpe(r, bpy, std=std),
        "sortino": m.sortino(r, bpy),
        "calmar": m.calmar(cagr, mdd),
        "max_drawdown": mdd,
        "max_drawdown_duration_ms": float(dd_ms),
        "max_drawdown_duration_bars": float(dd_bars),
        "n_trades": float(len(closed)),
        "n_open_trades": float(len(trades) - len(closed)),
        "win_rate": m.win_rate(pnl),
        "profit_factor": m.profit_factor(pnl),
        "avg_trade_pnl": m.mean_or_nan(pnl),
        "avg_trade_return": m.mean_or_nan(ret),
        "best_trade_pnl": m.max_or_nan(pnl),
        "worst_trade_pnl": m.min_or_nan(pnl),
        "best_trade_return": m.max_or_nan(ret),
        "worst_trade_return": m.min_or_nan(ret),
        "exposure_time": m.exposure_time(equity.exposure),
        "turnover": m.turnover(traded_notional, e),
        "fees_paid": float(fees_paid),
    }
    return {k: float(values[k]) for k in METRIC_KEYS}


_SYMBOL, _SIDE, _IS_OPEN, _OPEN_AMOUNT = (
    TRADE_COLUMNS.index(name) for name in ("symbol", "side", "is_open", "open_amount")
)


def _open_positions(rows: Sequence[tuple[Any, ...]]) -> dict[str, float]:
    """:func:`.trades.open_positions` over :func:`.trades.trade_rows`' tuples."""
    out: dict[str, float] = {}
    for row in rows:
        if row[_IS_OPEN]:
            amount = row[_OPEN_AMOUNT]
            out[row[_SYMBOL]] = amount if row[_SIDE] == "long" else -amount
    return out


def _open_positions_of_columns(cols: Mapping[str, Sequence[Any]]) -> dict[str, float]:
    """:func:`_open_positions` over :func:`.paired_trades.trade_columns`' columns."""
    out: dict[str, float] = {}
    for i in np.flatnonzero(np.asarray(cols["is_open"], dtype=bool)).tolist():
        amount = float(cols["open_amount"][i])
        out[cols["symbol"][i]] = amount if cols["side"][i] == "long" else -amount
    return out


class _PrependedTs:
    """The int64 series ``[first] + rest`` without building it."""

    __slots__ = ("first", "rest")

    def __init__(self, first: int, rest: npt.NDArray[np.int64]) -> None:
        self.first, self.rest = first, rest

    def ends(self) -> npt.NDArray[np.int64]:
        """``[series[0], series[-1]]`` (what ``metrics.cagr`` reads)."""
        last = self.rest[-1] if self.rest.size else self.first
        return np.asarray([self.first, last], dtype=np.int64)

    def take(self, idx: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        """``series[idx]`` for non-negative indices."""
        out = self.rest[np.maximum(idx - 1, 0)]  # a new array (fancy indexing)
        out[idx == 0] = self.first
        return out


def check_final_positions(rows: Sequence[tuple[Any, ...]], final_positions: Mapping[str, float],
                          fill_cols: Mapping[str, Sequence[Any]]) -> None:
    """Raise ``DataError`` unless the open trades of ``rows`` (``trades.trade_rows``) hold
    ``final_positions``, to ``POSITION_RTOL`` of the amount each symbol traded (see
    ``_check_positions``); ``fill_cols`` the fills' columns the rows were built from."""
    _check_positions(_open_positions(rows), final_positions, _traded(fill_cols))


def _traded(fill_cols: Mapping[str, Sequence[Any]],
            amounts: npt.NDArray[np.float64] | None = None) -> dict[str, float]:
    """Base amount traded per symbol (buys and sells alike): the sum of ``abs(float(a))``
    over the symbol's fills, added in fill order (``amounts``: the amounts as float64,
    when already converted).

    ``np.cumsum`` adds one value after the other, left to right (no pairwise summation),
    and ``0.0 + a`` is ``a`` for ``a >= 0``: the same sums as adding in a loop from 0.0.
    """
    symbols = fill_cols["symbol"]
    if amounts is None:
        amounts = np.asarray(fill_cols["amount"], dtype=np.float64)
    sizes = np.abs(amounts)
    keys = list(dict.fromkeys(symbols))
    if len(keys) == 1:
        return {keys[0]: float(np.cumsum(sizes)[-1])}
    of_symbol = np.asarray(symbols, dtype=object)
    return {key: float(np.cumsum(sizes[of_symbol == key])[-1]) for key in keys}


def _check_positions(implied: Mapping[str, float], given: Mapping[str, float],
                     traded: Mapping[str, float]) -> None:
    """Each round trip closes within ``POSITION_RTOL`` of what it traded while the holding
    keeps that remainder: the two agree to ``POSITION_RTOL`` of the amount traded.

    >>> _check_positions({"SOL/USDT": 1794.479306}, {"SOL/USDT": 1794.479309},
    ...                  {"SOL/USDT": 1_800_000.0})  # 3e-6 off after 1.8M SOL traded: noise
    >>> _check_positions({"SOL/USDT": 1794.4}, {"SOL/USDT": 1794.5}, {"SOL/USDT": 1_800_000.0})
    Traceback (most recent call last):
    ...
    tradeloom.engine.errors.DataError: SOL/USDT: final_positions says 1794.5 but the fills add up to 1794.4; pass every fill of the run (positions must start flat)
    """
    for symbol in sorted(set(implied) | set(given)):
        a, b = implied.get(symbol, 0.0), given.get(symbol, 0.0)
        if abs(a - b) > POSITION_RTOL * max(abs(a), abs(b), traded.get(symbol, 0.0), 1.0):
            raise DataError(
                f"{symbol}: final_positions says {b} but the fills add up to {a}; pass every fill "
                "of the run (positions must start flat)"
            )


# --------------------------------------------------------------------------- diff helpers


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(type(a) is type(b) and a == b)


def _diff_metrics(a: Mapping[str, float], b: Mapping[str, float]) -> list[str]:
    out = []
    for k in list(a) + [k for k in b if k not in a]:
        if k not in a or k not in b:
            out.append(f"metrics.{k}: only in {'first' if k in a else 'second'} result")
        elif not _same(a[k], b[k]):
            delta = b[k] - a[k]
            note = f" (delta {delta:+.6g})" if math.isfinite(delta) else ""
            out.append(f"metrics.{k}: {a[k]!r} != {b[k]!r}{note}")
    return out


def _diff_dicts(a: Mapping[str, Any], b: Mapping[str, Any], where: str) -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a or k not in b:
            out.append(f"{where}.{k}: only in {'first' if k in a else 'second'} result")
        elif not _same(a[k], b[k]):
            out.append(f"{where}.{k}: {a[k]!r} != {b[k]!r}")
    return out


def _fmt_metric(key: str, value: float, quote: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if key in (
        "total_return",
        "cagr",
        "volatility",
        "max_drawdown",
        "win_rate",
        "exposure_time",
        "avg_trade_return",
        "best_trade_return",
        "worst_trade_return",
    ):
        return f"{value * 100:.2f} %"
    if key in ("n_trades", "n_open_trades", "max_drawdown_duration_bars"):
        return f"{int(value)}"
    if key == "max_drawdown_duration_ms":
        return f"{value / 86_400_000:.2f} d"
    if key in (
        "initial_cash",
        "final_equity",
        "avg_trade_pnl",
        "best_trade_pnl",
        "worst_trade_pnl",
        "fees_paid",
    ):
        return f"{value:,.2f} {quote}".rstrip()
    return f"{value:.3f}"
