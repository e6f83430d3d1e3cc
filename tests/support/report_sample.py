"""A backtest-like result on the real BTC/USDT sample, built by hand for the report tests.

Does not depend on the event loop: a fixed list of round trips is "executed" at
bar opens with a 0.1 % taker fee, equity is marked at every bar close, and each
entry carries a bracket (stop-loss and take-profit legs, cancelled when the
position is closed by the exit). The report tests only need a realistic result,
not a strategy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tradeloom.engine.orders import Fill, Liquidity, Order, OrderStatus, OrderType, Side
from tradeloom.engine.results.result import BacktestResult, EquityCurve

SAMPLE = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "binance"
BTC = "BTC/USDT"
H = 3_600_000
FEE = 0.001


def sample_bars(name: str = "BTC-USDT") -> pd.DataFrame:
    """The bundled 1h bars (ts, open, high, low, close, volume)."""
    return pd.read_parquet(SAMPLE / f"{name}_1h.parquet")


# (entry bar, exit bar, side) — mostly longs, one short, the last one left open
ROUND_TRIPS: tuple[tuple[int, int | None, Side], ...] = (
    (40, 160, Side.BUY),
    (300, 420, Side.BUY),
    (700, 760, Side.SELL),
    (1000, 1300, Side.BUY),
    (1500, 1620, Side.BUY),
    (2000, 2100, Side.BUY),
    (2600, 2900, Side.BUY),
    (3300, 3350, Side.SELL),
    (3600, 3900, Side.BUY),
    (4200, 4400, Side.BUY),
    (4700, 4750, Side.BUY),
    (5300, None, Side.BUY),
)


def _order(oid: int, side: Side, otype: OrderType, amount: float, ts: int, **kw: object) -> Order:
    o = Order(oid, BTC, side, otype, amount, ts, **kw)  # type: ignore[arg-type]
    o.transition(OrderStatus.OPEN, ts)
    return o


def build_result(
    bars: pd.DataFrame | None = None,
    trips: tuple[tuple[int, int | None, Side], ...] = ROUND_TRIPS,
    *,
    risk_decisions: list[dict[str, object]] | None = None,
) -> BacktestResult:
    """Execute ``trips`` on ``bars`` (default: the BTC sample) and build the result."""
    bars = sample_bars() if bars is None else bars
    opens = bars["open"].to_numpy()
    closes = bars["close"].to_numpy()
    ts = bars["ts"].to_numpy(dtype=np.int64)
    cash, pos, fees = 10_000.0, 0.0, 0.0
    orders: list[Order] = []
    fills: list[Fill] = []
    by_bar: dict[int, tuple[str, int, Side]] = {}
    for k, (entry, exit_, side) in enumerate(trips):
        by_bar[entry] = ("entry", k, side)
        if exit_ is not None:
            by_bar[exit_] = ("exit", k, side)
    legs: dict[int, list[Order]] = {}
    eq_cash, eq_exp, eq_fees, eq_val = [], [], [], []
    oid = 0
    for i in range(len(ts)):
        if i in by_bar:
            what, k, side = by_bar[i]
            price = float(opens[i])
            if what == "entry":
                amount = round(0.5 * (cash + pos * price) / price, 6)
                fill_side, tag = side, "entry"
            else:
                amount, fill_side, tag = abs(pos), side.opposite, "exit"
            oid += 1
            order = _order(oid, fill_side, OrderType.MARKET, amount, int(ts[i]), tag=tag)
            fee = price * amount * FEE
            order.filled, order.avg_price, order.fee = amount, price, fee
            order.transition(OrderStatus.FILLED, int(ts[i]))
            orders.append(order)
            fills.append(
                Fill(oid, BTC, fill_side, int(ts[i]), price, amount, fee, Liquidity.TAKER, tag=tag)
            )
            sign = fill_side.sign
            cash -= sign * price * amount + fee
            pos += sign * amount
            fees += fee
            if what == "entry":
                stop = price * (0.92 if side is Side.BUY else 1.08)
                take = price * (1.15 if side is Side.BUY else 0.85)
                sl = _order(oid + 1, side.opposite, OrderType.STOP, amount, int(ts[i]),
                            stop_price=round(stop, 2), parent_id=oid, oco_group=k + 1,
                            reduce_only=True, tag="stop_loss")  # fmt: skip
                tp = _order(oid + 2, side.opposite, OrderType.LIMIT, amount, int(ts[i]),
                            price=round(take, 2), parent_id=oid, oco_group=k + 1,
                            reduce_only=True, tag="take_profit")  # fmt: skip
                legs[k] = [sl, tp]
                oid += 2
            else:
                for leg in legs.pop(k):
                    leg.transition(OrderStatus.CANCELED, int(ts[i]), "position closed")
                    orders.append(leg)
        close = float(closes[i])
        eq_cash.append(cash)
        eq_exp.append(abs(pos) * close)
        eq_fees.append(fees)
        eq_val.append(cash + pos * close)
    for k in sorted(legs):
        orders.extend(legs[k])  # still working at the end
    orders.sort(key=lambda o: o.id)
    equity = EquityCurve(ts=ts + H, equity=eq_val, cash=eq_cash, exposure=eq_exp, fees_cum=eq_fees)
    return BacktestResult.build(
        orders=orders,
        fills=fills,
        equity=equity,
        timeframe="1h",
        initial_cash=10_000.0,
        quote_currency="USDT",
        manifest={
            "strategy": "hand_made",
            "symbols": [BTC],
            "params": {"trips": len(trips)},
            "seed": 0,
            "config_hash": "0" * 16,
            "data": {"BTC/USDT": "datasets/sample/binance/BTC-USDT_1h.parquet"},
        },
        risk_decisions=risk_decisions if risk_decisions is not None else DEFAULT_DECISIONS,
        final_positions={BTC: pos},
        final_marks={BTC: float(closes[-1])},
    )


DEFAULT_DECISIONS: list[dict[str, object]] = [
    {"ts": 1606780800000 + 50 * H, "order_id": 9, "symbol": BTC, "approved": False,
     "requested": 0.4, "amount": 0.0, "reason": "max_exposure: 31 % > 25 %",
     "outcome": "rejected", "code": "max_exposure", "setting": "risk.max_exposure_pct"},
    {"ts": 1606780800000 + 90 * H, "order_id": 12, "symbol": BTC, "approved": False,
     "requested": 0.4, "amount": 0.0, "reason": "max_exposure: 33 % > 25 %",
     "outcome": "rejected", "code": "max_exposure", "setting": "risk.max_exposure_pct"},
    {"ts": 1606780800000 + 95 * H, "order_id": 13, "symbol": BTC, "approved": True,
     "requested": 0.4, "amount": 0.2, "reason": "max_position: resized to 0.2",
     "outcome": "resized", "code": "max_position", "setting": "risk.max_position_pct"},
]  # fmt: skip
