"""Does a run (a regress case, a paper session, a live config) run *this* deployment?

One comparison for every place that must answer it - the regress gate, the paper
evidence and ``tradeloom live``'s promotion check - so they cannot disagree about
what "the same strategy" means: the same strategy class, the same params after
defaults (``Strategy.params_dict``), the same symbols (order ignored), the same
timeframe and the same risk limits (the loaded profiles compared, so a profile name
and the path of the same file match).

>>> from tradeloom.research.promotion.config import DeploymentSpec
>>> spec = DeploymentSpec(name="sma", strategy="research/strategies/sma_cross.py:SmaCross",
...                       params={"fast": 10, "slow": 50}, symbols=["BTC/USDT"],
...                       risk_profile="moderate", regress_config="/r.toml", regress_case="c")
>>> run_mismatches(spec, RunIdentity("research/strategies/sma_cross.py:SmaCross",
...                {"fast": 10, "slow": 50}, ["BTC/USDT"], "1h", "moderate"))
[]
>>> run_mismatches(spec, RunIdentity("research/strategies/sma_cross.py:SmaCross",
...                {"fast": 12}, ["ETH/USDT"], "1h", "conservative"), what="the config")
["params {'fast': 12, 'slow': 50} in the config, {'fast': 10, 'slow': 50} in the deployment", "symbols ['ETH/USDT'] in the config, ['BTC/USDT'] in the deployment", "risk profile 'conservative' in the config, 'moderate' in the deployment"]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.research.promotion.config import DeploymentSpec
from tradeloom.research.strategy_loader import load_strategy


@dataclass(frozen=True)
class RunIdentity:
    """What identifies a run: strategy spec, params, symbols, timeframe, risk profile.

    ``risk`` is the run's loaded risk limits when known (a journal records them);
    otherwise ``risk_profile`` is loaded.
    """

    strategy: str
    params: Mapping[str, Any]
    symbols: Sequence[str]
    timeframe: str
    risk_profile: str | None
    risk: Mapping[str, Any] | None = field(default=None)


def _risk_dump(profile: str | None) -> dict[str, Any] | None:
    from tradeloom.adapters.config.risk_profiles import load_profile

    return None if profile is None else load_profile(profile).model_dump(mode="json")


def run_mismatches(spec: DeploymentSpec, run: RunIdentity, *,
                   what: str = "the run") -> list[str]:
    """How ``run`` differs from ``spec`` (empty: it runs this deployment)."""
    out: list[str] = []
    try:
        mine_cls, theirs_cls = load_strategy(spec.strategy), load_strategy(run.strategy)
        mine = mine_cls(**spec.params).params_dict()
        theirs = theirs_cls(**dict(run.params)).params_dict()
    except StrategyError as exc:
        return [f"strategy does not load: {exc}"]
    if mine_cls.__name__ != theirs_cls.__name__:
        out.append(f"strategy {theirs_cls.__name__} in {what}, {mine_cls.__name__} in the "
                   "deployment")
    elif mine != theirs:
        out.append(f"params {theirs} in {what}, {mine} in the deployment")
    if sorted(run.symbols) != sorted(spec.symbols):
        out.append(f"symbols {list(run.symbols)} in {what}, {list(spec.symbols)} in the "
                   "deployment")
    if run.timeframe != spec.timeframe:
        out.append(f"timeframe {run.timeframe} in {what}, {spec.timeframe} in the deployment")
    try:
        theirs_risk = dict(run.risk) if run.risk is not None else _risk_dump(run.risk_profile)
        mine_risk = _risk_dump(spec.risk_profile)
    except ConfigError as exc:
        return [*out, f"risk profile does not load: {exc}"]
    if theirs_risk != mine_risk:
        out.append(f"risk profile {run.risk_profile!r} in {what}, {spec.risk_profile!r} in "
                   "the deployment")
    return out


__all__ = ["RunIdentity", "run_mismatches"]
