"""``RuleStrategy``: a rule set as an event-engine ``Strategy`` with a vectorized form.

A rule file becomes a subclass (``files.rule_strategy_class``) whose ``rules`` is the
file's ``RuleSet`` and whose params are the file's numbers by dotted path
(``indicators.fast.period``): ``RuleStrategy(**{"indicators.fast.period": 20})`` is
the file with that number changed, validated again (an invalid value is a
``StrategyError`` naming the field). It trades the run's symbols, each with its own
indicators, condition state and order logic (``engine.vector.brackets.BracketTrader``),
and refuses a run whose timeframe is not the file's (periods are counted in bars).

``vectorized(bars)`` compiles the same rule set to the kernel's ``Brackets`` form
(``compile.vector_form``): one symbol, sizing by anything but model confidence.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.orders import Bar, Fill
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.vector.brackets import BracketTrader
from tradeloom.engine.vector.form import Brackets, VectorBars
from tradeloom.research.rules.compile import CompiledRules, vector_form
from tradeloom.research.rules.conditions import StreamNodes
from tradeloom.research.rules.document import with_values
from tradeloom.research.rules.schema import FIELDS, Confidence, RuleSet

__all__ = ["RuleStrategy"]


class _SymbolState:
    """One symbol's indicators, condition state, order logic and bar count."""

    __slots__ = ("confidence", "entry", "exit", "i", "readers", "trader", "vol")

    def __init__(self, trader: BracketTrader, entry: StreamNodes, exit: StreamNodes | None,
                 readers: list[tuple[tuple[str, str | None], Any]], vol: Any) -> None:
        self.trader = trader
        self.entry = entry
        self.exit = exit
        self.readers = readers
        self.vol = vol
        self.i = 0


def _reader(name: str, output: str | None, handle: Any) -> Any:
    if handle is None:  # a bar field
        index = Bar._fields.index(name)
        return lambda bar: bar[index]
    if output is None:
        return lambda bar: handle.value
    return lambda bar: getattr(handle.value, output)


class RuleStrategy(Strategy):
    """Base of the classes generated from rule files (see the module docstring)."""

    rules: ClassVar[RuleSet]
    rule_file: ClassVar[str] = ""

    def validate(self) -> None:
        declared = type(self).params()
        changed = {k: v for k, v in self.params_dict().items() if v != declared[k].default}
        base = type(self).rules
        try:
            rules = with_values(base, changed, self.rule_file or "rule file") if changed else base
        except ConfigError as exc:
            raise StrategyError(str(exc)) from None
        self._compiled = CompiledRules(rules)

    @property
    def ruleset(self) -> RuleSet:
        """The rule set this instance runs (the file with its params applied)."""
        return self._compiled.rules

    def on_start(self, ctx: Any) -> None:
        c = self._compiled
        rules = c.rules
        if ctx.timeframe_ms != timeframe_to_ms(rules.timeframe):
            raise StrategyError(
                f"{self.rule_file or rules.name}: the rules are written for {rules.timeframe} bars "
                f"(indicator periods count bars) but this run is {ctx.timeframe_ms // 60_000} min; "
                f"run it on {rules.timeframe} or change timeframe in the file")
        self._state: dict[str, _SymbolState] = {}
        for symbol in ctx.symbols:
            handles = {name: ctx.indicator(d.kind, symbol, d.source, **d.params)
                       for name, d in c.indicators.items()}
            readers = [(s, _reader(s[0], s[1], None if s[0] in FIELDS else handles[s[0]]))
                       for s in c.series]
            vol_params = c.vol_params()
            vol = ctx.indicator("realized_vol", symbol, **vol_params) if vol_params else None
            if isinstance(rules.sizing, Confidence):
                ctx.confidence(rules.sizing.model, symbol)  # warm its features up from bar one
            trader = BracketTrader(symbol, c.exits, fixed_quote=c.fixed_quote)
            self._state[symbol] = _SymbolState(
                trader, StreamNodes(c.entry), StreamNodes(c.exit) if c.exit is not None else None,
                readers, vol)

    def on_fill(self, ctx: Any, fill: Fill) -> None:
        st = self._state[fill.symbol]
        st.trader.on_fill(ctx, fill, st.i)

    def on_bar(self, ctx: Any, bar: Bar) -> None:
        st = self._state[bar.symbol]
        values = {key: read(bar) for key, read in st.readers}
        entry = st.entry.step(values)
        exit_ = st.exit.step(values) if st.exit is not None else False
        c = self._compiled
        sizing = c.rules.sizing
        if st.vol is not None:
            size = c.size(vol=st.vol.value)
        elif isinstance(sizing, Confidence):
            size = c.size(confidence=ctx.confidence(sizing.model, bar.symbol))
        else:
            size = c.size()
        st.trader.on_bar(ctx, bar.close, st.i, entry, exit_, size)
        st.i += 1

    def vectorized(self, bars: VectorBars) -> Brackets:
        """The same rules as arrays for the bracket kernel (see the module docstring)."""
        return vector_form(self._compiled, bars)
