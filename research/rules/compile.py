"""A rule set in the two engines: the event form's per-bar inputs and the vectorized form.

Both read the same library indicators (streaming ``ctx.indicator`` objects in the
event engine, the batch functions here; they agree bit for bit), evaluate the same
flattened conditions (``conditions``) and size with the same expressions, then hand
the decisions to the same order logic (``engine.vector.brackets``: ``BracketTrader``
in the event engine, ``brackets_nb`` in the kernel). So the two agree trade for
trade by construction, and the property tests check it on random rule sets.

Sizing per bar: ``percent_equity`` -> ``percent``; ``fixed_amount`` -> the trader's
``fixed_quote`` (``min(1, amount / equity)`` at the decision); ``volatility_target``
-> ``min(max_percent, target / vol)`` with ``vol`` the ``realized_vol`` indicator
(``lookback`` bars, annualised by the timeframe), no entry while ``vol`` is not > 0;
``confidence`` -> event engine only (a model's online predictions have no array form).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradeloom.engine.indicators.registry import INDICATORS
from tradeloom.engine.timeframes import bars_per_year
from tradeloom.engine.vector.form import BracketExits, Brackets, NotVectorizable, VectorBars
from tradeloom.research.rules.conditions import Node, Ref, batch_values, flatten, refs_of
from tradeloom.research.rules.schema import (
    FIELDS,
    Confidence,
    FixedAmount,
    IndicatorDef,
    PercentEquity,
    RuleSet,
    VolatilityTarget,
)

__all__ = ["CompiledRules", "bracket_exits", "compile_rules", "vector_form"]


def bracket_exits(rules: RuleSet) -> BracketExits:
    """The exits of ``rules`` as the order logic's ``BracketExits``."""
    ex = rules.exit
    return BracketExits(stop_loss=ex.stop_loss,
                        take_profits=tuple((tp.at, tp.fraction) for tp in ex.take_profit),
                        trailing=ex.trailing_stop, time_stop=ex.time_stop)


class CompiledRules:
    """What both engines need from a rule set: nodes, the indicators they read, the exits."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.entry: list[Node] = flatten(rules.entry.when)
        self.exit: list[Node] | None = flatten(rules.exit.when) if rules.exit.when is not None else None
        used = {r.name for r in refs_of(self.entry + (self.exit or []))}
        #: The indicators the conditions read, in file order.
        self.indicators: dict[str, IndicatorDef] = {
            n: d for n, d in rules.indicators.items() if n in used}
        self.series = sorted({r.series for r in refs_of(self.entry + (self.exit or []))})
        self.exits = bracket_exits(rules)
        sizing = rules.sizing
        self.fixed_quote = sizing.amount if isinstance(sizing, FixedAmount) else None

    def vol_params(self) -> dict[str, Any] | None:
        """``realized_vol`` parameters of volatility-target sizing (None: other sizing)."""
        s = self.rules.sizing
        if not isinstance(s, VolatilityTarget):
            return None
        return {"period": s.lookback, "periods_per_year": bars_per_year(self.rules.timeframe)}

    def size(self, vol: float = float("nan"), confidence: float = float("nan")) -> float:
        """The entry's fraction of equity on a bar (NaN: no entry) - the event form's sizing."""
        s = self.rules.sizing
        if isinstance(s, PercentEquity):
            return s.percent
        if isinstance(s, FixedAmount):
            return 1.0  # the trader sizes it from the amount
        if isinstance(s, VolatilityTarget):
            return min(s.max_percent, s.target / vol) if vol > 0.0 else float("nan")
        if isinstance(s, Confidence):
            return min(1.0, s.scale * confidence) if confidence >= s.min_confidence else float("nan")
        raise TypeError(f"unknown sizing {s!r}")


def compile_rules(rules: RuleSet) -> CompiledRules:
    """Nodes, indicators and exits of ``rules`` (see ``CompiledRules``)."""
    return CompiledRules(rules)


def _indicator(bars: VectorBars, d: IndicatorDef) -> dict[str | None, np.ndarray]:
    """Batch outputs of one indicator, memoised on ``bars`` across the combinations of a sweep."""
    key = ("rules.indicator", d.kind, d.source, tuple(sorted(d.params.items())))
    cached = bars.cache.get(key)
    if cached is not None:
        return cached
    spec = INDICATORS[d.kind]
    inputs = (d.source,) if len(spec.inputs) == 1 else spec.inputs
    result = spec.batch(*(bars.field(f) for f in inputs), **d.params)
    outputs = spec.outputs
    out: dict[str | None, np.ndarray] = (
        {None: np.asarray(result)} if len(outputs) == 1 else
        {o: np.asarray(getattr(result, o)) for o in outputs})
    bars.cache[key] = out
    return out


def vector_form(compiled: CompiledRules, bars: VectorBars) -> Brackets:
    """The ``Brackets`` form of the rules on ``bars`` (one symbol)."""
    bars.index()  # NotVectorizable for several symbols
    rules = compiled.rules
    sizing = rules.sizing
    if isinstance(sizing, Confidence):
        raise NotVectorizable(
            f"sizing by model confidence ({sizing.model}) is computed online by the event engine; "
            "the kernels have no model input")

    def series(ref: Ref) -> np.ndarray:
        if ref.name in FIELDS:
            return bars.field(ref.name)
        return _indicator(bars, rules.indicators[ref.name])[ref.output]

    entries = batch_values(compiled.entry, series)
    exits = batch_values(compiled.exit, series) if compiled.exit is not None else np.zeros(
        bars.n_bars, dtype=np.bool_)
    n = bars.n_bars
    if isinstance(sizing, VolatilityTarget):
        vol = _indicator(bars, IndicatorDef(kind="realized_vol", params=compiled.vol_params() or {}))[None]
        with np.errstate(divide="ignore", invalid="ignore"):
            size = np.where(vol > 0.0, np.minimum(sizing.max_percent, sizing.target / vol), np.nan)
    else:
        size = np.full(n, compiled.size())
    return Brackets(entries, exits, size, compiled.exits, compiled.fixed_quote)
