"""``tradeloom optimize`` through typer, on the bundled sample."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from sweep_helpers import END, SMA, START, make_store
from typer.testing import CliRunner

from tradeloom.cli import context as clictx
from tradeloom.cli.optimize import optimize

pytest.importorskip("optuna")

app = typer.Typer(pretty_exceptions_enable=False)
app.command("optimize")(optimize)
app.command("noop")(lambda: None)  # with two commands typer keeps the sub-command name
runner = CliRunner()

BASE = ["--symbols", "BTC/USDT", "--timeframe", "1h", "--start", START, "--end", END, "--processes", "1",
        "--space", "fast=5:30", "--space", "slow=40:120", "--trials", "6", "--seed", "2"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli_optimize_store")
    make_store(path)
    return path


@pytest.fixture(autouse=True)
def catalog(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clictx.set_catalog(None)
    monkeypatch.setenv(clictx.ENV_CATALOG, str(root))
    return root


def test_table_best_and_overfitting_lines() -> None:
    result = runner.invoke(app, ["optimize", SMA, *BASE, "--folds", "2"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "6 trials (" in text and "sampler tpe seed 2, 2 fold(s), pruning, engine fast:sma_cross" in text
    assert "best: {'fast':" in text
    assert "overfitting: 6 trials: deflated Sharpe" in text and "PBO" in text


def test_out_dir_json_and_report(tmp_path: Path) -> None:
    out, report = tmp_path / "study", tmp_path / "opt.html"
    result = runner.invoke(app, ["optimize", SMA, *BASE, "--objective", "sharpe", "--objective",
                                 "max_drawdown", "--out", str(out), "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    trials = pd.read_parquet(out / "trials.parquet")
    assert len(trials) == 6 and (out / "study.journal").exists() and (out / "pareto.parquet").exists()
    assert payload["run"]["objectives"] == ["sharpe", "max_drawdown"]
    assert payload["run"]["directions"] == ["maximize", "minimize"]
    assert len(payload["pareto"]) == len(pd.read_parquet(out / "pareto.parquet")) >= 1
    assert payload["run"]["overfit"]["trials"] == 6
    html = report.read_text()
    assert 'id="plot-optimize"' in html and 'id="sec-pareto"' in html and 'id="sec-overfit"' in html


def test_same_seed_same_table(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = runner.invoke(app, ["optimize", SMA, *BASE, "--out", str(tmp_path / name), "--quiet"])
        assert result.exit_code == 0, result.output
    a, b = (tmp_path / n / "trials.parquet" for n in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--space", "fsat=5:10"], "did you mean 'fast'"),
    (["--space", "fast=50:5"], "LOW must be below HIGH"),
    (["--space", "fast=5:30", "--sampler", "grid"], "--sampler 'grid'"),
    (["--space", "fast=5:30", "--objective", "sharp"], "did you mean 'sharpe'"),
    ([], "give at least one --space"),
])
def test_errors_are_red_on_stderr_with_exit_2(args: list[str], message: str) -> None:
    base = [a for a in BASE if a not in ("--space", "fast=5:30", "slow=40:120")]  # no space of BASE
    result = runner.invoke(app, ["optimize", SMA, *base, *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
