"""``tradeloom status`` (table and --json, exit 0 / 1 / 2) and ``tradeloom serve``'s refusals."""

from __future__ import annotations

import json
import time

import typer
from status_helpers import make_status
from typer.testing import CliRunner

from tradeloom.adapters.ops.status import ExchangeLink, write_status
from tradeloom.cli.ops import serve, status

app = typer.Typer()
app.command("serve")(serve)
app.command("status")(status)


def _fresh(**over):
    """A healthy status stamped with the real wall clock (the CLI reads the real clock)."""
    now = time.time_ns() // 1_000_000
    return make_status(published_ms=now, last_event_local_ms=now - 1_000,
                       link=ExchangeLink(now - 1_000, 0, ""), **over)


def test_help_has_examples():
    for name in ("serve", "status"):
        out = CliRunner().invoke(app, [name, "--help"]).output
        assert "Example:" in out and f"tradeloom {name}" in out


def test_status_json_is_the_api_status_body(tmp_path):
    write_status(tmp_path, _fresh(runner_id="p1"))
    res = CliRunner().invoke(app, ["status", "--state-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["healthy"] is True and body["problems"] == []
    [runner] = body["runners"]
    assert (runner["runner_id"], runner["state"], runner["account"]) == ("p1", "running", "emu")
    assert runner["health"]["healthy"] and runner["equity"] == 10_250.5
    assert runner["positions"][0]["symbol"] == "BTC/USDT" and len(runner["equity_history"]) == 30


def test_status_exit_1_when_a_runner_is_unhealthy_or_none_publishes(tmp_path):
    res = CliRunner().invoke(app, ["status", "--state-dir", str(tmp_path), "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["runners"] == []
    write_status(tmp_path, _fresh(runner_id="p1", state="killed", kill_reason="operator"))
    res = CliRunner().invoke(app, ["status", "--state-dir", str(tmp_path), "--json"])
    body = json.loads(res.output)
    assert res.exit_code == 1 and body["runners"][0]["health"]["problems"] == [
        "state killed: operator"]


def test_status_table_shows_the_runner(tmp_path):
    write_status(tmp_path, _fresh(runner_id="p[bold]1"))  # markup in a name is printed as is
    res = CliRunner().invoke(app, ["status", "--state-dir", str(tmp_path)],
                             terminal_width=160)
    assert res.exit_code == 0, res.output
    for text in ("p[bold]1", "running", "healthy", "10250.50 USDT", "BTC/USDT", "open orders"):
        assert text in res.output, text


def test_serve_refuses_non_loopback_without_token(tmp_path, monkeypatch):
    monkeypatch.delenv("TRADELOOM_TOKEN", raising=False)
    res = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--state-dir", str(tmp_path)])
    assert res.exit_code == 2 and "token is required" in res.output
    short = tmp_path / "tok"
    short.write_text("[red]x")
    short.chmod(0o600)
    res = CliRunner().invoke(app, ["serve", "--token-file", str(short)])
    assert res.exit_code == 2 and "at least 16" in res.output and "[red]x" not in res.output
