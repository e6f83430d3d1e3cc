"""The deployment lifecycle and its promotion gates: pure rules, no I/O.

A deployment moves ``research -> backtest-approved -> paper -> live -> retired``.
``promote`` goes one step forward and only through its gates; ``demote`` goes one
step back at once; ``retire`` ends any stage at once; ``retired`` is final.

Gates (thresholds per deployment, in its TOML's ``[gates]``, see ``GatesConfig``):

==================  =========================================  =====================
gate                passes when                                for
==================  =========================================  =====================
regress_pass        the regress case matches its golden        every promotion
regress_deterministic  the case's two runs were identical      every promotion
regress_matches     the case runs this deployment's strategy   every promotion
                    class with the same params, symbols,
                    timeframe and risk profile
risk_profile        a risk profile is named and loads          every promotion
paper_sessions      at least one paper journal of this         live
                    deployment's strategy/params/symbols
paper_days          paper days >= ``min_paper_days``           live
replay_divergence   divergences <= ``max_replay_divergences``  live
tracking_error      tracking error <= ``max_tracking_error``   live
confirm_live        ``--confirm-live`` was given               live
==================  =========================================  =====================

Every gate is checked, so a refusal lists every unmet one with its figure.

>>> Stage.RESEARCH.next(), Stage.LIVE.previous()
(<Stage.BACKTEST_APPROVED: 'backtest-approved'>, <Stage.PAPER: 'paper'>)
>>> GateCheck("paper_days", False, "paper days 2.0 < required 7 (gates.min_paper_days)").line()
'paper_days: paper days 2.0 < required 7 (gates.min_paper_days)'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import Field

from tradeloom.engine.config import StrictModel
from tradeloom.engine.errors import ConfigError


class Stage(StrEnum):
    """Where a deployment is in its lifecycle."""

    RESEARCH = "research"
    BACKTEST_APPROVED = "backtest-approved"
    PAPER = "paper"
    LIVE = "live"
    RETIRED = "retired"

    def next(self) -> Stage | None:
        """The stage ``promote`` leads to (``None`` from live and retired)."""
        i = _LADDER.index(self) if self in _LADDER else -1
        return _LADDER[i + 1] if 0 <= i < len(_LADDER) - 1 else None

    def previous(self) -> Stage | None:
        """The stage ``demote`` leads to (``None`` from research and retired)."""
        i = _LADDER.index(self) if self in _LADDER else -1
        return _LADDER[i - 1] if i > 0 else None


_LADDER = (Stage.RESEARCH, Stage.BACKTEST_APPROVED, Stage.PAPER, Stage.LIVE)
PROMOTABLE = (Stage.BACKTEST_APPROVED, Stage.PAPER, Stage.LIVE)


def check_promotion(current: Stage, target: Stage) -> None:
    """Raise ``ConfigError`` unless ``target`` is the one step after ``current``.

    >>> check_promotion(Stage.RESEARCH, Stage.PAPER)
    Traceback (most recent call last):
    ...
    tradeloom.engine.errors.ConfigError: cannot promote from research to paper: promotions go one step at a time (research -> backtest-approved -> paper -> live); promote to backtest-approved first
    """
    if target not in PROMOTABLE:
        raise ConfigError(f"cannot promote to {target.value}: promote to one of "
                          f"{', '.join(s.value for s in PROMOTABLE)} (use retire to retire)")
    if current is Stage.RETIRED:
        raise ConfigError("the deployment is retired; retired deployments stay retired - "
                          "register it under a new name to start again")
    if current is target:
        raise ConfigError(f"the deployment is already at {target.value}")
    if current.next() is not target:
        if _LADDER.index(target) < _LADDER.index(current):
            raise ConfigError(f"cannot promote from {current.value} to {target.value}: that is "
                              "backwards; use demote")
        raise ConfigError(
            f"cannot promote from {current.value} to {target.value}: promotions go one step at "
            "a time (research -> backtest-approved -> paper -> live); promote to "
            f"{current.next().value if current.next() else '?'} first")


def check_demotion(current: Stage) -> Stage:
    """The stage a demotion leads to, or ``ConfigError`` (research and retired cannot)."""
    target = current.previous()
    if target is None:
        what = "retired deployments stay retired" if current is Stage.RETIRED else \
            "research is the first stage"
        raise ConfigError(f"cannot demote from {current.value}: {what}")
    return target


class GatesConfig(StrictModel):
    """Per-deployment promotion thresholds (a deployment TOML's ``[gates]``)."""

    require_regress: bool = Field(True, description="regress case must match its golden")
    require_deterministic: bool = Field(True, description="regress case's two runs identical")
    require_risk_profile: bool = Field(True, description="a valid risk profile is named")
    min_paper_days: float = Field(7.0, ge=0.0, description="paper days needed for live")
    max_replay_divergences: int = Field(0, ge=0, description="replay divergences allowed")
    max_tracking_error: float = Field(0.05, ge=0.0,
                                      description="annualised tracking error allowed for live")


@dataclass(frozen=True, slots=True)
class GateCheck:
    """One gate's verdict and the figure it was decided on."""

    gate: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.gate}: {self.detail}"


@dataclass(frozen=True)
class RegressEvidence:
    """The regression backtest behind a promotion (``research.promotion_evidence``)."""

    config: str
    case: str
    status: str
    deterministic: bool
    details: tuple[str, ...] = ()
    mismatches: tuple[str, ...] = ()
    manifest: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "case": self.case, "status": self.status,
                "deterministic": self.deterministic, "details": list(self.details),
                "mismatches": list(self.mismatches), "manifest": self.manifest,
                "metrics": self.metrics}


@dataclass(frozen=True)
class RiskEvidence:
    """The risk profile named by the deployment and whether it loads."""

    profile: str | None
    error: str = ""
    config_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "error": self.error, "config_hash": self.config_hash}


@dataclass(frozen=True)
class PaperEvidence:
    """Paper sessions behind a promotion to live (``adapters.paper_evidence``)."""

    sessions: tuple[dict[str, Any], ...]
    days: float
    divergences: int
    tracking_error: float | None
    rejected: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"sessions": list(self.sessions), "days": self.days,
                "divergences": self.divergences, "tracking_error": self.tracking_error,
                "rejected": list(self.rejected)}


def evaluate_gates(target: Stage, gates: GatesConfig, *, regress: RegressEvidence,
                   risk: RiskEvidence, paper: PaperEvidence | None = None,
                   confirm_live: bool = False) -> list[GateCheck]:
    """Every gate that applies to a promotion to ``target``, each with its figure."""
    checks: list[GateCheck] = []
    if gates.require_regress:
        ok = regress.status == "pass"
        why = "; ".join(regress.details[:2])
        checks.append(GateCheck("regress_pass", ok, f"case {regress.case!r} status "
                                f"{regress.status}" + ("" if ok or not why else f": {why}")
                                + ("" if ok else " (gates.require_regress)")))
    if gates.require_deterministic:
        ok = regress.deterministic
        checks.append(GateCheck("regress_deterministic", ok, "two runs identical" if ok else
                                "the case's two runs differ (gates.require_deterministic)"))
    checks.append(GateCheck("regress_matches", not regress.mismatches,
                            "case runs this deployment" if not regress.mismatches else
                            "case differs from the deployment: " + "; ".join(regress.mismatches)))
    if gates.require_risk_profile:
        if risk.profile is None:
            checks.append(GateCheck("risk_profile", False, "no risk_profile in the deployment "
                                    "(gates.require_risk_profile)"))
        else:
            checks.append(GateCheck("risk_profile", not risk.error,
                                    f"{risk.profile!r} is valid" if not risk.error else
                                    f"{risk.profile!r} does not load: {risk.error}"))
    if target is Stage.LIVE:
        checks.extend(_live_gates(gates, paper, confirm_live))
    return checks


def _live_gates(gates: GatesConfig, paper: PaperEvidence | None,
                confirm_live: bool) -> list[GateCheck]:
    p = paper or PaperEvidence((), 0.0, 0, None)
    rejected = "; ".join(p.rejected)
    checks = [GateCheck("paper_sessions", bool(p.sessions),
                        f"{len(p.sessions)} paper session(s)" if p.sessions else
                        "no paper journal of this deployment found" +
                        (f" ({rejected})" if rejected else "") +
                        "; run `tradeloom paper LIVE_CONFIG` or pass --journal")]
    days_ok = p.days >= gates.min_paper_days
    checks.append(GateCheck("paper_days", days_ok, f"paper days {p.days:.1f} "
                            f"{'>=' if days_ok else '<'} required {gates.min_paper_days:g} "
                            "(gates.min_paper_days)"))
    div_ok = bool(p.sessions) and p.divergences <= gates.max_replay_divergences
    checks.append(GateCheck("replay_divergence", div_ok, f"replay divergences {p.divergences} "
                            f"{'<=' if div_ok else '>'} allowed {gates.max_replay_divergences} "
                            "(gates.max_replay_divergences)" if p.sessions else
                            "no replay without a paper session"))
    te = p.tracking_error
    te_ok = te is not None and te <= gates.max_tracking_error
    checks.append(GateCheck("tracking_error", te_ok, "no tracking error without a paper session"
                            if te is None else f"tracking error {te:.4f} "
                            f"{'<=' if te_ok else '>'} allowed {gates.max_tracking_error:g} "
                            "(gates.max_tracking_error)"))
    checks.append(GateCheck("confirm_live", confirm_live, "--confirm-live given" if confirm_live
                            else "--confirm-live not given (live trades real money)"))
    return checks


def unmet(checks: Sequence[GateCheck]) -> list[GateCheck]:
    """The gates that failed, in check order."""
    return [c for c in checks if not c.ok]


__all__ = ["PROMOTABLE", "GateCheck", "GatesConfig", "PaperEvidence", "RegressEvidence",
           "RiskEvidence", "Stage", "check_demotion", "check_promotion", "evaluate_gates",
           "unmet"]
