"""Sweeps: grid syntax, random draws, validation, ranking, the fast path and the Parquet table."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_helpers import SMA, SMA_FILE, data_spec, make_store

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.results.result import METRIC_KEYS
from tradeloom.research.backtest import run_backtest
from tradeloom.research.strategies import BreakoutBracket, RsiReversion, SmaCross
from tradeloom.research.strategy_loader import load_strategy
from tradeloom.research.sweeps.executors import LocalExecutor
from tradeloom.research.sweeps.fastpath import choose_fast_path, fast_path_name
from tradeloom.research.sweeps.grid import ParamGrid, parse_spec, parse_values
from tradeloom.research.sweeps.jobs import RunSettings, strategy_ref
from tradeloom.research.sweeps.sweep import prepare_combinations, run_sweep
from tradeloom.research.sweeps.table import (
    best_index,
    check_metric,
    ranked,
    read_table_metadata,
    results_table,
    write_parquet_atomic,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep_store")
    make_store(path)
    return path


@pytest.fixture(scope="module")
def inline() -> LocalExecutor:
    with LocalExecutor(processes=1) as ex:
        yield ex


class TestGridSyntax:
    @pytest.mark.parametrize("text, values", [
        ("5:50:5", [str(v) for v in range(5, 51, 5)]),   # stop on the grid: included
        ("5:52:5", [str(v) for v in range(5, 51, 5)]),   # stop off the grid: last on-grid value
        ("3:5", ["3", "4", "5"]),                        # step 1
        ("50:30:-10", ["50", "40", "30"]),               # counting down
        ("0.1:0.5:0.1", ["0.1", "0.2", "0.3", "0.4", "0.5"]),  # decimal, no drift
        ("1e1:30:10", ["10", "20", "30"]),
        ("7", ["7"]),
        ("fast,slow", ["fast", "slow"]),
        ("1, 2 ,3", ["1", "2", "3"]),
    ])
    def test_values(self, text: str, values: list[str]) -> None:
        assert list(parse_values(text, "x")) == values

    @pytest.mark.parametrize("spec, words", [
        ("fast5:50", ["--grid 'fast5:50'", "missing '='", "NAME=START:STOP:STEP"]),
        ("fast=", ["--grid fast=", "no values"]),
        ("fast=5:50:0", ["step must not be 0"]),
        ("fast=50:5:5", ["never reaches 5", "negative step"]),
        ("fast=a:b", ["must be numbers", "NAME=A,B,C"]),
        ("fast=1:2:3:4", ["2 or 3 parts"]),
        ("fast=1,,2", ["empty value"]),
        ("fast=1,2,1", ["'1' is listed twice"]),
        ("fast=1:1000000", ["more than 100000", "--random"]),
        ("1x=2", ["is not a param name"]),
    ])
    def test_errors_name_the_flag_and_the_syntax(self, spec: str, words: list[str]) -> None:
        with pytest.raises(ConfigError) as info:
            parse_spec(spec)
        for word in words:
            assert word in str(info.value)

    def test_a_param_given_twice_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="--grid fast is given more than once"):
            ParamGrid.parse(["fast=1,2", "fast=3"])

    @settings(max_examples=60, deadline=None)
    @given(start=st.integers(-50, 50), count=st.integers(1, 30), step=st.integers(1, 9),
           extra=st.integers(0, 8))
    def test_range_includes_stop_exactly_when_on_the_grid(self, start: int, count: int, step: int,
                                                          extra: int) -> None:
        stop = start + (count - 1) * step + extra % step
        values = [int(v) for v in parse_values(f"{start}:{stop}:{step}")]
        assert values == list(range(start, stop + 1, step))
        assert values[-1] == stop or extra % step != 0

    @settings(max_examples=40, deadline=None)
    @given(a=st.integers(0, 99), n=st.integers(1, 12))
    def test_decimal_ranges_have_no_float_drift(self, a: int, n: int) -> None:
        start = Decimal(a) / 100
        values = parse_values(f"{start}:{start + Decimal(n) / 10}:0.1")
        assert len(values) == n + 1
        assert all(len(v.split(".")[-1]) <= 2 for v in values)


class TestParamGrid:
    def test_order_is_the_product_with_the_last_flag_fastest(self) -> None:
        g = ParamGrid.parse(["a=1,2", "b=x,y,z"])
        assert [tuple(c.values()) for c in g] == [
            ("1", "x"), ("1", "y"), ("1", "z"), ("2", "x"), ("2", "y"), ("2", "z")]
        assert len(g) == 6 and g.specs() == ["a=1,2", "b=x,y,z"]

    def test_random_draw_is_seeded_distinct_and_in_grid_order(self) -> None:
        g = ParamGrid.parse(["fast=1:100", "slow=101:300"])
        a, b = g.sample_indices(25, seed=3), g.sample_indices(25, seed=3)
        assert a == b and len(set(a)) == 25 and a == sorted(a)
        assert g.sample_indices(25, seed=4) != a
        assert g.sample_indices(10_000_000, seed=1) == list(range(len(g)))

    def test_random_needs_one_sample(self) -> None:
        with pytest.raises(ConfigError, match="--random 0"):
            ParamGrid.parse(["a=1,2"]).sample(0, seed=1)


class TestRanking:
    def test_nan_ranks_last_and_ties_keep_order(self) -> None:
        t = results_table(["p"], [{"p": i} for i in range(4)],
                          [{"sharpe": 1.0}, {"sharpe": math.nan}, {"sharpe": 2.0}, {"sharpe": 2.0}])
        assert best_index(t, "sharpe") == 2
        assert ranked(t, "sharpe")["p"].tolist() == [2, 3, 0, 1]

    def test_lower_is_better_for_drawdown(self) -> None:
        t = results_table(["p"], [{"p": 1}, {"p": 2}, {"p": 3}],
                          [{"max_drawdown": 0.3}, {"max_drawdown": 0.1}, {"max_drawdown": math.nan}])
        assert best_index(t, "max_drawdown") == 1

    def test_unknown_metric_suggests(self) -> None:
        with pytest.raises(ConfigError, match="did you mean 'sharpe'"):
            check_metric("sharp")

    def test_columns_are_params_then_every_metric(self) -> None:
        t = results_table(["fast", "w"], [{"fast": 5, "w": 0.5}], [{}])
        assert list(t.columns) == ["fast", "w", *METRIC_KEYS]
        assert t["fast"].dtype == np.int64 and t["w"].dtype == np.float64
        assert t["sharpe"].isna().all()


class TestCombinations:
    def test_refused_combinations_are_skipped_with_the_reason(self) -> None:
        c = prepare_combinations(SmaCross, ParamGrid.parse(["fast=10,60", "slow=50"]))
        assert c.params == [{"fast": 10, "slow": 50}]
        assert c.skipped[0][0] == {"fast": "60", "slow": "50"}
        assert "fast (60) must be < slow (50)" in c.skipped[0][1]

    def test_full_params_include_defaults(self) -> None:
        c = prepare_combinations(SmaCross, ParamGrid.parse(["fast=5"]))
        assert c.full == [{"fast": 5, "slow": 50}] and c.params == [{"fast": 5}]

    def test_unknown_param_says_did_you_mean(self) -> None:
        with pytest.raises(StrategyError, match="did you mean 'fast'"):
            prepare_combinations(SmaCross, ParamGrid.parse(["fsat=5"]))

    def test_no_valid_combination_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="none of the 1 combinations is valid"):
            prepare_combinations(SmaCross, ParamGrid.parse(["fast=60", "slow=50"]))


class TestFastPathChoice:
    def test_sma_cross_is_registered_by_module_and_by_file(self) -> None:
        assert fast_path_name(SmaCross) == "sma_cross"
        assert fast_path_name(load_strategy(SMA_FILE)) == "sma_cross"
        assert fast_path_name(RsiReversion) is None

    def test_subclasses_do_not_inherit_it(self) -> None:
        class Tweaked(SmaCross):
            pass

        class Declared(Tweaked):
            fast_path = "sma_cross"

        assert fast_path_name(Tweaked) is None
        assert fast_path_name(Declared) == "sma_cross"

    def test_engine_choice(self, root: Path) -> None:
        one, two = data_spec(root), data_spec(root, ("BTC/USDT", "ETH/USDT"))
        s = RunSettings()
        assert choose_fast_path(SmaCross, "auto", one, s, ["fast"]) == "sma_cross"
        assert choose_fast_path(SmaCross, "event", one, s, ["fast"]) is None
        assert choose_fast_path(SmaCross, "auto", two, s, ["fast"]) is None
        with pytest.raises(ConfigError, match="runs one symbol"):
            choose_fast_path(SmaCross, "fast", two, s, ["fast"])
        with pytest.raises(ConfigError, match="BreakoutBracket has no kernel fast path"):
            choose_fast_path(BreakoutBracket, "fast", one, s, ["lookback"])

    def test_a_market_charging_fees_in_the_coin_received_runs_on_the_kernel(
            self, tmp_path: Path) -> None:
        # The sample's own Binance rules: fees in the coin received (feeSide "get").
        make_store(tmp_path, quote_fees=False)
        one = data_spec(tmp_path)
        assert choose_fast_path(SmaCross, "auto", one, RunSettings(), ["fast"]) == "sma_cross"
        assert choose_fast_path(SmaCross, "fast", one, RunSettings(), ["fast"]) == "sma_cross"

    def test_strategy_ref(self) -> None:
        assert strategy_ref(SmaCross) == SMA
        assert strategy_ref(load_strategy(SMA_FILE)) == SMA_FILE


class TestRunSweep:
    def test_event_engine_rows_equal_single_backtests(self, root: Path, inline: LocalExecutor) -> None:
        data = data_spec(root)
        res = run_sweep(SMA, data, ["fast=5,10", "slow=30,60"], engine="event", executor=inline)
        assert res.engine == "event"
        assert res.table[["fast", "slow"]].values.tolist() == [[5, 30], [5, 60], [10, 30], [10, 60]]
        one = run_backtest(SMA, "BTC/USDT", "1h", data.start, data.end, {"fast": 10, "slow": 30}, root)
        assert res.table.iloc[2][list(METRIC_KEYS)].tolist() == pytest.approx(
            [one.metrics[k] for k in METRIC_KEYS], rel=0, abs=0, nan_ok=True)
        best = res.table[res.metric].idxmax()
        assert res.best_position == best
        assert res.best_params == {k: int(res.table[k].iloc[best]) for k in ("fast", "slow")}

    def test_fast_path_equals_event_engine(self, root: Path, inline: LocalExecutor) -> None:
        data = data_spec(root)
        grid = ["fast=5:15:5", "slow=20,40"]
        fast = run_sweep(SMA_FILE, data, grid, executor=inline)
        event = run_sweep(SMA_FILE, data, grid, executor=inline, engine="event")
        assert fast.engine == "fast:sma_cross"
        pd.testing.assert_frame_equal(fast.table, event.table, rtol=1e-9, atol=0)

    def test_fees_kept_in_the_coin_bought_run_fast_and_equal_the_event_engine(
            self, tmp_path: Path, inline: LocalExecutor) -> None:
        make_store(tmp_path, quote_fees=False)  # Binance's own rule: a buy's fee in BTC
        data = data_spec(tmp_path)
        grid = ["fast=5,10", "slow=20,40"]
        fast = run_sweep(SMA, data, grid, executor=inline)
        event = run_sweep(SMA, data, grid, executor=inline, engine="event")
        assert fast.engine == "fast:sma_cross"
        pd.testing.assert_frame_equal(fast.table, event.table, rtol=1e-9, atol=0)

    def test_the_fall_back_is_recorded_in_the_table(self, tmp_path: Path,
                                                     inline: LocalExecutor) -> None:
        make_store(tmp_path)
        two = data_spec(tmp_path, ("BTC/USDT", "ETH/USDT"))
        res = run_sweep(SMA, two, ["fast=5,10", "slow=30"], executor=inline)
        assert res.engine == "event"
        assert res.meta["engine_reason"].startswith("the sma_cross kernel runs one symbol")
        assert read_table_metadata(_saved(res, tmp_path))["engine_reason"] == res.meta["engine_reason"]

    def test_random_search_records_the_seed(self, root: Path, inline: LocalExecutor,
                                            tmp_path: Path) -> None:
        data = data_spec(root)
        grid = ["fast=4:20:2", "slow=30:90:10"]
        a = run_sweep(SMA, data, grid, random=6, seed=11, executor=inline)
        b = run_sweep(SMA, data, grid, random=6, seed=11, executor=inline)
        assert len(a.table) == 6 and a.meta["seed"] == 11 and a.meta["search"] == "random"
        a.to_parquet(tmp_path / "a.parquet")
        b.to_parquet(tmp_path / "b.parquet")
        assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
        assert read_table_metadata(tmp_path / "a.parquet")["seed"] == 11
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), a.table)

    def test_strategy_without_fast_path_runs_on_the_event_engine(self, root: Path,
                                                                 inline: LocalExecutor) -> None:
        res = run_sweep(BreakoutBracket, data_spec(root), {"lookback": [24, 48]},
                        metric="total_return", executor=inline)
        assert res.engine == "event" and res.table["lookback"].tolist() == [24, 48]
        assert res.meta["strategy"] == "tradeloom.research.strategies.breakout_bracket:BreakoutBracket"
        assert "BreakoutBracket has no kernel fast path: BreakoutBracket declares no vectorized form" \
            in res.engine_reason


    def test_a_multi_timeframe_strategy_sweeps_on_the_event_engine(self, root: Path,
                                                                  inline: LocalExecutor) -> None:
        data = data_spec(root, end="2021-04-01")
        ref = "tradeloom.research.strategies.trend_filter:TrendFilter"
        res = run_sweep(ref, data, {"trend_period": [5, 10]}, engine="auto", executor=inline)
        assert res.engine == "event"
        for row, period in zip(res.table.itertuples(), (5, 10)):
            one = run_backtest(ref, "BTC/USDT", "1h", data.start, data.end,
                               {"trend_period": period}, root)
            assert row.n_trades == one.metrics["n_trades"] > 0
            assert row.final_equity == one.metrics["final_equity"]


class TestParquet:
    def test_atomic_write_leaves_no_temporary_file(self, tmp_path: Path) -> None:
        frame = pd.DataFrame({"a": [1, 2]})
        write_parquet_atomic(frame, tmp_path / "t.parquet", {"k": 1})
        bad = pd.DataFrame({"a": [object()]})
        with pytest.raises(pa.ArrowException):
            write_parquet_atomic(bad, tmp_path / "t.parquet")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
        assert pd.read_parquet(tmp_path / "t.parquet")["a"].tolist() == [1, 2]

    def test_a_directory_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="is a directory"):
            write_parquet_atomic(pd.DataFrame({"a": [1]}), tmp_path)


def _saved(res, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "sweep.parquet"
    res.to_parquet(path)
    return path
