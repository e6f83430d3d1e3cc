"""``RiskEngine``: the one risk layer between every strategy and every broker.

The same object, with the same ``RiskConfig``, runs in backtests, paper and live:
it reads time only from the events and views it is handed (never the wall
clock), so a journal replayed through a backtest reaches the same decisions.

What the loop calls (all cheap; see ``engine/run/loop.py``):

==========================  ===========================================================
``check(order, view)``      before every order reaches the broker -> ``RiskDecision``
``on_fill(fill, view)``     after each fill is booked in the portfolio
``on_bar(bar, view)``       after the bar's mark is set, before the strategy sees the bar
``on_equity(ts, equity)``   optional: once per step when the loop records equity
``pending_actions()``       after each hook: ``CANCEL_ALL`` / ``FLATTEN`` requests to execute
==========================  ===========================================================

``decisions`` (every reject and resize, ``counts()`` by code, ``records()`` for
results) and ``events`` (breaker trips and resets, kill, status changes, as plain
dicts with ``ts``, ``kind``, ``breaker``, ``figures``) go into
``BacktestResult.build(risk_decisions=..., events=...)``.

**Entry or exit.** An order is an *exit* when it is ``reduce_only`` or when it is
opposite to the current position and no larger than it (a sell that reduces a
long). Exits are always approved, whatever is tripped, so risk never traps a
position; a sell larger than the long is cut to the position under
``long_only``. An order through zero (a perpetual flip) is both: the part that
closes the position is an exit, and the size limits judge the new position as if the
old one were closed (resized, the close is kept). Everything else is an *entry* and goes
through every check, first
refusal wins, in this order: kill switch, exchange/symbol status, breakers
(daily loss, drawdown, loss streak), symbol cooldown, stale data, long-only,
no-pyramiding, max open positions, trade rate, price band, then the size limits.

**Size limits** (max notional, max order %, max position %, max exposure %,
strategy budget, fee-aware cash) are in ``risk_sizing``: open entry orders count
as if filled and this order's fee as paid; over a limit the order is rejected,
or resized to fit when ``on_size_breach = "resize"``.

>>> from tradeloom.engine.orders import Order, Side, OrderType
>>> class View:  # the strategy Context is the real RiskView
...     now, cash, equity = 0, 1000.0, 1000.0
...     def position(self, s): return 0.0
...     def mark(self, s): return 100.0
...     def open_orders(self, s=None): return []
>>> risk = RiskEngine(RiskConfig(max_exposure_pct=0.25))
>>> d = risk.check(Order(1, "BTC/USDT", Side.BUY, OrderType.MARKET, 3.12, created_ts=0), View())
>>> d.reason
'rejected: total exposure would be 31.2% of equity, limit 25.0% (risk.max_exposure_pct); reduce size or raise the limit'
>>> risk.counts()
{'max_exposure': 1}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Order, Side
from tradeloom.engine.ports import FeeModel
from tradeloom.engine.risk.breakers import (
    HOUR_MS,
    Breaker,
    Cooldowns,
    DailyLossBreaker,
    DrawdownBreaker,
    LossStreakBreaker,
    RateWindow,
    day_index,
)
from tradeloom.engine.risk.codes import ActionKind, Outcome, RiskAction, RiskCode, RiskDecision
from tradeloom.engine.risk.config import RiskConfig, StrategyLimits
from tradeloom.engine.risk.gate import RiskView, order_size
from tradeloom.engine.risk.ledger import RiskLedger
from tradeloom.engine.risk.perp_limits import active as perp_limits_active
from tradeloom.engine.risk.perp_limits import perp_refusal
from tradeloom.engine.risk.sizing import EPS, SizeLimits, is_entry
from tradeloom.engine.timeframes import MS_PER_DAY


class RiskEngine:
    """Pre-trade checks, breakers and kill switch (see the module docstring)."""

    def __init__(
        self,
        config: RiskConfig | None = None,
        *,
        markets: Mapping[str, MarketSpec] | None = None,
        exchange: str = "",
    ) -> None:
        self.config = config if config is not None else RiskConfig()
        cfg = self.config
        self._markets: dict[str, MarketSpec] = dict(markets or {})
        self.exchange = exchange
        #: Every non-trivial decision (reject, resize), in order.
        self.decisions: list[RiskDecision] = []
        #: Breaker trips/resets, kill, status and cooldown events, as plain dicts.
        self.events: list[dict[str, Any]] = []
        self.checked = 0
        self._actions: list[RiskAction] = []
        self._symbols: dict[str, None] = {}  # ordered set: deterministic iteration
        self._last_close: dict[str, int] = {}
        self._interval: dict[str, int] = {}
        self._degraded: dict[str, None] = {}
        self._killed = False
        self._kill_at_done = cfg.kill_at is None
        self._day: int | None = None
        self._now = 0  # latest event time seen: stamps operator actions
        self._ledger = RiskLedger()
        self._sizing = SizeLimits(cfg, self._markets, self._symbols, self._ledger)
        self._daily = DailyLossBreaker(cfg.daily_loss) if cfg.daily_loss else None
        self._drawdown = DrawdownBreaker(cfg.max_drawdown) if cfg.max_drawdown else None
        self._streak = LossStreakBreaker(cfg.consecutive_losses) if cfg.consecutive_losses else None
        self._breakers: tuple[Breaker, ...] = tuple(
            b for b in (self._daily, self._drawdown, self._streak) if b is not None
        )
        self._cooldowns = Cooldowns(cfg.cooldown) if cfg.cooldown else None
        self._rates: tuple[tuple[RateWindow, int, str], ...] = tuple(
            (RateWindow(window), limit, name)
            for window, limit, name in (
                (HOUR_MS, cfg.max_trades_per_hour, "max_trades_per_hour"),
                (MS_PER_DAY, cfg.max_trades_per_day, "max_trades_per_day"),
            )
            if limit is not None
        )
        self._watch_equity = self._daily is not None or self._drawdown is not None
        self._perp_limits = perp_limits_active(cfg)  # engine.risk.perp_limits

    def bind(
        self,
        *,
        markets: Mapping[str, MarketSpec] | None = None,
        fees: FeeModel | None = None,
        exchange: str | None = None,
        symbols: Sequence[str] = (),
    ) -> None:
        """Give the engine the run's symbols, market metadata, fee model and exchange.

        The loop calls it at start with the run's markets and symbols and the broker's
        fee model (``Broker.fees``): sizing then plans every fee with the model the
        broker charges. Until bound, sizing plans with ``MakerTakerFees()`` (the
        markets' own rates). The engine values positions of the symbols it knows:
        those given here and those seen in bars, fills and orders.
        """
        for symbol in symbols:
            self._symbols[symbol] = None
        if markets:
            self._markets.update(markets)
        if fees is not None:
            self._sizing.fees = fees
        if exchange is not None:
            self.exchange = exchange

    def with_strategy_limits(
        self, budgets: Mapping[str, float], limits: Mapping[str, StrategyLimits] | None = None
    ) -> RiskEngine:
        """A new ``RiskEngine`` (for a new run) whose config adds these per-strategy budgets
        (``risk.strategy_budgets``) and caps (``risk.strategy_limits``): what a portfolio of
        sleeves needs. A budget or cap the config already sets for an id must be equal.

        >>> risk = RiskEngine(RiskConfig(max_exposure_pct=0.9)).with_strategy_limits({"trend": 0.5})
        >>> risk.config.strategy_budgets, risk.config.max_exposure_pct
        ({'trend': 0.5}, 0.9)
        """
        cfg = self.config
        limits = dict(limits or {})
        for name, have, new in (("strategy_budgets", cfg.strategy_budgets, budgets),
                                ("strategy_limits", cfg.strategy_limits, limits)):
            clash = sorted(k for k, v in new.items() if k in have and have[k] != v)
            if clash:
                raise ConfigError(
                    f"risk.{name} already sets {', '.join(f'{k} = {have[k]!r}' for k in clash)} "
                    f"but the portfolio gives {', '.join(f'{k} = {new[k]!r}' for k in clash)}; "
                    "set it in one place"
                )
        fields = {k: getattr(cfg, k) for k in type(cfg).model_fields}
        fields["strategy_budgets"] = {**cfg.strategy_budgets, **budgets}
        fields["strategy_limits"] = {**cfg.strategy_limits, **limits}
        try:
            merged = RiskConfig.model_validate(fields)
        except ValidationError as exc:
            raise ConfigError(f"the portfolio's budgets do not fit the risk config: "
                              f"{exc.errors()[0]['msg']}") from None
        return RiskEngine(merged, markets=self._markets, exchange=self.exchange)

    # ------------------------------------------------------------------ state queries

    @property
    def fees(self) -> FeeModel:
        """The fee model sizing plans with (the broker's, once ``bind`` gave it)."""
        return self._sizing.fees

    @property
    def killed(self) -> bool:
        return self._killed

    def tripped(self) -> list[str]:
        """Names of the breakers tripped now (plus ``kill_switch`` when killed)."""
        names = [b.name for b in self._breakers if b.tripped]
        return names + ["kill_switch"] if self._killed else names

    def counts(self) -> dict[str, int]:
        """Non-trivial decisions by code value, codes in first-seen order."""
        out: dict[str, int] = {}
        for d in self.decisions:
            out[d.code.value] = out.get(d.code.value, 0) + 1
        return out

    def records(self) -> list[dict[str, Any]]:
        """The decisions as plain dicts for ``BacktestResult.build(risk_decisions=...)``."""
        return [d.record() for d in self.decisions]

    def summary(self) -> str:
        """One line for the CLI: checks, rejects and resizes by code, breaker trips.

        >>> RiskEngine().summary()
        'risk: 0 orders checked, 0 rejected, 0 resized; no breaker trips'
        """
        rejected = [d for d in self.decisions if d.outcome is Outcome.REJECTED]
        resized = len(self.decisions) - len(rejected)
        by_code: dict[str, int] = {}
        for d in rejected:
            by_code[d.code.value] = by_code.get(d.code.value, 0) + 1
        detail = f" ({', '.join(f'{k} {v}' for k, v in by_code.items())})" if by_code else ""
        trips: dict[str, int] = {}
        for e in self.events:
            if e["kind"] in ("risk_trip", "risk_kill"):
                trips[e["breaker"]] = trips.get(e["breaker"], 0) + 1
        tail = (
            f"trips: {', '.join(f'{k} {v}' for k, v in trips.items())}"
            if trips
            else "no breaker trips"
        )
        return f"risk: {self.checked} orders checked, {len(rejected)} rejected{detail}, {resized} resized; {tail}"

    def pending_actions(self) -> list[RiskAction]:
        """Requests the loop must execute now (cancel all / flatten), each returned once.

        ``FLATTEN`` with ``symbol=None`` means every open position.
        """
        if not self._actions:
            return []
        out, self._actions = self._actions, []
        return out

    # ------------------------------------------------------------------ operator API

    def kill(self, ts: int, reason: str = "manual") -> None:
        """Engage the kill switch: cancel all open orders, refuse everything but exits."""
        if self._killed:
            return
        self._killed = True
        self._event(
            ts, "risk_kill", "kill_switch", {"reason": reason}, f"kill switch engaged: {reason}"
        )
        self._actions.append(RiskAction(ActionKind.CANCEL_ALL, ts, None, f"kill switch: {reason}"))
        if self.config.kill_flatten:
            self._actions.append(RiskAction(ActionKind.FLATTEN, ts, None, f"kill switch: {reason}"))

    def reset(self, name: str, ts: int | None = None) -> None:
        """Manually reset a breaker (``daily_loss``, ``max_drawdown``, ``consecutive_losses``),
        ``kill_switch``, ``cooldown`` (every symbol) or ``cooldown:SYMBOL``.

        ``ts`` stamps the event; by default the time of the last event seen (never the wall clock).
        """
        ts = self._now if ts is None else int(ts)
        if name == "kill_switch":
            if self._killed:
                self._killed = False
                self._event(ts, "risk_reset", name, {"rule": "manual"}, "kill switch released")
            return
        if name == "cooldown" or name.startswith("cooldown:"):
            if self._cooldowns is None:
                raise ConfigError("reset('cooldown'): risk.cooldown is not configured")
            symbol = name.partition(":")[2] or None
            self._cooldowns.clear(symbol)
            self._event(
                ts,
                "risk_reset",
                "cooldown",
                {"rule": "manual", "symbol": symbol},
                f"{name} cleared",
            )
            return
        for b in self._breakers:
            if b.name == name:
                if b.tripped:
                    self._clear(b, ts, "manual")
                return
        known = (
            [b.name for b in self._breakers]
            + ["kill_switch"]
            + (["cooldown"] if self._cooldowns else [])
        )
        raise ConfigError(
            f"reset({name!r}): no such configured breaker; configured: {', '.join(known)}"
        )

    def set_status(self, name: str, degraded: bool = True, *, ts: int | None = None) -> None:
        """Mark a symbol (``BTC/USDT``) or the exchange (``binance``) degraded (entries refused) or healthy.

        ``ts`` stamps the event; by default the time of the last event seen.
        """
        ts = self._now if ts is None else int(ts)
        if degraded == (name in self._degraded):
            return
        if degraded:
            self._degraded[name] = None
        else:
            del self._degraded[name]
        state = "degraded" if degraded else "healthy"
        self._event(
            ts,
            "risk_status",
            "status",
            {"name": name, "degraded": degraded},
            f"{name} marked {state}",
        )

    # ------------------------------------------------------------------ loop hooks

    def on_bar(self, bar: Bar, view: RiskView) -> None:
        """A bar closed (its mark is already in the view): staleness, day boundary, kill_at, equity."""
        symbol = bar.symbol
        self._symbols[symbol] = None
        self._last_close[symbol] = bar.close_ts
        self._interval[symbol] = bar.close_ts - bar.ts
        if self._cooldowns is not None:
            self._cooldowns.on_bar(symbol, bar.close_ts)
        self._advance(bar.close_ts)
        if self._watch_equity:
            self._observe_equity(bar.close_ts, view.equity)

    def on_equity(self, ts: int, equity: float) -> None:
        """Equity at the end of a step (optional: ``on_bar`` already observes equity)."""
        self._advance(ts)
        if self._watch_equity:
            self._observe_equity(ts, equity)

    def on_fill(self, fill: Fill, view: RiskView | None) -> None:
        """A fill was booked: per-strategy holdings, round-trip PnL, loss streak, cooldowns, equity.

        Time is when the engine *learns* of the fill (``view.now``; a bar fill's own
        ``ts`` is the open of the bar it happened in), so a trip is stamped at the
        step that could act on it. Without a view, the fill's ``ts`` is used.
        """
        ts = int(view.now) if view is not None else fill.ts
        self._symbols[fill.symbol] = None
        self._advance(ts)
        spec = self._markets.get(fill.symbol)
        pnl = self._ledger.on_fill(fill, spec.is_dust if spec is not None else None)
        if pnl is not None and self._streak is not None:
            figures = self._streak.on_round_trip(ts, fill.symbol, pnl)
            if figures is not None:
                self._tripped(self._streak, ts, figures)
        cd = self._cooldowns
        if cd is not None:
            loss = pnl is not None and pnl < 0
            stop = cd.is_stop(fill.tag)
            if cd.triggered_by(loss, stop):
                figures = cd.start(fill.symbol, ts)
                figures.update({"trigger": "stop" if stop else "loss", "round_trip_pnl": pnl})
                self._event(ts, "risk_cooldown", "cooldown", figures, f"cooldown on {fill.symbol}")
        if self._watch_equity and view is not None:
            self._observe_equity(ts, view.equity)

    # ------------------------------------------------------------------ the check

    def check(self, order: Order, view: RiskView) -> RiskDecision:
        """Approve, resize or reject ``order`` against ``view`` (see the module docstring)."""
        now = int(view.now)
        self._advance(now)
        self.checked += 1
        symbol = order.symbol
        self._symbols[symbol] = None
        requested = order_size(order)
        pos = view.position(symbol)
        sign = order.side.sign
        closing = 0.0
        base = {"ts": now, "order_id": order.id, "symbol": symbol, "requested": requested}
        # -- exits: always allowed (cut to the position under long_only)
        if order.reduce_only:
            return self._keep(RiskDecision.approve(**base))
        if pos != 0.0 and sign * pos < 0.0 and order.quote_amount is None:
            if order.amount <= abs(pos) * (1 + 1e-9):
                return self._keep(RiskDecision.approve(**base))
            if self.config.long_only and order.side is Side.SELL:
                return self._keep(
                    RiskDecision.resize(
                        RiskCode.LONG_ONLY,
                        **base,
                        amount=abs(pos),
                        limit=abs(pos),
                        observed=order.amount,
                        setting="risk.long_only",
                        what="sell {observed} exceeds the long position {limit}; cut to the position",
                    )
                )
            closing = abs(pos)  # through zero (a perpetual): the close is an exit
        refusal = self._refusal(order, view, pos, base)
        if refusal is not None:
            return self._keep(refusal)
        decision = self._sizing.decide(order, view, pos, base, closing)
        if decision.approved:
            for window, _, _ in self._rates:
                window.add(now)
        return self._keep(decision)

    def _refusal(
        self, order: Order, view: RiskView, pos: float, base: dict[str, Any]
    ) -> RiskDecision | None:
        """The first state or rule that refuses this entry outright, or None."""
        cfg = self.config
        symbol = order.symbol
        now = base["ts"]
        if self._killed:
            return RiskDecision.reject(
                RiskCode.KILL_SWITCH,
                **base,
                limit=None,
                observed=None,
                setting="kill_switch",
                what="the kill switch is engaged; only exits are accepted",
                fix="reset('kill_switch') to trade again",
            )
        for name in (symbol, self.exchange):
            if name and name in self._degraded:
                return RiskDecision.reject(
                    RiskCode.DEGRADED,
                    **base,
                    limit=None,
                    observed=None,
                    setting="status",
                    what=f"{name} is marked degraded; new entries are refused",
                    fix=f"set_status({name!r}, degraded=False) once it is healthy",
                )
        for b in self._breakers:
            if b.tripped:
                rule = (
                    "it resets at the next day boundary"
                    if b.config.reset == "next_day"
                    else f"reset({b.name!r}) to clear it"
                )
                return RiskDecision.reject(
                    b.code,
                    **base,
                    limit=None,
                    observed=None,
                    setting=b.setting,
                    what=f"breaker {b.name} tripped at {b.since} {_figures(b.figures)}; new entries are refused",
                    fix=rule,
                )
        cd = self._cooldowns
        if cd is not None:
            left = cd.blocking(symbol, now)
            if left is not None:
                return RiskDecision.reject(
                    RiskCode.COOLDOWN,
                    **base,
                    limit=None,
                    observed=None,
                    setting="risk.cooldown",
                    what=f"{symbol} is cooling down after a loss or stop-out ({left})",
                    fix="wait, or reset('cooldown:SYMBOL')",
                )
        if cfg.stale_after_bars is not None:
            last = self._last_close.get(symbol)
            if last is None:
                return RiskDecision.reject(
                    RiskCode.STALE_DATA,
                    **base,
                    limit=float(cfg.stale_after_bars),
                    observed=None,
                    setting="risk.stale_after_bars",
                    what=f"no bar seen yet for {symbol}",
                    fix="wait for data (the loop must call on_bar)",
                )
            age = (now - last) / max(self._interval[symbol], 1)
            if age > cfg.stale_after_bars:
                return RiskDecision.reject(
                    RiskCode.STALE_DATA,
                    **base,
                    limit=float(cfg.stale_after_bars),
                    observed=age,
                    setting="risk.stale_after_bars",
                    what=f"last {symbol} bar closed {{observed}} bars ago, limit {{limit}}",
                    fix="check the feed or raise the limit",
                )
        if cfg.long_only and order.side is Side.SELL and pos <= 0.0:
            return RiskDecision.reject(
                RiskCode.LONG_ONLY,
                **base,
                limit=None,
                observed=pos,
                setting="risk.long_only",
                what=f"a sell with position {{observed}} in {symbol} would open a short",
                fix="sell only what you hold, or set long_only = false",
            )
        pending = [o for o in view.open_orders(symbol) if is_entry(o, pos)]
        if cfg.no_pyramiding and (pos * order.side.sign > 0.0 or pending):
            return RiskDecision.reject(
                RiskCode.NO_PYRAMIDING,
                **base,
                limit=None,
                observed=pos,
                setting="risk.no_pyramiding",
                what=f"{symbol} already has a position ({{observed}}) or an open entry order",
                fix="exit first, or set no_pyramiding = false",
            )
        if cfg.max_open_positions is not None and pos == 0.0 and not pending:
            for o in view.open_orders():
                self._symbols[o.symbol] = None
            held = sum(1 for s in self._symbols if s != symbol and self._is_open(s, view))
            if held >= cfg.max_open_positions:
                return RiskDecision.reject(
                    RiskCode.MAX_OPEN_POSITIONS,
                    **base,
                    limit=float(cfg.max_open_positions),
                    observed=float(held + 1),
                    setting="risk.max_open_positions",
                    what="opening "
                    + symbol
                    + " would make {observed} open positions, limit {limit}",
                    fix="close a position first or raise the limit",
                )
        limits = cfg.strategy_limits.get(order.strategy_id) if cfg.strategy_limits else None
        if limits is not None and limits.max_open_positions is not None:
            refusal = self._strategy_open_positions(order, view, limits.max_open_positions, base)
            if refusal is not None:
                return refusal
        for window, limit, name in self._rates:
            n = window.count(now)
            if n >= limit:
                return RiskDecision.reject(
                    RiskCode.TRADE_RATE,
                    **base,
                    limit=float(limit),
                    observed=float(n + 1),
                    setting=f"risk.{name}",
                    what="this would be entry {observed} in the window, limit {limit}",
                    fix="wait or raise the limit",
                )
        if self._perp_limits:
            refusal = perp_refusal(cfg, order, view, pos, base)
            if refusal is not None:
                return refusal
        if cfg.price_band_pct is not None and order.price is not None:
            mark = view.mark(symbol)
            if mark > 0.0 and math.isfinite(mark):
                dev = abs(order.price - mark) / mark
                if dev > cfg.price_band_pct * (1 + EPS):
                    return RiskDecision.reject(
                        RiskCode.PRICE_BAND,
                        **base,
                        limit=cfg.price_band_pct,
                        observed=dev,
                        pct=True,
                        setting="risk.price_band_pct",
                        what=f"limit price {order.price:.8g} is {{observed}} away from the mark {mark:.8g}, limit {{limit}}",
                        fix="check the price (fat finger?) or widen the band",
                    )
        return None

    def _strategy_open_positions(
        self, order: Order, view: RiskView, limit: int, base: dict[str, Any]
    ) -> RiskDecision | None:
        """``risk.strategy_limits.<id>.max_open_positions``: the symbols this order's strategy
        holds (its own fills) or is entering, with this one, within the limit."""
        sid, symbol = order.strategy_id, order.symbol
        used = set(self._ledger.strategy_positions(sid))
        used.update(o.symbol for o in view.open_orders()
                    if o.strategy_id == sid and is_entry(o, view.position(o.symbol)))
        if symbol in used or len(used) < limit:
            return None
        return RiskDecision.reject(
            RiskCode.STRATEGY_OPEN_POSITIONS,
            **base,
            limit=float(limit),
            observed=float(len(used) + 1),
            setting=f"risk.strategy_limits.{sid}.max_open_positions",
            what=f"strategy {sid!r} opening {symbol} would hold {{observed}} positions, limit {{limit}}",
            fix="close one of its positions first or raise the limit",
        )

    def _is_open(self, symbol: str, view: RiskView) -> bool:
        pos = view.position(symbol)
        return pos != 0.0 or any(is_entry(o, pos) for o in view.open_orders(symbol))

    def _keep(self, decision: RiskDecision) -> RiskDecision:
        if decision.outcome is not Outcome.APPROVED:
            self.decisions.append(decision)
        return decision

    def _advance(self, ts: int) -> None:
        """Time-driven transitions: day boundary resets, ``kill_at``."""
        self._now = max(self._now, ts)
        day = day_index(ts, self.config.day_start_hour_utc)
        if self._day is None:
            self._day = day
        elif day > self._day:
            self._day = day
            if self._daily is not None:
                self._daily.new_day()
            for b in self._breakers:
                if b.tripped and b.config.reset == "next_day":
                    self._clear(b, ts, "next_day")
        if not self._kill_at_done and ts >= (self.config.kill_at or 0):
            self._kill_at_done = True
            self.kill(ts, f"kill_at {self.config.kill_at}")

    def _observe_equity(self, ts: int, equity: float) -> None:
        for b in (self._daily, self._drawdown):
            if b is not None:
                figures = b.observe(ts, equity)
                if figures is not None:
                    self._tripped(b, ts, figures)

    def _tripped(self, b: Breaker, ts: int, figures: dict[str, Any]) -> None:
        self._event(
            ts, "risk_trip", b.name, figures, f"breaker {b.name} tripped {_figures(figures)}"
        )
        if b.config.flatten:
            self._actions.append(RiskAction(ActionKind.FLATTEN, ts, None, f"breaker {b.name}"))
        if b.config.escalate:
            self.kill(ts, f"breaker {b.name} escalated")

    def _clear(self, b: Breaker, ts: int, rule: str) -> None:
        b.clear()
        self._event(ts, "risk_reset", b.name, {"rule": rule}, f"breaker {b.name} reset ({rule})")

    def _event(
        self, ts: int, kind: str, breaker: str, figures: dict[str, Any], message: str
    ) -> None:
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in figures.items()
        }
        self.events.append(
            {"ts": int(ts), "kind": kind, "breaker": breaker, "figures": clean, "message": message}
        )


def _figures(figures: Mapping[str, Any]) -> str:
    parts = []
    for k, v in figures.items():
        if isinstance(v, float):
            parts.append(f"{k}={v * 100:.2f}%" if k.endswith("_pct") else f"{k}={v:.6g}")
        else:
            parts.append(f"{k}={v}")
    return "(" + ", ".join(parts) + ")"


__all__ = [
    "ActionKind",
    "Outcome",
    "RiskAction",
    "RiskCode",
    "RiskConfig",
    "RiskDecision",
    "RiskEngine",
]
