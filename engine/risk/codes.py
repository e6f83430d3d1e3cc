"""Risk decisions as data: reason codes, outcomes, the ``RiskDecision`` value and loop actions.

Every order intent that passes through the ``RiskEngine`` gets a ``RiskDecision``:
approved as asked, resized (a smaller ``amount``), or rejected. A decision carries
the code of the limit that decided it, the limit and the observed value (both in
the unit of the limit: fractions of equity for ``*_pct`` limits, quote currency
for notionals, counts for counts), the setting that governs it and a message a
person can act on. It satisfies the loop's ``RiskDecisionLike`` protocol
(``approved``, ``amount``, ``reason``).

>>> d = RiskDecision.reject(
...     RiskCode.MAX_EXPOSURE, ts=0, order_id=7, symbol="BTC/USDT", requested=0.5,
...     limit=0.25, observed=0.312, setting="risk.max_exposure_pct",
...     what="total exposure would be {observed} of equity, limit {limit}", pct=True)
>>> d.approved, d.amount
(False, 0.0)
>>> d.reason
'rejected: total exposure would be 31.2% of equity, limit 25.0% (risk.max_exposure_pct); reduce size or raise the limit'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class RiskCode(str, Enum):
    """Why a decision came out the way it did (stable values: they are stored in results)."""

    OK = "ok"
    MIN_NOTIONAL = "min_notional"
    MAX_NOTIONAL = "max_notional"
    MAX_ORDER_PCT = "max_order_pct"
    PRICE_BAND = "price_band"
    STALE_DATA = "stale_data"
    NO_PRICE = "no_price"
    NO_EQUITY = "no_equity"
    INSUFFICIENT_CASH = "insufficient_cash"
    MAX_POSITION = "max_position"
    MAX_EXPOSURE = "max_exposure"
    MAX_OPEN_POSITIONS = "max_open_positions"
    STRATEGY_BUDGET = "strategy_budget"
    STRATEGY_POSITION = "strategy_position"
    STRATEGY_OPEN_POSITIONS = "strategy_open_positions"
    LONG_ONLY = "long_only"
    NO_PYRAMIDING = "no_pyramiding"
    DAILY_LOSS = "daily_loss"
    MAX_DRAWDOWN = "max_drawdown"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    COOLDOWN = "cooldown"
    TRADE_RATE = "trade_rate"
    KILL_SWITCH = "kill_switch"
    DEGRADED = "degraded"
    MAX_LEVERAGE = "max_leverage"
    MAX_MARGIN_USAGE = "max_margin_usage"
    LIQUIDATION_DISTANCE = "liquidation_distance"
    MAX_FUNDING_COST = "max_funding_cost"
    SIDE_EXPOSURE = "side_exposure"


class Outcome(str, Enum):
    APPROVED = "approved"
    RESIZED = "resized"
    REJECTED = "rejected"


def _fmt(value: float | None, pct: bool) -> str:
    if value is None:
        return "n/a"
    if pct:
        return f"{value * 100:.1f}%"
    return f"{value:.6g}"


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """One answer of the risk engine (see the module docstring).

    ``requested``/``amount`` are in the order's sizing unit: base units, or quote
    units for a market buy sized by ``quote_amount``. ``message`` is the
    ``reason`` the loop stores on a rejected order.
    """

    outcome: Outcome
    code: RiskCode
    ts: int
    order_id: int
    symbol: str
    requested: float
    amount: float
    limit: float | None = None
    observed: float | None = None
    setting: str = ""
    message: str = ""

    @property
    def approved(self) -> bool:
        return self.outcome is not Outcome.REJECTED

    @property
    def reason(self) -> str:
        return self.message

    @property
    def trivial(self) -> bool:
        """Approved unchanged: not worth recording."""
        return self.outcome is Outcome.APPROVED

    @classmethod
    def approve(cls, *, ts: int, order_id: int, symbol: str, requested: float) -> RiskDecision:
        return cls(Outcome.APPROVED, RiskCode.OK, ts, order_id, symbol, requested, requested)

    @classmethod
    def reject(
        cls,
        code: RiskCode,
        *,
        ts: int,
        order_id: int,
        symbol: str,
        requested: float,
        limit: float | None,
        observed: float | None,
        setting: str,
        what: str,
        pct: bool = False,
        fix: str = "reduce size or raise the limit",
    ) -> RiskDecision:
        """A rejection; ``what`` may use ``{observed}`` and ``{limit}`` (formatted as % when ``pct``)."""
        text = what.format(observed=_fmt(observed, pct), limit=_fmt(limit, pct))
        message = f"rejected: {text} ({setting}); {fix}"
        return cls(
            Outcome.REJECTED,
            code,
            ts,
            order_id,
            symbol,
            requested,
            0.0,
            limit,
            observed,
            setting,
            message,
        )

    @classmethod
    def resize(
        cls,
        code: RiskCode,
        *,
        ts: int,
        order_id: int,
        symbol: str,
        requested: float,
        amount: float,
        limit: float | None,
        observed: float | None,
        setting: str,
        what: str,
        pct: bool = False,
    ) -> RiskDecision:
        """Approved smaller: ``amount`` < ``requested``; the message says what bound it."""
        text = what.format(observed=_fmt(observed, pct), limit=_fmt(limit, pct))
        message = f"resized {requested:.8g} -> {amount:.8g}: {text} ({setting})"
        return cls(
            Outcome.RESIZED,
            code,
            ts,
            order_id,
            symbol,
            requested,
            amount,
            limit,
            observed,
            setting,
            message,
        )

    def record(self) -> dict[str, Any]:
        """Plain dict for ``BacktestResult.build(risk_decisions=...)`` (superset of ``RecordedDecision``)."""
        return {
            "ts": int(self.ts),
            "order_id": int(self.order_id),
            "symbol": self.symbol,
            "approved": self.approved,
            "requested": float(self.requested),
            "amount": float(self.amount),
            "reason": self.message,
            "outcome": self.outcome.value,
            "code": self.code.value,
            "limit": None if self.limit is None else float(self.limit),
            "observed": None if self.observed is None else float(self.observed),
            "setting": self.setting,
        }


class ActionKind(str, Enum):
    CANCEL_ALL = "cancel_all"  # cancel every working order (kill switch)
    FLATTEN = "flatten"  # cancel the symbol's orders and close its position with a reduce-only market order


@dataclass(frozen=True, slots=True)
class RiskAction:
    """A request the loop executes after a hook call (see ``RiskEngine.pending_actions``)."""

    kind: ActionKind
    ts: int
    symbol: str | None
    reason: str
