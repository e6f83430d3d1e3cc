"""The shipped ML configs, run through the exact commands the ``--help`` texts show.

A temporary working directory holds a copy of ``examples/`` and a catalog with the
bundled sample; each command's ``Example:`` line is read from its ``--help`` and run
as printed (relative paths and all). Checks on the results: the shipped model trains,
its out-of-fold calibration is no worse than the constant forecast, it is registered
with its full lineage and shown by ``models show``, and the retrain example records a
significance-gated decision.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from ml_helpers import sample_store
from typer.testing import CliRunner

from tradeloom.adapters.config.files import load_config
from tradeloom.cli import context as clictx
from tradeloom.cli.main import app
from tradeloom.research.ml.config import TrainConfig
from tradeloom.research.ml.registry import ModelRegistry
from tradeloom.research.ml.retrain import DECISION_EVENT

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shipped")
    shutil.copytree(REPO / "examples", root / "examples")
    sample_store(root / "catalog")
    return root


@pytest.fixture(autouse=True)
def _in_workdir(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clictx.set_catalog(None)
    monkeypatch.setenv(clictx.ENV_CATALOG, str(workdir / "catalog"))
    monkeypatch.setenv("COLUMNS", "200")  # rich tables whole, not truncated to 80 columns
    monkeypatch.chdir(workdir)


def example(*command: str) -> list[str]:
    """The ``Example:`` command of ``tradeloom <command> --help``, as argv (no 'tradeloom')."""
    res = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    found = re.search(r"Example:\s+tradeloom (.+)", res.stdout)
    assert found, f"no example in `tradeloom {' '.join(command)} --help`"
    return shlex.split(found.group(1).strip())


def run(argv: list[str]) -> str:
    res = runner.invoke(app, argv, terminal_width=200)
    assert res.exit_code == 0, f"tradeloom {' '.join(argv)} failed:\n{res.output}"
    return res.stdout


def test_the_help_examples_name_shipped_files():
    assert example("train") == ["train", "examples/ml/btc_direction.toml", "--report",
                                "runs/btc_dir.html"]
    for argv in (example("train"), example("retrain"), example("schedule")):
        assert (REPO / argv[1]).is_file(), f"{argv[1]} is named by --help but does not exist"


def test_train_example(workdir: Path):
    out = run(example("train"))
    assert "btc_dir@1 champion" in out and "baselines" in out and "calibration" in out
    assert (workdir / "runs" / "btc_dir.html").is_file()
    v = ModelRegistry(workdir / "catalog").get("btc_dir@1")
    ev = v.scores["evaluation"]
    # calibration holds: out of fold, no worse than the constant forecast (training base rate)
    assert ev["calibration"]["ece"] <= ev["calibration"]["ece_constant"]
    assert set(ev["baselines"]) == {"base_rate", "prev_return_sign"}
    for b in ev["baselines"].values():
        edge = b["edge_auc"]
        assert edge["ci_low"] <= edge["value"] <= edge["ci_high"]
    assert v.scores["embargo_bars"] == 12  # overlapping 12-bar labels: embargo by default
    # lineage: code, libraries, the full validated config, data and feature/label specs
    lin = v.lineage
    assert lin["code"]["commit"] and re.fullmatch(r"[0-9a-f]{40}", lin["code"]["commit"])
    assert v.code_version.startswith("0.1.0+g" + lin["code"]["commit"][:12])
    assert {"lightgbm", "scikit-learn", "numpy", "pandas"} <= set(lin["libraries"])
    shipped = load_config(TrainConfig, workdir / "examples/ml/btc_direction.toml")
    assert lin["config"] == shipped.model_dump(mode="json")
    assert lin["data"]["fingerprint"] == v.data_fingerprint
    assert (lin["data"]["start"], lin["data"]["end"]) == (1606780800000, 1619827200000)
    assert lin["features"]["fingerprint"] and lin["label"]["fingerprint"]
    assert len(v.pipeline["features"]) == 120 and v.label["params"]["horizon"] == 12


def test_models_show_example_shows_lineage_and_scores(workdir: Path):
    out = run(example("models", "show"))
    v = ModelRegistry(workdir / "catalog").get("btc_dir@champion")
    assert v.lineage["code"]["commit"] in out
    assert "lightgbm 4." in out and "scikit-learn" in out and '"n_splits": 4' in out
    assert v.data_fingerprint in out and "out-of-fold ECE" in out and "prev_return_sign" in out


def test_retrain_example_records_a_significance_gated_decision(workdir: Path):
    out = run(example("retrain"))
    assert "delong_blocks p =" in out and "margin 0.01" in out
    reg = ModelRegistry(workdir / "catalog")
    decision = next(e for e in reg.events("btc_dir") if e.event == DECISION_EVENT)
    test = decision.figures["test"]
    assert test["test"] == "delong_blocks" and test["alternative"] == "greater"
    assert 0.0 <= test["p_value"] <= 1.0
    promoted = decision.figures["promoted"]
    gain = decision.figures["challenger_value"] - decision.figures["champion_value"]
    assert promoted == (gain > 0.01 and test["p_value"] < 0.05)
    assert decision.figures["holdout"]["rows"] > 1000  # 720 bars x 2 symbols, less the labels' end


def test_schedule_example_prints_an_absolute_utc_crontab(workdir: Path):
    out = run(example("schedule")).splitlines()
    assert out[1] == "CRON_TZ=UTC"
    job = out[2].split()
    assert job[:5] == ["15", "3", "*", "*", "*"]
    assert Path(job[5]).is_absolute() and Path(job[5]).name == "tradeloom"
    assert job[9] == str((workdir / "examples/ml/btc_direction_retrain.toml").resolve())
    assert out[-1].startswith("# * * * * * ") and "--run-due" in out[-1]
    assert json.loads(json.dumps(out))  # plain text lines
