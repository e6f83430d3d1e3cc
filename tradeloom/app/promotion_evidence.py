"""Gather the backtest-side evidence of a promotion: the regress case and the risk profile.

``regress_evidence`` runs the deployment's regression case exactly as
``tradeloom regress --case NAME`` does (twice, for determinism, then against the
golden) and records its status, whether the two runs matched, and the golden's
manifest and metrics - on a pass the golden *is* this run's result, byte for byte.
It also checks that the case backtests this deployment: same strategy class, same
params, same symbols, same timeframe, same risk profile (``research.promotion.matching``;
otherwise a passing case proves nothing about it).

Metric values that JSON cannot hold (``inf`` profit factor, ``nan``) are stored
as the strings ``"inf"``, ``"-inf"``, ``"nan"``, as ``results_io`` does.

>>> json_safe({"a": float("inf"), "b": [1.0, float("nan")]})
{'a': 'inf', 'b': [1.0, 'nan']}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tradeloom.app.regress import run_regress
from tradeloom.engine.config import config_hash
from tradeloom.engine.errors import ConfigError
from tradeloom.research.promotion.config import DeploymentSpec
from tradeloom.research.promotion.lifecycle import RegressEvidence, RiskEvidence
from tradeloom.research.promotion.matching import RunIdentity, run_mismatches
from tradeloom.research.regress.goldens import case_settings, load_regress_config, select_cases


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as strings and tuples as lists (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def regress_evidence(spec: DeploymentSpec, store: Any) -> RegressEvidence:
    """Run the deployment's regress case against ``store`` and describe the outcome."""
    from tradeloom.adapters.store.results_io import load_result

    loaded = load_regress_config(spec.regress_config)
    (case,) = select_cases(loaded.config, [spec.regress_case])
    report = run_regress(loaded, store, cases=[case.name])
    outcome = report.outcomes[0]
    mismatches = _mismatches(spec, case_settings(case, loaded.path.parent))
    manifest: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    golden = loaded.golden_dir(case.name)
    if (golden / "result.json").is_file():
        result = load_result(golden)
        manifest, metrics = json_safe(result.manifest), json_safe(result.metrics)
    return RegressEvidence(
        config=str(loaded.path), case=case.name, status=outcome.status,
        deterministic=outcome.status not in ("nondeterministic", "error"),
        details=tuple(outcome.details), mismatches=tuple(mismatches),
        manifest=manifest, metrics=metrics)


def _mismatches(spec: DeploymentSpec, settings: Any) -> list[str]:
    """How the regress case's backtest differs from the deployment: strategy class,
    params after defaults, symbols, timeframe and risk profile (``matching``)."""
    return run_mismatches(spec, RunIdentity(settings.strategy, settings.params,
                                            settings.symbols, settings.timeframe,
                                            settings.risk_profile), what="the case")


def risk_evidence(spec: DeploymentSpec) -> RiskEvidence:
    """Whether the deployment's risk profile is named and loads (with its config hash)."""
    from tradeloom.adapters.config.risk_profiles import load_profile

    if spec.risk_profile is None:
        return RiskEvidence(None)
    try:
        profile = load_profile(spec.risk_profile)
    except ConfigError as exc:
        return RiskEvidence(spec.risk_profile, error=str(exc))
    return RiskEvidence(spec.risk_profile, config_hash=config_hash(profile))


__all__ = ["json_safe", "regress_evidence", "risk_evidence"]
