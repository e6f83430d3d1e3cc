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
- ``fills``' ``fee_currency``/``fee_cost``: what the kernel charged, in the base currency
  (a buy on a ``get`` market: the coin bought) or the quote currency;
- ``trades``: ``trades.trade_rows`` over those columns, with the fills after which the
  kernel found dust (a round trip ends there, as with the engine's ``dust`` events);
- ``equity``: the kernel's own equity/cash/exposure/fees block adopted as the frame (no
  copy); equity counts dust, exposure does not;
- ``metrics``: ``result.compute_metrics`` over the equity curve and the trades;
- ``final_positions``: the fills' running position (net of base fees, positive leftovers
  kept, dust left out, as ``Portfolio.positions``), checked against the open trades.

``events`` holds one ``dust`` event per fill that left dust, as the event engine
reports it (``run.loop``), built with the result.

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
    check_final_positions,
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
    exposure, cumulative fees) and, when ``equity_written``, row 0 (equity, dust
    included); otherwise row 0 is ``cash + exposure``, filled in when the equity is first
    read. ``ts`` are the bars' open times; ``closes`` is ``(n, n_symbols)``.
    """

    records: np.ndarray
    symbols: tuple[str, ...]
    ts: np.ndarray
    closes: np.ndarray
    block: np.ndarray
    tf_ms: int
    tagger: Tagger
    strategy_id: str = "fast"
    equity_written: bool = False


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
        setattr_(self, "events", _dust_events(run))
        setattr_(self, "timeframe", timeframe)
        setattr_(self, "initial_cash", float(initial_cash))
        setattr_(self, "quote_currency", str(quote_currency))
        marks = {s: float(run.closes[-1, j]) for j, s in enumerate(run.symbols)}
        setattr_(self, "final_marks", dict(sorted(marks.items())))
        setattr_(self, "_run", run)
        setattr_(self, "_cache", {})
        return self

    def equity_values(self) -> np.ndarray:
        """The equity at each bar close (cash + exposure + dust), a new array, built without
        any frame (what a sweep's overfitting statistics read of each combination)."""
        run = self._run
        if run.equity_written:
            return run.block[0].copy()
        return np.add(run.block[1], run.block[2])

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
        """``frames.fill_columns`` of the fills ``build_result`` used to make (enums as members)."""
        def make() -> dict[str, list[Any]]:
            run = self._run
            r = run.records
            n = r.shape[0]
            tags = {}
            for code in np.unique(r["reason"]).tolist():
                tags[code] = run.tagger(code)[0]
            quote = self.quote_currency
            if "fee_base" in (r.dtype.names or ()):
                bases = [s.partition("/")[0] for s in run.symbols]
                currency = [bases[c] if b else quote
                            for c, b in zip(r["col"].tolist(), r["fee_base"].tolist())]
                cost = r["fee_cost"].tolist()
            else:  # records without fee columns: every fee in the quote currency
                currency, cost = [quote] * n, r["fee"].tolist()
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
                "fee_currency": currency,
                "fee_cost": cost,
            }
        return self._part("fill_columns", make)

    def _trade_rows(self) -> list[tuple[Any, ...]]:
        def make() -> list[tuple[Any, ...]]:
            curve = self._curve()
            final_ts = int(curve.ts[-1]) if len(curve) else None
            return trade_rows(self._fill_columns(), timeframe_ms=self._run.tf_ms,
                              final_ts=final_ts, final_marks=self.final_marks,
                              dust=_dust_fills(self._run.records))
        return self._part("trade_rows", make)

    def _curve(self) -> EquityCurve:
        def make() -> EquityCurve:
            run = self._run
            block = run.block
            if not run.equity_written:
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
    quote = self.quote_currency
    pos = dict.fromkeys(self._run.symbols, 0.0)
    dust = dict.fromkeys(self._run.symbols, False)
    dusted = _dust_fills(self._run.records)
    for k, (symbol, side, amount, currency, cost) in enumerate(zip(
            cols["symbol"], cols["side"], cols["amount"], cols["fee_currency"], cols["fee_cost"])):
        base_fee = cost if currency != quote else 0.0
        if side is Side.BUY:
            pos[symbol] += amount - base_fee if base_fee else amount  # Portfolio: net of a base fee
            dust[symbol] = False  # a buy merges dust back into the position
        else:
            left = pos[symbol] - (amount + base_fee if base_fee else amount)
            pos[symbol] = 0.0 if left < 0.0 else left  # Portfolio keeps a positive leftover
        if k in dusted:
            dust[symbol] = True
    positions = {s: float(p) for s, p in sorted(pos.items()) if p != 0.0 and not dust[s]}
    if positions:
        check_final_positions(self._trade_rows(), positions, self._fill_columns())
    return positions


def _dust_fills(records: np.ndarray) -> dict[int, float]:
    """Fill index -> the dust the kernel found after it (``trade_rows``' ``dust``)."""
    if "dust" not in (records.dtype.names or ()):
        return {}
    rows = np.flatnonzero(records["dust"])
    return dict(zip(rows.tolist(), records["dust_amount"][rows].tolist()))


def _dust_events(run: KernelRun) -> list[dict[str, Any]]:
    """The ``dust`` events the event engine reports for these fills (``run.loop``)."""
    events = []
    for k, amount in _dust_fills(run.records).items():
        record = run.records[k]
        symbol = run.symbols[int(record["col"])]
        base = symbol.partition("/")[0]
        events.append({
            "ts": int(run.ts[int(record["bar"])]) + run.tf_ms, "kind": "dust", "symbol": symbol,
            "amount": float(amount), "order_id": k + 1, "fill": k,
            "message": (
                f"{symbol}: {amount:.10g} {base} left after order {k + 1} is under the "
                "market's minimum amount/notional and cannot be sold; it stays in the balance "
                "and the strategy sees a flat position"),
        })
    return events


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
