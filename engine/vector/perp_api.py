"""The perpetual fast path's API: the ``PerpTargets`` form, its kernel run
(``engine.vector.perp_nb``) into a ``BacktestResult``, and the event-engine twin.

``PerpTargets(targets, leverage=1.0, margin_mode="cross")``: one perpetual, a signed
fraction of equity per bar (NaN = no call), the exact twin of ``PerpTargetStrategy``,
which calls ``ctx.target_percent(symbol, w)`` at each bar close where ``w`` is not NaN
after ``ctx.set_leverage`` and ``ctx.set_margin_mode`` at the start. ``run_perp_targets``
runs it with the market's taker fee, its contract terms (brackets, liquidation fee),
and the funding history given (``engine.run.funding_feed.FundingRates``): the same
fills, equity rows, funding payments, liquidations and margin events as the event
engine (``tests/property/test_perp_parity.py``).

The kernel applies the market's lot step and minimums as the simulated exchange does
(``perp_nb``'s "Market rules"; the tick plays no part in market orders), with no
slippage and a ``MakerTakerFees`` fee; anything else is refused with
``NotVectorizable`` naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.errors import DataError, StrategyError
from tradeloom.engine.market import MarketSpec, step_decimals
from tradeloom.engine.orders import Fill, Liquidity, Order, OrderStatus, OrderType, Side
from tradeloom.engine.results.result import BacktestResult, EquityCurve
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.run.perp_step import LIQUIDATION_TAG
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.strategy.context import TARGET_TAG
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.vector import perp_nb
from tradeloom.engine.vector.form import NotVectorizable

__all__ = ["PerpTargetStrategy", "PerpTargets", "kernel_refusal", "run_perp_targets"]

STRATEGY_ID = "fast"


@dataclass(frozen=True, eq=False)
class PerpTargets:
    """Signed target fractions of equity for one perpetual (module docstring)."""

    targets: np.ndarray
    leverage: float = 1.0
    margin_mode: str = "cross"

    def checked(self, n: int) -> PerpTargets:
        t = np.ascontiguousarray(np.asarray(self.targets, dtype=np.float64))
        if t.shape != (n,):
            raise DataError(f"targets has shape {t.shape}; need ({n},), one per bar")
        lev = float(self.leverage)
        if not (math.isfinite(lev) and lev >= 1.0):
            raise DataError(f"leverage {self.leverage!r} must be >= 1")
        bad = np.flatnonzero(~np.isnan(t) & (np.abs(t) > lev))
        if bad.size:
            raise DataError(f"target {t[bad[0]]} at bar {int(bad[0])} is outside [-{lev:g}, "
                            f"{lev:g}] (the leverage)")
        if self.margin_mode not in ("cross", "isolated"):
            raise DataError(f"margin_mode {self.margin_mode!r}: use 'cross' or 'isolated'")
        return PerpTargets(t, lev, self.margin_mode)


class PerpTargetStrategy(Strategy):
    """The event-engine twin of ``PerpTargets`` (module docstring)."""

    def __init__(self, symbol: str, targets: np.ndarray, leverage: float = 1.0,
                 margin_mode: str = "cross") -> None:
        super().__init__()
        self.strategy_id = STRATEGY_ID
        self._symbol, self._targets = symbol, np.asarray(targets, dtype=np.float64)
        self._leverage, self._mode, self._i = float(leverage), margin_mode, -1

    def on_start(self, ctx: Any) -> None:
        ctx.set_leverage(self._symbol, self._leverage)
        ctx.set_margin_mode(self._symbol, self._mode)

    def on_bar(self, ctx: Any, bar: Any) -> None:
        self._i += 1
        w = self._targets[self._i]
        if not math.isnan(w):
            ctx.target_percent(self._symbol, float(w))


def kernel_refusal(market: MarketSpec, fee: Any = None, slippage: Any = None) -> str:
    """Why the perpetual kernel cannot run ``market`` (with ``fee``/``slippage``), or ""."""
    if market.contract is None:
        return f"{market.symbol} is not a perpetual (no contract terms)"
    if slippage is not None and type(slippage).__name__ != "NoSlippage":
        return "the perpetual kernel models no slippage"
    if fee is not None and not isinstance(fee, (int, float, MakerTakerFees)):
        return f"the perpetual kernel models maker/taker fees only, not {type(fee).__name__}"
    return ""


def run_perp_targets(bars: pd.DataFrame, form: PerpTargets, *, market: MarketSpec,
                     timeframe: str, init_cash: float = 10_000.0, fee: Any = None,
                     slippage: Any = None, funding: FundingRates | None = None) -> BacktestResult:
    """Run ``form`` on one perpetual's ``bars`` (ts, open, high, low, close) through the kernel."""
    why = kernel_refusal(market, fee, slippage)
    if why:
        raise NotVectorizable(why)
    contract: ContractSpec = market.contract  # type: ignore[assignment]
    n = len(bars)
    if n == 0:
        raise DataError("no bars to run on")
    f = form.checked(n)
    if f.leverage > contract.max_leverage:
        raise StrategyError(f"leverage {f.leverage:g} for {market.symbol} is outside [1, "
                            f"{contract.max_leverage:g}] (the venue's leverage brackets)")
    rate = (float(fee) if isinstance(fee, (int, float)) else
            MakerTakerFees().rate(market, Liquidity.TAKER) if fee is None else
            fee.rate(market, Liquidity.TAKER))
    tf_ms = timeframe_to_ms(timeframe)
    ts = bars["ts"].to_numpy(dtype=np.int64)
    o, h, lo, c = (np.ascontiguousarray(bars[k].to_numpy(dtype=np.float64))
                   for k in ("open", "high", "low", "close"))
    close_ts = ts + tf_ms
    if funding is not None:
        events = funding.events(market.symbol, int(ts[0]) + 1, int(close_ts[-1]))
        f_ts = np.array([e.ts for e in events], dtype=np.int64)
        f_rate = np.array([e.rate for e in events], dtype=np.float64)
        f_mark = np.array([e.mark for e in events], dtype=np.float64)
    else:
        f_ts, f_rate, f_mark = np.empty(0, np.int64), np.empty(0), np.empty(0)
    br = contract.brackets
    lot = float(market.lot_step or 0.0)
    fills = np.zeros((2 * n, perp_nb.FILL_COLS))
    events_out = np.zeros((f_ts.shape[0] + 2 * n, perp_nb.EVENT_COLS))
    cash, expo, equity, fees = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    nf, ne, final = perp_nb.simulate_perp_nb(
        o, h, lo, c, close_ts, f.targets, f.leverage, f.margin_mode == "cross", rate,
        contract.max_notional(f.leverage), lot, 10.0 ** step_decimals(lot) if lot else 1.0,
        float(market.min_amount), float(market.min_notional), np.array([b.floor for b in br]),
        np.array([b.cap for b in br]), np.array([b.mmr for b in br]),
        np.array([b.cum for b in br]), contract.liquidation_fee, f_ts, f_rate, f_mark,
        float(init_cash), fills, events_out, cash, expo, equity, fees)
    return _result(market, timeframe, float(init_cash), ts, close_ts, h, lo, c, f, final,
                   fills[:nf], events_out[:ne], EquityCurve(ts=close_ts, equity=equity, cash=cash,
                                                            exposure=expo, fees_cum=fees))


def _result(market: MarketSpec, timeframe: str, init_cash: float, ts: np.ndarray,
            close_ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
            form: PerpTargets, final: float, fills: np.ndarray, events: np.ndarray,
            curve: EquityCurve) -> BacktestResult:
    symbol, quote = market.symbol, market.quote
    fill_objs: list[Fill] = []
    orders: list[Order] = []
    for bar, side_f, price, amount, fee, kind, oid in fills.tolist():
        i = int(bar)
        side = Side.BUY if side_f > 0 else Side.SELL
        liq = int(kind) == perp_nb.KIND_LIQUIDATION
        t = int(close_ts[i]) if liq else int(ts[i])
        tag = LIQUIDATION_TAG if liq else TARGET_TAG
        fill_objs.append(Fill(int(oid), symbol, side, t, price, amount, fee, Liquidity.TAKER,
                              tag=tag, strategy_id=STRATEGY_ID,
                              fee_currency="" if liq else quote, fee_cost=0.0 if liq else fee))
        orders.append(Order(id=int(oid), symbol=symbol, side=side, type=OrderType.MARKET,
                            amount=amount, created_ts=t, tag=tag, strategy_id=STRATEGY_ID,
                            reduce_only=liq or int(kind) == perp_nb.KIND_CLOSE,
                            status=OrderStatus.FILLED, filled=amount, avg_price=price, fee=fee,
                            updated_ts=t, history=[(t, OrderStatus.FILLED.value)]))
    out_events: list[dict[str, Any]] = []
    for kind, t, a, b, cc, d in events.tolist():
        k, t = int(kind), int(t)
        if k == perp_nb.EV_FUNDING:
            out_events.append({"ts": t, "kind": "funding", "symbol": symbol, "qty": a, "mark": b,
                               "rate": cc, "amount": d})
        elif k == perp_nb.EV_LIQUIDATION:
            i = int(np.searchsorted(close_ts, t))
            fill = fill_objs[int(d)]
            out_events.append({
                "ts": t, "kind": "liquidation", "symbol": symbol, "qty": a, "price": b,
                "fee": cc, "order_id": fill.order_id, "fill": int(d),
                "bar_low": float(low[i]), "bar_high": float(high[i]),
                "message": (f"{symbol}: position {a:.10g} liquidated at {b:.10g} (bar "
                            f"{int(ts[i])}: low {low[i]:.10g}, high {high[i]:.10g}); clearance "
                            f"fee {cc:.10g}")})
        else:
            out_events.append({"ts": t, "kind": "margin", "used": a})
    out_events.sort(key=lambda e: e["ts"])
    return BacktestResult.build(
        orders=orders, fills=fill_objs, equity=curve, timeframe=timeframe, initial_cash=init_cash,
        quote_currency=quote,
        manifest={"engine": "vectorized:perp_targets", "symbols": [symbol],
                  "leverage": form.leverage, "margin_mode": form.margin_mode},
        events=out_events, final_positions={symbol: final} if final != 0.0 else {},
        final_marks={symbol: float(close[-1])})

