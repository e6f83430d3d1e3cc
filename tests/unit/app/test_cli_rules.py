"""Rule files on the command line: backtest, sweep and check-fast take them like a class."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_helpers import END, START, make_store
from typer.testing import CliRunner

from tradeloom.cli import context as clictx
from tradeloom.cli.main import app
from tradeloom.research.rules.files import EXAMPLES

runner = CliRunner()
SMA_RULES = str(EXAMPLES / "sma_cross.toml")
RANGE = ["--start", START, "--end", END]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli_rules")
    make_store(path)
    return path


@pytest.fixture(autouse=True)
def catalog(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clictx.set_catalog(None)
    monkeypatch.setenv(clictx.ENV_CATALOG, str(root))
    return root


def test_backtest_takes_symbols_and_timeframe_from_the_rule_file() -> None:
    rules = runner.invoke(app, ["backtest", SMA_RULES, *RANGE, "--json"])
    klass = runner.invoke(app, ["backtest", "research/strategies/sma_cross.py:SmaCross",
                                "--symbols", "BTC/USDT", "--timeframe", "1h", *RANGE, "--json"])
    assert rules.exit_code == 0 and klass.exit_code == 0, rules.output + klass.output
    a, b = json.loads(rules.stdout), json.loads(klass.stdout)
    assert a["metrics"] == b["metrics"] and a["manifest"]["config"]["symbols"] == ["BTC/USDT"]


def test_backtest_params_address_the_rule_files_numbers() -> None:
    res = runner.invoke(app, ["backtest", SMA_RULES, *RANGE, "--param",
                              "indicators.fast.period=20", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["manifest"]["config"]["params"]["indicators.fast.period"] == 20


def test_an_invalid_rule_file_is_reported_with_its_field_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(Path(SMA_RULES).read_text().replace('kind = "sma"\nperiod = 50',
                                                       'kind = "sma"\nperoid = 50'))
    res = runner.invoke(app, ["backtest", str(bad)])
    assert res.exit_code == 2
    assert "indicators.slow: sma has no parameter 'peroid'; did you mean 'period'?" in res.output


def test_sweep_over_dotted_fields_runs_on_the_vectorized_form() -> None:
    res = runner.invoke(app, ["sweep", SMA_RULES, *RANGE, "--grid", "indicators.fast.period=5,10",
                              "--grid", "indicators.slow.period=30,60", "--processes", "1"])
    assert res.exit_code == 0, res.output
    assert "4 combinations (grid), engine fast:vectorized" in res.stdout
    assert "why fast:vectorized: SmaCross.vectorized() gives brackets arrays" in res.stdout
    assert "fast.period" in res.stdout


def test_check_fast_passes_for_rules_and_fails_without_a_form() -> None:
    ok = runner.invoke(app, ["check-fast", str(EXAMPLES / "breakout.toml"), *RANGE])
    assert ok.exit_code == 0, ok.output
    assert "SAME fills, trades and equity" in ok.stdout
    none = runner.invoke(app, ["check-fast", "research/strategies/breakout_bracket.py:BreakoutBracket",
                               "--symbols", "BTC/USDT", *RANGE, "--json"])
    assert none.exit_code == 1
    payload = json.loads(none.stdout)
    assert payload["ok"] is False and "declares no vectorized form" in payload["reason"]
    missing = runner.invoke(app, ["check-fast", "research/strategies/rsi_reversion.py:RsiReversion"])
    assert missing.exit_code == 2 and "give --symbols" in missing.output


def test_the_rule_files_risk_profile_applies_unless_a_flag_says_otherwise(tmp_path: Path) -> None:
    rules = tmp_path / "guarded.toml"
    rules.write_text(Path(SMA_RULES).read_text().replace('timeframe = "1h"',
                                                         'timeframe = "1h"\nrisk_profile = "moderate"'))
    guarded = json.loads(runner.invoke(app, ["backtest", str(rules), *RANGE, "--json"]).stdout)
    flagged = json.loads(runner.invoke(app, ["backtest", str(rules), *RANGE, "--risk",
                                             "conservative", "--json"]).stdout)
    assert "max_position_pct" in guarded["manifest"]["config"]["risk"]
    assert guarded["manifest"]["config"]["risk"] != flagged["manifest"]["config"]["risk"]
