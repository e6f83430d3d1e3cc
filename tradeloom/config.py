"""Run configuration: strict, frozen pydantic models loaded from TOML (or YAML).

A config file never holds secrets (credentials come from the environment or a
secrets file it names). Models reject unknown fields, so a misspelt key is an
error, not a silently ignored setting. ``config_hash`` gives the stable id that
goes into every run manifest.

Example ``backtest.toml``::

    strategy = "research/strategies/sma_cross.py:SmaCross"
    symbols = ["BTC/USDT"]
    timeframe = "1h"
    start = "2021-01-01"

    [params]
    fast = 10
    slow = 50

    [broker]
    fee_rate = 0.001
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import parse_utc_ms

ModelT = TypeVar("ModelT", bound=BaseModel)


def check_timeframe(value: str) -> str:
    """Field validator body shared by every config with a ``timeframe`` ('1h', '15m'...).

    Raises ValueError so pydantic reports it with the file and field path.
    """
    try:
        timeframe_to_ms(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return value


def check_symbols(value: list[str]) -> list[str]:
    """Field validator body shared by every config with ``symbols``: BASE/QUOTE, no repeats."""
    for symbol in value:
        if "/" not in symbol:
            raise ValueError(f"symbol {symbol!r} must look like BASE/QUOTE, e.g. 'BTC/USDT'")
    if len(set(value)) != len(value):
        raise ValueError("symbols must not repeat")
    return value


#: A ccxt timeframe name, checked ('1h', '15m', ...); use as a field type.
Timeframe = Annotated[str, AfterValidator(check_timeframe)]
#: One or more BASE/QUOTE symbols without repeats; use as a field type.
Symbols = Annotated[list[str], Field(min_length=1), AfterValidator(check_symbols)]


class StrictModel(BaseModel):
    """Base for every config section: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class BrokerSettings(StrictModel):
    """How the simulated exchange fills orders (see engine/sim_broker.py)."""

    fee_rate: float | None = Field(
        None, ge=0.0, lt=0.1, description="taker and maker fee override; None: use market metadata"
    )
    maker_fee: float | None = Field(None, ge=-0.01, lt=0.1)
    taker_fee: float | None = Field(None, ge=0.0, lt=0.1)
    slippage: Literal["none", "fixed_bps", "volume"] = "none"
    slippage_bps: float = Field(0.0, ge=0.0, le=1000.0)
    volume_share: float | None = Field(
        None, gt=0.0, le=1.0, description="cap each fill at this share of the bar's volume"
    )
    intrabar_rule: Literal["adverse_first", "favorable_first", "open_distance"] = "adverse_first"


class BacktestSettings(StrictModel):
    """Everything one backtest needs; the CLI fills it from flags or a TOML file."""

    strategy: str = Field(description="'path/to/file.py:Class' or 'package.module:Class'")
    symbols: Symbols
    timeframe: Timeframe = "1h"
    exchange: str = "binance"
    start: str | None = None
    end: str | None = None
    initial_cash: float = Field(10_000.0, gt=0)
    seed: int = 0
    params: dict[str, Any] = Field(default_factory=dict)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    risk_profile: str | None = None

    @field_validator("start", "end")
    @classmethod
    def _time_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_utc_ms(value)
        return value


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: file, dotted field path, what is wrong (with allowed values)."""
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting; check the spelling against the documented fields"
        elif err["type"] == "missing":
            msg = "required setting is missing"
        lines.append(f"  {path}: {msg} (got {err.get('input')!r})" if err["type"] != "missing" else f"  {path}: {msg}")
    return "\n".join(lines)


def read_config_file(path: Path | str) -> dict[str, Any]:
    """Parse a TOML (or YAML, if PyYAML is installed) file into a dict, with clear errors."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; pass the path of a .toml file")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ConfigError(
                f"{p}: YAML configs need PyYAML (pip install pyyaml), or use TOML"
            ) from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a table of settings")
    return data


def validate_config(model: type[ModelT], data: dict[str, Any], source: str) -> ModelT:
    """Validate ``data`` against ``model``; a ConfigError names ``source`` and each field path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(model: type[ModelT], path: Path | str) -> ModelT:
    """Read and validate a config file into ``model``."""
    return validate_config(model, read_config_file(path), str(path))


def config_hash(config: BaseModel) -> str:
    """Stable sha256 of a config's canonical JSON (sorted keys), for run manifests.

    >>> a = BrokerSettings(fee_rate=0.001)
    >>> config_hash(a) == config_hash(BrokerSettings(fee_rate=0.001))
    True
    """
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
