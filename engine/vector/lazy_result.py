"""The ``BacktestResult`` of a kernel run, built when it is read.

A kernel runs a million bars in about 15 ms; turning its fill records into frames,
round-trip trades and metrics takes ten times that, and most callers read only part
of it (a sweep cell reads the metrics, a notebook the equity). So ``run_signals``,
``run_target_weights`` and ``run_brackets`` return a ``KernelResult``: a
``BacktestResult`` holding the kernel's arrays, whose frames and metrics are built on
first access, each at most once, and then stay (later reads are plain attributes).

What is built, and from what (the same functions, in the same order, as
``BacktestResult.build`` over ``Fill``/``Order`` objects, so every frame and metric is
identical to the eager build; ``tests/unit/engine/test_kernel_result.py`` checks it):

- ``fills``, ``orders``: columns straight from the fill records (one FILLED order per
  fill, named by ``tagger``), no per-fill objects;
- ``trades``: ``trades.trade_rows`` over those columns;
- ``equity``: the kernel's own cash/exposure/fees block adopted as the frame (no copy);
- ``metrics``: ``result.compute_metrics`` over the equity curve and the trades;
- ``final_positions``: the fills' running position (positive dust kept, as
  ``Portfolio``), checked against the open trades.

Pickling (``copy``, Dask, process pools) builds everything first and travels as a plain
``BacktestResult``.

>>> import numpy as np, pandas as pd
>>> from tradeloom.engine.vector.api import run_signals
>>> px = np.array([100.0, 101.0, 103.0, 102.0])
>>> bars = pd.DataFrame({"ts": np.arange(4) * 60_000, "open": px, "high": px, "low": px,
...                      "close": px, "volume": 1.0})
>>> res = run_signals(bars, [True, False, False, False], [False, False, True, False])
>>> sorted(res.pending())
['equity', 'fills', 'final_positions', 'metrics', 'orders', 'risk_decisions', 'trades']
>>> round(res.metrics["final_equity"], 2), sorted(res.pending())
(10078.83, ['equity', 'fills', 'final_positions', 'orders', 'risk_decisions'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import mul
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.orders import Liquidity, OrderStatus, OrderType, Side, TimeInForce
from tradeloom.engine.results.frames import (
    ORDER_COLUMNS,
    check_json,
    equity_frame_from_block,
    fills_frame_from_columns,
    make_frame,
    records_frame,
    trades_frame_from_rows,
)
from tradeloom.engine.results.result import (
    BacktestResult,
    EquityCurve,
    _check_positions,
    _open_positions,
    compute_metrics,
)
from tradeloom.engine.results.trades import trade_rows

__all__ = ["KernelResult", "KernelRun"]

Tagger = Callable[[int], tuple[str, OrderType]]
"""``reason code -> (tag, OrderType)``: how the event-engine twin names each fill."""

LAZY_FIELDS = ("orders", "fills", "trades", "equity", "risk_decisions", "metrics", "final_positions")
"""The ``BacktestResult`` fields a ``KernelResult`` builds on first access."""


@dataclass(frozen=True, eq=False)
class KernelRun:
    """What a kernel run produced: fill records, the equity block and the bar closes.

    ``block`` is C-contiguous float64 ``(4, n)``; the kernel wrote rows 1..3 (cash,
    exposure, cumulative fees) and row 0 (equity) is filled in when the equity is
    first read. ``ts`` are the bars' open times; ``closes`` is ``(n, n_symbols)``.
    """

    records: np.ndarray
    symbols: tuple[str, ...]
    ts: np.ndarray
    closes: np.ndarray
    block: np.ndarray
    tf_ms: int
    tagger: Tagger
    strategy_id: str = "fast"


class KernelResult(BacktestResult):
    """A ``BacktestResult`` whose ``LAZY_FIELDS`` are built on first access (module docs).

    Equal to (``==``) the eagerly built result of the same run. Construct with
    :meth:`of_run`.
    """

    @classmethod
    def of_run(cls, run: KernelRun, *, timeframe: str, initial_cash: float, quote_currency: str,
               manifest: dict[str, Any]) -> KernelResult:
        """The result of ``run`` with its cheap fields set and the rest pending."""
        self = cls.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(self, "manifest", check_json(dict(manifest), "manifest"))
        setattr_(self, "events", [])
        setattr_(self, "timeframe", timeframe)
        setattr_(self, "initial_cash", float(initial_cash))
        setattr_(self, "quote_currency", str(quote_currency))
        marks = {s: float(run.closes[-1, j]) for j, s in enumerate(run.symbols)}
        setattr_(self, "final_marks", dict(sorted(marks.items())))
        setattr_(self, "_run", run)
        setattr_(self, "_cache", {})
        return self

    def equity_values(self) -> np.ndarray:
        """The equity at each bar close (cash + exposure), a new array, built without any
        frame (what a sweep's overfitting statistics read of each combination)."""
        block = self._run.block
        return np.add(block[1], block[2])

    def pending(self) -> list[str]:
        """The fields not built yet (empty once everything was read)."""
        return [name for name in LAZY_FIELDS if name not in self.__dict__]

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not in __dict__: the pending fields.
        if name not in LAZY_FIELDS or "_run" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = _BUILDERS[name](self)
        object.__setattr__(self, name, value)
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        state = {name: getattr(self, name) for name in (*LAZY_FIELDS, "manifest", "events",
                                                         "timeframe", "initial_cash",
                                                         "quote_currency", "final_marks")}
        return _plain_result, (state,)

    # ------------------------------------------------------------------ builders

    def _part(self, key: str, make: Callable[[], Any]) -> Any:
        cache = self.__dict__["_cache"]
        if key not in cache:
            cache[key] = make()
        return cache[key]

    def _fill_columns(self) -> dict[str, list[Any]]:
        """``frames.fill_columns`` of the fills ``_build_result`` used to make (enums as members)."""
        def make() -> dict[str, list[Any]]:
            run = self._run
            r = run.records
            n = r.shape[0]
            tags = {}
            for code in np.unique(r["reason"]).tolist():
                tags[code] = run.tagger(code)[0]
            return {
                "order_id": list(range(1, n + 1)),
                "symbol": [run.symbols[c] for c in r["col"].tolist()],
                "side": [Side.BUY if s > 0 else Side.SELL for s in r["side"].tolist()],
                "ts": run.ts[r["bar"]].tolist(),
                "price": r["price"].tolist(),
                "amount": r["amount"].tolist(),
                "fee": r["fee"].tolist(),
                "liquidity": [Liquidity.MAKER if m else Liquidity.TAKER for m in r["maker"].tolist()],
                "client_id": [""] * n,
                "tag": [tags[code] for code in r["reason"].tolist()],
                "strategy_id": [run.strategy_id] * n,
                # The kernels charge every fee in the quote currency (they refuse other
                # fee sides), so what the venue charged is the quote fee itself.
                "fee_currency": [self.quote_currency] * n,
                "fee_cost": r["fee"].tolist(),
            }
        return self._part("fill_columns", make)

    def _trade_rows(self) -> list[tuple[Any, ...]]:
        def make() -> list[tuple[Any, ...]]:
            curve = self._curve()
            final_ts = int(curve.ts[-1]) if len(curve) else None
            return trade_rows(self._fill_columns(), timeframe_ms=self._run.tf_ms,
                              final_ts=final_ts, final_marks=self.final_marks)
        return self._part("trade_rows", make)

    def _curve(self) -> EquityCurve:
        def make() -> EquityCurve:
            run = self._run
            block = run.block
            np.add(block[1], block[2], out=block[0])  # equity = cash + exposure
            return EquityCurve.adopt_block(run.ts + run.tf_ms, block)
        return self._part("curve", make)


def _fills(self: KernelResult) -> pd.DataFrame:
    return fills_frame_from_columns(self._fill_columns())


def _orders(self: KernelResult) -> pd.DataFrame:
    run = self._run
    cols = self._fill_columns()
    n = len(cols["order_id"])
    types = {code: run.tagger(code)[1].value for code in np.unique(run.records["reason"]).tolist()}
    nan = np.full(n, np.nan)
    filled = str(OrderStatus.FILLED.value)
    out: dict[str, Any] = {
        "id": cols["order_id"],
        "symbol": cols["symbol"],
        "side": [s.value for s in cols["side"]],
        "type": [types[code] for code in run.records["reason"].tolist()],
        "amount": cols["amount"],
        "created_ts": cols["ts"],
        "price": nan,
        "quote_amount": nan,
        "stop_price": nan,
        "trail_amount": nan,
        "trail_pct": nan,
        "tif": [TimeInForce.GTC.value] * n,
        "post_only": np.zeros(n, dtype=bool),
        "reduce_only": np.zeros(n, dtype=bool),
        "client_id": cols["client_id"],
        "tag": cols["tag"],
        "strategy_id": cols["strategy_id"],
        "parent_id": [None] * n,
        "oco_group": [None] * n,
        "status": [filled] * n,
        "filled": cols["amount"],
        "avg_price": cols["price"],
        "fee": cols["fee"],
        "triggered": np.zeros(n, dtype=bool),
        "updated_ts": cols["ts"],
        "reason": [""] * n,
        "history": [f'[[{ts!r}, "{filled}"]]' for ts in cols["ts"]],
    }
    return make_frame(out, ORDER_COLUMNS)


def _trades(self: KernelResult) -> pd.DataFrame:
    return trades_frame_from_rows(self._trade_rows())


def _equity(self: KernelResult) -> pd.DataFrame:
    # A copy for the frame: the curve's read-only views of the block may still be read
    # (metrics built later) after the caller changed the frame in place.
    curve = self._curve()
    block = np.ascontiguousarray(np.stack([curve.equity, curve.cash, curve.exposure, curve.fees_cum]))
    return equity_frame_from_block(np.array(curve.ts), block)


def _metrics(self: KernelResult) -> dict[str, float]:
    cols = self._fill_columns()
    return compute_metrics(
        self._curve(),
        self.trades,
        traded_notional=float(sum(map(mul, cols["price"], cols["amount"]))),
        fees_paid=float(sum(cols["fee"])),
        timeframe=self.timeframe,
        initial_cash=self.initial_cash,
    )


def _final_positions(self: KernelResult) -> dict[str, float]:
    cols = self._fill_columns()
    pos = dict.fromkeys(self._run.symbols, 0.0)
    for symbol, side, amount in zip(cols["symbol"], cols["side"], cols["amount"]):
        if side is Side.BUY:
            pos[symbol] += amount
        else:
            left = pos[symbol] - amount
            pos[symbol] = 0.0 if left < 0.0 else left  # Portfolio keeps positive dust
    positions = {s: float(p) for s, p in sorted(pos.items()) if p != 0.0}
    if positions:
        _check_positions(_open_positions(self._trade_rows()), positions)
    return positions


def _risk_decisions(self: KernelResult) -> pd.DataFrame:
    return records_frame(())


def _plain_result(state: dict[str, Any]) -> BacktestResult:
    """A ``BacktestResult`` with ``state`` as its fields (what a pickled ``KernelResult`` loads as)."""
    result = BacktestResult.__new__(BacktestResult)
    result.__dict__.update(state)
    return result


_BUILDERS: dict[str, Callable[[KernelResult], Any]] = {
    "orders": _orders,
    "fills": _fills,
    "trades": _trades,
    "equity": _equity,
    "risk_decisions": _risk_decisions,
    "metrics": _metrics,
    "final_positions": _final_positions,
}
