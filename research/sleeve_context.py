"""``SleeveContext``: the context a sub-strategy sees inside a selector strategy.

A selector (``strategies/regime_switch.py``) owns one instance of each configured
sub-strategy *per symbol* and hands each one a ``SleeveContext`` instead of the
engine's context. The sleeve makes the sub-strategy believe it runs alone:

- ``symbols`` is its one symbol; ``equity`` is the run's equity divided by the
  number of run symbols (equal sleeves), ``cash`` the free cash capped at what
  the sleeve may still spend, and ``target_percent(symbol, p)`` aims at ``p`` of
  the *sleeve* (so ``1.0`` = all-in within the sleeve, not the account);
- every order it places carries the tag ``"<name>:<its own tag>"`` (``name`` is
  the sub-strategy's registry name, e.g. ``rsi_reversion:stop_loss``), which is
  how results say which sub-strategy placed which order, and how fills are routed
  back; the sub-strategy sees its own tags (``stop_loss``) in ``open_orders``,
  ``on_fill`` and ``on_order``, so unmodified strategies work;
- while the sub-strategy is *inactive* (the selector gave the symbol to another
  one) it still receives every bar, so its indicators and state stay current,
  but it sees a flat position, no open orders, and its order calls are dropped
  (they return ``None``; ``dropped`` counts them). It therefore acts only on its
  own next signal after it becomes active, never on a stale one.

Timers are namespaced per sleeve (``<name>|<symbol>|<timer>``) and routed back.
Reads it does not narrow (``now``, ``rng``, ``mark``, ``history``, ``indicator``,
``avg_entry``, ``timeframe_ms``) pass straight through to the engine's context.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tradeloom.engine.errors import StrategyError
from tradeloom.engine.strategy.context import TARGET_TAG


class SleeveContext:
    """One sub-strategy's view of one symbol (see the module docstring)."""

    def __init__(self, ctx: Any, name: str, symbol: str, n_sleeves: int) -> None:
        self._ctx = ctx
        self.name = name
        self.prefix = f"{name}:"
        self.symbol = symbol
        self.symbols: tuple[str, ...] = (symbol,)
        self.timeframe_ms: int = ctx.timeframe_ms
        self.rng = ctx.rng
        self._share = 1.0 / n_sleeves
        self.active = False
        self.dropped = 0

    # -- reads ---------------------------------------------------------------------
    @property
    def now(self) -> int:
        return self._ctx.now

    def mark(self, symbol: str) -> float:
        return self._ctx.mark(symbol)

    def position(self, symbol: str) -> float:
        return self._ctx.position(symbol) if self.active else 0.0

    def avg_entry(self, symbol: str) -> float:
        return self._ctx.avg_entry(symbol) if self.active else 0.0

    @property
    def equity(self) -> float:
        return self._ctx.equity * self._share

    @property
    def cash(self) -> float:
        held = self.position(self.symbol) * self._ctx.mark(self.symbol) if self.active else 0.0
        return max(0.0, min(self._ctx.cash, self.equity - held))

    def history(self, symbol: str, n: int, field: str = "close") -> Any:
        return self._ctx.history(symbol, n, field)

    def indicator(self, name: str, symbol: str | None = None, source: str = "close",
                  **params: Any) -> Any:
        return self._ctx.indicator(name, symbol or self.symbol, source, **params)

    def own(self, tag: str) -> bool:
        """Whether an order/fill tag was placed through this sleeve."""
        return tag.startswith(self.prefix)

    def strip(self, item: Any) -> Any:
        """A copy of an order or fill carrying the sub-strategy's own tag."""
        return dataclasses.replace(item, tag=item.tag[len(self.prefix):])

    def open_orders(self, symbol: str | None = None) -> list[Any]:
        if not self.active:
            return []
        return [self.strip(o) for o in self._ctx.open_orders(self.symbol) if self.own(o.tag)]

    def working(self) -> list[Any]:
        """This sleeve's working orders, as the engine holds them (tags prefixed)."""
        return [o for o in self._ctx.open_orders(self.symbol) if self.own(o.tag)]

    # -- orders --------------------------------------------------------------------
    def _check(self, symbol: str) -> bool:
        if symbol != self.symbol:
            raise StrategyError(f"{self.name} runs in the {self.symbol} sleeve and cannot trade "
                                f"{symbol}")
        if not self.active:
            self.dropped += 1
        return self.active

    def buy(self, symbol: str, amount: float | None = None, *, tag: str = "", **kw: Any) -> Any:
        return self._ctx.buy(symbol, amount, tag=self.prefix + tag, **kw) if self._check(symbol) else None

    def sell(self, symbol: str, amount: float, *, tag: str = "", **kw: Any) -> Any:
        return self._ctx.sell(symbol, amount, tag=self.prefix + tag, **kw) if self._check(symbol) else None

    def stop_loss(self, symbol: str, amount: float, stop: float, *, price: float | None = None,
                  tag: str = "stop_loss") -> Any:
        if not self._check(symbol):
            return None
        return self._ctx.stop_loss(symbol, amount, stop, price=price, tag=self.prefix + tag)

    def trailing_stop(self, symbol: str, amount: float, *, tag: str = "trailing_stop",
                      **kw: Any) -> Any:
        if not self._check(symbol):
            return None
        return self._ctx.trailing_stop(symbol, amount, tag=self.prefix + tag, **kw)

    def bracket(self, symbol: str, amount: float | None = None, *, tag: str = "bracket",
                **kw: Any) -> Any:
        return self._ctx.bracket(symbol, amount, tag=self.prefix + tag, **kw) if self._check(symbol) else None

    def oco(self, symbol: str, amount: float, *, tag: str = "oco", **kw: Any) -> Any:
        return self._ctx.oco(symbol, amount, tag=self.prefix + tag, **kw) if self._check(symbol) else None

    def cancel(self, order_id: int) -> bool:
        return self._ctx.cancel(order_id) if self.active else False

    def replace(self, order_id: int, **kw: Any) -> Any:
        return self._ctx.replace(order_id, **kw) if self.active else None

    def target_amount(self, symbol: str, amount: float) -> Any:
        if not (math.isfinite(amount) and amount >= 0):
            raise StrategyError(f"{self.name}: target_amount({symbol!r}, {amount}): spot "
                                "targets must be >= 0")
        return self._target(symbol, amount * self._ctx.mark(symbol), float(amount))

    def target_percent(self, symbol: str, pct: float) -> Any:
        """Trade toward ``pct`` of the *sleeve*; the engine's sizing rules otherwise."""
        if not (math.isfinite(pct) and 0.0 <= pct <= 1.0):
            raise StrategyError(f"{self.name}: target_percent({symbol!r}, {pct}): pct is a "
                                "fraction of the sleeve in [0, 1]")
        return self._target(symbol, pct * self.equity, None if pct else 0.0)

    def _target(self, symbol: str, value: float, amount: float | None) -> Any:
        if not self._check(symbol):
            return None
        ctx = self._ctx
        tag = self.prefix + TARGET_TAG
        for order in ctx.open_orders(symbol):
            if order.tag == tag:
                ctx.cancel(order.id)
        mark, pos = ctx.mark(symbol), ctx.position(symbol)
        delta = value - pos * mark
        floor = 1e-9 * ctx.equity
        if delta > 0:
            spend = min(delta, ctx.cash)
            return ctx.buy(symbol, quote=spend, tag=tag) if spend > floor else None
        sell = pos if amount == 0.0 else min(-delta / mark, pos)
        return ctx.sell(symbol, sell, tag=tag) if sell > 0 and sell * mark > floor else None

    # -- timers and logging --------------------------------------------------------------
    def timer_prefix(self) -> str:
        return f"{self.name}|{self.symbol}|"

    def set_timer(self, at_ms: int | None = None, *, every_ms: int | None = None,
                  name: str = "timer") -> None:
        self._ctx.set_timer(at_ms, every_ms=every_ms, name=self.timer_prefix() + name)

    def cancel_timer(self, name: str) -> bool:
        return self._ctx.cancel_timer(self.timer_prefix() + name)

    def log(self, msg: str) -> None:
        self._ctx.log(f"{self.name} {self.symbol}: {msg}")
