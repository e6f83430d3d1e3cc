"""A portfolio of strategies in one account: ``SleevePortfolio`` runs several ``Sleeve``s.

Each sleeve is a strategy instance with its own params, symbols and budget (a fraction
of the account's equity). The portfolio is itself a ``Strategy``, so one engine, one
portfolio, one broker and one ``RiskEngine`` run them all - in a backtest, a sweep,
paper or live alike - and every order is placed through the sleeve's
``SleeveView`` (see ``sleeve_view``: its own symbols, holdings, budget and timers):

- bars go to the sleeves that trade the bar's symbol, in the order the sleeves were
  given; ``on_start``, ``on_stop`` and timers to each sleeve (a sleeve strategy's declared
  ``timeframes`` are kept for its symbols from the first bar, as when it runs alone); fills and order updates
  to the sleeve whose ``strategy_id`` they carry (its own holdings are booked first);
- orders carry the sleeve id as ``strategy_id``, so results say which strategy placed
  what (``BacktestResult.by_strategy()``, ``trades_by_strategy()``), and the run's
  ``RiskEngine`` enforces each sleeve's budget (``risk.strategy_budgets``) and caps
  (``risk.strategy_limits``: largest position, open positions), rejecting as data;
  ``portfolio_risk`` adds them to the run's risk engine (every composition root calls it);
- a risk flatten sells each sleeve's holding as that sleeve (``holdings_by_strategy``).

>>> from tradeloom.engine.strategy.base import Strategy
>>> class Hold(Strategy):
...     def on_bar(self, ctx, bar):
...         if not ctx.position(bar.symbol) and not ctx.open_orders():
...             ctx.target_percent(bar.symbol, 1.0)
>>> book = SleevePortfolio([Sleeve("a", Hold(), ["BTC/USDT"], 0.5),
...                         Sleeve("b", Hold(), ["BTC/USDT", "ETH/USDT"], 0.25)])
>>> book.symbols, book.risk_limits()[0]
(('BTC/USDT', 'ETH/USDT'), {'a': 0.5, 'b': 0.25})
>>> SleevePortfolio([Sleeve("a", Hold(), ["BTC/USDT"], 0.7), Sleeve("b", Hold(), ["ETH/USDT"], 0.4)])
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: sleeve budgets sum to 1.1 > 1: the sleeves together would be allowed more than the account's equity; lower some budget_pct
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.strategy.base import Strategy, overrides
from tradeloom.engine.strategy.sleeve_view import SleeveView

if TYPE_CHECKING:
    from tradeloom.engine.orders import Bar, Fill, Order
    from tradeloom.engine.ports import RiskGate
    from tradeloom.engine.risk.config import StrategyLimits
    from tradeloom.engine.run.events import QuoteTick, Timer, TradeTick
    from tradeloom.engine.strategy.context import Context

PORTFOLIO_ID = "portfolio"


@dataclass(frozen=True)
class Sleeve:
    """One strategy of a portfolio: id, instance, symbols, budget and optional caps.

    ``budget_pct`` is the share of the account's equity the sleeve may hold (0.5 = half);
    ``max_position_pct`` caps any one of its positions and ``max_open_positions`` how
    many symbols it holds at once (fractions of the account's equity, like the risk
    settings).
    """

    id: str
    strategy: Strategy
    symbols: Sequence[str]
    budget_pct: float
    max_position_pct: float | None = None
    max_open_positions: int | None = None

    def __post_init__(self) -> None:
        where = f"sleeve {self.id!r}"
        if not (isinstance(self.id, str) and self.id and "|" not in self.id):
            raise ConfigError(f"sleeve id {self.id!r}: give a non-empty name without '|'")
        if self.id == PORTFOLIO_ID:
            raise ConfigError(f"{where}: the id {PORTFOLIO_ID!r} is the portfolio's own; rename it")
        if not isinstance(self.strategy, Strategy):
            raise ConfigError(f"{where}: strategy must be a Strategy instance, got "
                              f"{type(self.strategy).__name__}")
        symbols = tuple(self.symbols)
        if not symbols or len(set(symbols)) != len(symbols):
            raise ConfigError(f"{where}: symbols must be a non-empty list without repeats, got "
                              f"{list(symbols)}")
        object.__setattr__(self, "symbols", symbols)
        if not (isinstance(self.budget_pct, (int, float)) and 0.0 < self.budget_pct <= 1.0):
            raise ConfigError(f"{where}: budget_pct {self.budget_pct!r} must be a fraction of "
                              "equity in (0, 1] (0.25 = 25 %)")
        cap = self.max_position_pct
        if cap is not None and not (0.0 < cap <= self.budget_pct):
            raise ConfigError(f"{where}: max_position_pct {cap!r} must be in (0, budget_pct "
                              f"{self.budget_pct}]")
        if self.max_open_positions is not None and self.max_open_positions < 1:
            raise ConfigError(f"{where}: max_open_positions must be >= 1")

    def describe(self) -> dict[str, Any]:
        """The sleeve as plain JSON (the run manifest's params)."""
        cls = type(self.strategy)
        return {"id": self.id, "strategy": f"{cls.__module__}.{cls.__qualname__}",
                "params": self.strategy.params_dict(), "symbols": list(self.symbols),
                "budget_pct": self.budget_pct, "max_position_pct": self.max_position_pct,
                "max_open_positions": self.max_open_positions}


class SleevePortfolio(Strategy):
    """Several strategies sharing one account (see the module docstring)."""

    strategy_id = PORTFOLIO_ID

    def __init__(self, sleeves: Sequence[Sleeve], **params: Any) -> None:
        super().__init__(**params)
        self._set_sleeves(sleeves)

    def _set_sleeves(self, sleeves: Sequence[Sleeve]) -> None:
        sleeves = tuple(sleeves)
        if not sleeves:
            raise ConfigError("a portfolio needs at least one sleeve")
        ids = [s.id for s in sleeves]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ConfigError(f"sleeve ids {dup} are used twice; give each sleeve its own id")
        total = math.fsum(s.budget_pct for s in sleeves)
        if total > 1.0 + 1e-12:
            raise ConfigError(f"sleeve budgets sum to {total:.4g} > 1: the sleeves together would "
                              "be allowed more than the account's equity; lower some budget_pct")
        self.sleeves = sleeves
        self.symbols: tuple[str, ...] = tuple(sorted({sym for s in sleeves for sym in s.symbols}))

    def params_dict(self) -> dict[str, Any]:
        if type(self).params():
            return super().params_dict()
        return {"sleeves": [s.describe() for s in self.sleeves]}

    def risk_limits(self) -> tuple[dict[str, float], dict[str, StrategyLimits]]:
        """``risk.strategy_budgets`` and ``risk.strategy_limits`` for the sleeves."""
        from tradeloom.engine.risk.config import StrategyLimits

        budgets = {s.id: float(s.budget_pct) for s in self.sleeves}
        limits = {s.id: StrategyLimits(max_position_pct=s.max_position_pct,
                                       max_open_positions=s.max_open_positions)
                  for s in self.sleeves
                  if s.max_position_pct is not None or s.max_open_positions is not None}
        return budgets, limits

    # -- callbacks -------------------------------------------------------------------

    def on_start(self, ctx: Context) -> None:
        missing = sorted(set(self.symbols) - set(ctx.symbols))
        if missing:
            raise ConfigError(f"the sleeves trade {missing} but the run's symbols are "
                              f"{list(ctx.symbols)}; run the portfolio on its symbols "
                              f"({list(self.symbols)})")
        self._views = {s.id: SleeveView(ctx, s.id, s.symbols, s.budget_pct) for s in self.sleeves}
        self._by_symbol: dict[str, list[tuple[Strategy, SleeveView]]] = {}
        for s in self.sleeves:
            for symbol in s.symbols:
                self._by_symbol.setdefault(symbol, []).append((s.strategy, self._views[s.id]))
        self._strategies = {s.id: s.strategy for s in self.sleeves}
        for s in self.sleeves:
            declared = s.strategy.timeframes  # as the engine does for a strategy run alone
            items = declared.items() if isinstance(declared, Mapping) else ((t, 1) for t in declared)
            for timeframe, keep in items:
                for symbol in s.symbols:
                    ctx.bars(symbol, timeframe, keep)
            with ctx.acting_as(s.id):
                s.strategy.on_start(self._views[s.id])

    def on_bar(self, ctx: Context, bar: Bar) -> None:
        for strategy, view in self._by_symbol.get(bar.symbol, ()):
            with ctx.acting_as(view.id):
                strategy.on_bar(view, bar)

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        view = self._views.get(fill.strategy_id)
        if view is None:
            return
        view.book(fill)
        strategy = self._strategies[view.id]
        if overrides(strategy, "on_fill"):
            with ctx.acting_as(view.id):
                strategy.on_fill(view, fill)

    def on_order(self, ctx: Context, order: Order) -> None:
        view = self._views.get(order.strategy_id)
        if view is None:
            return
        strategy = self._strategies[view.id]
        if overrides(strategy, "on_order"):
            with ctx.acting_as(view.id):
                strategy.on_order(view, order)

    def on_timer(self, ctx: Context, timer: Timer) -> None:
        sid, sep, name = timer.name.partition("|")
        view = self._views.get(sid) if sep else None
        if view is not None:
            with ctx.acting_as(sid):
                self._strategies[sid].on_timer(view, timer._replace(name=name))

    def on_trade(self, ctx: Context, tick: TradeTick) -> None:
        for strategy, view in self._by_symbol.get(tick.symbol, ()):
            with ctx.acting_as(view.id):
                strategy.on_trade(view, tick)

    def on_quote(self, ctx: Context, tick: QuoteTick) -> None:
        for strategy, view in self._by_symbol.get(tick.symbol, ()):
            with ctx.acting_as(view.id):
                strategy.on_quote(view, tick)

    def on_stop(self, ctx: Context) -> None:
        for s in self.sleeves:
            with ctx.acting_as(s.id):
                s.strategy.on_stop(self._views[s.id])

    def holdings_by_strategy(self, ctx: Context, symbol: str) -> list[tuple[str, float]]:
        """Each sleeve's own holding of ``symbol`` (a risk flatten sells them one by one)."""
        return [(s.id, self._views[s.id].position(symbol)) for s in self.sleeves
                if symbol in s.symbols]


def portfolio_risk(strategy: Strategy, risk: RiskGate | None) -> RiskGate | None:
    """The run's risk gate with a ``SleevePortfolio``'s per-sleeve budgets and caps in its
    config: a new ``RiskEngine`` (from ``risk``'s config, or a default one when the run has
    no risk layer); ``risk`` itself for any other strategy. Budgets the config already
    sets for a sleeve id must agree (``ConfigError`` otherwise)."""
    if not isinstance(strategy, SleevePortfolio):
        return risk
    from tradeloom.engine.risk.engine import RiskEngine

    if risk is not None and not isinstance(risk, RiskEngine):
        raise ConfigError(f"a portfolio of sleeves needs a RiskEngine to enforce its budgets; "
                          f"got a {type(risk).__name__}")
    budgets, limits = strategy.risk_limits()
    base = risk if risk is not None else RiskEngine()
    return base.with_strategy_limits(budgets, limits)


__all__ = ["PORTFOLIO_ID", "Sleeve", "SleevePortfolio", "portfolio_risk"]
