"""Switching the exchange's precision and minimums off, from the CLI or a config:
``--no-market-rules`` / ``[broker] market_rules = "none"`` (``research.backtest.apply_market_rules``).

The bundled catalog's binance snapshot says BTC/USDT trades in lots of 0.00001 at ticks of
0.01 with a 5 USDT minimum notional, so with rules every fill amount is a whole number of
lots; without them the all-in amounts are whatever ``cash / (open * (1 + fee))`` gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sweep_helpers import SMA, data_spec, make_store
from typer.testing import CliRunner

from tradeloom.cli import context as clictx
from tradeloom.cli.main import app
from tradeloom.engine.errors import ConfigError
from tradeloom.research.backtest import run_backtest
from tradeloom.research.sweeps.executors import LocalExecutor
from tradeloom.research.sweeps.jobs import RunSettings
from tradeloom.research.sweeps.sweep import run_sweep

runner = CliRunner()
ARGS = ["backtest", SMA, "--symbols", "BTC/USDT", "--timeframe", "1h", "--start", "2021-01-01",
        "--end", "2021-03-01", "--param", "fast=10", "--param", "slow=50", "--json"]
LOT = 1e-5


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules_store")
    make_store(path)
    return path


@pytest.fixture(autouse=True)
def catalog(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clictx.set_catalog(None)
    monkeypatch.setenv(clictx.ENV_CATALOG, str(root))
    return root


def whole_lots(amounts: np.ndarray) -> bool:
    steps = amounts / LOT
    return bool(np.all(np.abs(steps - np.round(steps)) < 1e-6))


def test_with_rules_fills_are_whole_lots(root: Path) -> None:
    res = run_backtest(SMA, "BTC/USDT", "1h", "2021-01-01", "2021-03-01", {"fast": 10, "slow": 50}, root)
    assert whole_lots(res.fills["amount"].to_numpy())
    assert res.manifest["config"]["markets"]["BTC/USDT"]["lot_step"] == LOT


def test_without_rules_amounts_are_unrounded_and_the_run_says_so(root: Path) -> None:
    res = run_backtest(SMA, "BTC/USDT", "1h", "2021-01-01", "2021-03-01", {"fast": 10, "slow": 50}, root,
                       market_rules="none")
    first = res.fills.iloc[0]
    # all-in, no lot truncation (one ulp below: the broker steps down until truly payable)
    assert first["amount"] == pytest.approx(10_000.0 / (first["price"] * 1.001), rel=1e-15)
    assert not whole_lots(res.fills["amount"].to_numpy())
    markets = res.manifest["config"]["markets"]["BTC/USDT"]
    assert markets["lot_step"] is None and markets["min_notional"] == 0.0 and markets["taker_fee"] == 0.001
    assert any("market rules off" in e["message"] for e in res.events)


def test_the_flag_and_the_config_setting_mean_the_same(tmp_path: Path) -> None:
    flag = runner.invoke(app, [*ARGS, "--no-market-rules"])
    assert flag.exit_code == 0, flag.output
    config = tmp_path / "bt.toml"
    config.write_text('[broker]\nmarket_rules = "none"\n')
    toml = runner.invoke(app, [*ARGS, "--config", str(config)])
    assert toml.exit_code == 0, toml.output
    a, b = json.loads(flag.stdout), json.loads(toml.stdout)
    assert a["metrics"] == b["metrics"] and a["manifest"]["config_hash"] == b["manifest"]["config_hash"]
    rules = json.loads(runner.invoke(app, ARGS).stdout)
    assert rules["manifest"]["config_hash"] != a["manifest"]["config_hash"]


def test_a_bad_setting_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bt.toml"
    config.write_text('[broker]\nmarket_rules = "off"\n')
    result = runner.invoke(app, [*ARGS, "--config", str(config)])
    assert result.exit_code == 2 and "broker.market_rules" in result.output


def test_apply_market_rules_refuses_unknown_values() -> None:
    from tradeloom.research.backtest import apply_market_rules

    with pytest.raises(ConfigError, match="use 'exchange'"):
        apply_market_rules({}, "off")


def test_sweeps_take_it_on_the_fast_path_and_the_event_engine(root: Path) -> None:
    settings = RunSettings(market_rules="none")
    grid = ["fast=5,10", "slow=30"]
    with LocalExecutor(processes=1) as ex:
        fast = run_sweep(SMA, data_spec(root), grid, executor=ex, settings=settings, engine="fast")
        event = run_sweep(SMA, data_spec(root), grid, executor=ex, settings=settings, engine="event")
        ruled = run_sweep(SMA, data_spec(root), grid, executor=ex, engine="event")
    np.testing.assert_allclose(fast.table["final_equity"], event.table["final_equity"], rtol=1e-9)
    assert not np.array_equal(event.table["final_equity"], ruled.table["final_equity"])
    assert fast.meta["market_rules"] == "none"
