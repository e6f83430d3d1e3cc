"""``tradeloom live`` runs only what the registry promoted to live (``app.live_gate``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradeloom.app.live_config import load_live_config
from tradeloom.app.live_gate import audit_override, authorize_live
from tradeloom.engine.errors import ConfigError
from tradeloom.research.promotion.config import load_deployment
from tradeloom.research.promotion.deployments import Action, DeploymentStore
from tradeloom.research.promotion.lifecycle import Stage

ROOT = Path(__file__).resolve().parents[3]
LIVE = ROOT / "examples" / "live.toml"
SPEC = ROOT / "examples" / "deployments" / "sma-btc.toml"


def registry(tmp_path: Path, stage: Stage) -> DeploymentStore:
    store = DeploymentStore(tmp_path / "catalog")
    store.register(load_deployment(SPEC), source=str(SPEC), when_ms=1, by="ana")
    ladder = [Stage.RESEARCH, Stage.BACKTEST_APPROVED, Stage.PAPER, Stage.LIVE]
    for frm, to in zip(ladder, ladder[1:ladder.index(stage) + 1]):
        store.transition("sma-btc", expect=frm, to=to, action=Action.PROMOTE, when_ms=2,
                         by="ana", reason="set-up", evidence={}, gates=[])
    return store


def config(tmp_path: Path, **over):
    cfg = load_live_config(LIVE)
    return cfg.model_validate({**cfg.model_dump(), "state_dir": tmp_path / "state", **over})


def test_the_example_runs_once_its_deployment_is_at_live(tmp_path):
    auth = authorize_live(config(tmp_path), registry(tmp_path, Stage.LIVE))
    assert auth.deployment is not None and auth.deployment.name == "sma-btc"
    assert auth.override is None and "promoted to live" in auth.describe()


def test_paper_is_not_live(tmp_path):
    with pytest.raises(ConfigError) as info:
        authorize_live(config(tmp_path), registry(tmp_path, Stage.PAPER))
    assert "deployment 'sma-btc' is at paper, not live" in str(info.value)
    assert "tradeloom promote NAME" in str(info.value)


@pytest.mark.parametrize("over, what", [
    ({"params": {"fast": 12, "slow": 50}}, "params {'fast': 12, 'slow': 50} in the config"),
    ({"symbols": ["ETH/USDT"]}, "symbols ['ETH/USDT'] in the config"),
    ({"risk_profile": "conservative"}, "risk profile 'conservative' in the config"),
    ({"timeframe": "4h"}, "timeframe 4h in the config"),
])
def test_a_config_that_differs_from_the_live_deployment_is_refused(tmp_path, over, what):
    store = registry(tmp_path, Stage.LIVE)
    for named in ("sma-btc", None):  # the config names its deployment, or it is searched
        with pytest.raises(ConfigError) as info:
            authorize_live(config(tmp_path, deployment=named, **over), store)
        assert what in str(info.value) and "--override-promotion" in str(info.value)


def test_an_override_needs_a_reason_and_is_audited(tmp_path):
    store = registry(tmp_path, Stage.PAPER)
    cfg = config(tmp_path)
    with pytest.raises(ConfigError, match="needs a reason"):
        authorize_live(cfg, store, override="  ")
    auth = authorize_live(cfg, store, override="venue migration, approved by ana")
    assert auth.deployment is None and "NOT PROMOTED" in auth.describe()
    audit_override(cfg, auth, "lrun1", 1_700_000_000_000, store.path)
    (entry,) = [json.loads(x) for x in cfg.audit_log_path.read_text().splitlines()]
    assert (entry["kind"], entry["subject"]) == ("promotion_override", "lrun1")
    assert entry["details"]["reason"] == "venue migration, approved by ana"
    assert entry["details"]["strategy"] == cfg.strategy
