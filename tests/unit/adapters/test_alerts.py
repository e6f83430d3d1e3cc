"""Alerts: real webhook and SMTP deliveries on 127.0.0.1, de-dup, escalation, failing sinks."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from email import message_from_bytes
from typing import Self

import pytest
from aiohttp import web

from tradeloom.adapters.clock import ManualClock
from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.ops.alerts import (
    AlertEvent,
    AlertRouter,
    AlertRule,
    DispatchStatus,
    Severity,
    alert_from_risk_event,
    sink_stats,
)
from tradeloom.adapters.ops.alerts_config import AlertsConfig, load_alerts_config
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.risk.engine import RiskEngine


class Clock(ManualClock):
    """The manual clock at 2023-11-14 22:13:20 UTC; ``advance(s)`` moves it ``s`` seconds."""

    def __init__(self) -> None:
        super().__init__(1_700_000_000_000)

    def advance(self, seconds: float) -> None:
        self.sleep_sync(seconds)


class Receiver:
    """An aiohttp app on 127.0.0.1 that records JSON POSTs; answers 500 ``fail_first`` times."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.bodies: list[dict] = []
        self.hits = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    async def _hook(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.hits <= self.fail_first:
            return web.Response(status=500, text="down")
        self.bodies.append(await request.json())
        return web.Response(status=204)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Self:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def router(sinks: list[dict], clock: Clock, **over) -> AlertRouter:
    cfg = AlertsConfig.model_validate({"sinks": sinks, **over})
    return AlertRouter(cfg, clock=clock, sleep=lambda s: None)


TRIP = AlertEvent(AlertRule.BREAKER_TRIP, "sma-btc/daily_loss", "daily loss 3.1% > 3%",
                  {"loss_pct": 0.031, "limit": 0.03}, ts_ms=5)


def test_webhook_posts_the_alert_as_json():
    with Receiver() as rx:
        r = router([{"type": "webhook", "name": "ops", "url": rx.url}], Clock())
        d = r.notify(TRIP)
    assert d.status is DispatchStatus.SENT and d.delivered == ("ops",)
    (body,) = rx.bodies
    assert body == d.alert.to_dict()
    assert body["rule"] == "breaker_trip" and body["severity"] == "warning"
    assert body["figures"] == {"loss_pct": 0.031, "limit": 0.03} and body["count"] == 1


def test_smtp_sends_one_mail_per_alert():
    from aiosmtpd.controller import Controller

    received: list[tuple[str, list[str], bytes]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        r = router([{"type": "smtp", "name": "pager", "host": "127.0.0.1", "port": port,
                     "sender": "tradeloom@example.org", "recipients": ["oncall@example.org"]}],
                   Clock())
        kill = AlertEvent(AlertRule.KILL_SWITCH, "runner-1", "kill switch engaged: api")
        d = r.notify(kill)
    finally:
        controller.stop()
    assert d.delivered == ("pager",)
    (sender, rcpts, content), = received
    assert sender == "tradeloom@example.org" and rcpts == ["oncall@example.org"]
    mail = message_from_bytes(content)
    assert mail["Subject"] == "[tradeloom CRITICAL] kill_switch runner-1: kill switch engaged: api"
    body = mail.get_payload()
    assert json.loads(body[body.index("{"):])["rule"] == "kill_switch"


def test_dedupe_folds_repeats_within_the_window_and_keeps_the_count():
    clock = Clock()
    r = router([{"type": "log", "name": "log"}], clock, dedupe_window_s=60,
               escalation={"repeats": 100, "window_s": 3600})
    assert r.notify(TRIP).alert.count == 1
    for _ in range(3):
        clock.advance(10)
        assert r.notify(TRIP).status is DispatchStatus.SUPPRESSED
    other = AlertEvent(AlertRule.BREAKER_TRIP, "sma-eth/daily_loss", "other key")
    assert r.notify(other).status is DispatchStatus.SENT  # keys are independent
    clock.advance(31)  # 61 s after the first alert
    again = r.notify(TRIP)
    assert again.status is DispatchStatus.SENT and again.alert.count == 4  # 3 folded + this
    assert r.stats["log"].sent == 3


def test_repeats_escalate_to_critical_and_reach_the_critical_sink():
    clock = Clock()
    with Receiver() as ops, Receiver() as pager:
        r = router([{"type": "webhook", "name": "ops", "url": ops.url},
                    {"type": "webhook", "name": "pager", "url": pager.url,
                     "min_severity": "critical"}],
                   clock, dedupe_window_s=600, escalation={"repeats": 3, "window_s": 3600})
        first = r.notify(TRIP)
        clock.advance(60)
        second = r.notify(TRIP)
        clock.advance(60)
        third = r.notify(TRIP)
        clock.advance(60)
        fourth = r.notify(TRIP)
    assert first.alert.severity is Severity.WARNING and first.delivered == ("ops",)
    assert second.status is DispatchStatus.SUPPRESSED
    # the third occurrence within the hour: warning -> critical, sent through the de-dup
    assert third.status is DispatchStatus.SENT and third.alert.escalated
    assert third.alert.severity is Severity.CRITICAL and third.alert.count == 2
    assert third.delivered == ("ops", "pager")
    assert fourth.status is DispatchStatus.SUPPRESSED
    assert [b["severity"] for b in pager.bodies] == ["critical"]
    assert [b["escalated"] for b in ops.bodies] == [False, True]


def test_failing_sink_is_retried_counted_and_logged_never_raised(caplog):
    clock = Clock()
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    with Receiver(fail_first=2) as flaky:
        r = router([{"type": "webhook", "name": "flaky", "url": flaky.url, "retries": 2},
                    {"type": "webhook", "name": "dead", "url": dead, "retries": 1,
                     "timeout_s": 2},
                    {"type": "log", "name": "log"}], clock)
        with caplog.at_level(logging.WARNING, logger="tradeloom.alerts"):
            d = r.notify(TRIP)
    assert d.delivered == ("flaky", "log") and d.failed == ("dead",)
    assert flaky.hits == 3 and len(flaky.bodies) == 1  # two 500s, then delivered
    stats = sink_stats(r)
    assert stats["flaky"] == {"sent": 1, "failed": 0, "failed_attempts": 2,
                              "last_error": stats["flaky"]["last_error"]}
    assert "HTTP 500" in stats["flaky"]["last_error"]
    assert stats["dead"]["failed"] == 1 and stats["dead"]["failed_attempts"] == 2
    (failure,) = r.failures
    assert (failure.sink, failure.rule, failure.attempts) == ("dead", "breaker_trip", 2)
    errors = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
    assert len(errors) == 1 and "dead gave up after 2 attempts" in errors[0].getMessage()


def test_risk_engine_kill_becomes_a_kill_switch_alert_and_anotify_works():
    risk = RiskEngine(load_profile("moderate"), exchange="binance")
    risk.kill(1_000, "operator")
    alerts = [a for a in (alert_from_risk_event(e, source="sma-btc") for e in risk.events) if a]
    (kill,) = alerts
    assert kill.rule is AlertRule.KILL_SWITCH and kill.key == "sma-btc/kill_switch"
    assert kill.ts_ms == 1_000
    r = router([{"type": "log", "name": "log"}], Clock())
    d = asyncio.run(r.anotify(kill))
    assert d.alert.severity is Severity.CRITICAL


def test_rules_can_be_switched_off_or_softened():
    r = router([{"type": "log", "name": "log"}], Clock(),
               rules={"stale_data": {"enabled": False}, "clock_drift": {"severity": "info"}})
    stale = AlertEvent(AlertRule.STALE_DATA, "BTC/USDT", "no bar for 3 h")
    drift = AlertEvent(AlertRule.CLOCK_DRIFT, "binance", "drift 1.4 s")
    assert r.notify(stale).status is DispatchStatus.DISABLED
    assert r.notify(drift).alert.severity is Severity.INFO


def test_config_is_strict_and_refuses_credentials(tmp_path):
    with pytest.raises(ConfigError, match="looks like a credential"):
        AlertsConfig.model_validate({"sinks": [{"type": "webhook", "name": "w",
                                                "url": "http://127.0.0.1/", "token": "x"}]})
    path = tmp_path / "alerts.toml"
    path.write_text('[alerts]\ndedupe_window_s = 10\n[[alerts.sinks]]\ntype = "log"\n'
                    'name = "a"\n[[alerts.sinks]]\ntype = "log"\nname = "a"\n')
    with pytest.raises(ConfigError, match="unique"):
        load_alerts_config(path)
    path.write_text('[[sinks]]\ntype = "pager"\nname = "a"\n')
    with pytest.raises(ConfigError, match="sinks.0"):
        load_alerts_config(path)
