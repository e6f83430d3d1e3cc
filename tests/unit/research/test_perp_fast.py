"""LongShortMomentum on the perpetual kernel: the same results as the event engine on the
bundled Binance USDⓈ-M sample (BTC/USDT:USDT 5m, its funding and mark-8h bars), in one
run (``check_fast``), in a sweep and in a walk-forward, under the exchange's rules (lot
step 0.001 BTC, minimum notional 100 USDT) and without them (``market_rules="none"``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.research.backtest import apply_market_rules
from tradeloom.research.perp_data import funding_for
from tradeloom.research.strategies import LongShortMomentum
from tradeloom.research.sweeps.executors import LocalExecutor
from tradeloom.research.sweeps.fastpath import explain_fast_path
from tradeloom.research.sweeps.jobs import DataSpec, RunSettings
from tradeloom.research.sweeps.parity import assert_fast_matches_event
from tradeloom.research.sweeps.sweep import run_sweep
from tradeloom.research.sweeps.walkforward import run_walkforward

PERP = "BTC/USDT:USDT"
NONE = RunSettings(market_rules="none")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("perp_fast")
    load_sample(MarketStore(path))
    return path


@pytest.fixture(scope="module")
def inline() -> LocalExecutor:
    with LocalExecutor(processes=1) as ex:
        yield ex


def data(root: Path) -> DataSpec:
    return DataSpec(str(root), "binance", "5m", (PERP,), None, None)


@pytest.mark.parametrize("rules", ["exchange", "none"])
@pytest.mark.parametrize("params", [{"fast": 20, "slow": 100},
                                    {"fast": 10, "slow": 50, "leverage": 3.0,
                                     "margin_mode": "isolated"},
                                    {"fast": 5, "slow": 30, "leverage": 20.0}])
def test_one_run_is_the_event_engines(root: Path, params: dict, rules: str) -> None:
    store = MarketStore(root)
    bars = store.read_bars("binance", "5m", PERP)
    markets = apply_market_rules({PERP: store.load_markets("binance")[PERP]}, rules)
    funding, _ = funding_for(store, "binance", markets, None, None)
    report = assert_fast_matches_event(LongShortMomentum, bars, params, timeframe="5m",
                                       markets=markets, funding=funding)
    assert report.form == "perp_targets" and report.n_trades > 50
    assert not report.fast.funding.empty
    pd.testing.assert_frame_equal(report.fast.funding, report.event.funding)
    pd.testing.assert_frame_equal(report.fast.liquidations, report.event.liquidations)


def test_a_sweep_runs_on_the_kernel_with_the_event_engines_numbers(root: Path,
                                                                   inline: LocalExecutor) -> None:
    grid = ["fast=10,20", "slow=50,100", "leverage=1,5"]
    fast = run_sweep(LongShortMomentum, data(root), grid, executor=inline, settings=NONE)
    event = run_sweep(LongShortMomentum, data(root), grid, executor=inline, settings=NONE,
                      engine="event")
    assert fast.engine == "fast:vectorized" and event.engine == "event"
    assert fast.engine_reason.startswith("LongShortMomentum.vectorized() gives perp_targets")
    pd.testing.assert_frame_equal(fast.table, event.table, rtol=1e-9, atol=0)


def test_walkforward_on_the_kernel(root: Path, inline: LocalExecutor) -> None:
    grid = ["fast=10,20", "slow=60"]
    fast = run_walkforward(LongShortMomentum, data(root), grid, train="10d", test="5d",
                           executor=inline, settings=NONE)
    event = run_walkforward(LongShortMomentum, data(root), grid, train="10d", test="5d",
                            executor=inline, settings=NONE, engine="event")
    assert fast.summary["engine"] == "fast:vectorized"
    pd.testing.assert_frame_equal(fast.windows, event.windows, rtol=1e-9, atol=0)


def test_a_sweep_under_the_exchanges_rules_runs_on_the_kernel(root: Path,
                                                               inline: LocalExecutor) -> None:
    market = MarketStore(root).load_markets("binance")[PERP]
    assert (market.lot_step, market.min_notional) == (0.001, 100.0)  # Binance BTCUSDT's rules
    choice = explain_fast_path(LongShortMomentum, "auto", data(root), RunSettings(), ["fast"])
    assert choice.name is not None, choice.reason
    grid = ["fast=10,20", "slow=50", "leverage=1,5"]
    fast = run_sweep(LongShortMomentum, data(root), grid, executor=inline)
    event = run_sweep(LongShortMomentum, data(root), grid, executor=inline, engine="event")
    assert fast.engine == "fast:vectorized" and event.engine == "event"
    pd.testing.assert_frame_equal(fast.table, event.table, rtol=1e-9, atol=0)
