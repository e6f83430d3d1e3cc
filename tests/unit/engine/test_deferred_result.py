"""An event-engine run's result (``engine/results/deferred.py``): ``collect`` builds the
orders and fills frames and the metrics when first read, and the result equals the one
``BacktestResult.build`` makes eagerly from the same finished engine, frame for frame."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from tradeloom.engine.errors import DataError
from tradeloom.engine.orders import Fill, Liquidity, Side
from tradeloom.engine.results.deferred import DEFERRED_FIELDS, DeferredResult
from tradeloom.engine.results.result import BacktestResult, EquityCurve
from tradeloom.engine.run.backtest import build_engine, collect, drive
from tradeloom.engine.run.feeds import BarArrays, merge_bars
from tradeloom.research.strategies import SmaCross

HOUR = 3_600_000


def finished_engine(seed: int = 3, n: int = 600):
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    arrays = BarArrays(np.arange(n, dtype=np.int64) * HOUR, open_, np.maximum(open_, close) * 1.002,
                       np.minimum(open_, close) * 0.998, close, rng.uniform(1.0, 50.0, n))
    engine = build_engine(SmaCross(fast=5, slow=20), symbols=["BTC/USDT"], timeframe="1h",
                          initial_cash=10_000.0)
    drive(engine, merge_bars({"BTC/USDT": arrays}, HOUR))
    return engine


def eager(engine) -> BacktestResult:
    """The former ``collect``: ``BacktestResult.build`` over the same finished engine."""
    ts, block = engine.recorded_block()
    pf = engine.portfolio
    deferred = collect(engine, timeframe="1h")
    return BacktestResult.build(
        orders=engine.orders, fills=engine.fills, equity=EquityCurve.adopt_block(ts, block),
        timeframe="1h", initial_cash=pf.initial_cash, quote_currency=pf.quote,
        manifest=deferred.manifest, events=deferred.events, final_positions=pf.positions(),
        final_marks=pf.marks(),
    )


def test_collect_defers_orders_fills_and_metrics_until_read():
    res = collect(finished_engine(), timeframe="1h")
    assert isinstance(res, DeferredResult)
    assert res.pending() == ["orders", "fills", "metrics"]
    assert len(res.trades) > 0  # trades and equity are built at once
    n_orders = len(res.orders)
    assert res.pending() == ["fills", "metrics"]
    assert n_orders == len(res.fills) == 2 * len(res.trades) - res.metrics["n_open_trades"]
    assert res.pending() == []


def test_deferred_result_equals_the_eager_build_frame_for_frame():
    engine = finished_engine()
    res = collect(engine, timeframe="1h")
    ref = eager(engine)
    assert res.diff(ref) == []  # every frame, metric, setting and event
    assert res == ref and ref == res
    assert res.metrics == ref.metrics


def test_pickled_and_copied_deferred_results_are_plain_complete_results():
    res = collect(finished_engine(), timeframe="1h")
    back = pickle.loads(pickle.dumps(res))
    assert type(back) is BacktestResult and back == res
    assert type(copy.copy(res)) is BacktestResult
    assert res.pending() == []  # pickling built every field first


def test_the_checks_of_the_build_still_run_when_the_result_is_made():
    # A fill list that does not add up to the final position fails at once, not on read.
    curve = EquityCurve(ts=[HOUR], equity=[100.0], cash=[90.0], exposure=[10.0], fees_cum=[0.0])
    fill = Fill(1, "BTC/USDT", Side.BUY, 0, 10.0, 1.0, 0.0, Liquidity.TAKER)
    with pytest.raises(DataError, match="BTC/USDT"):
        DeferredResult.build(orders=[], fills=[fill], equity=curve, timeframe="1h",
                             initial_cash=100.0, quote_currency="USDT", manifest={},
                             final_positions={"BTC/USDT": 2.0}, final_marks={"BTC/USDT": 10.0})


def test_an_unknown_attribute_is_an_attribute_error():
    res = collect(finished_engine(), timeframe="1h")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        res.nope  # noqa: B018
    assert set(DEFERRED_FIELDS) == {"orders", "fills", "metrics"}
