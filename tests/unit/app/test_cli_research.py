"""``tradeloom sweep`` / ``tradeloom walkforward`` through typer, on the bundled sample."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from sweep_helpers import END, SMA, START, make_store
from typer.testing import CliRunner

from tradeloom.cli import context as clictx
from tradeloom.cli.research import sweep, walkforward

app = typer.Typer(pretty_exceptions_enable=False)
app.command("sweep")(sweep)
app.command("walkforward")(walkforward)
runner = CliRunner()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli_store")
    make_store(path)
    return path


@pytest.fixture(autouse=True)
def catalog(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clictx.set_catalog(None)
    monkeypatch.setenv(clictx.ENV_CATALOG, str(root))
    return root


BASE = ["--symbols", "BTC/USDT", "--timeframe", "1h", "--start", START, "--end", END, "--processes", "1"]


def test_sweep_json_and_table_file(tmp_path: Path) -> None:
    out = tmp_path / "sweep.parquet"
    result = runner.invoke(app, ["sweep", SMA, *BASE, "--grid", "fast=5:15:5", "--grid", "slow=30,60",
                                 "--metric", "total_return", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    table = pd.read_parquet(out)
    assert payload["rows"] == len(table) == 6
    best = table.loc[table["total_return"].idxmax()]
    assert payload["best_params"] == {"fast": int(best["fast"]), "slow": int(best["slow"])}
    assert payload["run"]["engine"] == "fast:sma_cross" and payload["run"]["search"] == "grid"


def test_sweep_table_output_with_random_search() -> None:
    result = runner.invoke(app, ["sweep", SMA, *BASE, "--grid", "fast=4:20:2", "--grid", "slow=30:60:10",
                                 "--random", "4", "--seed", "9", "--engine", "event", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "4 combinations (random, seed 9), engine event" in result.stdout
    assert "best: {'fast'" in result.stdout


def test_sweep_prints_the_overfitting_statistics() -> None:
    result = runner.invoke(app, ["sweep", SMA, *BASE, "--grid", "fast=5:15:5", "--grid", "slow=30,60"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # rich wraps long lines
    assert "overfitting: 6 trials: deflated Sharpe 0." in text and "PBO 0." in text


def test_sweep_json_carries_trials_dsr_and_pbo() -> None:
    result = runner.invoke(app, ["sweep", SMA, *BASE, "--grid", "fast=5:15:5", "--grid", "slow=30,60",
                                 "--json"])
    overfit = json.loads(result.stdout)["run"]["overfit"]
    assert overfit["trials"] == 6 and 0.0 <= overfit["dsr"] <= 1.0 and 0.0 <= overfit["pbo"] <= 1.0


def test_sweep_report_has_the_heatmap_formatted_numbers_and_overfitting(tmp_path: Path) -> None:
    path = tmp_path / "sweep.html"
    result = runner.invoke(app, ["sweep", SMA, *BASE, "--grid", "fast=5:15:5", "--grid", "slow=30,60",
                                 "--metric", "total_return", "--report", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    html = path.read_text()
    assert 'id="plot-sweep-heatmap"' in html and 'id="sec-overfit"' in html
    assert "total_return by fast and slow" in html
    top = html.split('id="sec-top"')[1]
    assert " %</td>" in top  # returns as percentages, like the metrics table
    assert "probability of backtest overfitting (PBO)" in html


def test_a_one_param_sweep_report_draws_one_row(tmp_path: Path) -> None:
    path = tmp_path / "one.html"
    result = runner.invoke(app, ["sweep", SMA, *BASE, "--grid", "fast=5:15:5", "--report", str(path),
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    assert "sharpe by fast</h2>" in path.read_text()


def test_skipped_combinations_are_reported() -> None:
    result = runner.invoke(app, ["sweep", SMA, *BASE, "--grid", "fast=10,40", "--grid", "slow=30",
                                 "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["skipped"] == 1


@pytest.mark.parametrize("args, message", [
    (["--grid", "fast5:50"], "--grid 'fast5:50': missing '='"),
    (["--grid", "fast=5:50:0"], "step must not be 0"),
    (["--grid", "fsat=5"], "did you mean 'fast'"),
    (["--grid", "fast=5", "--metric", "sharp"], "did you mean 'sharpe'"),
    ([], "give at least one --grid"),
    (["--grid", "fast=5", "--cluster", "host:1"], "--cluster 'host:1'"),
])
def test_sweep_errors_are_red_on_stderr_with_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["sweep", SMA, *BASE, *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_cluster_without_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    result = runner.invoke(app, ["sweep", SMA, *BASE, "--grid", "fast=5", "--cluster", "local:2"])
    assert result.exit_code == 2
    assert "pip install 'tradeloom[dask]'" in result.stderr


def test_walkforward_json_and_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["walkforward", SMA, *BASE, "--train", "20d", "--test", "10d",
                                 "--grid", "fast=5,10", "--grid", "slow=30", "--out", str(tmp_path / "wf"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["summary"]["windows"] == len(payload["windows"]) == 2
    assert {"is_sharpe", "oos_sharpe", "degradation", "efficiency"} <= set(payload["windows"][0])
    assert sorted(p.name for p in (tmp_path / "wf").iterdir()) == [
        "equity.parquet", "in_sample.parquet", "windows.parquet"]


def test_walkforward_table_output() -> None:
    result = runner.invoke(app, ["walkforward", SMA, *BASE, "--train", "400", "--test", "300",
                                 "--anchored", "--grid", "fast=5,10", "--grid", "slow=30"])
    assert result.exit_code == 0, result.output
    assert "anchored train 400 / test 300" in result.stdout.replace("\n", " ")
    assert "stitched out of sample" in result.stdout


def test_walkforward_span_errors() -> None:
    result = runner.invoke(app, ["walkforward", SMA, *BASE, "--train", "90 days", "--test", "30d",
                                 "--grid", "fast=5"])
    assert result.exit_code == 2 and "--train '90 days'" in result.stderr
    result = runner.invoke(app, ["walkforward", SMA, *BASE, "--train", "90d", "--test", "30d",
                                 "--grid", "fast=5"])
    assert result.exit_code == 2 and "does not fit in the data" in result.stderr


@pytest.mark.parametrize("command", ["sweep", "walkforward"])
def test_help_has_a_runnable_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert f"tradeloom {command} research/strategies/sma_cross.py:SmaCross" in result.stdout
    assert "load-sample" in result.stdout
