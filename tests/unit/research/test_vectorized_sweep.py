"""Sweeps and walk-forward run any strategy with a vectorized form on the kernels, and say why.

The bundled real sample (binance 1h); every fast table must equal the event engine's
table of the same grid (to 1e-9: the kernels accumulate a few metrics in another order).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import data_spec, make_store

from tradeloom.engine.strategy.base import Param, Strategy
from tradeloom.engine.vector.form import NotVectorizable, Signals
from tradeloom.research.strategies import MomentumRotation, RsiReversion
from tradeloom.research.sweeps.executors import LocalExecutor
from tradeloom.research.sweeps.fastpath import explain_fast_path
from tradeloom.research.sweeps.jobs import RunSettings
from tradeloom.research.sweeps.sweep import run_sweep
from tradeloom.research.sweeps.walkforward import run_walkforward

ROTATION = ("ADA/USDT", "BTC/USDT", "ETH/USDT", "LTC/USDT", "XRP/USDT")
GAP_FREE = ("2020-12-26", "2021-02-11")  # no missing hour in any sample symbol


class Level(Strategy):
    """Long above ``level``, flat below; its vectorized form refuses ``level == 35000``."""

    level = Param(float, 30_000.0)

    def on_bar(self, ctx, bar):
        if ctx.position(bar.symbol) == 0.0:
            if bar.close > self.level:
                ctx.target_percent(bar.symbol, 1.0)
        elif bar.close < self.level:
            ctx.target_percent(bar.symbol, 0.0)

    def vectorized(self, bars):
        if self.level == 35_000.0:
            raise NotVectorizable("35000 is refused here")
        close = bars.field("close")
        return Signals(close > self.level, close < self.level)


class RsiTweaked(RsiReversion):
    """Overrides the event form but inherits RsiReversion's vectorized form: stale."""

    def on_bar(self, ctx, bar):
        super().on_bar(ctx, bar)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vector_store")
    make_store(path)
    return path


@pytest.fixture(scope="module")
def inline() -> LocalExecutor:
    with LocalExecutor(processes=1) as ex:
        yield ex


def test_rsi_reversion_sweeps_on_its_vectorized_form_with_the_event_engines_numbers(
        root: Path, inline: LocalExecutor) -> None:
    grid = ["period=7,14", "oversold=25,35", "stop_pct=0.02,0.05"]
    fast = run_sweep(RsiReversion, data_spec(root), grid, executor=inline)
    event = run_sweep(RsiReversion, data_spec(root), grid, executor=inline, engine="event")
    assert fast.engine == "fast:vectorized" and event.engine == "event"
    assert fast.engine_reason.startswith("RsiReversion.vectorized() gives signals arrays")
    assert fast.meta["engine_reason"] == fast.engine_reason
    assert event.engine_reason == "--engine event asked for the event engine"
    assert fast.table["n_trades"].sum() > 0
    pd.testing.assert_frame_equal(fast.table, event.table, rtol=1e-9, atol=0)


def test_a_subclass_that_changes_the_event_form_falls_back_and_says_why(root: Path) -> None:
    choice = explain_fast_path(RsiTweaked, "auto", data_spec(root), RunSettings(), ["period"])
    assert choice.name is None
    assert ("RsiTweaked.on_bar overrides the event form but vectorized() is inherited from "
            "RsiReversion") in choice.reason


def test_rotation_vectorizes_a_gap_free_window_and_refuses_one_with_gaps(
        root: Path, inline: LocalExecutor) -> None:
    window = data_spec(root, ROTATION, *GAP_FREE)
    grid = ["every=12,24", "top_k=1,2"]
    fast = run_sweep(MomentumRotation, window, grid, executor=inline)
    event = run_sweep(MomentumRotation, window, grid, executor=inline, engine="event")
    assert fast.engine == "fast:vectorized"
    pd.testing.assert_frame_equal(fast.table, event.table, rtol=1e-9, atol=0)
    gaps = explain_fast_path(MomentumRotation, "auto", data_spec(root, ROTATION, "2020-12-01",
                                                                 "2021-01-15"), RunSettings(), [])
    assert gaps.name is None and "a gap" in gaps.reason


def test_walkforward_trains_on_the_vectorized_form_and_reports_it(root: Path,
                                                                  inline: LocalExecutor) -> None:
    data = data_spec(root, end="2021-03-15")
    fast = run_walkforward(RsiReversion, data, ["period=7,14"], train="20d", test="10d",
                           executor=inline)
    event = run_walkforward(RsiReversion, data, ["period=7,14"], train="20d", test="10d",
                            executor=inline, engine="event")
    assert fast.summary["engine"] == "fast:vectorized"
    assert fast.summary["engine_reason"].startswith("RsiReversion.vectorized()")
    pd.testing.assert_frame_equal(fast.in_sample, event.in_sample, rtol=1e-9, atol=0)
    pd.testing.assert_frame_equal(fast.windows, event.windows, rtol=1e-9, atol=0)


def test_a_combination_the_form_refuses_runs_on_the_event_engine(root: Path,
                                                                 inline: LocalExecutor) -> None:
    grid = {"level": [30_000.0, 35_000.0, 40_000.0]}
    fast = run_sweep(Level, data_spec(root), grid, executor=inline)
    event = run_sweep(Level, data_spec(root), grid, executor=inline, engine="event")
    assert fast.engine == "fast:vectorized" and fast.table["n_trades"].min() > 0
    pd.testing.assert_frame_equal(fast.table, event.table, rtol=1e-9, atol=0)
