"""The trading commands: kill writes the flag; replay exits 0 / 1 / 2; every help has an example."""

from __future__ import annotations

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


def test_kill_writes_the_account_flag(tmp_path):
    res = CliRunner().invoke(app, ["kill", "--account", "emu", "--state-dir", str(tmp_path)])
    assert res.exit_code == 0 and (tmp_path / "KILL.emu").exists()
    res = CliRunner().invoke(app, ["kill", "--account", "bad name", "--state-dir", str(tmp_path)])
    assert res.exit_code == 2


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
    from tradeloom.engine.errors import ConfigError

    from tradeloom.cli.live import _fail

    with pytest.raises(typer.Exit):
        _fail(ConfigError("symbols ['BTC/USDX'] are not markets of [binance]; check [bold]this"))
    err = capsys.readouterr().err
    assert "symbols ['BTC/USDX'] are not markets of [binance]; check [bold]this" in err
