"""FundingCarry on the carry kernel: the event engine's results on the bundled Binance
USDⓈ-M sample (BTC/USDT:USDT 5m with its funding; the perpetual's bars stand in for the
spot leg, as in ``test_perp_templates``), in one run (``check_fast``, and ``tradeloom
check-fast``'s composition), in a sweep and in a walk-forward, with the exchange's rules
and without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.check_fast import check_fast_on_catalog
from tradeloom.app.sample import load_sample
from tradeloom.engine.market import MarketSpec
from tradeloom.research.backtest import apply_market_rules
from tradeloom.research.perp_data import funding_for
from tradeloom.research.strategies import FundingCarry
from tradeloom.research.sweeps.executors import LocalExecutor
from tradeloom.research.sweeps.jobs import DataSpec, RunSettings
from tradeloom.research.sweeps.parity import assert_fast_matches_event
from tradeloom.research.sweeps.sweep import run_sweep
from tradeloom.research.sweeps.walkforward import run_walkforward

SPOT, PERP = "BTC/USDT", "BTC/USDT:USDT"
NONE = RunSettings(market_rules="none")
#: Binance's BTC/USDT spot rules: fee 0.1 % charged in the coin bought, lot 0.00001 BTC.
SPOT_MARKET = MarketSpec(SPOT, tick_size=0.01, lot_step=0.00001, min_amount=0.00001,
                         min_notional=5.0, maker_fee=0.001, taker_fee=0.001, fee_side="get")


def data(root: Path) -> DataSpec:
    return DataSpec(str(root), "binance", "5m", (SPOT, PERP), None, None)


@pytest.fixture(scope="module")
def inline() -> Iterator[LocalExecutor]:
    """One process for every sweep of this module."""
    executor = LocalExecutor(processes=1)
    with executor:
        yield executor


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("carry_fast")
    store = MarketStore(path)
    load_sample(store)
    store.write_bars("binance", "5m", SPOT, store.read_bars("binance", "5m", PERP),
                     source="test: the perpetual bars as the spot leg")
    perp = store.load_markets("binance")[PERP]
    store.save_markets("binance", {PERP: perp, SPOT: SPOT_MARKET}, fetched_ts=1)
    return path


@pytest.mark.parametrize("rules", ["exchange", "none"])
@pytest.mark.parametrize("params", [{"enter_rate": 0.00005},
                                    {"enter_rate": 0.0001, "exit_rate": 0.00005, "leverage": 4.0},
                                    {"enter_rate": 0.00002, "weight": 1.0, "leverage": 1.0}])
def test_one_run_is_the_event_engines(root: Path, params: dict, rules: str) -> None:
    store = MarketStore(root)
    bars = {s: store.read_bars("binance", "5m", s) for s in (SPOT, PERP)}
    markets = apply_market_rules(dict(store.load_markets("binance")), rules)
    markets = {s: markets[s] for s in (SPOT, PERP)}
    funding, _ = funding_for(store, "binance", markets, None, None)
    report = assert_fast_matches_event(FundingCarry, bars, params, timeframe="5m",
                                       markets=markets, funding=funding)
    assert report.form == "carry" and len(report.fast.fills) >= 4
    assert not report.fast.funding.empty
    pd.testing.assert_frame_equal(report.fast.funding, report.event.funding)
    pd.testing.assert_frame_equal(report.fast.fills, report.event.fills)
    pd.testing.assert_frame_equal(report.fast.equity, report.event.equity)


def test_check_fast_on_the_catalog_passes(root: Path) -> None:
    report = check_fast_on_catalog("research/strategies/funding_carry.py:FundingCarry",
                                   MarketStore(root), symbols=[SPOT, PERP], timeframe="5m",
                                   params={"enter_rate": 0.00005})
    assert report.ok and report.form == "carry", report.text()


def test_a_sweep_runs_on_the_kernel_with_the_event_engines_numbers(root: Path,
                                                                   inline: LocalExecutor) -> None:
    grid = ["enter_rate=0.00005,0.0001", "leverage=1,3"]
    for settings in (NONE, RunSettings()):
        fast = run_sweep(FundingCarry, data(root), grid, executor=inline, settings=settings)
        event = run_sweep(FundingCarry, data(root), grid, executor=inline, settings=settings,
                          engine="event")
        assert fast.engine == "fast:vectorized" and event.engine == "event"
        assert fast.engine_reason.startswith("FundingCarry.vectorized() gives carry")
        assert len(fast.table) == 4
        pd.testing.assert_frame_equal(fast.table, event.table, check_exact=True)


def test_walkforward_on_the_kernel(root: Path, inline: LocalExecutor) -> None:
    grid = ["enter_rate=0.00005,0.0001"]
    fast = run_walkforward(FundingCarry, data(root), grid, train="10d", test="5d",
                           executor=inline, settings=NONE)
    event = run_walkforward(FundingCarry, data(root), grid, train="10d", test="5d",
                            executor=inline, settings=NONE, engine="event")
    assert fast.summary["engine"] == "fast:vectorized"
    pd.testing.assert_frame_equal(fast.windows, event.windows, check_exact=True)
