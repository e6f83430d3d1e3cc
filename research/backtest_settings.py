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

A config file never holds secrets; unknown keys are refused with their field path.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from tradeloom.engine.config import StrictModel, Symbols, Timeframe
from tradeloom.engine.sim.config import BrokerSettings
from tradeloom.engine.timeutil import parse_utc_ms


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


__all__ = ["BacktestSettings", "BrokerSettings"]
