"""``BacktestSettings``: everything one backtest needs, from CLI flags or a TOML file.

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

A portfolio of strategies in one account replaces ``strategy`` and ``params`` with
``[[sleeve]]`` tables (``tradeloom.research.portfolio``)::

    timeframe = "1h"

    [[sleeve]]
    id = "trend"
    strategy = "research/strategies/sma_cross.py:SmaCross"
    params = { fast = 10, slow = 50 }
    symbols = ["BTC/USDT"]
    budget_pct = 0.5

A config file never holds secrets; unknown keys are refused with their field path.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from tradeloom.engine.config import StrictModel, Symbols, Timeframe
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.sim.config import BrokerSettings
from tradeloom.engine.timeutil import parse_utc_ms
from tradeloom.research.portfolio import portfolio_fields


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

    @model_validator(mode="before")
    @classmethod
    def _sleeves(cls, data: Any) -> Any:
        """``[[sleeve]]`` tables become the portfolio strategy, its params and symbols."""
        if not isinstance(data, dict):
            return data
        try:
            return portfolio_fields(data, "sleeve")
        except ConfigError as exc:  # reported by pydantic, so with the file's name
            raise ValueError(str(exc)) from None

    @field_validator("start", "end")
    @classmethod
    def _time_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_utc_ms(value)
        return value


__all__ = ["BacktestSettings", "BrokerSettings"]
