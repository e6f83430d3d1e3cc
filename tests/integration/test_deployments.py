"""Deployment lifecycle: transitions, every gate with its figure, evidence in the catalog.

End to end with real parts: a regress golden on the bundled sample, a real paper
session against the Binance emulator (120 hourly bars: about 5 paper days), the replay
parity check, DuckDB tables and the audit log.
"""

from __future__ import annotations

import json

import pytest
from deploy_helpers import deployment_file, regress_config, sample_store
from emulator import BinanceEmulator
from runner_helpers import SMA, run_paper

from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.ops.audit import AuditLog, verify
from tradeloom.app.deployment import Actor, Notify, demote, promote, register, retire
from tradeloom.app.paper_evidence import find_paper_journals, paper_evidence
from tradeloom.engine.errors import ConfigError
from tradeloom.research.promotion.config import load_deployment
from tradeloom.research.promotion.deployments import Action, DeploymentStore
from tradeloom.research.promotion.lifecycle import Stage, check_demotion, check_promotion

T0 = 1_717_200_000_000


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A sample store, a regress config with a golden, and one 120-bar paper journal."""
    root = tmp_path_factory.mktemp("deploy")
    store = sample_store(root / "market")
    regress = regress_config(root / "regress", store)
    with BinanceEmulator(["BTC/USDT", "ETH/USDT"]) as emu:
        session, _ = run_paper(emu, root / "paper", start=300, bars=120)
    return {"root": root, "store": store, "regress": regress, "journal": session.journal_path}


@pytest.fixture
def env(world, tmp_path):
    store = DeploymentStore(tmp_path / "catalog")
    notify = Notify(AuditLog(tmp_path / "audit.jsonl"))
    return world, store, notify


def actor(minute: int, reason: str = "") -> Actor:
    return Actor("ana", T0 + minute * 60_000, reason)


def registered(env, name: str, **kw) -> str:
    world, store, notify = env
    path = deployment_file(world["root"] / "specs", name, world["regress"], **kw)
    register(store, load_deployment(path), path, actor(0), notify)
    return name


def up_to(env, name: str, stage: Stage) -> None:
    world, store, notify = env
    for i, target in enumerate((Stage.BACKTEST_APPROVED, Stage.PAPER)):
        out = promote(store, name, target, actor(i + 1), market_store=world["store"],
                      notify=notify)
        assert out.promoted, out.format()
        if target is stage:
            return


# --------------------------------------------------------------------------- lifecycle


def test_stages_move_one_step_at_a_time():
    assert [Stage.RESEARCH.next(), Stage.BACKTEST_APPROVED.next(), Stage.PAPER.next(),
            Stage.LIVE.next(), Stage.RETIRED.next()] == [
        Stage.BACKTEST_APPROVED, Stage.PAPER, Stage.LIVE, None, None]
    assert check_demotion(Stage.LIVE) is Stage.PAPER
    assert check_demotion(Stage.BACKTEST_APPROVED) is Stage.RESEARCH
    for current, target, message in [
        (Stage.RESEARCH, Stage.LIVE, "one step at a time"),
        (Stage.PAPER, Stage.BACKTEST_APPROVED, "backwards; use demote"),
        (Stage.PAPER, Stage.PAPER, "already at paper"),
        (Stage.RETIRED, Stage.BACKTEST_APPROVED, "stay retired"),
        (Stage.LIVE, Stage.RETIRED, "use retire"),
    ]:
        with pytest.raises(ConfigError, match=message):
            check_promotion(current, target)
    for stage in (Stage.RESEARCH, Stage.RETIRED):
        with pytest.raises(ConfigError, match="cannot demote"):
            check_demotion(stage)


def test_register_is_idempotent_and_spec_changes_need_research(env):
    world, store, notify = env
    name = registered(env, "sma")
    path = world["root"] / "specs" / "sma.toml"
    assert register(store, load_deployment(path), path, actor(1), notify) is None
    changed = deployment_file(world["root"] / "specs", "sma", world["regress"],
                              gates={"min_paper_days": 3})
    event = register(store, load_deployment(changed), changed, actor(2), notify)
    assert event.action is Action.UPDATE and event.evidence["previous_hash"]
    up_to(env, name, Stage.BACKTEST_APPROVED)
    again = deployment_file(world["root"] / "specs", "sma", world["regress"],
                            gates={"min_paper_days": 1})
    with pytest.raises(ConfigError, match="at backtest-approved and its spec changed"):
        register(store, load_deployment(again), again, actor(5), notify)
    kinds = [r.kind for r in notify.audit.records()]
    assert kinds == ["registration", "config_change", "promotion"]
    assert notify.audit.records()[1].details["config_hash"] == store.get(name).spec_hash


def test_promotion_records_regress_evidence_who_when_why(env):
    world, store, notify = env
    name = registered(env, "sma")
    out = promote(store, name, Stage.BACKTEST_APPROVED, actor(3, "goldens reviewed"),
                  market_store=world["store"], notify=notify)
    assert out.promoted and store.get(name).stage is Stage.BACKTEST_APPROVED
    (_, event) = store.events(name)
    assert (event.action, event.from_stage, event.to_stage) == (
        Action.PROMOTE, Stage.RESEARCH, Stage.BACKTEST_APPROVED)
    assert (event.actor, event.ts, event.reason) == ("ana", T0 + 180_000, "goldens reviewed")
    regress = event.evidence["regress"]
    assert regress["status"] == "pass" and regress["deterministic"] is True
    assert regress["manifest"]["strategy"] == "SmaCross"
    assert regress["manifest"]["params"] == {"fast": 3, "slow": 8}
    assert set(regress["metrics"]) >= {"sharpe", "total_return", "max_drawdown"}
    assert event.evidence["risk"]["profile"] == "moderate"
    assert all(g["ok"] for g in event.gates)
    (audit,) = [r for r in notify.audit.records() if r.kind == "promotion"]
    assert audit.details["to"] == "backtest-approved" and audit.actor == "ana"


def test_refusal_lists_every_unmet_gate_with_its_figure(env):
    world, store, notify = env
    name = registered(env, "bad", case="sma_btc_no_golden", risk_profile=None,
                      params={"fast": 4, "slow": 8})
    out = promote(store, name, Stage.BACKTEST_APPROVED, actor(1), market_store=world["store"],
                  notify=notify)
    assert not out.promoted and store.get(name).stage is Stage.RESEARCH
    unmet = {c.gate: c.detail for c in out.unmet}
    assert set(unmet) == {"regress_pass", "regress_matches", "risk_profile"}
    assert "status missing" in unmet["regress_pass"] and "gates.require_regress" in \
        unmet["regress_pass"]
    assert "params {'fast': 3, 'slow': 8} in the case, {'fast': 4, 'slow': 8}" in \
        unmet["regress_matches"]
    assert "no risk_profile" in unmet["risk_profile"]
    text = out.format()
    assert "refused: 3 gate(s) unmet" in text and text.count("FAIL") == 3
    event = store.events(name)[-1]
    assert event.action is Action.REFUSE and event.to_stage is Stage.RESEARCH
    assert [g["gate"] for g in event.gates if not g["ok"]] == list(unmet)
    assert notify.audit.records()[-1].kind == "promotion_refused"


def test_the_regress_gate_needs_the_deployments_symbols_and_risk_profile(env):
    """The case backtests BTC/USDT under the moderate profile: it proves nothing about a
    deployment on ETH/USDT, nor about one under the conservative limits."""
    world, store, notify = env
    eth = registered(env, "sma-eth", symbols=("ETH/USDT",))
    cautious = registered(env, "sma-cautious", risk_profile="conservative")
    for name, why in ((eth, "symbols ['BTC/USDT'] in the case, ['ETH/USDT'] in the deployment"),
                      (cautious, "risk profile 'moderate' in the case, 'conservative' in the "
                                 "deployment")):
        out = promote(store, name, Stage.BACKTEST_APPROVED, actor(1),
                      market_store=world["store"], notify=notify)
        unmet = {c.gate: c.detail for c in out.unmet}
        assert list(unmet) == ["regress_matches"] and why in unmet["regress_matches"]
        assert store.get(name).stage is Stage.RESEARCH


def test_paper_days_count_the_sessions_wall_clock_time_not_bar_time(env, tmp_path):
    """The same 120 bars (five days of bar time), journaled by a session whose clock ran
    ten minutes - it caught up on backfilled bars - count ten minutes; the same session
    offered twice counts once."""
    world, store, _ = env
    spec = store.get(registered(env, "sma")).spec
    records = read_journal(world["journal"])
    t0 = records[0].local_ts
    step = 600_000 // (len(records) - 1)
    fast = tmp_path / "caught_up.jsonl"
    fast.write_text("".join(json.dumps({"seq": r.seq, "kind": r.kind,
                                        "exchange_ts": r.exchange_ts,
                                        "local_ts": t0 + i * step, "payload": r.payload}) + "\n"
                            for i, r in enumerate(records)))
    first = next(i for i, r in enumerate(records) if r.kind == "session")
    minutes = (len(records) - 1 - first) * step / 60_000  # session record to the last one
    evidence = paper_evidence(spec, [fast])
    (session,) = evidence.sessions
    assert 5 <= session["bar_days"] < 6
    assert evidence.days == pytest.approx(minutes / 1440, abs=1e-6) and 9.9 < minutes <= 10
    twice = tmp_path / "copy.jsonl"
    twice.write_text(fast.read_text())
    assert paper_evidence(spec, [fast, twice]).days == evidence.days


def test_nondeterministic_regress_case_fails_two_gates(env):
    world, store, notify = env
    name = registered(env, "flip", case="coin_flip", params={},
                      strategy=str(world["regress"].parent / "coin_flip.py") + ":CoinFlip")
    out = promote(store, name, Stage.BACKTEST_APPROVED, actor(1), market_store=world["store"],
                  notify=notify)
    unmet = {c.gate: c.detail for c in out.unmet}
    assert set(unmet) == {"regress_pass", "regress_deterministic"}
    assert "status nondeterministic" in unmet["regress_pass"]
    assert "two runs differ (gates.require_deterministic)" in unmet["regress_deterministic"]


# --------------------------------------------------------------------------- live


def test_live_needs_the_paper_window_then_confirm_live(env):
    world, store, notify = env
    strict = registered(env, "strict", gates={"min_paper_days": 30})
    name = registered(env, "sma", gates={"min_paper_days": 4, "max_tracking_error": 0.01})
    up_to(env, strict, Stage.PAPER)
    up_to(env, name, Stage.PAPER)
    journals = [world["journal"]]
    records = read_journal(world["journal"])
    started = next(r.local_ts for r in records if r.kind == "session")
    days = (records[-1].local_ts - started) / 86_400_000  # the runner's clock, not bar time
    assert 5 <= days < 6

    short = promote(store, strict, Stage.LIVE, actor(10), market_store=world["store"],
                    journals=journals, confirm_live=True, notify=notify)
    assert [c.line() for c in short.unmet] == [
        f"paper_days: paper days {days:.1f} < required 30 (gates.min_paper_days)"]

    unconfirmed = promote(store, name, Stage.LIVE, actor(11), market_store=world["store"],
                          journals=journals, notify=notify)
    assert [c.gate for c in unconfirmed.unmet] == ["confirm_live"]
    assert store.get(name).stage is Stage.PAPER

    out = promote(store, name, Stage.LIVE, actor(12, "5 days clean"),
                  market_store=world["store"], journals=journals, confirm_live=True,
                  notify=notify)
    assert out.promoted and store.get(name).stage is Stage.LIVE
    paper = store.events(name)[-1].evidence["paper"]
    (session,) = paper["sessions"]
    assert session["journal"] == str(world["journal"]) and session["bars"] == 120
    assert paper["days"] == pytest.approx(days) and paper["divergences"] == 0
    assert paper["tracking_error"] == pytest.approx(0.0, abs=1e-12)
    assert session["paper"]["fills"] == session["backtest"]["fills"] >= 4
    assert session["paper"]["total_return"] == pytest.approx(
        session["backtest"]["total_return"], abs=1e-12)
    lines = {c.gate: c.line() for c in out.checks}
    assert lines["replay_divergence"] == (
        "replay_divergence: replay divergences 0 <= allowed 0 (gates.max_replay_divergences)")

    # demote and retire are immediate, with the reason kept
    assert demote(store, name, actor(13, "fee change"), notify).to_stage is Stage.PAPER
    assert retire(store, name, actor(14, "edge gone"), notify).from_stage is Stage.PAPER
    assert store.get(name).stage is Stage.RETIRED
    with pytest.raises(ConfigError, match="already retired"):
        retire(store, name, actor(15), notify)
    assert [e.action.value for e in store.events(name)] == [
        "register", "promote", "promote", "refuse", "promote", "demote", "retire"]
    assert store.events(name)[-1].reason == "edge gone"
    assert verify(notify.audit.path).ok


def test_divergent_or_foreign_journals_fail_the_paper_gates(env, tmp_path):
    world, store, notify = env
    name = registered(env, "sma", gates={"min_paper_days": 1})
    up_to(env, name, Stage.PAPER)
    text = world["journal"].read_text()
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if '"kind":"submit"' in line)
    rec = json.loads(lines[i])
    rec["payload"]["amount"] = (rec["payload"]["amount"] or 0.0) + 0.5
    rec["payload"]["quote_amount"] = None
    lines[i] = json.dumps(rec, separators=(",", ":"))
    diverged = tmp_path / "diverged.jsonl"
    diverged.write_text("\n".join(lines) + "\n")
    out = promote(store, name, Stage.LIVE, actor(5), market_store=world["store"],
                  journals=[diverged], confirm_live=True, notify=notify)
    unmet = {c.gate: c.detail for c in out.unmet}
    assert "replay_divergence" in unmet and unmet["replay_divergence"].startswith(
        "replay divergences 1 > allowed 0")

    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text(text.replace('"fast":3', '"fast":2'))
    spec = store.get(name).spec
    evidence = paper_evidence(spec, [foreign])
    assert evidence.sessions == () and "session of another configuration" in evidence.rejected[0]
    out = promote(store, name, Stage.LIVE, actor(6), market_store=world["store"],
                  journals=[foreign], confirm_live=True, notify=notify)
    unmet = {c.gate: c.detail for c in out.unmet}
    assert set(unmet) == {"paper_sessions", "paper_days", "replay_divergence", "tracking_error"}
    assert "params" in unmet["paper_sessions"] and "paper days 0.0 < required 1" in \
        unmet["paper_days"]


def test_unknown_deployment_suggests_a_name(env):
    _, store, _ = env
    registered(env, "sma-btc")
    with pytest.raises(ConfigError, match="did you mean 'sma-btc'"):
        store.get("sma-bt")


def test_paper_journals_are_found_through_the_live_config(env, tmp_path):
    world, store, notify = env
    live = tmp_path / "paper.toml"
    live.write_text(f'strategy = "{SMA}"\nsymbols = ["BTC/USDT"]\nrisk_profile = "moderate"\n'
                    f'journal = "{world["journal"]}"\n[params]\nfast = 3\nslow = 8\n'
                    '[exchange]\nid = "binance"\n')
    assert find_paper_journals(live) == [world["journal"]]
    name = registered(env, "sma", gates={"min_paper_days": 1}, live_config=live)
    up_to(env, name, Stage.PAPER)
    out = promote(store, name, Stage.LIVE, actor(5), market_store=world["store"],
                  confirm_live=True, notify=notify)
    assert out.promoted, out.format()
