"""The shipped rule files: the SMA cross is SmaCross byte for byte, the others do what they say,
and every one gives its event-engine trades on the kernel.

All on the bundled BTC/USDT 1h (Binance, Dec 2020 - Jul 2021) with the sample's market rules.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import data_spec

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.adapters.store.results_io import save_result
from tradeloom.app.sample import load_sample
from tradeloom.research.backtest import run_backtest
from tradeloom.research.rules.files import EXAMPLES
from tradeloom.research.strategy_loader import load_strategy, strategy_defaults
from tradeloom.research.sweeps.executors import LocalExecutor
from tradeloom.research.sweeps.jobs import strategy_ref
from tradeloom.research.sweeps.parity import assert_fast_matches_event
from tradeloom.research.sweeps.sweep import run_sweep

SMA_RULES = str(EXAMPLES / "sma_cross.toml")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MarketStore:
    store = MarketStore(tmp_path_factory.mktemp("rule_examples"))
    load_sample(store)
    return store


def btc(store: MarketStore):
    return store.read_bars("binance", "1h", "BTC/USDT", None, None), {
        "BTC/USDT": store.load_markets("binance")["BTC/USDT"]}


def test_sma_cross_rules_are_smacross_byte_for_byte(store: MarketStore, tmp_path: Path) -> None:
    rules = run_backtest(SMA_RULES, "BTC/USDT", "1h", None, None, None, store)
    klass = run_backtest("research/strategies/sma_cross.py:SmaCross", "BTC/USDT", "1h", None, None,
                         {"fast": 10, "slow": 50}, store)
    assert len(klass.trades) == 69
    for frame in ("orders", "fills", "trades", "equity"):
        pd.testing.assert_frame_equal(getattr(rules, frame), getattr(klass, frame), check_exact=True)
    assert rules.metrics == klass.metrics
    save_result(rules, tmp_path / "rules")
    save_result(klass, tmp_path / "class")
    for name in ("orders", "fills", "trades", "equity"):
        a, b = tmp_path / "rules" / f"{name}.parquet", tmp_path / "class" / f"{name}.parquet"
        assert a.read_bytes() == b.read_bytes(), name


def test_rsi_reversion_rules_enter_on_oversold_and_stop_out(store: MarketStore) -> None:
    res = run_backtest(str(EXAMPLES / "rsi_reversion.toml"), "BTC/USDT", "1h", None, None, None, store)
    tags = res.fills["tag"].value_counts().to_dict()
    assert tags == {"bracket": 48, "bracket:sl": 28, "target": 20}  # 28 stops, 20 RSI exits
    stops = res.orders[res.orders["tag"] == "bracket:sl"]
    entries = res.orders[res.orders["tag"] == "bracket"].set_index("id")
    # each stop sits 3 % under the close the entry was decided on, rounded to the 0.01 tick
    first = stops.iloc[0]
    decision_ts = int(entries.loc[first["parent_id"], "created_ts"]) - 3_600_000
    bars = store.read_bars("binance", "1h", "BTC/USDT", None, None).set_index("ts")
    assert first["stop_price"] == round(bars.loc[decision_ts, "close"] * 0.97, 2)


def test_breakout_rules_scale_out_at_two_levels(store: MarketStore) -> None:
    res = run_backtest(str(EXAMPLES / "breakout.toml"), "BTC/USDT", "1h", None, None, None, store)
    tags = res.fills["tag"].value_counts().to_dict()
    assert tags["bracket:tp1"] == 36 and tags["bracket:tp2"] == 22 and tags["target"] == 4
    fills = res.fills.reset_index(drop=True)
    # the first level sells half of what the entry received (Binance keeps a buy's 0.1 % fee
    # in BTC), down to the 0.00001 lot
    for k in fills.index[fills["tag"] == "bracket:tp1"]:
        before = fills.loc[:k]
        entry = before[before["tag"] == "bracket"].iloc[-1]
        assert entry["fee_currency"] == "BTC"
        received = entry["amount"] - entry["fee_cost"]
        assert 0.0 <= received / 2 - fills.loc[k, "amount"] < 1e-5
    # the 36 trades that banked the first level ended at the second one, at the stop, or
    # at the time stop (72 bars; a market exit, tagged "target")
    scaled = res.trades[res.trades["n_fills"] >= 3]
    assert len(scaled) == 36
    assert scaled["exit_tag"].value_counts().to_dict() == {"bracket:tp2": 20, "bracket:sl": 12,
                                                            "target": 4}


@pytest.mark.parametrize("name", ["sma_cross", "rsi_reversion", "breakout"])
def test_every_example_gives_its_event_trades_on_the_kernel(store: MarketStore, name: str) -> None:
    bars, markets = btc(store)
    report = assert_fast_matches_event(load_strategy(str(EXAMPLES / f"{name}.toml")), bars,
                                       timeframe="1h", markets=markets)
    assert report.form == "brackets"


def test_a_rule_class_travels_to_worker_processes_by_its_path(store: MarketStore) -> None:
    cls = load_strategy(SMA_RULES)
    ref = strategy_ref(cls)
    assert ref == f"{Path(SMA_RULES).resolve()}:SmaCross"
    assert load_strategy(ref).rules == cls.rules
    assert strategy_defaults(SMA_RULES) == {"symbols": ["BTC/USDT"], "timeframe": "1h",
                                            "risk_profile": None}
    with LocalExecutor(processes=2) as pool:
        event = run_sweep(SMA_RULES, data_spec(store.root), ["indicators.fast.period=5,10"],
                          executor=pool, engine="event")
        fast = run_sweep(SMA_RULES, data_spec(store.root), ["indicators.fast.period=5,10"],
                         executor=pool)
    assert fast.engine == "fast:vectorized" and event.engine == "event"
    pd.testing.assert_frame_equal(fast.table, event.table, rtol=1e-9, atol=0)
