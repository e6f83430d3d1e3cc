"""``tradeloom serve``: health verdicts, the Prometheus exposition, the token rules, kill requests.

Every server here listens on 127.0.0.1; the non-loopback rules are checked through
``bind_policy``, the function ``start_server`` and the CLI call before binding.
"""

from __future__ import annotations

import asyncio
import logging
import os

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from status_helpers import NOW, make_status

from tradeloom.adapters.ops.status import Reconciliation, write_status
from tradeloom.engine.errors import ConfigError
from tradeloom.serve.server import (
    ServerSettings,
    bind_policy,
    is_loopback,
    load_token,
    make_app,
    start_server,
)

TOKEN = "s3cr3t-token-0123456789abcdef"


def call(settings, requests):
    """Run ``requests(client)`` against the app on 127.0.0.1; return what it returns."""

    async def main():
        async with TestClient(TestServer(make_app(settings), host="127.0.0.1")) as client:
            return await requests(client)

    return asyncio.run(main())


def settings_for(tmp_path, token=None):
    return ServerSettings(state_dir=tmp_path, token=token, now_ms=lambda: NOW)


async def get_json(client, path, **kw):
    resp = await client.get(path, **kw)
    return resp.status, await resp.json()


def test_health_200_when_every_runner_is_healthy(tmp_path):
    write_status(tmp_path, make_status(runner_id="p1"))
    write_status(tmp_path, make_status(runner_id="p2", account="other"))
    status, body = call(settings_for(tmp_path), lambda c: get_json(c, "/health"))
    assert status == 200 and body["healthy"] and body["problems"] == []
    r = body["runners"][0]
    assert (r["runner_id"], r["state"], r["healthy"]) == ("p1", "running", True)
    assert r["last_event_age_s"] == 60.0 and r["clock_drift_ms"] == 12
    assert r["exchange"]["consecutive_errors"] == 0 and r["exchange"]["last_ok_age_s"] == 60.0
    assert r["breakers"]["daily_loss"] == {"tripped": False, "since": None}
    assert r["reconciliation"]["status"] == "n/a"


@pytest.mark.parametrize("over, needle", [
    ({"state": "killed", "kill_reason": "operator"}, "state killed"),
    ({"clock_drift_ms": 5_000}, "clock drift 5000 ms"),
    ({"last_event_local_ms": NOW - 4 * 3_600_000}, "last event"),
    ({"reconciliation": Reconciliation("mismatch", NOW, ("BTC: 1 vs 2",))}, "reconciliation"),
    ({"published_ms": NOW - 600_000}, "no status update"),
])
def test_health_503_when_one_runner_is_not(tmp_path, over, needle):
    write_status(tmp_path, make_status(runner_id="good"))
    write_status(tmp_path, make_status(runner_id="bad", **over))
    status, body = call(settings_for(tmp_path), lambda c: get_json(c, "/health"))
    assert status == 503 and not body["healthy"]
    bad = next(r for r in body["runners"] if r["runner_id"] == "bad")
    assert not bad["healthy"] and any(needle in p for p in bad["problems"])
    assert next(r for r in body["runners"] if r["runner_id"] == "good")["healthy"]


def test_health_503_without_any_runner(tmp_path):
    status, body = call(settings_for(tmp_path), lambda c: get_json(c, "/health"))
    assert status == 503 and "no runner status" in body["problems"][0]


def test_metrics_exposition_parses_with_the_expected_families(tmp_path):
    write_status(tmp_path, make_status())

    async def scrape(client):
        resp = await client.get("/metrics")
        return resp.status, resp.headers["Content-Type"], await resp.text()

    status, ctype, text = call(settings_for(tmp_path), scrape)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    types = {name: fams[name].type for name in fams}
    for name, kind in [("tradeloom_equity", "gauge"), ("tradeloom_pnl", "gauge"),
                       ("tradeloom_exposure", "gauge"), ("tradeloom_open_orders", "gauge"),
                       ("tradeloom_runner_up", "gauge"), ("tradeloom_fills", "counter"),
                       ("tradeloom_risk_decisions", "counter"),
                       ("tradeloom_breaker_trips", "counter"), ("tradeloom_errors", "counter"),
                       ("tradeloom_reconciliation_mismatches", "counter"),
                       ("tradeloom_stage_latency_seconds", "histogram")]:
        assert types.get(name) == kind, (name, types.get(name))

    def samples(name, suffix=""):
        return {frozenset(s.labels.items()): s.value
                for s in fams[name].samples if s.name == name + suffix}

    def at(**labels):
        return frozenset({"runner": "p1", "account": "emu", **labels}.items())

    assert samples("tradeloom_equity")[at()] == 10_250.5
    assert samples("tradeloom_pnl")[at()] == pytest.approx(250.5)
    assert samples("tradeloom_runner_up")[at()] == 1.0
    orders = samples("tradeloom_open_orders")
    assert orders[at(symbol="BTC/USDT")] == 1 and orders[at(symbol="ETH/USDT")] == 0
    assert samples("tradeloom_fills", "_total")[at(symbol="BTC/USDT")] == 1
    assert samples("tradeloom_risk_decisions", "_total")[at(code="max_order_pct")] == 2
    assert samples("tradeloom_errors", "_total")[at(type="feed_transient")] == 1
    assert samples("tradeloom_breaker_trips", "_total")[at(breaker="daily_loss")] == 0
    buckets = samples("tradeloom_stage_latency_seconds", "_bucket")
    assert buckets[at(stage="decision", le="+Inf")] == 5
    assert buckets[at(stage="decision", le="0.001")] == 3
    assert samples("tradeloom_stage_latency_seconds", "_count")[at(stage="decision")] == 5


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("example.org", False),
])
def test_loopback_decision(host, loopback):
    assert is_loopback(host) is loopback
    if loopback:
        assert bind_policy(host, None) is False  # no token needed
    else:
        with pytest.raises(ConfigError, match="token is required"):
            bind_policy(host, None)
    assert bind_policy(host, TOKEN) is True  # a configured token is always enforced


def test_start_server_refuses_non_loopback_without_token(tmp_path):
    with pytest.raises(ConfigError, match="refusing to serve on 0.0.0.0"):
        asyncio.run(start_server(settings_for(tmp_path), "0.0.0.0", 0))


def test_load_token_sources_and_rules(tmp_path, monkeypatch):
    assert load_token(None, {}) is None
    assert load_token(None, {"TRADELOOM_TOKEN": f" {TOKEN}\n"}) == TOKEN
    with pytest.raises(ConfigError, match="at least 16") as info:
        load_token(None, {"TRADELOOM_TOKEN": "short"})
    assert "short" not in str(info.value)
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        load_token(path, {})
    assert TOKEN not in str(info.value)
    os.chmod(path, 0o600)
    assert load_token(path, {"TRADELOOM_TOKEN": "ignored-when-a-file-is-given"}) == TOKEN


def test_token_required_everywhere_but_health_and_never_logged(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    write_status(tmp_path, make_status())
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    async def requests(client):
        out = {}
        out["health"] = (await client.get("/health")).status
        for path in ("/metrics", "/api/status"):
            out[path] = (await client.get(path)).status
            out[path + " wrong"] = (await client.get(path, headers={
                "Authorization": "Bearer wrong-token-0123456789"})).status
            out[path + " ok"] = (await client.get(path, headers=bearer)).status
        out["header ok"] = (await client.get("/api/status",
                                             headers={"X-Tradeloom-Token": TOKEN})).status
        page = await client.get("/")
        out["page"] = page.status
        out["page text"] = await page.text()
        out["kill"] = (await client.post("/api/kill", json={"runner_id": "p1"})).status
        bad = await client.post("/login", data={"token": "nope-nope-nope-nope"},
                                allow_redirects=False)
        out["bad login"] = bad.status
        login = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
        out["login"] = login.status
        cookie = login.cookies["tradeloom_token"]
        out["cookie flags"] = (cookie["httponly"], cookie["samesite"])
        out["page after login"] = (await client.get("/")).status  # the jar sends the cookie
        return out

    out = call(settings_for(tmp_path, TOKEN), requests)
    assert out["health"] == 200
    for path in ("/metrics", "/api/status"):
        assert (out[path], out[path + " wrong"], out[path + " ok"]) == (401, 401, 200)
    assert out["header ok"] == 200
    assert out["page"] == 401 and 'name="token"' in out["page text"]
    assert TOKEN not in out["page text"]
    assert out["kill"] == 401 and not (tmp_path / "KILL.emu").exists()
    assert out["bad login"] == 401 and out["login"] == 303 and out["page after login"] == 200
    assert out["cookie flags"] == (True, "Strict")

    async def announce_and_stop():
        lines = []
        from tradeloom.serve.server import serve_forever

        task = asyncio.create_task(serve_forever(settings_for(tmp_path, TOKEN), "127.0.0.1", 0,
                                                 announce=lines.append))
        while not lines:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return lines

    lines = asyncio.run(announce_and_stop())
    assert "token required" in lines[0] and TOKEN not in lines[0]
    assert TOKEN not in repr(settings_for(tmp_path, TOKEN))
    assert caplog.records and TOKEN not in caplog.text


def test_kill_writes_the_accounts_flag(tmp_path):
    write_status(tmp_path, make_status(runner_id="p1", account="emu"))

    async def requests(client):
        out = {}
        resp = await client.post("/api/kill", json={"runner_id": "p1"})
        out["ok"] = (resp.status, await resp.json())
        out["form"] = (await client.post("/api/kill", data={"runner_id": "p1"})).status
        out["cross"] = (await client.post("/api/kill", json={"runner_id": "p1"},
                                          headers={"Origin": "http://evil.example"})).status
        out["unknown"] = (await client.post("/api/kill", json={"runner_id": "zz"})).status
        out["garbage"] = (await client.post("/api/kill", data=b"{",
                                            headers={"Content-Type": "application/json"})).status
        return out

    out = call(settings_for(tmp_path), requests)
    status, body = out["ok"]
    assert status == 200 and body["flag"] == "KILL.emu" and body["account"] == "emu"
    flag = tmp_path / "KILL.emu"
    assert flag.exists() and "status page: kill p1" in flag.read_text()
    assert (out["form"], out["cross"], out["unknown"], out["garbage"]) == (415, 403, 404, 400)


def test_a_cleanly_stopped_session_is_stopped_not_failing(tmp_path):
    """One old session that was stopped (Ctrl-C) must not pin /health at 503 while
    another runs; a session that stopped on an error still fails it."""
    write_status(tmp_path, make_status(runner_id="old", state="stopped", stop_reason="stopped",
                                       stopped_cleanly=True, published_ms=NOW - 86_400_000))
    write_status(tmp_path, make_status(runner_id="now"))
    status, body = call(settings_for(tmp_path), lambda c: get_json(c, "/health"))
    assert status == 200 and body["healthy"], body
    old = next(r for r in body["runners"] if r["runner_id"] == "old")
    assert (old["state"], old["healthy"], old["active"], old["problems"]) == (
        "stopped", True, False, [])

    (tmp_path / "status" / "now.json").unlink()
    status, body = call(settings_for(tmp_path), lambda c: get_json(c, "/health"))
    assert status == 503 and "no runner is running" in body["problems"][0]

    write_status(tmp_path, make_status(runner_id="now"))
    write_status(tmp_path, make_status(runner_id="crashed", state="stopped",
                                       stop_reason="broker error: -2015"))
    status, body = call(settings_for(tmp_path), lambda c: get_json(c, "/health"))
    crashed = next(r for r in body["runners"] if r["runner_id"] == "crashed")
    assert status == 503 and "state stopped: broker error: -2015" in crashed["problems"]


def test_the_access_log_never_prints_a_query_string_token(tmp_path, caplog):
    import aiohttp

    caplog.set_level(logging.INFO, logger="tradeloom.serve.server")
    write_status(tmp_path, make_status())

    async def main():
        runner, url = await start_server(settings_for(tmp_path, TOKEN), "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as http:
                for path in (f"/health?token={TOKEN}", f"/api/status?token={TOKEN}&x=1"):
                    async with http.get(url + path,
                                        headers={"Referer": f"{url}/?token={TOKEN}"}) as resp:
                        await resp.read()
        finally:
            await runner.cleanup()

    asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "tradeloom.serve.server"]
    assert any('"GET /health HTTP/1.1" 200' in line for line in lines), lines
    assert any('"GET /api/status HTTP/1.1" 401' in line for line in lines), lines
    assert TOKEN not in caplog.text and "token=" not in caplog.text
