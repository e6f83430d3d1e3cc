"""``DeploymentSpec``: one strategy deployment as an operator registers it (a TOML file).

A deployment names a strategy with its params, symbols, timeframe and risk
profile, the regression case that proves its backtest, the paper/live config it
runs with, and its promotion gates. Example ``deployments/sma-btc.toml``::

    name = "sma-btc"
    strategy = "tradeloom.research.strategies.sma_cross:SmaCross"
    params = { fast = 10, slow = 30 }
    symbols = ["BTC/USDT"]
    timeframe = "1h"
    risk_profile = "moderate"
    regress_config = "../regress/regress.toml"   # relative to this file
    regress_case = "sma_cross_btc"
    live_config = "sma-btc.paper.toml"           # optional; where paper journals are found

    [gates]
    min_paper_days = 7
    max_replay_divergences = 0
    max_tracking_error = 0.05

Relative paths (strategy files, ``regress_config``, ``live_config``, a risk
profile given as a path) are resolved against the file's folder when it is
loaded, so the registered spec works from any working directory.

>>> spec = DeploymentSpec(name="sma-btc", strategy="pkg.mod:S", symbols=["BTC/USDT"],
...                       regress_config="/r/regress.toml", regress_case="c")
>>> spec.gates.min_paper_days, len(spec_hash(spec))
(7.0, 64)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from tradeloom.adapters.config.files import read_config_file, validate_config
from tradeloom.adapters.secrets import reject_credentials
from tradeloom.engine.config import StrictModel, Symbols, Timeframe, config_hash
from tradeloom.research.promotion.lifecycle import GatesConfig
from tradeloom.research.regress.goldens import resolve_strategy_spec


class DeploymentSpec(StrictModel):
    """A registered deployment (see the module docstring)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    strategy: str = Field(description="'path/to/file.py:Class' or 'package.module:Class'")
    params: dict[str, Any] = Field(default_factory=dict)
    symbols: Symbols
    timeframe: Timeframe = "1h"
    risk_profile: str | None = None
    regress_config: Path
    regress_case: str
    live_config: Path | None = None
    gates: GatesConfig = Field(default_factory=GatesConfig)


def spec_hash(spec: DeploymentSpec) -> str:
    """sha256 of the spec's canonical JSON: what ``config_change`` audit entries record."""
    return config_hash(spec)


def load_deployment(path: Path | str) -> DeploymentSpec:
    """Read a deployment TOML, resolve its relative paths, validate it strictly."""
    p = Path(path)
    data = read_config_file(p)
    reject_credentials(data)
    base = p.resolve().parent
    for key in ("regress_config", "live_config"):
        if isinstance(data.get(key), str):
            data[key] = str((base / data[key]).resolve())
    if isinstance(data.get("strategy"), str):
        data["strategy"] = resolve_strategy_spec(data["strategy"], base)
    profile = data.get("risk_profile")
    if isinstance(profile, str) and (profile.endswith(".toml") or "/" in profile):
        data["risk_profile"] = str((base / profile).resolve())
    return validate_config(DeploymentSpec, data, str(p))


__all__ = ["DeploymentSpec", "load_deployment", "spec_hash"]
