"""Runner status files: the value, its JSON round trip, atomic publishing, the health rule,
and a real paper session publishing through the runner's ``publisher`` hook."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

import pytest
from runner_helpers import SIM_SETTINGS, make_config, run_paper, start_at
from status_helpers import HOUR, NOW, make_status

from tradeloom.adapters.ops.status import (
    Reconciliation,
    RunnerStatus,
    StatusError,
    assess,
    read_statuses,
    status_path,
    write_status,
)
from tradeloom.adapters.ops.status_publisher import StatusPublisher
from tradeloom.app.session import open_paper


def test_json_round_trip_keeps_every_field():
    status = make_status()
    text = status.to_json()
    json.loads(text)  # strict JSON: the histogram's inf bound is written as null
    assert "Infinity" not in text
    assert RunnerStatus.from_json(text) == status


def test_invalid_values_are_refused_with_the_field_named():
    with pytest.raises(StatusError, match="status.state 'sleeping'"):
        make_status(state="sleeping")
    with pytest.raises(StatusError, match="reconciliation.status"):
        Reconciliation("maybe")
    with pytest.raises(StatusError, match="schema"):
        RunnerStatus.from_dict({**make_status().to_dict(), "schema": 99})


def test_write_is_atomic_and_read_skips_broken_files(tmp_path):
    """A reader racing a writer only ever sees whole files; no temp file is left behind."""
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            write_status(tmp_path, make_status(equity=float(i)))

    write_status(tmp_path, make_status(equity=0.0))
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen: set[float] = set()
        reads = 0
        while reads < 300 or (len(seen) < 3 and reads < 20_000):
            reads += 1
            problems: list[str] = []
            statuses = read_statuses(tmp_path, problems)
            assert problems == [] and len(statuses) == 1
            seen.update(s.equity for s in statuses)
    finally:
        stop.set()
        thread.join()
    assert len(seen) >= 3  # the race really happened
    assert [p.name for p in (tmp_path / "status").iterdir()] == ["p1.json"]

    (tmp_path / "status" / "bad.json").write_text("{not json")
    problems = []
    assert [s.runner_id for s in read_statuses(tmp_path, problems)] == ["p1"]
    assert len(problems) == 1 and "bad.json" in problems[0]


@pytest.mark.parametrize("over, problem", [
    ({}, None),
    ({"state": "killed", "kill_reason": "operator"}, "state killed: operator"),
    ({"state": "paused"}, "state paused"),
    ({"published_ms": NOW - 31_000}, "no status update for 31 s"),
    ({"last_event_local_ms": NOW - 3 * HOUR}, "last event 10800 s ago, limit 10800 s"),
    ({"last_event_local_ms": None, "started_ms": NOW - 4 * HOUR}, "no event yet 14400 s ago"),
    ({"clock_drift_ms": -1_500}, "clock drift -1500 ms, limit 1000 ms"),
    ({"reconciliation": Reconciliation("mismatch", NOW, ("USDT: local 1 vs exchange 2",))},
     "reconciliation mismatch: USDT: local 1 vs exchange 2"),
])
def test_health_rule(over, problem):
    health = assess(make_status(**over), NOW)
    assert health.healthy is (problem is None)
    if problem is not None:
        assert any(p.startswith(problem) for p in health.problems), health.problems


def test_runner_without_publisher_writes_no_status(emulator, tmp_path):
    run_paper(emulator, tmp_path, start=300, bars=10)
    assert not (tmp_path / "state" / "status").exists()


def test_paper_session_publishes_its_status(emulator, tmp_path):
    """A real paper session against the emulator: counters equal the engine's own figures;
    writes are throttled (first round, then only on state changes and at the end)."""
    cfg = make_config(emulator, tmp_path)
    clock = start_at(emulator, 300)
    ticks = iter(range(10**6))

    async def main():
        session = await open_paper(cfg, clock=clock, settings=SIM_SETTINGS)
        publisher = StatusPublisher(cfg.state_dir, session.run_id, interval_s=3600,
                                    monotonic=lambda: float(next(ticks)))
        session.runner.attach_publisher(publisher)
        try:
            await session.runner.run(max_bars=120)
        finally:
            await session.close()
        return session, publisher

    session, publisher = asyncio.run(main())
    engine = session.runner.engine
    [status] = read_statuses(cfg.state_dir)
    assert status_path(cfg.state_dir, "t1").is_file()
    assert publisher.writes == 2  # the first round and the final "stopped"
    assert (status.runner_id, status.account, status.mode, status.state) == (
        "t1", "emu", "paper", "stopped")
    assert status.stop_reason == "max_bars 120"
    assert status.counters.bars == 120
    assert sum(status.counters.fills.values()) == len(engine.fills) > 0
    risk = engine.risk.inner
    assert status.counters.risk_decisions.get("ok", 0) == risk.checked - len(risk.decisions)
    assert status.equity == pytest.approx(engine.portfolio.equity())
    # one point at the start (the last warm-up close), then one per live bar
    assert len(status.equity_history) == 121 and status.equity_history[-1][1] == status.equity
    assert [f.ts for f in status.recent_fills] == [int(f.ts) for f in engine.fills[-50:]]
    assert status.clock_drift_ms == 0 and status.link.consecutive_errors == 0
    assert {b.name for b in status.breakers} >= {"kill_switch"}
    stages = session.runner.summary.stages
    assert status.latency["step"].count == int(stages["step"]["count"]) == 120
    assert status.latency["step"].cumulative[-1] == 120
    assert dataclasses.replace(status) == RunnerStatus.from_json(status.to_json())


def test_reconcile_and_alert_records_reach_the_status(emulator, tmp_path):
    """The records a live runner journals on reconciliation feed the status (a mismatch
    stays until the runner restarts, like the runner's refusal of entries)."""
    cfg = make_config(emulator, tmp_path)
    clock = start_at(emulator, 300)

    async def main():
        session = await open_paper(cfg, clock=clock, settings=SIM_SETTINGS)
        publisher = StatusPublisher(cfg.state_dir, session.run_id)
        session.runner.attach_publisher(publisher)
        try:
            await session.runner.run(max_bars=5)
            write = session.runner.journal.write
            write("reconcile", {"ok": True, "problems": []}, None)
            publisher.publish(session.runner, "running")
            first = read_statuses(cfg.state_dir)[0]
            write("reconcile", {"ok": False, "problems": ["USDT: local 1.0 vs exchange 2.0"]},
                  None)
            write("alert", {"kind": "reconcile_mismatch", "message": "USDT: 1.0 vs 2.0"}, None)
            write("reconcile", {"ok": True, "problems": []}, None)
            publisher.publish(session.runner, "paused")
        finally:
            await session.close()
        return first, read_statuses(cfg.state_dir)[0]

    first, status = asyncio.run(main())
    assert first.reconciliation.status == "ok" and first.counters.reconciliation_mismatches == 0
    assert status.reconciliation.status == "mismatch"
    assert status.reconciliation.problems == ("USDT: local 1.0 vs exchange 2.0",)
    assert status.counters.reconciliation_mismatches == 1
    assert status.alerts[-1].level == "error"
    assert status.alerts[-1].message == "reconcile_mismatch: USDT: 1.0 vs 2.0"
    assert not assess(status, status.published_ms).healthy
