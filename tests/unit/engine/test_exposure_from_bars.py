"""A one-symbol backtest's exposure derived from its bars (``Engine.exposure_from_bars``)
is the exposure the step records, bit for bit, whatever the orders did."""

from __future__ import annotations

import numpy as np
import pytest
from varied_runs import CASES, H, simple_engine, varied_engine, walk

from tradeloom.engine.orders import Side
from tradeloom.engine.run.backtest import build_engine, drive
from tradeloom.engine.run.feeds import BarArrays, merge_bars
from tradeloom.engine.strategy.base import Strategy
from tradeloom.research.strategies import SmaCross


def same_curve(a, b) -> None:
    ts_a, block_a = a.recorded_block()
    ts_b, block_b = b.recorded_block()
    assert ts_a.tobytes() == ts_b.tobytes()
    assert block_a.tobytes() == block_b.tobytes()  # equity, cash, exposure, fees: same bits


@pytest.mark.parametrize("case", [c for c in CASES if c not in ("two_symbols", "perp")])
@pytest.mark.parametrize("seed", [1, 7, 11])
def test_derived_exposure_equals_the_recorded_one(case: str, seed: int) -> None:
    # spot, the fee in the coin (lot rounding, dust held hidden), partial fills: market,
    # limit, stop, bracket and OCO orders, cancels, replaces and rejections
    same_curve(varied_engine(case, seed, known=True), varied_engine(case, seed, known=False))


def test_derived_exposure_of_whole_round_trips() -> None:
    same_curve(simple_engine(known=True), simple_engine(known=False))


class HoldFrom(Strategy):
    """Buys 1 BTC on bar ``at``, sells it ten bars later."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.i = at, 0

    def on_bar(self, ctx, bar):
        if self.i == self.at:
            ctx.buy(bar.symbol, 1.0)
        elif self.i == self.at + 10:
            ctx.sell(bar.symbol, 1.0)
        self.i += 1


@pytest.mark.parametrize("at", [5, 35])  # bars 40-42 have no close: flat, then held
def test_bars_without_a_close_give_the_recorded_exposure(at: int) -> None:
    a = walk(80, 3, 100.0)
    close = a.close.copy()
    close[40:43] = np.nan  # a hole: flat rows record 0.0, held rows amount * NaN
    data = {"BTC/USDT": BarArrays(a.ts, a.open, a.high, a.low, close, a.volume)}
    engines = []
    for known in (True, False):
        engine = build_engine(HoldFrom(at), symbols=["BTC/USDT"], timeframe="1h",
                              initial_cash=1e4)
        bars = merge_bars(data, H)
        drive(engine, bars if known else iter(list(bars)))
        engines.append(engine)
    assert engines[0].fills[0].side is Side.BUY
    same_curve(*engines)


def test_only_a_one_symbol_spot_run_derives_its_exposure() -> None:
    data = {s: walk(50, i, 100.0) for i, s in enumerate(("BTC/USDT", "ETH/USDT"))}
    one = build_engine(SmaCross(), symbols=["BTC/USDT"], timeframe="1h", initial_cash=1e4)
    two = build_engine(SmaCross(), symbols=sorted(data), timeframe="1h", initial_cash=1e4)
    assert one.exposure_from_bars({"BTC/USDT": data["BTC/USDT"]}, H)
    assert not two.exposure_from_bars(data, H)


def test_steps_that_are_not_the_bars_are_refused() -> None:
    # derived for the 50 bars given, but only the bars of another range are stepped
    data = {"BTC/USDT": walk(50, 1, 100.0)}
    engine = build_engine(SmaCross(), symbols=["BTC/USDT"], timeframe="1h", initial_cash=1e4)
    engine.start(0)
    assert engine.exposure_from_bars(data, H)
    other = walk(50, 1, 100.0)
    other.ts[:] += 7 * H
    for bar in merge_bars({"BTC/USDT": other}, H):
        engine.step(bar)
    engine.finish()
    with pytest.raises(RuntimeError, match="not the bars' close times"):
        engine.recorded_block()
