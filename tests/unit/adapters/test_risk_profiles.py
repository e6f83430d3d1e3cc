"""Risk profiles: shipped ones load, bad files are refused naming the file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradeloom.adapters.config.risk_profiles import list_profiles, load_profile
from tradeloom.engine.config import config_hash
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.engine import RiskEngine


def test_shipped_profiles_load_and_differ() -> None:
    assert list_profiles() == ["conservative", "moderate", "perps"]
    cons, mod = load_profile("conservative"), load_profile("moderate")
    assert cons.max_position_pct is not None and mod.max_position_pct is not None
    assert cons.max_position_pct < mod.max_position_pct
    assert cons.daily_loss is not None and mod.daily_loss is not None
    assert cons.daily_loss.limit_pct < mod.daily_loss.limit_pct
    assert config_hash(cons) != config_hash(mod)
    RiskEngine(cons)  # a profile is all the engine needs


def test_the_perps_profile_allows_shorts_under_leverage_and_liquidation_limits() -> None:
    perps = load_profile("perps")
    assert perps.long_only is False and perps.max_order_pct is None  # 3x is 300 % of equity
    assert (perps.max_leverage, perps.max_short_exposure) == (5.0, 3.0)
    assert perps.min_liquidation_distance_pct == 0.05
    RiskEngine(perps)


def test_defaults_are_all_off() -> None:
    cfg = RiskConfig()
    off = cfg.model_dump()
    assert all(v in (None, False, {}, "", 0, "reject") for v in off.values()), off


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return path


BAD = [
    # (file content,                                        what the error must say)
    (
        "max_position_pct = 0.5\nmax_exposure_pct = 0.3\n",
        "risk.max_position_pct (0.5) > risk.max_exposure_pct (0.3): one position could never reach its limit",
    ),
    ("max_exposure_pct = 25\n", "risk.max_exposure_pct: Input should be less than or equal to 1"),
    ("max_exposre_pct = 0.25\n", "risk.max_exposre_pct: unknown setting"),
    (
        "[daily_loss]\nreset = 'weekly'\nlimit_pct = 0.05\n",
        "risk.daily_loss.reset: Input should be 'next_day' or 'manual'",
    ),
    ("[daily_loss]\nreset = 'manual'\n", "risk.daily_loss.limit_pct: required setting is missing"),
    ("[cooldown]\nbars = 2\nms = 1000\n", "give exactly one of bars="),
    ("[strategy_budgets]\na = 0.7\nb = 0.6\n", "risk.strategy_budgets sum to 1.3 > 1"),
    ("max_trades_per_hour = 10\nmax_trades_per_day = 5\n", "the hourly limit could never bind"),
    ("kill_at = 'yesterday'\n", "risk.kill_at: cannot read 'yesterday' as a UTC time"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_profile_is_refused_with_file_field_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_unknown_profile_name_suggests_the_close_one() -> None:
    with pytest.raises(
        ConfigError, match="unknown risk profile 'conservativ'; did you mean 'conservative'"
    ):
        load_profile("conservativ")


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_profile("nowhere/risk.toml")


def test_profile_by_path_round_trips(tmp_path: Path) -> None:
    path = _write(tmp_path, "max_exposure_pct = 0.5\n[max_drawdown]\nlimit_pct = 0.2\n")
    cfg = load_profile(path)
    assert cfg == RiskConfig.model_validate(
        {"max_exposure_pct": 0.5, "max_drawdown": {"limit_pct": 0.2}}
    )
    assert cfg.max_drawdown is not None and cfg.max_drawdown.reset == "manual"
