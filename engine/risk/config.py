"""``RiskConfig``: every limit, breaker and switch of the ``RiskEngine``, all off by default.

Units: every ``*_pct`` setting is a *fraction* (0.25 = 25 %), like
``ctx.target_percent``; notionals are in the quote currency; times in UTC
milliseconds (``kill_at`` also accepts an ISO 8601 string). The model is frozen and
strict (unknown keys are refused), so a misspelt setting is an error, never a
silently ignored limit. Setting names in decisions read ``risk.<field>`` (for
breakers ``risk.<breaker>.<field>``).

Cross-field rules are refused with the reason, e.g. a per-symbol position limit
above the total exposure limit:

>>> RiskConfig(max_exposure_pct=0.5).max_exposure_pct
0.5
>>> from pydantic import ValidationError
>>> try:
...     RiskConfig(max_position_pct=0.6, max_exposure_pct=0.5)
... except ValidationError as exc:
...     print(exc.errors()[0]["msg"].split(": ")[0])
Value error, risk.max_position_pct (0.6) > risk.max_exposure_pct (0.5)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeutil import parse_utc_ms


def _fraction() -> float | None:
    """A fraction-of-equity setting, off by default."""
    return Field(default=None, gt=0.0, le=1.0)  # type: ignore[no-any-return]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BreakerConfig(_Strict):
    """What a tripped breaker does and how it resets.

    ``reset``: ``"next_day"`` clears it at the next UTC day boundary
    (``risk.day_start_hour_utc``), ``"manual"`` only through ``RiskEngine.reset(name)``.
    ``flatten``: also close every open position (reduce-only market orders).
    ``escalate``: also trigger the kill switch.
    """

    reset: Literal["next_day", "manual"] = "next_day"
    flatten: bool = False
    escalate: bool = False


class DailyLossConfig(BreakerConfig):
    """Trip when equity falls ``limit_pct`` below the start-of-day equity."""

    limit_pct: float = Field(gt=0.0, le=1.0)


class DrawdownConfig(BreakerConfig):
    """Trip when equity falls ``limit_pct`` below its running peak (reset re-bases the peak)."""

    limit_pct: float = Field(gt=0.0, le=1.0)
    reset: Literal["next_day", "manual"] = "manual"


class ConsecutiveLossConfig(BreakerConfig):
    """Trip after ``limit`` round trips in a row closed at a loss (fees included)."""

    limit: int = Field(ge=1)


class CooldownConfig(_Strict):
    """Refuse entries on a symbol for ``bars`` of its bars or ``ms`` after a loss or stop-out.

    A stop-out is a fill whose tag is one of ``stop_tags`` or ends with ``:sl``
    (bracket stop legs).
    """

    bars: int | None = Field(default=None, ge=1)
    ms: int | None = Field(default=None, ge=1)
    after: Literal["loss", "stop", "loss_or_stop"] = "loss_or_stop"
    stop_tags: tuple[str, ...] = ("stop_loss", "trailing_stop")

    @model_validator(mode="after")
    def _one_duration(self) -> CooldownConfig:
        if (self.bars is None) == (self.ms is None):
            raise ValueError(
                "risk.cooldown: give exactly one of bars= (bars of the symbol) or ms= (milliseconds)"
            )
        return self


class StrategyLimits(_Strict):
    """Caps on one strategy of a portfolio (``risk.strategy_limits.<id>``), on top of its
    budget (``risk.strategy_budgets.<id>``) and the account-wide limits.

    ``max_position_pct``: any one of its positions (and open entries) as a fraction of
    the account's equity; ``max_open_positions``: how many symbols it holds or is
    entering at once.
    """

    max_position_pct: float | None = _fraction()
    max_open_positions: int | None = Field(default=None, ge=1)


#: The perpetual limits (``engine.risk.perp_limits``), off unless set.
PERP_SETTINGS = ("max_leverage", "max_margin_usage_pct", "min_liquidation_distance_pct",
                 "max_funding_cost_pct", "max_long_exposure", "max_short_exposure",
                 "max_net_exposure")


class RiskConfig(_Strict):
    """All risk settings (see the module docstring for units). ``None``/``False`` = off."""

    description: str = ""
    # -- per order
    min_notional: float | None = Field(default=None, gt=0.0)
    max_notional: float | None = Field(default=None, gt=0.0)
    max_order_pct: float | None = _fraction()
    price_band_pct: float | None = Field(default=None, gt=0.0, le=10.0)
    stale_after_bars: int | None = Field(default=None, ge=1)
    fee_aware_sizing: bool = False
    on_size_breach: Literal["reject", "resize"] = "reject"
    # -- per portfolio
    max_position_pct: float | None = _fraction()
    max_exposure_pct: float | None = _fraction()
    max_open_positions: int | None = Field(default=None, ge=1)
    strategy_budgets: dict[str, float] = Field(default_factory=dict)
    strategy_limits: dict[str, StrategyLimits] = Field(default_factory=dict)
    long_only: bool = False
    no_pyramiding: bool = False
    # -- perpetuals (engine.risk.perp_limits)
    max_leverage: float | None = Field(default=None, gt=0.0, le=125.0)
    max_margin_usage_pct: float | None = _fraction()
    min_liquidation_distance_pct: float | None = _fraction()
    max_funding_cost_pct: float | None = _fraction()
    max_long_exposure: float | None = Field(default=None, gt=0.0, le=125.0)
    max_short_exposure: float | None = Field(default=None, gt=0.0, le=125.0)
    max_net_exposure: float | None = Field(default=None, gt=0.0, le=125.0)
    # -- breakers
    day_start_hour_utc: int = Field(default=0, ge=0, le=23)
    daily_loss: DailyLossConfig | None = None
    max_drawdown: DrawdownConfig | None = None
    consecutive_losses: ConsecutiveLossConfig | None = None
    cooldown: CooldownConfig | None = None
    max_trades_per_hour: int | None = Field(default=None, ge=1)
    max_trades_per_day: int | None = Field(default=None, ge=1)
    # -- kill switch
    kill_at: int | None = None
    kill_flatten: bool = False

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Dumps leave out ``strategy_limits`` while it is empty and the perpetual limits
        while they are off, so configs without them dump (and hash, and journal) exactly
        as before they existed."""
        data = handler(self)
        if not self.strategy_limits:
            data.pop("strategy_limits", None)
        for name in PERP_SETTINGS:  # likewise the perpetual limits while they are off
            if getattr(self, name) is None:
                data.pop(name, None)
        return data

    @model_validator(mode="before")
    @classmethod
    def _removed_settings(cls, data: object) -> object:
        if isinstance(data, dict) and "fee_rate" in data:
            if data["fee_rate"] is None:  # what older journals' session records hold: no-op
                return {k: v for k, v in data.items() if k != "fee_rate"}
            raise ConfigError(
                f"risk.fee_rate ({data['fee_rate']!r}) was removed: risk sizing now plans fees "
                "with the broker's own fee model, so the rate is set once, for both - in a "
                "backtest config as [broker] fee_rate (or maker_fee / taker_fee); paper and "
                "live use the exchange's market fees. Delete fee_rate from the risk profile"
            )
        return data

    @field_validator("kill_at", mode="before")
    @classmethod
    def _parse_kill_at(cls, value: object) -> object:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, (str, int, float)):
            try:
                return parse_utc_ms(value, "risk.kill_at")
            except ConfigError as exc:  # pydantic reports ValueErrors with the field path
                raise ValueError(str(exc).removeprefix("risk.kill_at: ")) from None
        return value

    @field_validator("strategy_budgets")
    @classmethod
    def _budgets(cls, value: dict[str, float]) -> dict[str, float]:
        for sid, share in value.items():
            if not (0.0 < share <= 1.0):
                raise ValueError(
                    f"risk.strategy_budgets.{sid} = {share}: a budget is a fraction of equity in (0, 1] "
                    "(0.25 = 25 %)"
                )
        total = sum(value.values())
        if total > 1.0 + 1e-12:
            raise ValueError(
                f"risk.strategy_budgets sum to {total:.4g} > 1: the strategies together would be allowed "
                "more than the whole equity; lower some budgets"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RiskConfig:
        pairs = (
            (
                "max_position_pct",
                "max_exposure_pct",
                (
                    "one position could never reach its limit because total exposure is capped lower; "
                    "lower max_position_pct or raise max_exposure_pct"
                ),
            ),
            (
                "max_order_pct",
                "max_position_pct",
                (
                    "one order could never use its limit because the position is capped lower; "
                    "lower max_order_pct or raise max_position_pct"
                ),
            ),
        )
        for small, big, why in pairs:
            a, b = getattr(self, small), getattr(self, big)
            if a is not None and b is not None and a > b:
                raise ValueError(f"risk.{small} ({a}) > risk.{big} ({b}): {why}")
        for sid, caps in self.strategy_limits.items():
            budget = self.strategy_budgets.get(sid)
            cap = caps.max_position_pct
            if cap is not None and budget is not None and cap > budget:
                raise ValueError(
                    f"risk.strategy_limits.{sid}.max_position_pct ({cap}) > "
                    f"risk.strategy_budgets.{sid} ({budget}): the position could never reach "
                    "its cap; lower the cap or raise the budget"
                )
        if (
            self.max_trades_per_hour is not None
            and self.max_trades_per_day is not None
            and self.max_trades_per_hour > self.max_trades_per_day
        ):
            raise ValueError(
                f"risk.max_trades_per_hour ({self.max_trades_per_hour}) > risk.max_trades_per_day "
                f"({self.max_trades_per_day}): the hourly limit could never bind; lower it or raise the daily one"
            )
        if (
            self.max_notional is not None
            and self.min_notional is not None
            and self.min_notional > self.max_notional
        ):
            raise ValueError(
                f"risk.min_notional ({self.min_notional}) > risk.max_notional ({self.max_notional}): "
                "no order could pass both; lower min_notional or raise max_notional"
            )
        return self
