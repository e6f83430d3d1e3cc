"""The trading commands: kill writes the flag; replay exits 0 / 1 / 2; every help has an example."""

from __future__ import annotations

import json

import typer
from runner_helpers import run_paper
from typer.testing import CliRunner

from tradeloom.cli.live import kill, live, paper, replay

app = typer.Typer()
for name, fn in (("paper", paper), ("live", live), ("replay", replay), ("kill", kill)):
    app.command(name)(fn)


def test_help_has_examples():
    for name in ("paper", "live", "replay", "kill"):
        out = CliRunner().invoke(app, [name, "--help"]).output
        assert "Example:" in out and f"tradeloom {name}" in out


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_kill_writes_the_flag_of_the_configs_runner(tmp_path):
    state = tmp_path / "state"
    cfg = tmp_path / "live.toml"
    cfg.write_text('strategy = "tradeloom.research.strategies.sma_cross:SmaCross"\n'
                   f'symbols = ["BTC/USDT"]\naccount = "emu"\nstate_dir = "{state}"\n'
                   '[exchange]\nid = "binance"\n')
    res = CliRunner().invoke(app, ["kill", str(cfg)])
    assert res.exit_code == 0, res.output
    flag = json.loads((state / "KILL.emu").read_text())
    assert flag["scope"] == "runner" and flag["reason"] == "operator kill"
    assert "no runner of account emu is running now" in res.output
    res = CliRunner().invoke(app, ["kill", str(cfg), "--all", "--reason", "exchange incident"])
    flag = json.loads((state / "KILL.emu").read_text())
    assert res.exit_code == 0 and (flag["scope"], flag["reason"]) == ("all", "exchange incident")


def test_kill_without_a_config_needs_a_state_dir_a_runner_used(tmp_path):
    res = CliRunner().invoke(app, ["kill"])
    assert res.exit_code == 2 and "pass its config (tradeloom kill live.toml)" in res.output
    nowhere = tmp_path / "nowhere"
    res = CliRunner().invoke(app, ["kill", "--account", "emu", "--state-dir", str(nowhere)])
    assert res.exit_code == 2 and not nowhere.exists()  # no flag no runner reads
    used = tmp_path / "state"
    used.mkdir()
    (used / "sessions.jsonl").write_text(json.dumps({"run_id": "t1", "account": "emu"}) + "\n")
    before = _files(used)
    res = CliRunner().invoke(app, ["kill", "--account", "bad name", "--state-dir", str(used)])
    assert res.exit_code == 2 and _files(used) == before
    res = CliRunner().invoke(app, ["kill", "--account", "emux", "--state-dir", str(used)])
    assert res.exit_code == 2 and "accounts there: emu" in res.output
    assert _files(used) == before
    res = CliRunner().invoke(app, ["kill", "--account", "emu", "--state-dir", str(used)])
    assert res.exit_code == 0 and (used / "KILL.emu").exists()


def test_replay_exit_codes(emulator, tmp_path):
    session, _ = run_paper(emulator, tmp_path, start=600, bars=100)
    ok = CliRunner().invoke(app, ["replay", str(session.journal_path)])
    assert ok.exit_code == 0 and "zero divergence" in ok.output
    text = session.journal_path.read_text().replace('"fast":3', '"fast":2')
    tampered = tmp_path / "t.jsonl"
    tampered.write_text(text)
    bad = CliRunner().invoke(app, ["replay", str(tampered)])
    assert bad.exit_code == 1
    missing = CliRunner().invoke(app, ["replay", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_fail_prints_bracketed_messages_whole(capsys):
    import pytest
    import typer

    from tradeloom.cli.live import _fail
    from tradeloom.engine.errors import ConfigError

    with pytest.raises(typer.Exit):
        _fail(ConfigError("symbols ['BTC/USDX'] are not markets of [binance]; check [bold]this"))
    err = capsys.readouterr().err
    assert "symbols ['BTC/USDX'] are not markets of [binance]; check [bold]this" in err
