"""The deployment commands: examples in every help, exit codes 0/1/2, audit verify."""

from __future__ import annotations

import json

import pytest
import typer
from deploy_helpers import deployment_file, regress_config, sample_store
from typer.testing import CliRunner

from tradeloom.cli import context as clictx
from tradeloom.cli.deploy import audit_app, demote, deploy_register, deployments, promote, retire

app = typer.Typer()
for _name, _fn in (("deploy-register", deploy_register), ("deployments", deployments),
                   ("promote", promote), ("demote", demote), ("retire", retire)):
    app.command(_name)(_fn)
app.add_typer(audit_app, name="audit")


@pytest.fixture
def cli(tmp_path, monkeypatch):
    catalog = tmp_path / "catalog"
    monkeypatch.setenv("USER", "ana")
    monkeypatch.delenv("TRADELOOM_AUDIT_LOG", raising=False)
    monkeypatch.delenv("TRADELOOM_ALERTS", raising=False)
    clictx.set_catalog(catalog)
    store = sample_store(catalog)  # market data and deployments share the catalog
    regress = regress_config(tmp_path / "regress", store)
    yield tmp_path, regress
    clictx.set_catalog(None)


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_every_help_has_a_runnable_example():
    for args in (["deploy-register"], ["deployments"], ["promote"], ["demote"], ["retire"],
                 ["audit", "verify"]):
        out = run(*args, "--help").output
        assert "Example:" in out and f"tradeloom {' '.join(args)}" in out, args


def test_register_promote_demote_retire_and_verify(cli):
    tmp, regress = cli
    spec = deployment_file(tmp / "specs", "sma-btc", regress)
    res = run("deploy-register", str(spec), "--reason", "first [bold]version[/bold]")
    assert res.exit_code == 0 and "sma-btc: registered, stage research" in res.output
    assert "unchanged" in run("deploy-register", str(spec)).output

    res = run("promote", "sma-btc", "--to", "backtest-approved", "--reason", "reviewed")
    assert res.exit_code == 0, res.output
    assert "promoted sma-btc: research -> backtest-approved" in res.output
    assert "ok    regress_pass" in res.output

    res = run("promote", "sma-btc", "--to", "live", "--confirm-live")
    assert res.exit_code == 2 and "promote to paper first" in res.output

    listed = json.loads(run("deployments", "--json").output)
    assert [(d["name"], d["stage"]) for d in listed] == [("sma-btc", "backtest-approved")]
    history = json.loads(run("deployments", "sma-btc", "--json").output)
    assert [e["action"] for e in history] == ["register", "promote"]
    assert history[0]["reason"] == "first [bold]version[/bold]"  # markup kept as text
    assert history[1]["evidence"]["regress"]["status"] == "pass"
    assert history[1]["actor"] == "ana"

    res = run("demote", "sma-btc", "--reason", "oops", "--by", "bob")
    assert res.exit_code == 0 and "backtest-approved -> research" in res.output
    assert run("retire", "sma-btc", "--reason", "done").exit_code == 0
    assert "retired" in run("deployments").output

    audit = tmp / "catalog" / "audit.jsonl"
    res = run("audit", "verify")
    assert res.exit_code == 0 and "4 entries, chain intact" in res.output
    lines = audit.read_text().splitlines()
    lines[1] = lines[1].replace('"actor":"ana"', '"actor":"eve"')
    audit.write_text("\n".join(lines) + "\n")
    res = run("audit", "verify", str(audit))
    assert res.exit_code == 1 and "TAMPERED at line 2" in res.output
    report = json.loads(run("audit", "verify", str(audit), "--json").output)
    assert report["first_bad_line"] == 2 and not report["ok"]


def test_refused_promotion_exits_1_listing_every_unmet_gate(cli):
    tmp, regress = cli
    spec = deployment_file(tmp / "specs", "bad", regress, case="sma_btc_no_golden",
                           risk_profile=None)
    assert run("deploy-register", str(spec)).exit_code == 0
    res = run("promote", "bad", "--to", "backtest-approved")
    assert res.exit_code == 1
    assert "refused" in res.output and "2 gate(s) unmet" in res.output
    assert "FAIL  regress_pass: case 'sma_btc_no_golden' status missing" in res.output
    assert "FAIL  risk_profile: no risk_profile in the deployment" in res.output
    history = run("deployments", "bad").output
    assert "refuse" in history and "unmet risk_profile" in history


def test_errors_are_red_escaped_and_exit_2(cli):
    tmp, _ = cli
    res = run("promote", "sma[bold]x", "--to", "paper")
    assert res.exit_code == 2 and "no deployment named 'sma[bold]x'" in res.output
    assert run("promote", "x", "--to", "production").exit_code == 2
    res = run("deploy-register", str(tmp / "missing.toml"))
    assert res.exit_code == 2 and "does not exist" in res.output
    res = run("audit", "verify", str(tmp / "nope.jsonl"))
    assert res.exit_code == 2 and "does not exist" in res.output
    res = run("demote", "x")
    assert res.exit_code == 2 and "register one with" in res.output
