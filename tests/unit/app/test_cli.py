"""The `tradeloom` command line as a user drives it: real store, real sample data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeloom._version import __version__
from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.adapters.store.results_io import load_result
from tradeloom.app.sample import load_sample
from tradeloom.cli.main import app

ROOT = Path(__file__).resolve().parents[3]
SMA = str(ROOT / "research" / "strategies" / "sma_cross.py") + ":SmaCross"
runner = CliRunner()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalog")
    load_sample(MarketStore(path))
    return path


def _commands(group, prefix=()):
    import typer.main

    click_group = typer.main.get_command(group)
    for name, command in sorted(click_group.commands.items()):
        if hasattr(command, "commands"):
            for sub_name in sorted(command.commands):
                yield (*prefix, name, sub_name)
        else:
            yield (*prefix, name)


def test_version_flag_prints_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"tradeloom {__version__}"


@pytest.mark.parametrize("command", list(_commands(app)), ids=" ".join)
def test_every_command_help_shows_a_runnable_example(command):
    result = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "tradeloom " in result.output


def test_catalog_option_overrides_the_environment(tmp_path, catalog, monkeypatch):
    monkeypatch.setenv("TRADELOOM_CATALOG", str(tmp_path / "empty"))
    listed = runner.invoke(app, ["--catalog", str(catalog), "data", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    symbols = {row["symbol"] for row in json.loads(listed.output)}
    assert "BTC/USDT" in symbols and "BTC/USD" in symbols


def test_environment_chooses_the_catalog_when_no_option_is_given(catalog, monkeypatch):
    monkeypatch.setenv("TRADELOOM_CATALOG", str(catalog))
    listed = runner.invoke(app, ["data", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    # the bundled sample: 10 Binance spot pairs, Coinbase BTC/USD, and 2 perpetuals x
    # (5m bars, 8h mark bars, funding)
    assert len(json.loads(listed.output)) == 17


def test_backtest_writes_results_that_load_back(tmp_path, catalog):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        ["--catalog", str(catalog), "backtest", SMA, "--symbols", "BTC/USDT", "--timeframe", "1h",
         "--param", "fast=10", "--param", "slow=50", "--end", "2021-03-01", "--out", str(out)],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "total_return" in result.output and "risk decisions" in result.output
    loaded = load_result(out)
    assert loaded.manifest["config"]["params"] == {"fast": 10, "slow": 50}
    assert loaded.metrics["n_trades"] > 0


def test_backtest_reads_settings_from_a_toml_file_and_flags_override_it(tmp_path, catalog):
    config = tmp_path / "bt.toml"
    config.write_text(
        f'strategy = "{SMA}"\nsymbols = ["ETH/USDT"]\ntimeframe = "1h"\nend = "2021-02-01"\n'
        "[params]\nfast = 5\nslow = 20\n[broker]\nfee_rate = 0.002\n"
    )
    result = runner.invoke(
        app, ["--catalog", str(catalog), "backtest", "--config", str(config), "--param", "fast=7", "--json"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)["manifest"]
    assert manifest["config"]["symbols"] == ["ETH/USDT"]
    assert manifest["config"]["params"] == {"fast": 7, "slow": 20}


def test_backtest_config_error_names_the_file_and_the_field(tmp_path, catalog):
    config = tmp_path / "bad.toml"
    config.write_text(f'strategy = "{SMA}"\nsymbols = ["BTC/USDT"]\n[broker]\nintrabar_rule = "optimistic"\n')
    result = runner.invoke(app, ["--catalog", str(catalog), "backtest", "--config", str(config)])
    assert result.exit_code == 2
    assert "bad.toml" in result.output and "broker.intrabar_rule" in result.output
    assert "adverse_first" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--symbols", "DOGE/USDT"], "DOGE/USDT"),
        (["--symbols", "BTC/USDT", "--timeframe", "7x"], "timeframe"),
        (["--symbols", "BTC/USDT", "--start", "2030-01-01"], "2030"),
        (["--symbols", "BTC/USDT", "--param", "fast=ten"], "fast"),
        (["--symbols", "BTC/USDT", "--param", "fats=10"], "fast"),
    ],
    ids=["unknown-symbol", "bad-timeframe", "empty-range", "bad-param-type", "misspelt-param"],
)
def test_backtest_bad_input_exits_2_with_a_message(catalog, args, needle):
    result = runner.invoke(app, ["--catalog", str(catalog), "backtest", SMA, *args])
    assert result.exit_code == 2, result.output
    assert "error" in result.output and needle in result.output


def test_backtest_of_a_missing_strategy_file_says_which_file(catalog, tmp_path):
    result = runner.invoke(
        app, ["--catalog", str(catalog), "backtest", f"{tmp_path}/nope.py:Nope", "--symbols", "BTC/USDT"]
    )
    assert result.exit_code == 2
    assert "nope.py" in result.output


def test_installed_script_runs_outside_the_test_process(catalog):
    script = Path(sys.executable).with_name("tradeloom")
    proc = subprocess.run(
        [str(script), "--catalog", str(catalog), "backtest", SMA, "--symbols", "BTC/USDT",
         "--end", "2021-02-01", "--json"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metrics"]["final_equity"] > 0


def test_error_messages_keep_square_brackets(capsys):
    from tradeloom.cli.main import report_error
    from tradeloom.engine.errors import ConfigError

    report_error(ConfigError("install it: pip install 'tradeloom[dask]'"))
    assert "tradeloom[dask]" in capsys.readouterr().err


def test_data_errors_keep_square_brackets_too(tmp_path):
    """Every command reports errors through one escaped printer (cli_errors)."""
    bad = tmp_path / "bars[1].csv"
    bad.write_text("nothing,useful\n1,2\n")
    result = runner.invoke(app, ["--catalog", str(tmp_path / "cat"), "data", "import", str(bad),
                                 "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h"])
    assert result.exit_code == 2
    assert "bars[1].csv" in result.output


def test_every_bad_setting_in_a_config_is_reported_with_its_field_path():
    from tradeloom.adapters.config.files import validate_config
    from tradeloom.engine.errors import ConfigError
    from tradeloom.research.backtest_settings import BacktestSettings

    with pytest.raises(ConfigError) as err:
        validate_config(BacktestSettings, {"strategy": "x", "symbols": ["BTCUSDT"], "timeframe": "7x"}, "f.toml")
    text = str(err.value)
    assert text.startswith("f.toml: invalid configuration")
    assert "timeframe: Value error, unknown timeframe '7x'" in text
    assert "symbols: Value error, symbol 'BTCUSDT' must look like BASE/QUOTE" in text


def test_backtest_at_a_timeframe_the_store_lacks_resamples_and_says_so_on_stderr(catalog):
    script = Path(sys.executable).with_name("tradeloom")
    proc = subprocess.run(
        [str(script), "--catalog", str(catalog), "backtest", SMA, "--symbols", "BTC/USDT",
         "--timeframe", "4h", "--param", "fast=5", "--param", "slow=20", "--json"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no binance 4h bars stored for BTC/USDT: resampled from the stored 1h bars" in (
        " ".join(proc.stderr.split()))
    manifest = json.loads(proc.stdout)["manifest"]
    assert manifest["config"]["timeframe"] == "4h"
    assert manifest["config"]["resampled_from"] == "1h"
