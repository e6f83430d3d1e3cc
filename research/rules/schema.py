"""The rule-file schema: a strategy as data (TOML or JSON), validated strictly.

A rule file names its symbols and timeframe, the indicators it reads (from
``tradeloom.engine.indicators.registry``, with their parameters), when to enter and
when to exit (conditions), how to exit besides (stop-loss, take-profit ladder,
trailing stop, time stop), how much to buy, and optionally a risk profile::

    name = "rsi_dip"
    symbols = ["BTC/USDT"]
    timeframe = "1h"

    [indicators.rsi]
    kind = "rsi"
    period = 14

    [entry]
    side = "long"
    when = { left = "rsi", op = "<", right = 30, for_bars = 2 }

    [exit]
    when = { left = "rsi", op = "crosses_above", right = 55 }
    stop_loss = 0.03

    [sizing]
    kind = "percent_equity"
    percent = 0.5

**Conditions** are tables: a comparison ``{ left, op, right }`` with ``op`` one of
``<``, ``<=``, ``>``, ``>=``, ``crosses_above``, ``crosses_below``; or ``{ all = [...] }``,
``{ any = [...] }``, ``{ not = {...} }``. Any condition may add ``for_bars = N``: true
only when it held on this bar and the ``N - 1`` before. An operand is a number, a bar
field (``open``, ``high``, ``low``, ``close``, ``volume``), an indicator name, an
indicator output (``bands.upper``), each optionally ``[k]`` bars ago (``chan.upper[1]``).
See ``conditions`` for their exact meaning (NaN compares false; crossings as ``SmaCross``).

**Exits**: ``when`` (a condition), ``stop_loss`` and ``take_profit`` levels (fractions of
the entry decision's close; the ladder's fractions sum to 1 and need a stop-loss:
they go out with the entry as one bracket), ``trailing_stop`` (fraction below the best
price since the entry), ``time_stop`` (bars after the entry fill). At least one.

**Sizing**: ``percent_equity`` (``percent``), ``fixed_amount`` (``amount`` of quote
currency), ``volatility_target`` (``target`` annualised volatility over ``lookback``
bars, capped at ``max_percent``), ``confidence`` (``ctx.confidence(model)`` times
``scale`` when at least ``min_confidence``).

``side = "short"`` is refused until derivatives exist. Errors name each field path
(``entry.when.all.1.right``); ``validate_rules`` returns them all at once.
"""

from __future__ import annotations

import difflib
import math
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from tradeloom.engine.config import StrictModel, Symbols, Timeframe
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.indicators.registry import INDICATORS
from tradeloom.engine.vector.form import MAX_TAKE_PROFITS

__all__ = [
    "FIELDS",
    "AllOf",
    "AnyOf",
    "Compare",
    "Condition",
    "Entry",
    "Exit",
    "IndicatorDef",
    "NotOf",
    "Op",
    "RuleFileError",
    "RuleSet",
    "Side",
    "TakeProfit",
    "validate_rules",
]

FIELDS = ("open", "high", "low", "close", "volume")
MAX_LAG = 1_000
SHORT_REFUSED = ("short rules need derivatives (a short sells what the account does not hold); "
                 "spot accounts are long-only until the derivatives work lands: use side = \"long\"")


class RuleFileError(ConfigError):
    """A rule file is invalid; ``problems`` holds ``(field path, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: invalid rule file"] + [f"  {p or '(top level)'}: {m}" for p, m in problems]
        super().__init__("\n".join(lines))


class Side(str, Enum):
    """Which way an entry trades. ``short`` is declared so that files can say it, and
    refused with ``SHORT_REFUSED`` until derivatives exist."""

    LONG = "long"
    SHORT = "short"


class Op(str, Enum):
    """Comparison operators of a ``Compare`` condition."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    CROSSES_ABOVE = "crosses_above"
    CROSSES_BELOW = "crosses_below"


Operand = str | float


class _Node(StrictModel):
    for_bars: int = Field(1, ge=1, le=MAX_LAG, description="held on this bar and the N-1 before")


class Compare(_Node):
    """``left op right``; operands are numbers, bar fields or indicator references."""

    left: Operand
    op: Op
    right: Operand

    @field_validator("left", "right", mode="before")
    @classmethod
    def _operand(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("an operand is a number, a bar field or an indicator name, not "
                             "true/false")
        return float(value) if isinstance(value, int) else value


class AllOf(_Node):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Node):
    any: list[Condition] = Field(min_length=1)


class NotOf(_Node):
    model_config = {"populate_by_name": True}
    not_: Condition = Field(alias="not")


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
        if "op" in value or "left" in value or "right" in value:
            return "compare"
        return None
    return {Compare: "compare", AllOf: "all", AnyOf: "any", NotOf: "not"}.get(type(value))


Condition = Annotated[
    Annotated[Compare, Tag("compare")] | Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")],
    Discriminator(_condition_kind, custom_error_type="condition",
                  custom_error_message="a condition is { left, op, right }, { all = [...] }, "
                                       "{ any = [...] } or { not = {...} }"),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


class IndicatorDef(StrictModel):
    """One indicator of the library: ``kind``, its parameters, and for single-input
    indicators the bar field it reads (``source``, default ``close``)."""

    kind: str
    source: Literal["open", "high", "low", "close", "volume"] = "close"
    params: dict[str, float | int] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _flat_params(cls, data: Any) -> Any:
        if isinstance(data, dict) and "params" not in data:
            rest = {k: v for k, v in data.items() if k not in ("kind", "source")}
            data = {k: v for k, v in data.items() if k in ("kind", "source")} | {"params": rest}
        return data

    @field_validator("kind")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in INDICATORS:
            close = difflib.get_close_matches(value, INDICATORS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown indicator {value!r}; {hint}known: {', '.join(sorted(INDICATORS))}")
        return value

    @model_validator(mode="after")
    def _params_fit(self) -> IndicatorDef:
        spec = INDICATORS[self.kind]
        kinds = param_types(self.kind)
        for key, value in self.params.items():
            if key not in kinds:
                close = difflib.get_close_matches(key, list(kinds), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"{self.kind} has no parameter {key!r}{hint} (parameters: "
                                 f"{', '.join(kinds) or 'none'})")
            if isinstance(value, bool) or (kinds[key] is int and not isinstance(value, int)):
                raise ValueError(f"{self.kind}.{key} must be a whole number, got {value!r}")
        if len(spec.inputs) != 1 and self.source != "close":
            raise ValueError(f"{self.kind} reads {', '.join(spec.inputs)}; source applies to "
                             "single-input indicators only")
        try:
            spec.make_stream(**self.params)
        except (ConfigError, ValueError, TypeError) as exc:
            raise ValueError(f"{self.kind}: {exc}") from None
        return self

    @property
    def outputs(self) -> tuple[str, ...]:
        return INDICATORS[self.kind].outputs


def param_types(kind: str) -> dict[str, type]:
    """``{parameter: int | float}`` of indicator ``kind`` (from its streaming signature)."""
    import inspect

    sig = inspect.signature(INDICATORS[kind].stream.__init__)
    out: dict[str, type] = {}
    for name, p in sig.parameters.items():
        if name == "self":
            continue
        out[name] = int if "int" in str(p.annotation) and "float" not in str(p.annotation) else float
    return out


def _fraction_open(value: float | None, name: str) -> float | None:
    if value is not None and not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(f"{name} is a fraction in (0, 1): 0.02 = 2 %")
    return value


class Entry(StrictModel):
    side: Side = Side.LONG
    when: Condition

    @field_validator("side")
    @classmethod
    def _long_only(cls, value: Side) -> Side:
        if value is Side.SHORT:
            raise ValueError(SHORT_REFUSED)
        return value


class TakeProfit(StrictModel):
    at: float = Field(gt=0, description="distance above the entry decision's close (0.02 = 2 %)")
    fraction: float = Field(gt=0, le=1, description="share of the filled entry sold there")


class Exit(StrictModel):
    when: Condition | None = None
    stop_loss: float | None = None
    take_profit: list[TakeProfit] = Field(default_factory=list, max_length=MAX_TAKE_PROFITS)
    trailing_stop: float | None = None
    time_stop: int | None = Field(None, ge=1)

    @field_validator("stop_loss", "trailing_stop")
    @classmethod
    def _fraction(cls, value: float | None, info: Any) -> float | None:
        return _fraction_open(value, info.field_name)

    @model_validator(mode="after")
    def _coherent(self) -> Exit:
        if self.take_profit and self.stop_loss is None:
            raise ValueError("take_profit needs stop_loss: the ladder goes out with the entry as a "
                             "bracket, which is an entry protected by a stop-loss")
        total = sum(tp.fraction for tp in self.take_profit)
        if self.take_profit and abs(total - 1.0) > 1e-9:
            raise ValueError(f"take_profit fractions sum to {total:g}; they must sum to 1 (each "
                             "level sells its share of the filled entry)")
        if (self.when is None and self.stop_loss is None and self.trailing_stop is None
                and self.time_stop is None):
            raise ValueError("give at least one of when, stop_loss, trailing_stop, time_stop; "
                             "otherwise a position is never closed")
        return self


class PercentEquity(StrictModel):
    kind: Literal["percent_equity"] = "percent_equity"
    percent: float = Field(1.0, gt=0, le=1, description="fraction of equity per entry (1 = all-in)")


class FixedAmount(StrictModel):
    kind: Literal["fixed_amount"]
    amount: float = Field(gt=0, description="quote currency per entry (capped at equity)")


class VolatilityTarget(StrictModel):
    kind: Literal["volatility_target"]
    target: float = Field(gt=0, description="annualised volatility aimed at (0.5 = 50 %)")
    lookback: int = Field(48, ge=2, description="bars of realized volatility")
    max_percent: float = Field(1.0, gt=0, le=1, description="cap, fraction of equity")


class Confidence(StrictModel):
    kind: Literal["confidence"]
    model: str = Field(min_length=1, description="model registry ref, e.g. btc_dir@champion")
    scale: float = Field(1.0, gt=0, le=1, description="fraction of equity at confidence 1")
    min_confidence: float = Field(0.5, ge=0, lt=1, description="no entry below this confidence")


Sizing = Annotated[PercentEquity | FixedAmount | VolatilityTarget | Confidence,
                   Field(discriminator="kind")]


class RuleSet(StrictModel):
    """A whole rule file (see the module docstring)."""

    name: str = Field("rules", min_length=1, max_length=64,
                      description="the strategy id stamped on every order and fill")
    description: str = ""
    symbols: Symbols
    timeframe: Timeframe
    risk_profile: str | None = None
    indicators: dict[str, IndicatorDef] = Field(default_factory=dict)
    entry: Entry
    exit: Exit
    sizing: Sizing = Field(default_factory=PercentEquity)

    @field_validator("indicators")
    @classmethod
    def _names(cls, value: dict[str, IndicatorDef]) -> dict[str, IndicatorDef]:
        for name in value:
            if not name.isidentifier() or name in FIELDS:
                raise ValueError(f"indicator name {name!r}: use letters, digits and _ (not starting "
                                 f"with a digit), and not a bar field ({', '.join(FIELDS)})")
        return value


def _loc(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as the file's dotted path (union tags and the
    ``not_`` alias dropped, so ``entry.when.all.0.right``)."""
    parts: list[str] = []
    for p in loc:
        if p in ("compare", "percent_equity", "fixed_amount", "volatility_target", "confidence"):
            continue
        if isinstance(p, str) and p.startswith("function-"):
            continue
        p = "not" if p == "not_" else str(p)
        if p in ("all", "any", "not") and parts and parts[-1] == f"<{p}>":
            parts[-1] = p  # the union's tag, then the field of that name: one step of the path
            continue
        parts.append(f"<{p}>" if p in ("all", "any", "not") else p)
    return ".".join(x for x in parts if not x.startswith("<"))  # a tag alone is no step


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown field; check the spelling against the rule-file schema"
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if "input" in err and kind not in ("value_error",):
        msg = f"{msg} (got {err['input']!r})"
    return msg


def validate_rules(data: Any, source: str = "rule file") -> RuleSet:
    """A ``RuleSet`` from parsed TOML/JSON, or ``RuleFileError`` listing every problem
    (schema errors, then references to unknown indicators, outputs or fields)."""
    try:
        rules = RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = [(_loc(e["loc"]), _message(e)) for e in exc.errors()]
        raise RuleFileError(source, problems) from None
    from tradeloom.research.rules.conditions import reference_problems

    problems = reference_problems(rules)
    if problems:
        raise RuleFileError(source, problems)
    return rules
