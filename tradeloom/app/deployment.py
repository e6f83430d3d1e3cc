"""Promote, demote, retire and register deployments: evidence, gates, catalog, audit, alert.

Each action takes an ``Actor`` (who, when in UTC ms, why): the CLI reads the
wall clock and ``--by``/``$USER`` once and passes them in, so these functions are
deterministic and testable. Every action writes its catalog row first (the
source of truth; a concurrent change makes it fail), then an audit entry, then a
``model_promotion`` alert when a router is given.

``promote`` gathers the evidence the target stage needs (the regress case run
twice against ``market_store``; the risk profile; for live, the paper journals),
checks every gate and either moves the deployment one step or records the
refusal with every unmet gate. ``demote`` and ``retire`` are immediate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeloom.adapters.ops.alerts import AlertRouter, promotion_event
from tradeloom.adapters.ops.audit import AuditKind, AuditLog
from tradeloom.app.promotion_evidence import regress_evidence, risk_evidence
from tradeloom.research.promotion.config import DeploymentSpec
from tradeloom.research.promotion.deployments import Action, DeploymentEvent, DeploymentStore
from tradeloom.research.promotion.lifecycle import (
    GateCheck,
    PaperEvidence,
    Stage,
    check_demotion,
    check_promotion,
    evaluate_gates,
    unmet,
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, when (UTC ms, from the caller's clock) and why."""

    by: str
    when_ms: int
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.by.strip():
            raise ValueError("who is acting is unknown: pass --by NAME or set USER")


@dataclass(frozen=True)
class PromotionOutcome:
    """The verdict of one ``promote``: every gate, the evidence, the recorded event."""

    name: str
    from_stage: Stage
    to_stage: Stage
    checks: tuple[GateCheck, ...]
    evidence: dict[str, Any]
    event: DeploymentEvent
    audit_seq: int | None = None

    @property
    def promoted(self) -> bool:
        return not unmet(self.checks)

    @property
    def unmet(self) -> list[GateCheck]:
        return unmet(self.checks)

    def format(self) -> str:
        head = (f"promoted {self.name}: {self.from_stage.value} -> {self.to_stage.value}"
                if self.promoted else
                f"promotion of {self.name} to {self.to_stage.value} refused: "
                f"{len(self.unmet)} gate(s) unmet")
        lines = [head]
        lines += [f"  {'ok  ' if c.ok else 'FAIL'}  {c.line()}" for c in self.checks]
        return "\n".join(lines)


@dataclass(frozen=True)
class Notify:
    """Where actions report besides the catalog: the audit log and (optionally) alerts."""

    audit: AuditLog | None = None
    alerts: AlertRouter | None = None


def register(store: DeploymentStore, spec: DeploymentSpec, source: str | Path, actor: Actor,
             notify: Notify = Notify()) -> DeploymentEvent | None:
    """Register or update a deployment; ``None`` when the same spec is already registered."""
    event = store.register(spec, source=str(source), when_ms=actor.when_ms, by=actor.by,
                           reason=actor.reason)
    if event is not None and notify.audit is not None:
        kind = AuditKind.REGISTRATION if event.action is Action.REGISTER else \
            AuditKind.CONFIG_CHANGE
        notify.audit.append(kind, actor=actor.by, ts_ms=actor.when_ms, subject=spec.name,
                            details={"config_hash": event.spec_hash, "source": str(source),
                                     "previous_hash": event.evidence.get("previous_hash"),
                                     "reason": actor.reason})
    return event


def gather_evidence(spec: DeploymentSpec, target: Stage, market_store: Any,
                    journals: Sequence[Path] | None) -> tuple[Any, Any, PaperEvidence | None]:
    """Regress and risk evidence; paper evidence too when ``target`` is live."""
    from tradeloom.app.paper_evidence import find_paper_journals, paper_evidence

    regress = regress_evidence(spec, market_store)
    risk = risk_evidence(spec)
    paper = None
    if target is Stage.LIVE:
        paths = list(journals or [])
        if not paths and spec.live_config is not None:
            paths = find_paper_journals(spec.live_config)
        paper = paper_evidence(spec, paths)
    return regress, risk, paper


def promote(store: DeploymentStore, name: str, to: Stage, actor: Actor, *, market_store: Any,
            journals: Sequence[Path] | None = None, confirm_live: bool = False,
            notify: Notify = Notify()) -> PromotionOutcome:
    """Check every gate of ``name`` -> ``to``; promote or record the refusal (see module doc)."""
    deployment = store.get(name)
    check_promotion(deployment.stage, to)
    spec = deployment.spec
    regress, risk, paper = gather_evidence(spec, to, market_store, journals)
    checks = evaluate_gates(to, spec.gates, regress=regress, risk=risk, paper=paper,
                            confirm_live=confirm_live)
    evidence = {"regress": regress.to_dict(), "risk": risk.to_dict(),
                "paper": paper.to_dict() if paper is not None else None}
    gates = [{"gate": c.gate, "ok": c.ok, "detail": c.detail} for c in checks]
    ok = not unmet(checks)
    event = store.transition(name, expect=deployment.stage, to=to if ok else deployment.stage,
                             action=Action.PROMOTE if ok else Action.REFUSE,
                             when_ms=actor.when_ms, by=actor.by, reason=actor.reason,
                             evidence=evidence, gates=gates)
    seq = None
    if notify.audit is not None:
        seq = notify.audit.append(
            AuditKind.PROMOTION if ok else AuditKind.PROMOTION_REFUSED, actor=actor.by,
            ts_ms=actor.when_ms, subject=name,
            details={"from": deployment.stage.value, "to": to.value, "reason": actor.reason,
                     "config_hash": deployment.spec_hash, "event_seq": event.seq,
                     "unmet": [c.line() for c in unmet(checks)],
                     "regress_status": regress.status,
                     "paper_days": paper.days if paper else None}).seq
    if ok and notify.alerts is not None:
        notify.alerts.notify(promotion_event(name, deployment.stage.value, to.value, actor.by,
                                             actor.reason))
    return PromotionOutcome(name, deployment.stage, to, tuple(checks), evidence, event, seq)


def demote(store: DeploymentStore, name: str, actor: Actor,
           notify: Notify = Notify()) -> DeploymentEvent:
    """Move ``name`` one stage back at once (live -> paper -> backtest-approved -> research)."""
    current = store.get(name).stage
    return _move(store, name, current, check_demotion(current), Action.DEMOTE,
                 AuditKind.DEMOTION, actor, notify)


def retire(store: DeploymentStore, name: str, actor: Actor,
           notify: Notify = Notify()) -> DeploymentEvent:
    """Retire ``name`` at once, from any stage; retired is final."""
    from tradeloom.engine.errors import ConfigError

    current = store.get(name).stage
    if current is Stage.RETIRED:
        raise ConfigError(f"deployment {name!r} is already retired")
    return _move(store, name, current, Stage.RETIRED, Action.RETIRE, AuditKind.RETIREMENT,
                 actor, notify)


def _move(store: DeploymentStore, name: str, current: Stage, to: Stage, action: Action,
          kind: AuditKind, actor: Actor, notify: Notify) -> DeploymentEvent:
    event = store.transition(name, expect=current, to=to, action=action, when_ms=actor.when_ms,
                             by=actor.by, reason=actor.reason, evidence={}, gates=[])
    if notify.audit is not None:
        notify.audit.append(kind, actor=actor.by, ts_ms=actor.when_ms, subject=name,
                            details={"from": current.value, "to": to.value,
                                     "reason": actor.reason, "event_seq": event.seq})
    if notify.alerts is not None:
        notify.alerts.notify(promotion_event(name, current.value, to.value, actor.by,
                                             actor.reason))
    return event


__all__ = ["Actor", "Notify", "PromotionOutcome", "demote", "gather_evidence", "promote",
           "register", "retire"]
