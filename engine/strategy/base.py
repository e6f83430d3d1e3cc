"""The ``Strategy`` base class users subclass, and its typed parameters.

A strategy declares its parameters with ``Param`` and reacts to events through
callbacks; it acts only through the ``Context`` it is handed (orders, targets,
indicators, history, timers, logging). It never sees a broker, a file or the
network, which is what lets one strategy object run in a backtest and live.

>>> class SmaCross(Strategy):
...     fast = Param(int, 10, min=1, help="fast SMA period")
...     slow = Param(int, 50, min=2)
...     def validate(self):
...         if self.fast >= self.slow:
...             raise StrategyError(f"fast ({self.fast}) must be < slow ({self.slow})")
>>> SmaCross(fast="5").params_dict()
{'fast': 5, 'slow': 50}
>>> for bad in ({"fsat": 5}, {"fast": 60}):
...     try:
...         SmaCross(**bad)
...     except StrategyError as exc:
...         print(exc)
SmaCross has no param 'fsat'; did you mean 'fast'? Params: fast, slow
SmaCross params {'fast': 60, 'slow': 50} are invalid: fast (60) must be < slow (50)

Callbacks, in the order the engine calls them for one bar (see ``loop``): fills
and order updates the bar caused (``on_fill`` then ``on_order`` per update),
then ``on_bar``. ``on_timer`` fires for timers set with ``ctx.set_timer``;
``on_start`` before the first event, ``on_stop`` after the last.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from tradeloom.engine.errors import StrategyError
from tradeloom.engine.strategy.params import Param

if TYPE_CHECKING:
    from tradeloom.engine.orders import Bar, Fill, Order
    from tradeloom.engine.run.events import QuoteTick, Timer, TradeTick
    from tradeloom.engine.strategy.context import Context

__all__ = ["Param", "Strategy", "StrategyError"]

_RESERVED = frozenset(
    {"history", "timeframes", "strategy_id", "validate", "params", "params_dict", "describe"}
    | {"on_start", "on_bar", "on_fill", "on_order", "on_timer", "on_trade", "on_quote", "on_stop"}
    | {"holdings_by_strategy"}
)


class Strategy:
    """Base class of user strategies.

    Class attributes a subclass may set:

    - ``history``: how many closed bars per symbol ``ctx.history`` must keep (0: keep
      none until the strategy asks with ``ctx.history``/``ctx.request_history``).
    - ``timeframes``: higher timeframes the strategy reads, resampled from the run's
      bars for every symbol from the first bar on: names (``("4h", "1d")``, the last
      closed bar of each kept) or names and how many closed bars to keep
      (``{"4h": 50, "1d": 20}``); see ``Context.bars``.
    - ``strategy_id``: stamped on every order and fill (default: the class name).
    """

    history: ClassVar[int] = 0
    timeframes: ClassVar[Mapping[str, int] | tuple[str, ...]] = ()
    strategy_id: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():
            if not isinstance(value, Param):
                continue
            if name in _RESERVED:
                raise StrategyError(
                    f"{cls.__name__}.{name}: {name!r} is reserved by Strategy; rename the param"
                )
            # The default must itself be valid: a bad declaration fails at import time.
            try:
                value.default = value.coerce(value.default)
            except StrategyError as exc:
                raise StrategyError(f"{cls.__name__}: bad default: {exc}") from None

    def __init__(self, **params: Any) -> None:
        declared = type(self).params()
        for name in params:
            if name not in declared:
                raise StrategyError(_unknown_param_message(type(self).__name__, name, declared))
        for name, param in declared.items():
            self.__dict__[name] = param.coerce(params[name]) if name in params else param.default
        try:
            self.validate()
        except StrategyError as exc:
            raise StrategyError(
                f"{type(self).__name__} params {self.params_dict()} are invalid: {exc}"
            ) from exc
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise StrategyError(
                f"{type(self).__name__} params {self.params_dict()} are invalid: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    # -- parameters --------------------------------------------------------------

    @classmethod
    def params(cls) -> dict[str, Param[Any]]:
        """Declared params, base classes first, in declaration order."""
        out: dict[str, Param[Any]] = {}
        for klass in reversed(cls.__mro__):
            out.update({n: v for n, v in vars(klass).items() if isinstance(v, Param)})
        return out

    @classmethod
    def describe(cls) -> str:
        """Human listing of the params (for ``--help`` and notebooks)."""
        lines = [f"{cls.__name__} params:"]
        lines += ["  " + p.describe() for p in cls.params().values()] or ["  (none)"]
        return "\n".join(lines)

    def params_dict(self) -> dict[str, Any]:
        """The validated param values of this instance."""
        return {name: self.__dict__[name] for name in type(self).params()}

    @property
    def id(self) -> str:
        return self.strategy_id or type(self).__name__

    def validate(self) -> None:
        """Cross-param checks; raise ``StrategyError`` (or ``ValueError``) to refuse."""

    # -- callbacks (override what you need) -----------------------------------------

    def on_start(self, ctx: Context) -> None:
        """Before the first event: ask for indicators, history and timers here."""

    def on_bar(self, ctx: Context, bar: Bar) -> None:
        """A bar closed (``ctx.now == bar.close_ts``); orders placed here fill from the next bar."""

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        """One of this strategy's orders (partly) filled."""

    def on_order(self, ctx: Context, order: Order) -> None:
        """One of this strategy's orders changed status (accepted, rejected, cancelled...)."""

    def on_timer(self, ctx: Context, timer: Timer) -> None:
        """A timer set with ``ctx.set_timer`` fired (``ctx.now == timer.ts``)."""

    def on_trade(self, ctx: Context, tick: TradeTick) -> None:
        """A public trade arrived (tick feeds only)."""

    def on_quote(self, ctx: Context, tick: QuoteTick) -> None:
        """A quote arrived (quote feeds only)."""

    def on_stop(self, ctx: Context) -> None:
        """After the last event, before open orders expire."""

    def holdings_by_strategy(self, ctx: Context, symbol: str) -> list[tuple[str, float]]:
        """Who holds ``symbol``: ``[(strategy_id, base units)]``. A risk flatten sells each
        holding as its strategy. One strategy holds the whole position; a portfolio of
        sleeves (``sleeves.SleevePortfolio``) answers per sleeve."""
        return [(self.id, ctx.position(symbol))]


def _unknown_param_message(cls_name: str, name: str, declared: Mapping[str, Param[Any]]) -> str:
    known = ", ".join(declared) or "(none)"
    close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return f"{cls_name} has no param {name!r}{hint} Params: {known}"


def overrides(strategy: Strategy, method: str) -> bool:
    """Whether ``strategy``'s class overrides callback ``method`` (lets the loop skip no-ops)."""
    return getattr(type(strategy), method) is not getattr(Strategy, method)
