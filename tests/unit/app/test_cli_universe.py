"""``tradeloom universe`` / ``regime`` through typer's CliRunner on the real sample."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.cli import context as clictx
from tradeloom.cli.universe import regime, universe

app = typer.Typer()
app.command("universe")(universe)
app.command("regime")(regime)
runner = CliRunner()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog")
    load_sample(MarketStore(root))
    return root


@pytest.fixture(autouse=True)
def chosen(catalog):
    clictx.set_catalog(catalog)
    yield
    clictx.set_catalog(None)


def run(*args):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_universe_table_shows_tiers_figures_and_reasons():
    res = run("universe", "--as-of", "2021-06-01")
    assert res.exit_code == 0, res.stderr
    assert "core" in res.stdout and "satellite" in res.stdout and "BTC/USDT" in res.stdout
    assert "liquidity rank 9 of 10 eligible" in res.stdout


def test_universe_json_with_a_config_file(tmp_path):
    cfg = tmp_path / "universe.toml"
    cfg.write_text('core_size = 2\nsatellite_size = 1\nwindow_days = 14\nquotes = ["USDT"]\n')
    res = run("universe", "--as-of", "2021-06-01", "--config", str(cfg), "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    tiers = [m["tier"] for m in data["members"]]
    assert tiers.count("core") == 2 and tiers.count("satellite") == 1
    assert data["as_of_utc"] == "2021-06-01T00:00:00Z"


def test_universe_defaults_to_the_newest_bar_close():
    data = json.loads(run("universe", "--exchange", "coinbase", "--json").stdout)
    assert data["as_of_utc"] == "2019-10-17T10:00:00Z" and data["exchange"] == "coinbase"


def test_bad_config_key_exits_2_naming_the_field(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("core_sise = 2\n")
    res = run("universe", "--config", str(cfg))
    assert res.exit_code == 2 and "core_sise" in res.stderr and "unknown setting" in res.stderr


def test_errors_escape_rich_markup():
    res = run("universe", "--as-of", "[red]soon[/red]")
    assert res.exit_code == 2
    assert "[red]soon[/red]" in res.stderr


def test_regime_json_and_table():
    res = run("regime", "BTC/USDT", "ETH/USDT", "--as-of", "2021-06-01", "--json")
    assert res.exit_code == 0, res.stderr
    found = json.loads(res.stdout)
    assert [f["symbol"] for f in found] == ["BTC/USDT", "ETH/USDT"]
    assert all(f["regime"] in ("trending", "ranging", "volatile") for f in found)
    table = run("regime", "BTC/USDT", "--as-of", "2021-06-01")
    assert table.exit_code == 0 and found[0]["regime"] in table.stdout


def test_regime_of_an_unknown_symbol_exits_2():
    res = run("regime", "NOPE/USDT")
    assert res.exit_code == 2 and "NOPE/USDT" in res.stderr


def test_regime_before_any_bar_exits_2():
    res = run("regime", "BTC/USDT", "--as-of", "2019-01-01")
    assert res.exit_code == 2 and "stored bars run from" in res.stderr
