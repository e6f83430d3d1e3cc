"""``tradeloom live`` trades only what the deployment registry promoted to live.

Why: the promotion workflow (``research.promotion``, ``tradeloom promote``) gathers
evidence - a passing, deterministic regression backtest, paper sessions that replay
with zero divergence and track their backtest - before a deployment reaches ``live``.
That evidence is worth nothing if ``tradeloom live`` runs any config it is given. So
before anything else a live start looks for a deployment at stage ``live`` that this
config runs (``research.promotion.matching``: the same strategy class and params, the
same symbols, timeframe and risk limits); the config's ``deployment = "name"`` narrows
the search to that one. No match refuses the start, naming what differs from each
live deployment and how to get promoted.

The one way around it is explicit: ``--override-promotion "why"``. The start then goes
on, and once the session is open (nothing is written for a start that fails) a
``promotion_override`` entry is appended to the config's audit log with who, why,
the config hash and what the registry had.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeloom.adapters.ops.audit import AuditKind, AuditLog
from tradeloom.app.live_config import LiveConfig
from tradeloom.app.session_records import operator_name
from tradeloom.engine.config import config_hash
from tradeloom.engine.errors import ConfigError
from tradeloom.research.promotion.deployments import Deployment, DeploymentStore
from tradeloom.research.promotion.lifecycle import Stage
from tradeloom.research.promotion.matching import RunIdentity, run_mismatches


@dataclass(frozen=True)
class LiveAuthorization:
    """Why a live start may go on: the promoted deployment, or an override's reason."""

    deployment: Deployment | None
    override: str | None = None
    checked: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.deployment is not None:
            return (f"deployment {self.deployment.name!r} (promoted to live, spec "
                    f"{self.deployment.spec_hash[:12]})")
        return f"NOT PROMOTED - override: {self.override}"


def _identity(config: LiveConfig) -> RunIdentity:
    return RunIdentity(config.strategy, config.params, config.symbols, config.timeframe,
                       config.risk_profile)


def authorize_live(config: LiveConfig, registry: DeploymentStore, *,
                   override: str | None = None) -> LiveAuthorization:
    """The promoted deployment this config runs, or ``ConfigError`` saying why not
    (unless ``override`` gives a reason, which the caller audits with
    :func:`audit_override` once the session is open)."""
    if override is not None and not override.strip():
        raise ConfigError("--override-promotion needs a reason, e.g. --override-promotion "
                          "\"exchange migration, approved by ana\" (it goes to the audit log)")
    candidates = [d for d in registry.list() if d.stage is Stage.LIVE]
    if config.deployment is not None:
        named = registry.find(config.deployment)
        candidates = [named] if named is not None and named.stage is Stage.LIVE else []
    checked: list[str] = []
    for deployment in candidates:
        problems = run_mismatches(deployment.spec, _identity(config), what="the config")
        if not problems:
            return LiveAuthorization(deployment)
        checked.append(f"{deployment.name}: " + "; ".join(problems))
    if override is not None:
        return LiveAuthorization(None, override.strip(), tuple(checked))
    raise ConfigError(_refusal(config, registry, checked))


def _refusal(config: LiveConfig, registry: DeploymentStore, checked: list[str]) -> str:
    what = (f"strategy {config.strategy} {dict(config.params)}, symbols {list(config.symbols)}, "
            f"timeframe {config.timeframe}, risk profile {config.risk_profile!r}")
    if config.deployment is not None:
        named = registry.find(config.deployment)
        if named is None:
            head = (f"live trading refused: no deployment named {config.deployment!r} (the "
                    f"config's deployment) in {registry.path}")
        elif not checked:
            head = (f"live trading refused: deployment {config.deployment!r} is at "
                    f"{named.stage.value}, not live")
        else:
            head = (f"live trading refused: the config does not run deployment "
                    f"{config.deployment!r}")
    else:
        head = (f"live trading refused: no deployment promoted to live in {registry.path} runs "
                f"this config ({what})")
    lines = [head, *(f"  {c}" for c in checked)]
    lines.append("register it (tradeloom deploy-register FILE) and promote it through paper "
                 "(tradeloom promote NAME --to backtest-approved, --to paper, then --to live "
                 "--confirm-live), or start anyway with --override-promotion \"why\" "
                 "(recorded in the audit log)")
    return "\n".join(lines)


def audit_override(config: LiveConfig, auth: LiveAuthorization, run_id: str, when_ms: int,
                   registry: Path) -> None:
    """Record an override in the config's audit log (only for an override)."""
    if auth.override is None:
        return
    details: dict[str, Any] = {
        "reason": auth.override, "account": config.account, "exchange": config.exchange.id,
        "strategy": config.strategy, "params": dict(config.params),
        "symbols": list(config.symbols), "risk_profile": config.risk_profile,
        "config_hash": config_hash(config), "registry": str(registry),
        "live_deployments_checked": list(auth.checked)}
    AuditLog(config.audit_log_path).append(AuditKind.PROMOTION_OVERRIDE, actor=operator_name(),
                                           ts_ms=when_ms, subject=run_id, details=details)


__all__ = ["LiveAuthorization", "audit_override", "authorize_live"]
