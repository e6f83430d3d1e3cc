"""Risk profiles: named (shipped) or user TOML files loaded into a ``RiskConfig``.

A profile is a TOML file whose top-level keys are ``RiskConfig`` fields and whose
tables are its breakers (``[daily_loss]``, ``[max_drawdown]``,
``[consecutive_losses]``, ``[cooldown]``). Shipped profiles live in
``adapters/config/profiles/``: ``conservative`` and ``moderate`` (spot, long only), and
``perps`` (perpetual swaps: shorts allowed, leverage and liquidation-distance limits).
Errors name the file
and the ``risk.`` field path, and what to do.

>>> load_profile("conservative").max_position_pct
0.2
>>> list_profiles()
['conservative', 'moderate', 'perps']
>>> load_profile("agressive")
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: unknown risk profile 'agressive'; shipped profiles: conservative, moderate, perps (or give the path of a .toml file)
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tradeloom.adapters.config.files import read_config_file
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.risk.config import RiskConfig

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"


def list_profiles() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def profile_path(name_or_path: str | Path) -> Path:
    """The file a profile name or path refers to (a path if it ends in .toml or contains a separator)."""
    text = str(name_or_path)
    if text.endswith((".toml", ".yaml", ".yml")) or "/" in text or "\\" in text:
        return Path(text)
    path = PROFILE_DIR / f"{text}.toml"
    if not path.is_file():
        names = list_profiles()
        close = difflib.get_close_matches(text, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown risk profile {text!r}; {hint}shipped profiles: {', '.join(names)} "
            "(or give the path of a .toml file)"
        )
    return path


def risk_config_from_dict(data: dict[str, Any], source: str) -> RiskConfig:
    """Validate a dict as a ``RiskConfig``; a ConfigError names ``source`` and each ``risk.`` field."""
    try:
        return RiskConfig.model_validate(data)
    except ConfigError as exc:  # a removed setting: the message says what replaces it
        raise ConfigError(f"{source}: {exc}") from None
    except ValidationError as exc:
        lines = [f"{source}: invalid risk profile"]
        for err in exc.errors():
            path = ".".join(["risk", *(str(p) for p in err["loc"])])
            if err["type"] == "extra_forbidden":
                fields = ", ".join(RiskConfig.model_fields)
                lines.append(
                    f"  {path}: unknown setting (got {err.get('input')!r}); known settings: {fields}"
                )
            elif err["type"] == "missing":
                lines.append(f"  {path}: required setting is missing")
            else:
                msg = err["msg"].removeprefix("Value error, ")
                lines.append(
                    f"  {path}: {msg} (got {err.get('input')!r})"
                    if err["loc"]
                    else f"  {path}: {msg}"
                )
        raise ConfigError("\n".join(lines)) from None


def load_profile(name_or_path: str | Path) -> RiskConfig:
    """Load a shipped profile by name (``"conservative"``) or a TOML file by path."""
    path = profile_path(name_or_path)
    return risk_config_from_dict(read_config_file(path), str(path))
