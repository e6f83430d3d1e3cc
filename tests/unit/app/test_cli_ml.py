"""``tradeloom train | retrain | models | schedule`` through typer, on the sample catalog."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer
from ml_helpers import sample_store
from typer.testing import CliRunner

from tradeloom.cli import context as clictx
from tradeloom.cli.ml import models_app, retrain_command, schedule_command, train_command
from tradeloom.research.ml.registry import ModelRegistry

app = typer.Typer()
app.command("train")(train_command)
app.command("retrain")(retrain_command)
app.command("schedule")(schedule_command)
app.add_typer(models_app, name="models")
runner = CliRunner()

TRAIN = """name = "btc_dir"
[data]
symbols = ["BTC/USDT", "ETH/USDT"]
start = "2021-01-01"
end = "{end}"
[model]
params = {{ n_estimators = 30, num_leaves = 7 }}
[cv]
n_splits = 2
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli_ml")
    sample_store(path)
    return path


@pytest.fixture(autouse=True)
def catalog(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clictx.set_catalog(None)
    monkeypatch.setenv(clictx.ENV_CATALOG, str(root))
    return root


def test_train_models_promote_retire_retrain(tmp_path: Path, root: Path) -> None:
    cfg = tmp_path / "train.toml"
    cfg.write_text(TRAIN.format(end="2021-03-01"))
    res = runner.invoke(app, ["train", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "btc_dir@1" in res.stdout and "champion" in res.stdout and "overall" in res.stdout
    again = runner.invoke(app, ["train", str(cfg), "--quiet"])
    assert again.exit_code == 0 and again.stdout.strip() == "btc_dir@1"

    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0 and "btc_dir@1" in listed.stdout
    shown = runner.invoke(app, ["models", "show", "btc_dir@champion"])
    assert shown.exit_code == 0 and "registered by train" in shown.stdout

    retrain_cfg = tmp_path / "retrain.toml"
    nested = TRAIN.format(end="2021-04-01").replace("\n[", "\n[train.")
    retrain_cfg.write_text(f"holdout_bars = 300\nmargin = 0.5\n[train]\n{nested}")
    rt = runner.invoke(app, ["retrain", str(retrain_cfg)])
    assert rt.exit_code == 0, rt.output
    assert "kept champion" in rt.stdout and "keeping btc_dir@1: btc_dir@2 auc" in rt.stdout
    rt2 = runner.invoke(app, ["retrain", str(retrain_cfg), "--quiet"])
    assert rt2.exit_code == 0 and "(replayed)" in rt2.stdout

    pro = runner.invoke(app, ["models", "promote", "btc_dir@2", "--why", "manual", "--who", "ana"])
    assert pro.exit_code == 0 and "btc_dir@2 is now champion" in pro.stdout
    ret = runner.invoke(app, ["models", "retire", "btc_dir@2", "--why", "rollback"])
    assert ret.exit_code == 0
    ev = ModelRegistry(root).events("btc_dir")[-2]
    assert (ev.event, ev.who, ev.why) == ("promoted", "ana", "manual")


def test_errors_are_red_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[data]\nsymbols = ["BTC/USDT"]\nsymbolz = 1\n')
    res = runner.invoke(app, ["train", str(bad)])
    assert res.exit_code == 2
    assert "data.symbolz: unknown setting" in res.stderr
    missing = runner.invoke(app, ["models", "show", "nope@1"])
    assert missing.exit_code == 2 and "no model named 'nope'" in missing.stderr


def test_schedule_print_crontab_and_help(tmp_path: Path) -> None:
    sched = tmp_path / "schedule.toml"
    sched.write_text('[[jobs]]\nconfig = "retrain.toml"\ncron = "0 3 * * *"\n')
    res = runner.invoke(app, ["schedule", str(sched), "--print-crontab"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[1] == "CRON_TZ=UTC"
    # cron's PATH does not hold the venv: the job line names the executable absolutely
    exe = Path(sys.executable).absolute().parent / "tradeloom"
    assert lines[2].startswith(f"0 3 * * * {exe} --catalog ")
    for cmd in (["train"], ["retrain"], ["schedule"], ["models", "promote"]):
        text = runner.invoke(app, [*cmd, "--help"]).stdout
        assert "Example:" in text and "tradeloom" in text
