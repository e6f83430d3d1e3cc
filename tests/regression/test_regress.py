"""Golden regression backtests (``tradeloom regress``) and the pytest plugin.

The first test is the one that guards the project's own example strategies in
CI: ``regress/regress.toml`` must match ``regress/goldens`` on the bundled
sample. The others work on temporary copies of that config and its goldens,
so they can change a param or a fee and watch the drift report.
"""

from __future__ import annotations

import json
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.regress import run_regress
from tradeloom.app.sample import load_sample
from tradeloom.cli import context as clictx
from tradeloom.cli.regress import regress
from tradeloom.engine.errors import ConfigError
from tradeloom.research.regress.goldens import load_regress_config

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
PROJECT_CONFIG = ROOT / "regress" / "regress.toml"
runner = CliRunner()

NOISY_STRATEGY = '''
import time
from tradeloom.engine.strategy.base import Strategy


class Noisy(Strategy):
    """Decides by the parity of the wall clock: different on every run."""

    def on_bar(self, ctx, bar):
        if (time.perf_counter_ns() // 1000) % 2:
            ctx.target_percent(bar.symbol, 1.0)
        else:
            ctx.target_percent(bar.symbol, 0.0)
'''


def make_app() -> typer.Typer:
    """The regress command under a --catalog option, as tradeloom/cli/main.py registers it."""
    app = typer.Typer()

    @app.callback()
    def _options(catalog: Path | None = typer.Option(None, "--catalog")) -> None:
        clictx.set_catalog(catalog)

    app.command("regress")(regress)
    return app


APP = make_app()


@pytest.fixture(autouse=True)
def _reset_catalog():
    yield
    clictx.set_catalog(None)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("regress-catalog")
    load_sample(MarketStore(path))
    return path


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A copy of regress/ (config + goldens) to change freely; returns the config path."""
    shutil.copytree(ROOT / "regress", tmp_path / "regress")
    return tmp_path / "regress" / "regress.toml"


def invoke(catalog: Path, *args: str):
    return runner.invoke(APP, ["--catalog", str(catalog), "regress", *args])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ------------------------------------------------------------------ the project's own goldens


def test_project_examples_match_their_goldens(catalog):
    report = run_regress(PROJECT_CONFIG, catalog)
    assert report.ok, report.format()
    assert [o.status for o in report.outcomes] == ["pass"] * len(report.outcomes)
    assert report.notes == [], "a golden folder belongs to no case"


def test_project_config_covers_every_example_strategy_and_a_risk_profile():
    cases = load_regress_config(PROJECT_CONFIG).config.case
    classes = {c.strategy.rsplit(":", 1)[1] for c in cases}
    assert classes == {"SmaCross", "RsiReversion", "BreakoutBracket", "MomentumRotation"}
    assert any(c.risk_profile == "conservative" for c in cases)
    for c in cases:
        assert (PROJECT_CONFIG.parent / "goldens" / c.name / "result.json").is_file(), c.name


# ------------------------------------------------------------------ drift, update, missing


def test_changed_param_fails_with_first_trade_and_metric_deltas_then_update_passes(catalog, project_copy):
    edit(project_copy, "fast = 10, slow = 30", "fast = 10, slow = 32")

    drift = invoke(catalog, str(project_copy), "--case", "sma_cross_btc")
    assert drift.exit_code == 1, drift.output
    out = drift.output
    assert "DRIFT" in out and "sma_cross_btc" in out
    assert "first differing trade: #1 (golden has 27 trades, current 28)" in out
    assert "golden : #1 BTC/USDT long 2021-01-05 16:00 -> 2021-01-09 09:00" in out
    assert "current: #1 BTC/USDT long 2021-01-04 04:00 -> 2021-01-04 05:00" in out
    assert "metric deltas (golden != current):" in out
    assert "total_return: 0.4492200635504102 != " in out and "(delta -0.0815" in out
    assert "config.params: {'fast': 10, 'slow': 30} != {'fast': 10, 'slow': 32}" in out
    assert "--update --case sma_cross_btc" in out

    updated = invoke(catalog, str(project_copy), "--case", "sma_cross_btc", "--update")
    assert updated.exit_code == 0, updated.output
    assert "UPDATED" in updated.output and "it changed:" in updated.output

    again = invoke(catalog, str(project_copy), "--case", "sma_cross_btc")
    assert again.exit_code == 0, again.output
    assert "PASS" in again.output


def test_changed_fee_names_the_differing_trade_columns(catalog, project_copy):
    edit(project_copy, "fee_rate = 0.00075", "fee_rate = 0.001")

    report = run_regress(project_copy, catalog, cases=["sma_cross_eth_sol_costs"])

    assert report.exit_code == 1
    (outcome,) = report.outcomes
    text = "\n".join(outcome.details)
    assert outcome.status == "drift"
    assert "first differing trade: #1 (golden has 32 trades, current 32)" in text
    # the golden's ETH buy delivers 1.558330375 after a fee in ETH (Binance: the coin received)
    assert "differs in: amount 1.5583303750000002 != 1.5579405000000002" in text
    assert "fees 3.7138789229846254 != 4.951209170833501" in text
    assert "fees_paid: " in text
    assert any(n.startswith("config.fees: {'kind': 'maker_taker', 'maker': 0.00075")
               for n in outcome.notes)


def test_update_leaves_equal_goldens_untouched(catalog, project_copy):
    golden = project_copy.parent / "goldens" / "rsi_reversion_eth"
    before = {p.name: p.read_bytes() for p in golden.iterdir()}
    stamp = (golden / "trades.parquet").stat().st_mtime_ns

    result = invoke(catalog, str(project_copy), "--case", "rsi_reversion_eth", "--update")

    assert result.exit_code == 0, result.output
    assert "UNCHANGED" in result.output
    assert {p.name: p.read_bytes() for p in golden.iterdir()} == before
    assert (golden / "trades.parquet").stat().st_mtime_ns == stamp


def test_missing_golden_fails_and_says_how_to_create_it(catalog, project_copy):
    shutil.rmtree(project_copy.parent / "goldens" / "momentum_rotation_5")

    result = invoke(catalog, str(project_copy), "--case", "momentum_rotation_5", "--json")

    assert result.exit_code == 1
    payload = json.loads(result.output)
    (case,) = payload["cases"]
    assert case["status"] == "missing"
    assert "--update --case momentum_rotation_5" in case["details"][0]
    assert payload["ok"] is False and payload["exit_code"] == 1


def test_golden_folder_without_a_case_is_reported(catalog, tmp_path):
    goldens = tmp_path / "goldens"
    shutil.copytree(ROOT / "regress" / "goldens" / "sma_cross_btc", goldens / "sma_cross_btc")
    shutil.copytree(ROOT / "regress" / "goldens" / "sma_cross_btc", goldens / "old_case")
    text = PROJECT_CONFIG.read_text(encoding="utf-8")
    start = text.index("\n[[case]]")
    first_case = text[start:text.index("\n[[case]]", start + 1)]
    config = tmp_path / "regress.toml"
    config.write_text(first_case, encoding="utf-8")

    report = run_regress(load_regress_config(config), catalog)

    assert report.ok, report.format()
    assert len(report.notes) == 1 and "old_case" in report.notes[0] and "belongs to no case" in report.notes[0]


# ------------------------------------------------------------------ determinism


def test_nondeterministic_strategy_fails_as_runs_differ(catalog, tmp_path):
    (tmp_path / "noisy.py").write_text(NOISY_STRATEGY, encoding="utf-8")
    config = tmp_path / "regress.toml"
    config.write_text(
        '[[case]]\nname = "noisy"\nstrategy = "noisy.py:Noisy"\nsymbols = ["BTC/USDT"]\n'
        'start = "2021-01-01"\nend = "2021-01-15"\n',
        encoding="utf-8",
    )

    result = invoke(catalog, str(config), "--update")  # not even --update accepts it

    assert result.exit_code == 1, result.output
    assert "NONDETERMINISTIC" in result.output
    assert "the two runs differ" in result.output
    assert not (tmp_path / "goldens" / "noisy").exists()


# ------------------------------------------------------------------ errors (exit 2)


def test_unknown_setting_is_an_error_naming_the_field(catalog, tmp_path):
    config = tmp_path / "regress.toml"
    config.write_text(
        '[[case]]\nname = "a"\nstrategy = "tradeloom.research.strategies.sma_cross:SmaCross"\n'
        'symbols = ["BTC/USDT"]\nparms = { fast = 3 }\n',
        encoding="utf-8",
    )
    result = invoke(catalog, str(config))
    assert result.exit_code == 2
    assert "case.0.parms: unknown setting" in result.output


def test_a_case_that_cannot_run_is_an_error_and_others_still_run(catalog, tmp_path):
    config = tmp_path / "regress.toml"
    config.write_text(
        '[[case]]\nname = "gone"\nstrategy = "strategies/gone.py:Gone"\nsymbols = ["BTC/USDT"]\n'
        '[[case]]\nname = "no_data"\nstrategy = "tradeloom.research.strategies.sma_cross:SmaCross"\n'
        'symbols = ["DOGE/USDT"]\n',
        encoding="utf-8",
    )
    report = run_regress(config, catalog)
    assert report.exit_code == 2
    gone, no_data = report.outcomes
    assert gone.status == "error" and "read from the config's folder" in gone.details[0]
    assert no_data.status == "error" and "DOGE/USDT" in no_data.details[0]


def test_unknown_case_name_suggests_the_closest(catalog):
    with pytest.raises(ConfigError, match="did you mean 'sma_cross_btc'"):
        run_regress(PROJECT_CONFIG, catalog, cases=["sma_cros_btc"])
    result = invoke(catalog, str(PROJECT_CONFIG), "--case", "sma_cros_btc")
    assert result.exit_code == 2


def test_duplicate_case_names_are_refused(tmp_path):
    case = '[[case]]\nname = "a"\nstrategy = "m:C"\nsymbols = ["BTC/USDT"]\n'
    config = tmp_path / "regress.toml"
    config.write_text(case + case, encoding="utf-8")
    with pytest.raises(ConfigError, match="case name 'a' is used twice"):
        load_regress_config(config)


def test_help_shows_a_runnable_example():
    result = runner.invoke(APP, ["regress", "--help"])
    assert result.exit_code == 0
    assert "tradeloom regress regress/regress.toml --sample" in result.output


# ------------------------------------------------------------------ pytest plugin


PLUGIN_TEST = """
def test_no_drift(tradeloom_regress):
    report = tradeloom_regress("ci/regress.toml")
    assert report.ok
"""

SMALL_CONFIG = """
[[case]]
name = "sma"
strategy = "tradeloom.research.strategies.sma_cross:SmaCross"
symbols = ["BTC/USDT"]
start = "2021-01-01"
end = "2021-01-20"
params = { fast = 5, slow = 20 }
"""


def _plugin_args() -> list[str]:
    """``-p tradeloom.pytest_plugin`` unless an installed entry point already loads it."""
    loaded = any(ep.value == "tradeloom.pytest_plugin" for ep in entry_points(group="pytest11"))
    return [] if loaded else ["-p", "tradeloom.pytest_plugin"]


def test_plugin_fixture_fails_a_users_suite_on_drift(pytester, catalog):
    pytester.makeini("[pytest]\n")  # the rootdir the config path is read from
    pytester.makepyfile(test_drift=PLUGIN_TEST)
    (pytester.path / "ci").mkdir()
    config = pytester.path / "ci" / "regress.toml"
    config.write_text(SMALL_CONFIG, encoding="utf-8")
    args = [*_plugin_args(), f"--tradeloom-catalog={catalog}", "-p", "no:cacheprovider"]

    pytester.runpytest(*args, "--tradeloom-update").assert_outcomes(passed=1)
    assert (pytester.path / "ci" / "goldens" / "sma" / "trades.parquet").is_file()
    pytester.runpytest(*args).assert_outcomes(passed=1)

    edit(config, "slow = 20", "slow = 21")
    failed = pytester.runpytest(*args)
    failed.assert_outcomes(failed=1)
    out = failed.stdout.str()
    assert "AssertionError: tradeloom regression failed" in out
    assert "first differing trade: #" in out and "metric deltas (golden != current):" in out
    assert "--tradeloom-update" in out


def test_plugin_sample_catalog_fixture_and_missing_golden(pytester):
    pytester.makepyfile(
        test_sample="""
def test_no_drift(tradeloom_regress, tradeloom_sample_catalog):
    tradeloom_regress("regress.toml", store=tradeloom_sample_catalog)
"""
    )
    pytester.makeini("[pytest]\n")
    (pytester.path / "regress.toml").write_text(SMALL_CONFIG, encoding="utf-8")
    result = pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "MISSING" in out and "--tradeloom-update" in out
