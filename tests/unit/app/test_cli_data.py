"""``tradeloom data`` commands run through typer's CliRunner against a real temp catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeloom.cli import context as clictx
from tradeloom.cli.data import data_app

T0 = 1_704_067_200_000
HOUR = 3_600_000
runner = CliRunner()


@pytest.fixture(autouse=True)
def catalog(tmp_path):
    clictx.set_catalog(tmp_path / "catalog")
    yield tmp_path / "catalog"
    clictx.set_catalog(None)


def write_csv(tmp_path: Path, hours, name="bars.csv", high="2") -> Path:
    path = tmp_path / name
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{T0 + h * HOUR},1,{high},0.5,1.5,10" for h in hours]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(*args: str):
    return runner.invoke(data_app, list(args))


def import_args(path: Path, *extra: str) -> list[str]:
    return ["import", str(path), "--exchange", "binance", "--symbol", "BTC/USDT",
            "--timeframe", "1h", *extra]


def test_list_of_an_empty_catalog_prints_an_empty_json_list():
    result = run("list", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_import_then_list_shows_the_dataset(tmp_path):
    result = run(*import_args(write_csv(tmp_path, range(4)), "--json"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rows_added"] == 4
    listed = json.loads(run("list", "--json").stdout)
    assert [(d["symbol"], d["rows"], d["first"]) for d in listed] == [
        ("BTC/USDT", 4, "2024-01-01T00:00:00Z")]
    assert "BTC/USDT" in run("list").stdout


def test_check_exits_0_on_clean_data_and_1_on_gaps(tmp_path):
    run(*import_args(write_csv(tmp_path, range(4))))
    assert run("check").exit_code == 0
    run(*import_args(write_csv(tmp_path, [10, 11], name="later.csv")))
    result = run("check", "--json")
    assert result.exit_code == 1
    (report,) = json.loads(result.stdout)
    assert (report["gap_count"], report["missing_bars"]) == (1, 6)
    assert run("check", "--allow-gaps").exit_code == 0


def test_check_of_an_unknown_symbol_exits_2_with_a_message(tmp_path):
    run(*import_args(write_csv(tmp_path, range(2))))
    result = run("check", "--symbol", "ETH/USDT")
    assert result.exit_code == 2
    assert "no dataset matches" in result.stderr and "BTC/USDT" in result.stderr


def test_import_of_a_bad_file_exits_2_naming_row_and_column(tmp_path):
    result = run(*import_args(write_csv(tmp_path, range(3), high="0.1")))
    assert result.exit_code == 2
    assert "bars.csv row 1 (data row, file line 2), column 'high'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_import_with_drop_invalid_reports_rejected_rows(tmp_path):
    path = write_csv(tmp_path, range(3))
    path.write_text(path.read_text() + f"{T0 + 3 * HOUR},1,x,0.5,1.5,10\n")
    result = run(*import_args(path, "--drop-invalid", "--json"))
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["rows_added"], report["rejected"][0]["row"]) == (3, 4)


def test_import_maps_columns_given_with_map_and_ts_column(tmp_path):
    path = tmp_path / "renamed.csv"
    path.write_text("when,o,h,l,c,Volume BTC\n" + f"{T0},1,2,0.5,1.5,10\n", encoding="utf-8")
    result = run(*import_args(path, "--ts-column", "when", "--map", "volume=Volume BTC"))
    assert result.exit_code == 0, result.stderr


def test_a_malformed_map_option_exits_2():
    result = run(*import_args(Path("x.csv"), "--map", "volume"))
    assert result.exit_code == 2
    assert "FIELD=COLUMN" in result.stderr


@pytest.mark.parametrize("command", ["list", "check", "import", "repair", "delete"])
def test_every_command_help_has_an_example(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and f"tradeloom data {command}" in result.stdout


# ----------------------------------------------------------------------------- corruption

def loaded_sample(catalog: Path) -> Path:
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.app.sample import load_sample

    load_sample(MarketStore(catalog))
    return catalog / "ohlcv" / "exchange=binance" / "timeframe=1h" / "symbol=BTC-USDT" / "2021.parquet"


def test_the_sample_a_new_user_loads_passes_the_check_with_its_known_gaps(catalog):
    loaded_sample(catalog)
    result = run("check", "--exchange", "binance", "--timeframe", "1h", "--json")
    assert result.exit_code == 0, result.stdout
    btc = next(r for r in json.loads(result.stdout) if r["symbol"] == "BTC/USDT")
    assert (btc["gap_count"], btc["known_gap_count"], btc["known_missing"]) == (0, 6, 11)


def test_check_reports_a_truncated_file_with_exit_1_and_checks_the_rest(catalog):
    damaged = loaded_sample(catalog)
    damaged.write_bytes(damaged.read_bytes()[:20_000])
    result = run("check", "--exchange", "binance", "--timeframe", "1h", "--json")
    assert result.exit_code == 1
    reports = {r["symbol"]: r for r in json.loads(result.stdout)}
    assert len(reports) == 10 and reports["ETH/USDT"]["ok"]
    (problem,) = reports["BTC/USDT"]["integrity"]
    assert str(damaged) in problem
    assert "tradeloom data repair --exchange binance --symbol BTC/USDT --timeframe 1h" in problem


def test_backtest_on_a_truncated_file_names_it_and_the_repair_command(catalog):
    from tradeloom.cli.main import app

    damaged = loaded_sample(catalog)
    damaged.write_bytes(damaged.read_bytes()[:20_000])
    result = runner.invoke(app, ["--catalog", str(catalog), "backtest",
                                 "research/strategies/sma_cross.py:SmaCross", "--symbols",
                                 "BTC/USDT", "--timeframe", "1h"])
    assert result.exit_code == 2
    assert str(damaged) in result.stderr and "tradeloom data repair" in result.stderr
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_delete_a_range_then_acknowledge_the_hole(tmp_path):
    run(*import_args(write_csv(tmp_path, range(10))))
    result = run("delete", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h",
                 "--start", str(T0 + 3 * HOUR), "--end", str(T0 + 5 * HOUR))
    assert result.exit_code == 0 and "deleted 2 ohlcv rows" in result.stdout
    assert run("check").exit_code == 1
    ack = run("gaps", "ack", "--exchange", "binance", "--symbol", "BTC/USDT", "--current",
              "--reason", "removed on purpose", "--by", "tester")
    assert ack.exit_code == 0, ack.output
    assert run("check").exit_code == 0
    (gap,) = json.loads(run("gaps", "list", "--json").stdout)
    assert (gap["from_ts"], gap["to_ts"], gap["acknowledged_by"], gap["origin"]) == (
        T0 + 3 * HOUR, T0 + 5 * HOUR, "tester", "user")


@pytest.mark.parametrize("command", ["list", "ack", "forget"])
def test_every_gaps_command_help_has_an_example(command):
    result = run("gaps", command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and f"tradeloom data gaps {command}" in result.stdout


def test_loading_the_sample_again_refreshes_its_market_rules_but_not_a_fetched_snapshot(catalog):
    """A catalog loaded by an older version kept an older sample snapshot (no perpetuals,
    quote-side fees); loading the sample again brings the current one. A snapshot fetched
    from the exchange later (a later fetched time) stays the one read."""
    import dataclasses

    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.app.sample import load_sample, sample_markets
    from tradeloom.engine.market import FeeSide

    store = MarketStore(catalog)
    old = {"BTC/USDT": dataclasses.replace(sample_markets("binance")["BTC/USDT"],
                                           fee_side=FeeSide.QUOTE)}
    store.save_markets("binance", old, fetched_ts=0)  # what an older load-sample left
    load_sample(store)
    assert store.load_markets("binance") == sample_markets("binance")
    assert store.load_markets("binance")["BTC/USDT:USDT"].contract is not None
    fetched = {"BTC/USDT": old["BTC/USDT"]}
    store.save_markets("binance", fetched, fetched_ts=1_700_000_000_000)
    load_sample(store)
    assert store.load_markets("binance") == fetched
