"""A portfolio of strategies from a config: [[sleeve]] tables (research.portfolio) run as one
account, with the sleeves' budgets in the run's risk engine and a per-strategy breakdown."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from sweep_helpers import make_store
from typer.testing import CliRunner

from tradeloom.adapters.config.files import validate_config
from tradeloom.app.backtest import run_from_settings
from tradeloom.cli.main import app
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.strategy.sleeves import Sleeve, SleevePortfolio
from tradeloom.research.backtest import run_backtest
from tradeloom.research.backtest_settings import BacktestSettings
from tradeloom.research.portfolio import PORTFOLIO_REF, StrategyPortfolio
from tradeloom.research.strategies import RsiReversion, SmaCross

REPO = Path(__file__).resolve().parents[3]
CONFIG = f"""
timeframe = "1h"
start = "2021-01-01"
end = "2021-04-01"

[[sleeve]]
id = "trend"
strategy = "{REPO}/research/strategies/sma_cross.py:SmaCross"
params = {{ fast = 10, slow = 50 }}
symbols = ["BTC/USDT"]
budget_pct = 0.5

[[sleeve]]
id = "reversion"
strategy = "tradeloom.research.strategies.rsi_reversion:RsiReversion"
symbols = ["ETH/USDT"]
budget_pct = 0.4
max_position_pct = 0.4
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("catalog"))


def settings(text: str = CONFIG) -> BacktestSettings:
    return validate_config(BacktestSettings, tomllib.loads(text), "portfolio.toml")


def test_sleeve_tables_become_one_portfolio_strategy_on_the_union_of_symbols():
    s = settings()
    assert s.strategy == PORTFOLIO_REF
    assert s.symbols == ["BTC/USDT", "ETH/USDT"]
    book = StrategyPortfolio(**s.params)
    assert [(x.id, type(x.strategy).__name__, x.symbols, x.budget_pct) for x in book.sleeves] == [
        ("trend", "SmaCross", ("BTC/USDT",), 0.5), ("reversion", "RsiReversion", ("ETH/USDT",), 0.4)]


def test_a_config_run_equals_the_python_portfolio(store):
    from_config = run_from_settings(settings(), store)
    book = SleevePortfolio([Sleeve("trend", SmaCross(fast=10, slow=50), ["BTC/USDT"], 0.5),
                            Sleeve("reversion", RsiReversion(), ["ETH/USDT"], 0.4,
                                   max_position_pct=0.4)])
    in_python = run_backtest(book, book.symbols, "1h", "2021-01-01", "2021-04-01", store=store)
    assert from_config.orders.equals(in_python.orders)
    assert from_config.equity.equals(in_python.equity)
    risk = from_config.manifest["config"]["risk"]
    assert risk["strategy_budgets"] == {"reversion": 0.4, "trend": 0.5}
    assert risk["strategy_limits"]["reversion"]["max_position_pct"] == 0.4
    by = from_config.by_strategy().set_index("strategy_id")
    assert set(by.index) == {"trend", "reversion"} and (by["trades"] > 0).all()


def test_the_cli_prints_the_per_strategy_table(store, tmp_path):
    config = tmp_path / "portfolio.toml"
    config.write_text(CONFIG)
    result = CliRunner().invoke(app, ["--catalog", str(store.root), "backtest", "--config",
                                      str(config)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "per strategy" in result.output
    assert "trend" in result.output and "reversion" in result.output
    as_json = CliRunner().invoke(app, ["--catalog", str(store.root), "backtest", "--config",
                                       str(config), "--json"])
    rows = json.loads(as_json.output)["strategies"]
    assert [r["strategy_id"] for r in rows] == ["trend", "reversion"]


@pytest.mark.parametrize(("extra", "needle"), [
    ('strategy = "x.py:X"\n', "either strategy (one strategy) or [[sleeve]] tables"),
    ('symbols = ["SOL/USDT"]\n', "differ from the sleeves' symbols"),
    ("[params]\nfast = 3\n", "params go into each sleeve"),
])
def test_mixing_a_portfolio_with_one_strategy_settings_is_refused(extra, needle):
    with pytest.raises(ConfigError, match="portfolio.toml") as err:
        settings(extra + CONFIG)
    assert needle in str(err.value)


def test_a_bad_sleeve_names_its_index_and_field():
    bad = CONFIG.replace("budget_pct = 0.4", "budget_pct = 1.5")
    with pytest.raises(ConfigError, match=r"sleeve\[1\]\.budget_pct"):
        settings(bad)
    over = CONFIG.replace("budget_pct = 0.4", "budget_pct = 0.6")
    with pytest.raises(ConfigError, match="budgets sum to 1.1 > 1"):
        StrategyPortfolio(**settings(over).params)
