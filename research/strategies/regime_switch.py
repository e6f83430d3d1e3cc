"""Regime-aware selector: give each symbol to the sub-strategy configured for its regime.

Idea: trend-following earns in trends and bleeds in ranges; mean reversion does the
opposite; in the wildest markets both are coin flips with fees. So classify every
symbol's regime on every closed bar (``research/universe/regime.py``: ADX for trend, the
realized-vol percentile for "volatile", with hysteresis) and let the matching
sub-strategy trade it:

- ``trending`` -> ``sma_cross`` (``SmaCross``) by default,
- ``ranging``  -> ``rsi_reversion`` (``RsiReversion``),
- ``volatile`` -> ``flat`` (no sub-strategy: the symbol is held in cash),
- warm-up, and symbols outside the universe (``with_universe``) -> ``flat``.

Any of ``sma_cross``, ``rsi_reversion``, ``breakout_bracket`` or ``flat`` may be
assigned to any regime; ``sub_params`` (JSON, e.g. ``{"sma_cross": {"fast": 5}}``)
sets their params.

Mechanics: the selector owns one instance of every assigned sub-strategy per
symbol, each seeing a :class:`~tradeloom.research.sleeve_context.SleeveContext`:
one symbol, an equal share of equity, its orders tagged ``"<name>:<tag>"`` (e.g.
``rsi_reversion:target``). Every sub-strategy gets every bar (state stays warm);
only the active one may trade. When a symbol's sub-strategy changes, the old
one's working orders are cancelled and the position is sold with a market order
tagged ``regime_switch:flatten``; the new one becomes active on the first bar
after that sell is done, so it starts from a flat sleeve.

Every change of regime or sub-strategy is a :class:`RegimeSwitch` in
``self.switches`` and a ``regime_switch ...`` message in the run's events, with the
figures that decided it. The classifier is fed the bars the engine delivers,
so the switches equal those of ``classify`` over the same bars, and two runs
give identical results.

Run it::

    tradeloom backtest research/strategies/regime_switch.py:RegimeSelector \\
        --symbols BTC/USDT,ETH/USDT --timeframe 1h
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tradeloom.engine.strategy.base import Param, Strategy, StrategyError
from tradeloom.research.sleeve_context import SleeveContext
from tradeloom.research.strategies.breakout_bracket import BreakoutBracket
from tradeloom.research.strategies.rsi_reversion import RsiReversion
from tradeloom.research.strategies.sma_cross import SmaCross
from tradeloom.research.universe.regime import Regime, RegimeConfig, RegimeTracker

FLAT = "flat"
FLATTEN_TAG = "regime_switch:flatten"
SUBSTRATEGIES: dict[str, type[Strategy]] = {
    "sma_cross": SmaCross, "rsi_reversion": RsiReversion, "breakout_bracket": BreakoutBracket,
}
_CHOICES = (*SUBSTRATEGIES, FLAT)


@dataclass(frozen=True, slots=True)
class RegimeSwitch:
    """One change of a symbol's regime and/or sub-strategy, with the deciding figures."""

    ts: int
    symbol: str
    from_regime: str
    to_regime: str
    from_sub: str
    to_sub: str
    adx: float
    vol: float
    vol_pct: float
    in_universe: bool

    def message(self) -> str:
        return (f"regime_switch {self.symbol} {self.from_regime}->{self.to_regime} "
                f"sub {self.from_sub}->{self.to_sub} adx={self.adx:.4f} vol={self.vol:.6f} "
                f"vol_pct={self.vol_pct:.4f} in_universe={self.in_universe}")


class RegimeSelector(Strategy):
    """Per-symbol regime classification and sub-strategy delegation (see the module docs)."""

    adx_period = Param(int, 14, min=2, help="ADX period (bars)")
    adx_enter = Param(float, 25.0, min=0.0, max=100.0, help="ADX above: trending")
    adx_exit = Param(float, 20.0, min=0.0, max=100.0, help="ADX below: trend over")
    vol_period = Param(int, 24, min=2, help="realized vol window (bars of returns)")
    vol_window = Param(int, 720, min=2, help="bars the vol percentile ranks in")
    vol_enter = Param(float, 0.8, min=0.0, max=1.0, help="vol percentile above: volatile")
    vol_exit = Param(float, 0.7, min=0.0, max=1.0, help="vol percentile below: calm again")
    trending = Param(str, "sma_cross", choices=_CHOICES, help="sub-strategy in trends")
    ranging = Param(str, "rsi_reversion", choices=_CHOICES, help="sub-strategy in ranges")
    volatile = Param(str, FLAT, choices=_CHOICES, help="sub-strategy when volatile")
    sub_params = Param(str, "", help='JSON params per sub-strategy, e.g. {"sma_cross": {"fast": 5}}')

    def validate(self) -> None:
        self.regime_config = RegimeConfig(
            adx_period=self.adx_period, adx_enter=self.adx_enter, adx_exit=self.adx_exit,
            vol_period=self.vol_period, vol_window=self.vol_window, vol_enter=self.vol_enter,
            vol_exit=self.vol_exit)
        try:
            extra = json.loads(self.sub_params) if self.sub_params else {}
        except json.JSONDecodeError as exc:
            raise StrategyError(f"sub_params is not valid JSON ({exc}); e.g. "
                                '{"sma_cross": {"fast": 5}}') from None
        if not isinstance(extra, dict) or not all(isinstance(v, dict) for v in extra.values()):
            raise StrategyError("sub_params must be a JSON object of objects, e.g. "
                                '{"sma_cross": {"fast": 5}}')
        unknown = sorted(set(extra) - set(SUBSTRATEGIES))
        if unknown:
            raise StrategyError(f"sub_params names unknown sub-strategies {unknown}; "
                                f"known: {sorted(SUBSTRATEGIES)}")
        self.assign = {Regime.TRENDING: self.trending, Regime.RANGING: self.ranging,
                       Regime.VOLATILE: self.volatile, Regime.WARMUP: FLAT}
        self._sub_specs = {name: extra.get(name, {}) for name in sorted(set(self.assign.values()))
                           if name != FLAT}
        for name, params in self._sub_specs.items():
            SUBSTRATEGIES[name](**params)  # refuse bad sub params at construction
        self.universe: Any = None

    @classmethod
    def with_universe(cls, universe: Any, **params: Any) -> RegimeSelector:
        """An instance that trades a symbol only while ``universe.tradeable(symbol, ts)``.

        ``universe`` is a :class:`~tradeloom.research.universe.tiers.UniverseHistory` (or
        anything with ``tradeable(symbol, ts) -> bool``).
        """
        inst = cls(**params)
        inst.universe = universe
        return inst

    # -- lifecycle -------------------------------------------------------------------
    def on_start(self, ctx) -> None:
        self.switches: list[RegimeSwitch] = []
        n = len(ctx.symbols)
        self._trackers = {s: RegimeTracker(self.regime_config) for s in ctx.symbols}
        self._regime = dict.fromkeys(ctx.symbols, Regime.WARMUP)
        self._chosen = dict.fromkeys(ctx.symbols, FLAT)
        self._subs: dict[str, list[tuple[Strategy, SleeveContext]]] = {}
        self._by_tag: dict[tuple[str, str], tuple[Strategy, SleeveContext]] = {}
        for symbol in ctx.symbols:
            pairs = []
            for name, params in self._sub_specs.items():
                sub, sleeve = SUBSTRATEGIES[name](**params), SleeveContext(ctx, name, symbol, n)
                sub.on_start(sleeve)
                pairs.append((sub, sleeve))
                self._by_tag[(symbol, name)] = (sub, sleeve)
            self._subs[symbol] = pairs

    def on_bar(self, ctx, bar) -> None:
        symbol = bar.symbol
        reading = self._trackers[symbol].update(bar.high, bar.low, bar.close)
        listed = self.universe is None or self.universe.tradeable(symbol, ctx.now)
        chosen = self.assign[reading.regime] if listed else FLAT
        before, was = self._regime[symbol], self._chosen[symbol]
        if reading.regime is not before or chosen != was:
            switch = RegimeSwitch(ctx.now, symbol, before.value, reading.regime.value, was,
                                  chosen, reading.adx, reading.vol, reading.vol_pct, listed)
            self.switches.append(switch)
            ctx.log(switch.message())
            self._regime[symbol] = reading.regime
            if chosen != was:
                self._hand_over(ctx, symbol, chosen)
        self._activate(ctx, symbol)
        for sub, sleeve in self._subs[symbol]:
            sub.on_bar(sleeve, bar)

    def _hand_over(self, ctx, symbol: str, chosen: str) -> None:
        """Cancel the leaving sub-strategy's orders and sell the symbol's position."""
        self._chosen[symbol] = chosen
        for _, sleeve in self._subs[symbol]:
            if sleeve.active:
                for order in sleeve.working():
                    ctx.cancel(order.id)
                sleeve.active = False
        held = ctx.position(symbol)
        if held > 0.0 and not any(o.tag == FLATTEN_TAG for o in ctx.open_orders(symbol)):
            ctx.sell(symbol, held, tag=FLATTEN_TAG)

    def _activate(self, ctx, symbol: str) -> None:
        """Make the chosen sub-strategy active once no flatten sell is working."""
        chosen = self._chosen[symbol]
        if chosen == FLAT or any(o.tag == FLATTEN_TAG for o in ctx.open_orders(symbol)):
            return
        for _, sleeve in self._subs[symbol]:
            sleeve.active = sleeve.name == chosen

    # -- routing of order events --------------------------------------------------------
    def _owner(self, symbol: str, tag: str) -> tuple[Strategy, SleeveContext] | None:
        return self._by_tag.get((symbol, tag.split(":", 1)[0]))

    def on_fill(self, ctx, fill) -> None:
        owner = self._owner(fill.symbol, fill.tag)
        if owner is not None:
            sub, sleeve = owner
            sub.on_fill(sleeve, sleeve.strip(fill))

    def on_order(self, ctx, order) -> None:
        owner = self._owner(order.symbol, order.tag)
        if owner is not None:
            sub, sleeve = owner
            sub.on_order(sleeve, sleeve.strip(order))

    def on_timer(self, ctx, timer) -> None:
        for pairs in self._subs.values():
            for sub, sleeve in pairs:
                prefix = sleeve.timer_prefix()
                if timer.name.startswith(prefix):
                    sub.on_timer(sleeve, timer._replace(name=timer.name[len(prefix):]))
                    return

    def on_stop(self, ctx) -> None:
        for pairs in self._subs.values():
            for sub, sleeve in pairs:
                sub.on_stop(sleeve)
