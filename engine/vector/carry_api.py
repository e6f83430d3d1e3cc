"""The funding carry's fast path: the ``CarryTerms`` form and its kernel run
(``engine.vector.carry_nb``) into a ``BacktestResult``.

``CarryTerms(spot, perp, enter_rate, exit_rate, weight, leverage)`` is the form of
``research.strategies.FundingCarry`` (long spot + short the perpetual in equal amounts
while funding pays shorts): its decisions depend on the funding history and on the
position, so the form carries the params and the kernel takes the decisions, exactly
as ``FundingCarry.on_bar`` does (``carry_nb``'s module docstring has the rules).
``run_carry`` runs it on the two symbols' bars (one grid, ``VectorBars``) with each
market's taker fee, lot step and minimums, the perpetual's contract terms and the
funding history given: the same fills, equity rows, funding payments, liquidations,
margin and dust events as the event engine (``tests/property/test_carry_parity.py``).

The kernel models market orders at the next open with ``MakerTakerFees`` (the spot fee
in the quote or in the base, ``MarketSpec.fee_side``), no slippage, cross margin and
no other symbol; anything else is refused with ``NotVectorizable`` naming it
(``kernel_refusal``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.errors import ConfigError, DataError, StrategyError
from tradeloom.engine.market import MarketSpec, step_decimals
from tradeloom.engine.orders import Fill, Liquidity, Order, OrderStatus, OrderType, Side
from tradeloom.engine.results.result import BacktestResult, EquityCurve
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.run.perp_step import LIQUIDATION_TAG
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.vector import carry_nb
from tradeloom.engine.vector.form import NotVectorizable, VectorBars
from tradeloom.engine.vector.perp_api import kernel_refusal as perp_refusal

__all__ = ["TAGS", "CarryTerms", "kernel_refusal", "run_carry"]

#: The orders' tags by ``carry_nb`` tag code (``FundingCarry``'s tags).
TAGS = ("carry:spot", "carry:perp", "carry:exit", "carry:unwind", LIQUIDATION_TAG)
STRATEGY_ID = "FundingCarry"


@dataclass(frozen=True)
class CarryTerms:
    """The funding carry's params (module docstring; ``FundingCarry``'s meanings)."""

    spot: str
    perp: str
    enter_rate: float
    exit_rate: float
    weight: float
    leverage: float

    def checked(self, bars: VectorBars) -> CarryTerms:
        """Itself, when its symbols are the bars' only two and its numbers are sane."""
        missing = [s for s in (self.spot, self.perp) if s not in bars.symbols]
        if missing:
            raise StrategyError(f"FundingCarry needs {missing} in the run's symbols "
                                f"(spot={self.spot!r}, perp={self.perp!r})")
        if self.spot == self.perp:
            raise StrategyError(f"spot and perp are both {self.spot!r}; give two markets")
        if len(bars.symbols) != 2:
            raise NotVectorizable(f"the carry kernel runs its two symbols only; the run has "
                                  f"{len(bars.symbols)} ({', '.join(bars.symbols)})")
        for name in ("enter_rate", "exit_rate", "weight", "leverage"):
            if not math.isfinite(getattr(self, name)):
                raise DataError(f"{name} {getattr(self, name)!r} must be a finite number")
        if self.exit_rate > self.enter_rate:
            raise StrategyError(f"exit_rate ({self.exit_rate}) must be <= enter_rate "
                                f"({self.enter_rate})")
        return self


def kernel_refusal(spot: MarketSpec, perp: MarketSpec, fee: Any = None,
                   slippage: Any = None) -> str:
    """Why the carry kernel cannot run these markets (with ``fee``/``slippage``), or ""."""
    why = perp_refusal(perp, fee, slippage)
    if why:
        return why
    if spot.is_perp:
        return f"{spot.symbol} is a perpetual; the carry's long leg must be a spot market"
    if spot.quote != perp.quote:
        return (f"{spot.symbol} is quoted in {spot.quote} but {perp.symbol} settles in "
                f"{perp.quote}; the account keeps one currency")
    return ""


def _taker(market: MarketSpec, fee: Any) -> float:
    if isinstance(fee, (int, float)):
        return float(fee)
    return (fee if fee is not None else MakerTakerFees()).rate(market, Liquidity.TAKER)


def _col(prices: np.ndarray, j: int) -> np.ndarray:
    """Column ``j`` of a ``(bars, symbols)`` price array, contiguous for the kernel."""
    return np.ascontiguousarray(prices[:, j])


def _rules(market: MarketSpec, fee: Any) -> list[float]:
    lot = float(market.lot_step or 0.0)
    return [lot, 10.0 ** step_decimals(lot) if lot else 1.0, float(market.min_amount),
            float(market.min_notional), _taker(market, fee)]


def run_carry(bars: VectorBars, form: CarryTerms, *, markets: Mapping[str, MarketSpec],
              init_cash: float = 10_000.0, fee: Any = None, slippage: Any = None,
              funding: Mapping[str, FundingRates] | None = None) -> BacktestResult:
    """Run ``form`` on ``bars`` (its two symbols on one grid) through the carry kernel."""
    f = form.checked(bars)
    spot, perp = markets[f.spot], markets[f.perp]
    why = kernel_refusal(spot, perp, fee, slippage)
    if why:
        raise NotVectorizable(why)
    contract: ContractSpec = perp.contract  # type: ignore[assignment]
    if not 1.0 <= f.leverage <= contract.max_leverage:
        raise ConfigError(f"leverage {f.leverage!r} for {f.perp} is outside [1, "
                          f"{contract.max_leverage:g}] (the venue's leverage brackets)")
    n = bars.n_bars
    if n == 0:
        raise DataError("no bars to run on")
    ts = bars.ts
    close_ts = ts + timeframe_to_ms(bars.timeframe)
    si, pi = bars.index(f.spot), bars.index(f.perp)
    rates = (funding or {}).get(f.perp)
    events = rates.events(f.perp, int(ts[0]) + 1, int(close_ts[-1])) if rates is not None else []
    f_ts = np.array([e.ts for e in events], dtype=np.int64)
    f_rate = np.array([e.rate for e in events], dtype=np.float64)
    f_mark = np.array([e.mark for e in events], dtype=np.float64)
    spot_rules = _rules(spot, fee) + [float(spot.fee_side.in_base(True)),
                                      float(spot.fee_side.in_base(False))]
    perp_rules = _rules(perp, fee) + [contract.max_notional(f.leverage), contract.liquidation_fee]
    br = contract.brackets
    fills = np.zeros((3 * n, carry_nb.FILL_COLS))
    out = np.zeros((f_ts.shape[0] + 3 * n, carry_nb.EVENT_COLS))
    cash, expo, equity, fees = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    nf, ne, held, dust, q = carry_nb.simulate_carry_nb(
        _col(bars.open, si), _col(bars.close, si), _col(bars.open, pi), _col(bars.high, pi),
        _col(bars.low, pi), _col(bars.close, pi), close_ts, f.spot < f.perp,
        np.array([f.enter_rate, f.exit_rate, f.weight, f.leverage]), np.array(spot_rules),
        np.array(perp_rules), np.array([b.floor for b in br]), np.array([b.cap for b in br]),
        np.array([b.mmr for b in br]), np.array([b.cum for b in br]), f_ts, f_rate, f_mark,
        float(init_cash), fills, out, cash, expo, equity, fees)
    final = {f.spot: held} if held != 0.0 and not dust else {}
    if q != 0.0:
        final[f.perp] = q
    curve = EquityCurve(ts=close_ts, equity=equity, cash=cash, exposure=expo, fees_cum=fees)
    fill_objs, orders = _fills(fills[:nf], (spot, perp), ts, close_ts)
    return BacktestResult.build(
        orders=orders, fills=fill_objs, equity=curve, timeframe=bars.timeframe,
        initial_cash=float(init_cash), quote_currency=perp.quote,
        manifest={"engine": "vectorized:carry", "symbols": list(bars.symbols),
                  "leverage": f.leverage, "margin_mode": "cross"},
        events=_events(out[:ne], fill_objs, (spot, perp), bars, pi, close_ts),
        final_positions=final,
        final_marks={f.spot: float(bars.close[-1, si]), f.perp: float(bars.close[-1, pi])})


def _fills(rows: np.ndarray, legs: tuple[MarketSpec, MarketSpec], ts: np.ndarray,
           close_ts: np.ndarray) -> tuple[list[Fill], list[Order]]:
    fill_objs: list[Fill] = []
    orders: list[Order] = []
    for bar, leg, side_f, price, amount, fee, tag_code, oid, cost, in_base in rows.tolist():
        market = legs[int(leg)]
        tag = TAGS[int(tag_code)]
        liq = tag == LIQUIDATION_TAG
        side = Side.BUY if side_f > 0 else Side.SELL
        t = int(close_ts[int(bar)]) if liq else int(ts[int(bar)])
        currency = "" if liq else (market.base if in_base else market.quote)
        fill_objs.append(Fill(int(oid), market.symbol, side, t, price, amount, fee,
                              Liquidity.TAKER, tag=tag, strategy_id=STRATEGY_ID,
                              fee_currency=currency, fee_cost=cost))
        orders.append(Order(id=int(oid), symbol=market.symbol, side=side, type=OrderType.MARKET,
                            amount=amount, created_ts=t, tag=tag, strategy_id=STRATEGY_ID,
                            reduce_only=market.is_perp and side is Side.BUY,
                            status=OrderStatus.FILLED, filled=amount, avg_price=price, fee=fee,
                            updated_ts=t, history=[(t, OrderStatus.FILLED.value)]))
    return fill_objs, orders


def _events(rows: np.ndarray, fills: list[Fill], legs: tuple[MarketSpec, MarketSpec],
            bars: VectorBars, pi: int, close_ts: np.ndarray) -> list[dict[str, Any]]:
    spot, perp = legs
    out: list[dict[str, Any]] = []
    for kind, t, a, b, c, d in rows.tolist():
        k, t = int(kind), int(t)
        if k == carry_nb.EV_FUNDING:
            out.append({"ts": t, "kind": "funding", "symbol": perp.symbol, "qty": a, "mark": b,
                        "rate": c, "amount": d})
        elif k == carry_nb.EV_LIQUIDATION:
            i = int(np.searchsorted(close_ts, t))
            low, high = float(bars.low[i, pi]), float(bars.high[i, pi])
            out.append({
                "ts": t, "kind": "liquidation", "symbol": perp.symbol, "qty": a, "price": b,
                "fee": c, "order_id": fills[int(d)].order_id, "fill": int(d), "bar_low": low,
                "bar_high": high,
                "message": (f"{perp.symbol}: position {a:.10g} liquidated at {b:.10g} (bar "
                            f"{int(bars.ts[i])}: low {low:.10g}, high {high:.10g}); clearance "
                            f"fee {c:.10g}")})
        elif k == carry_nb.EV_MARGIN:
            out.append({"ts": t, "kind": "margin", "used": a})
        else:
            out.append({
                "ts": t, "kind": "dust", "symbol": spot.symbol, "amount": a, "order_id": int(b),
                "fill": int(c),
                "message": (f"{spot.symbol}: {a:.10g} {spot.base} left after order {int(b)} is "
                            "under the market's minimum amount/notional and cannot be sold; it "
                            "stays in the balance and the strategy sees a flat position")})
    return out
