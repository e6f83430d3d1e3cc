"""``LiveRunner``: exchange events into the one ``Engine.step``, one at a time.

Why one runner for paper and live: the strategy, the ``RiskEngine`` and the
portfolio logic are the objects and code a backtest uses; only the broker behind
the engine differs (``SimulatedBroker`` for paper, ``CcxtBroker`` for live), and it
is picked once when the session is built (``app.session``), never tested for
inside the loop. What the runner adds is I/O and safety around the step; this module
is the event loop, and each other responsibility has its own module, wired from one
``RunnerParts`` (``runner_parts``):

1. **Start** (``start``): clock drift against the exchange, the warm-up bars (store,
   then exchange; ``warmup``), ``engine.start`` at the last warm-up close, the engine
   primed with the warm-up, a ``session`` and a ``start`` journal record.
2. **Loop** (``run``/``round``): every round checks the kill switch, the drift and
   reconcile schedules and (live) pulls the broker's fills, then waits at most
   ``kill_poll_s`` for closed bars. Each inbound event is journaled *before* it is
   stepped; each command the engine sends is journaled by the ``CommandRecorder`` as
   it passes. **Fills before the next bar** (live): when bars arrive and the broker
   has orders working or requests in flight, the runner first brings the broker up to
   date (``broker.sync`` in a worker thread, bounded by ``cancel_timeout_s``), then
   steps the reported fills, then the bars: a fill the exchange made before a bar
   closed is in the portfolio before the strategy sees that bar, exactly as the
   backtest's fill at the next bar's open is. **Ticks** (optional ``ticks``): public
   trades are stepped as ``TradeTick`` events while the runner waits for bars and
   with them (``engine.run.events.merge_ticks``: before a bar closing at the same
   time), never past the close of the next bar not yet stepped; each is journaled as
   a ``trade`` record first. A tick older than the engine clock is reported
   (``feed_late_trade``) and dropped.
3. **Drift** and **reconcile** schedules: ``schedules`` (pause on drift, degrade on a
   reconciliation mismatch; replay applies the same records).
4. **Kill** (flag file, ``kill()``): ``kill_switch`` (entries blocked, every order
   cancelled, latency, audit entry, alert).
5. **Alerts** (optional router): ``alerting``, an observer of the journal (stale data,
   repeated errors) that also delivers the kill, drift, reconcile and breaker alerts
   in background tasks; ``run()`` waits for them at the end, at most ``alert_flush_s``.
6. **Universe** (optional ``universe``): ``universe.UniverseRefresh``, an observer of
   the journal's bars, refreshed before the event that reaches its next refresh.
7. **Status** (optional ``publisher``): it observes every journal record and ``tick``s
   at the end of each round, after a kill or a degrade and at the end.
8. **Markets** (optional ``markets`` source): the exchange's market rules reloaded every
   ``markets_ttl_s``; a changed tick/lot size is journaled and applied
   (``market_refresh``).
   **Funding** (optional ``funding`` source, perpetuals): when a round's bars reach a
   funding time, the venue's funding events up to their latest close
   (``adapters.ccxt.funding``: the rate history for paper, the account's payments live)
   are merged with the bars in the engine's order (a funding at T after every bar
   closing at T), each journaled as a ``funding`` record and stepped as a
   ``FundingEvent`` (never before the engine clock: a late one is stepped at it, its
   ``engine_ts``).
9. **Risk decisions**: every rejection or resize the risk engine makes is journaled
   (``risk`` record) and logged (a rejection as a warning) as it happens.
10. **End** (``stop()``, ``max_bars``, a fatal broker error or an exception):
   ``engine.finish()`` and an ``end`` record with the stage latency percentiles and
   whether the session ``failed``.

PnL counts from ``summary.start_equity`` (``equity_start`` record, the session's
``initial_equity``): cash plus every held position marked at the last warm-up close,
so coins the account already held are not profit.

Time: the runner never reads ``time.time`` for market decisions; bars carry their
own times and the engine's clock is theirs. ``clock`` (injectable) only schedules
waits and stamps ``local_ts`` in the journal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
from typing import TYPE_CHECKING

from tradeloom.adapters.ccxt.funding import VenueFunding, funding_payload
from tradeloom.adapters.live.alerting import AlertDispatch
from tradeloom.adapters.live.controls import degrade_symbols, kill_engine, set_paused
from tradeloom.adapters.live.journal import finite
from tradeloom.adapters.live.journal_codec import bar_payload, fill_payload, tick_payload
from tradeloom.adapters.live.kill_switch import KillSwitch
from tradeloom.adapters.live.market_refresh import MarketRefresh
from tradeloom.adapters.live.perp_settings import perp_settings
from tradeloom.adapters.live.recorder import CommandRecorder, LiveCommandRecorder
from tradeloom.adapters.live.runner_parts import (
    RunnerParts,
    RunnerSettings,
    RunSummary,
    SessionJournal,
)
from tradeloom.adapters.live.schedules import DriftSchedule, ReconcileSchedule
from tradeloom.adapters.live.universe import UniverseRefresh
from tradeloom.adapters.live.warmup import load_warmup, prime, warmup_need
from tradeloom.engine.errors import ConfigError, ExchangeError
from tradeloom.engine.orders import Bar, Fill
from tradeloom.engine.ports import LiveBroker
from tradeloom.engine.run.events import FillEvent, TradeTick, merge_ticks, order_key
from tradeloom.engine.run.loop import Engine

if TYPE_CHECKING:
    from tradeloom.adapters.ccxt.trade_feed import TickFeed
    from tradeloom.adapters.ops.status_publisher import StatusPublisher

log = logging.getLogger(__name__)


class LiveRunner:
    """Feeds a started-on-demand ``engine`` from the parts' feed (and the broker's fills).

    ``engine`` must be built with its broker wrapped in a ``CommandRecorder`` writing to
    the parts' journal (a ``LiveCommandRecorder`` for a live broker) and its risk engine
    in a ``RiskProbe`` (``app.session`` does both); ``parts.risk`` is that same
    ``RiskEngine``. ``parts.live`` refuses to run without a ``RiskEngine`` or without a
    kill flag.
    """

    def __init__(self, engine: Engine, parts: RunnerParts,
                 settings: RunnerSettings | None = None) -> None:
        settings = settings if settings is not None else RunnerSettings()
        if parts.live and parts.risk is None:
            raise ConfigError(
                "live trading refused: the engine has no RiskEngine; set risk_profile in the "
                "config (e.g. risk_profile = 'conservative')")
        if parts.live and parts.kill_flag is None:
            raise ConfigError("live trading refused: no kill flag; set state_dir in the config")
        recorder = engine.broker
        if not isinstance(recorder, CommandRecorder):
            raise ConfigError("the runner journals every command: build the engine with its "
                              "broker in a CommandRecorder (app.session's wiring does)")
        self.engine = engine
        self.parts = parts
        self.settings = settings
        self.recorder = recorder
        #: The live broker (polled for fills), or None for paper (fills come with bars).
        self.live_broker: LiveBroker | None = (
            recorder if isinstance(recorder, LiveCommandRecorder) else None)
        self.risk = parts.risk
        self.feed = parts.feed
        self.ticks = parts.ticks
        self.client = parts.client
        self.journal = parts.journal
        self.clock = parts.clock
        self.timings = parts.timings
        self.exchange_id = parts.exchange_id
        self.session = dict(parts.session)
        self.store = parts.store
        self.live = parts.live
        self.alerts = parts.alerts
        self.run_id = str(self.session.get("run_id") or "runner")
        self.tf_ms = engine.timeframe_ms
        self.summary = RunSummary()
        self.publisher: StatusPublisher | None = None
        self._stop = False
        self._started = False
        self._last_bar_close = 0  # the engine start, then each stepped bar's close
        journal = self.journal
        self.alerting = AlertDispatch(parts.alerts, run_id=self.run_id,
                                      exchange_id=self.exchange_id,
                                      timeframe=str(self.session.get("timeframe")),
                                      settings=settings)
        if parts.alerts is not None:
            journal.taps.append(self.alerting.observe)
        clock, summary, alerting = self.clock, self.summary, self.alerting
        self.kill_switch = KillSwitch(
            engine, self.risk, self.live_broker, journal=journal, clock=clock, summary=summary,
            flag=parts.kill_flag, audit=parts.audit, alerts=alerting,
            cancel_timeout_s=settings.cancel_timeout_s, session=self.session,
            exchange_id=self.exchange_id, run_id=self.run_id, notify=self._publish,
            symbols=engine.symbols)
        self.drift = DriftSchedule(
            engine, self.risk, client=self.client, feed=self.feed, journal=journal, clock=clock,
            summary=summary, alerts=alerting, settings=settings, exchange_id=self.exchange_id,
            run_id=self.run_id)
        self.reconcile = None if parts.reconciler is None else ReconcileSchedule(
            engine, self.risk, parts.reconciler, opening_report=parts.opening_report,
            feed=self.feed, journal=journal, clock=clock, summary=summary, alerts=alerting,
            settings=settings, session=self.session, exchange_id=self.exchange_id,
            run_id=self.run_id, notify=self._publish)
        self.universe = None if parts.universe is None else UniverseRefresh(
            parts.universe, self.risk, journal=journal, summary=self.summary)
        self.markets = (MarketRefresh(parts.markets, engine, journal=journal, clock=clock,
                                      every_s=settings.markets_ttl_s)
                        if parts.markets is not None and settings.markets_ttl_s > 0 else None)
        self._seen_decisions = 0
        self.user_stream = parts.user_stream if self.live_broker is not None else None
        self.funding = parts.funding if parts.funding is not None and \
            parts.funding.symbols else None
        engine.event_sink = self._on_engine_event
        if parts.publisher is not None:
            self.attach_publisher(parts.publisher)

    # ------------------------------------------------------------------ control API
    @property
    def killed(self) -> bool:
        return self.kill_switch.killed

    def kill(self, reason: str = "api", actor: str = "api", *, all_orders: bool = False) -> None:
        """Request the kill switch (API call); acted on within one loop round.

        ``actor`` is who asked (recorded in the audit log); ``all_orders`` cancels every
        open order of the account, not only this runner's.
        """
        self.kill_switch.request(reason, actor, all_orders=all_orders)

    def stop(self) -> None:
        """Finish after the current round."""
        self._stop = True

    def attach_publisher(self, publisher: StatusPublisher) -> None:
        """Publish this runner's status (also for sessions built by ``app.session``)."""
        self.publisher = publisher
        publisher.attach(self)

    def _publish(self) -> None:
        if self.publisher is not None:
            self.publisher.tick(self)

    async def flush_alerts(self, timeout_s: float | None = None) -> int:
        """Wait (at most ``timeout_s``, default ``alert_flush_s``) for alerts in delivery;
        how many were still undelivered at the deadline (they keep going)."""
        return await self.alerting.flush(timeout_s)

    # ------------------------------------------------------------------ start
    async def start(self) -> None:
        """Drift check, warm-up, ``engine.start``, priming, ``session``/``start`` records."""
        if self._started:
            return
        self._started = True
        self.kill_switch.mark_started()
        ex_now = await self.drift.check(initial=True)
        engine = self.engine
        last_close = ex_now - ex_now % self.tf_ms
        self.journal.write("session", self.session, last_close)
        if self.risk is not None:
            self.risk.bind(exchange=self.exchange_id)
        engine.start(last_close)
        self._last_bar_close = last_close
        settings = perp_settings(engine)
        if settings:
            self.journal.write("perp_settings", {"ts": last_close, "symbols": settings},
                               last_close)
        need = warmup_need(engine, self.settings.warmup_min_bars)
        bars = await load_warmup(self.client, engine.symbols, str(self.session.get("timeframe")),
                                 self.tf_ms, need, exchange_now=ex_now, store=self.store,
                                 exchange_id=self.exchange_id)
        for bar in bars:
            self.journal.write("warmup_bar", bar_payload(bar), bar.close_ts)
        self.journal.write("start", {"ts": last_close, "warmup_need": need,
                                     "warmup_bars": len(bars)}, last_close)
        self.summary.warmup_bars = prime(engine, bars)
        equity = marked_equity(engine)
        self.summary.start_equity = equity
        self.session["initial_equity"] = equity
        self.journal.write("equity_start", {"ts": last_close, "equity": equity,
                                            "cash": engine.portfolio.cash,
                                            "positions": engine.portfolio.holdings()},
                           last_close)
        last_open = {s: last_close - self.tf_ms for s in engine.symbols}
        self.feed.start_after(last_open)
        if self.summary.paused:
            set_paused(self.risk, self.exchange_id, True, last_close)
        if self.universe is not None:
            self.universe.refresh(last_close)
        if self.reconcile is not None:
            await self.reconcile.opening()
        if self.funding is not None:
            self.funding.start(last_close)
        await self.kill_switch.check()  # a flag left in place: killed before the first bar
        if self.user_stream is not None:
            self.user_stream.start()

    def _on_engine_event(self, event: dict) -> None:
        """The engine reported dust an exit left: journal it (once, with the amount)."""
        if event.get("kind") == "dust":
            self.summary.dust[str(event["symbol"])] = float(event["amount"])
        self.journal.write(str(event.get("kind", "event")), event, int(event["ts"]))

    # ------------------------------------------------------------------ loop
    async def run(self, *, max_bars: int | None = None) -> RunSummary:
        """Run until ``stop()``, ``max_bars`` live bars, or a fatal error; then finish."""
        await self.start()
        try:
            while not self._stop:
                await self.round()
                if max_bars is not None and self.summary.bars >= max_bars:
                    self.summary.stop_reason = f"max_bars {max_bars}"
                    break
            else:
                self.summary.stop_reason = self.summary.stop_reason or "stopped"
        except BaseException as exc:
            if not isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
                self.summary.failed = True
                self.summary.stop_reason = f"error: {type(exc).__name__}: {exc}"
            raise
        finally:
            self.finish()
            await self.flush_alerts()
        return self.summary

    async def round(self) -> None:
        """One loop round: kill check, drift, broker fills, then bars (waiting at most kill_poll_s)."""
        await self.kill_switch.check()
        if self.drift.due():
            await self.drift.check()
        if self.reconcile is not None and self.reconcile.due():
            await self.reconcile.run()
        if self.markets is not None and self.markets.due():
            await self.markets.run()
        self.pump_broker()
        timeout = self.settings.kill_poll_s
        if self.live_broker is not None:
            timeout = min(timeout, self.settings.broker_poll_s)
        bars = await self._next_bars(timeout)
        fills = await self._settle_broker() if bars else []
        market: list[Bar | TradeTick] = list(bars)
        if self.ticks is not None:
            horizon = max([self._last_bar_close, *(b.close_ts for b in bars)]) + self.tf_ms
            market = list(merge_ticks(bars, self._take_ticks(self.ticks, horizon)))
        events: list[Bar | TradeTick | Fill | VenueFunding] = [*fills, *market]
        if self.funding is not None and bars:
            until = max(b.close_ts for b in bars)
            if self.funding.due(until):
                due = await self.funding.events(until)
                events = [*fills, *heapq.merge(market, due, key=_event_key)]
        for event in events:
            await self.kill_switch.check()
            if type(event) is Bar:
                self.on_bar(event)
            elif type(event) is TradeTick:
                self.on_tick(event)
            elif type(event) is VenueFunding:
                self.on_funding(event)
            else:
                self._step_fill(event)
        self._refresh_universe_if_due()
        self.alerting.risk_events(self.risk)
        self._publish()

    def on_bar(self, bar: Bar) -> None:
        """Journal one closed bar, step it, settle the orders it caused."""
        self._refresh_universe_if_due()
        timings = self.timings
        timings.receipt()
        self.journal.write("bar", bar_payload(bar), bar.close_ts)
        self._last_bar_close = bar.close_ts
        before = self.recorder.submitted
        self.engine.step(bar)
        timings.step_done()
        self._journal_risk()
        self.summary.bars += 1
        if self.universe is not None:
            self.universe.journal_refusals()
        if self.settings.settle_orders and self.recorder.submitted != before:
            self.pump_broker(wait=True)

    def on_tick(self, tick: TradeTick) -> None:
        """Journal one public trade, step it (``on_trade``; paper orders match at it)."""
        self._refresh_universe_if_due()
        self.timings.receipt()
        self.journal.write("trade", tick_payload(tick), tick.ts)
        before = self.recorder.submitted
        self.engine.step(tick)
        self.timings.step_done()
        self._journal_risk()
        self.summary.ticks += 1
        if self.universe is not None:
            self.universe.journal_refusals()
        if self.settings.settle_orders and self.recorder.submitted != before:
            self.pump_broker(wait=True)

    def on_funding(self, item: VenueFunding) -> None:
        """Journal one funding event of the venue, step it (never before the engine clock)."""
        engine = self.engine
        ts = max(int(item.event.ts), engine.ctx.now)
        self.journal.write("funding", funding_payload(item, ts), int(item.event.ts))
        before = len(engine.portfolio.funding)
        engine.step(item.event._replace(ts=ts))
        if len(engine.portfolio.funding) > before:
            paid = engine.portfolio.funding[-1]
            self.summary.funding += float(paid.amount)
            self.summary.funding_payments += 1
            self.journal.write("funding_booked", {
                "symbol": paid.symbol, "ts": int(paid.ts), "qty": float(paid.qty),
                "mark": finite(float(paid.mark)), "rate": finite(float(paid.rate)),
                "amount": float(paid.amount)}, int(paid.ts))
        self._journal_risk()

    def _refresh_universe_if_due(self) -> None:
        if self.universe is not None and self._started:
            self.universe.refresh_if_due(self._last_bar_close)

    # ------------------------------------------------------------------ ticks
    async def _next_bars(self, timeout: float) -> list[Bar]:
        """The feed's bars; meanwhile, ticks are stepped as they arrive and (live) the fills
        the venue pushes (``user_stream``) are collected and stepped at once."""
        ticks = self.ticks
        stream = self.user_stream if self.user_stream is not None and \
            self.user_stream.running else None
        if ticks is None and stream is None:
            return await self.feed.next_bars(timeout)
        bars_task = asyncio.ensure_future(self.feed.next_bars(timeout))
        try:
            while not bars_task.done():
                waiters = []
                if ticks is not None:
                    waiters.append(asyncio.ensure_future(ticks.wait()))
                if stream is not None:
                    waiters.append(asyncio.ensure_future(stream.wait()))
                await asyncio.wait({bars_task, *waiters}, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
                if stream is not None:
                    self._collect_pushed()
                if ticks is None:
                    continue
                ready = self._take_ticks(ticks, self._last_bar_close + self.tf_ms)
                for tick in ready:
                    await self.kill_switch.check()
                    self.on_tick(tick)
                if ready:
                    self._refresh_universe_if_due()
        finally:
            if not bars_task.done():
                bars_task.cancel()
                await asyncio.gather(bars_task, return_exceptions=True)
        return bars_task.result()

    def _collect_pushed(self) -> None:
        """Step the fills the user-data stream booked (no request: they are here)."""
        broker, stream = self.live_broker, self.user_stream
        if broker is None or stream is None:
            return
        self.summary.pushed_trades, self.summary.pushed_updates = stream.trades, stream.updates
        try:
            fills = broker.collect(self.clock.now_ms() + self.feed.exchange_offset_ms)
        except ExchangeError as err:
            self._broker_failed(err)
            return
        for fill in fills:
            self._step_fill(fill)

    def _take_ticks(self, ticks: TickFeed, before: int) -> list[TradeTick]:
        """Ticks before ``before``; the ones older than the engine clock reported, dropped."""
        ready, late = ticks.take(before, self.engine.ctx.now)
        for tick in late:
            self.journal.write("feed_late_trade", {**tick_payload(tick),
                                                   "engine_now": self.engine.ctx.now}, tick.ts)
        return ready

    # ------------------------------------------------------------------ broker fills
    def pump_broker(self, wait: bool = False) -> None:
        """Live: fills the exchange reported since the last round, each stepped as an event.

        ``wait``: block until the broker has sent everything queued and refreshed.
        """
        broker = self.live_broker
        if broker is None:
            return
        try:
            now = self.clock.now_ms() + self.feed.exchange_offset_ms
            fills = broker.poll(now, wait=True) if wait else broker.poll(now)
        except ExchangeError as err:
            self._broker_failed(err)
            raise
        for fill in fills:
            self._step_fill(fill)

    async def _settle_broker(self) -> list[Fill]:
        """Live, before stepping bars: the fills the exchange made up to now.

        Waits (off the event loop) only when the broker has something working; a
        broker still busy after ``cancel_timeout_s`` is journaled and the bars go on.
        """
        broker = self.live_broker
        if broker is None:
            return []
        if broker.busy:
            timeout = self.settings.cancel_timeout_s
            if not await asyncio.to_thread(broker.sync, timeout):
                self.journal.write("warning", {
                    "where": "broker.sync", "timeout_s": timeout,
                    "warning": "the exchange did not answer before the next bar; its fills "
                               "will be booked when they arrive"}, None)
                log.warning("broker still busy after %.1f s; stepping the bars without "
                            "waiting for its reports", timeout)
        try:
            return broker.collect(self.clock.now_ms() + self.feed.exchange_offset_ms)
        except ExchangeError as err:
            self._broker_failed(err)
            raise

    def _broker_failed(self, err: ExchangeError) -> None:
        self.journal.write("error", {"error": str(err), "where": "broker.poll"}, None)
        self.summary.failed = True
        self.summary.stop_reason = f"broker error: {err}"
        self._stop = True

    def _step_fill(self, fill: Fill) -> None:
        """One exchange fill as a ``FillEvent``, never before the engine's clock.

        Nor after the next bar's close: a fill the exchange made later (the runner
        catching up on backfilled bars) is booked just before it, so the bars still to
        come stay in time order and the strategy sees the fill before deciding on them.
        """
        engine = self.engine
        ts = max(int(fill.ts), engine.ctx.now)  # learnt now, never before the engine clock
        ts = max(min(ts, self._last_bar_close + self.tf_ms - 1), engine.ctx.now)
        known = fill if ts == fill.ts else dataclasses.replace(fill, ts=ts)
        self.timings.receipt()
        self.journal.write("fill", {**fill_payload(fill), "engine_ts": ts}, int(fill.ts))
        engine.step(FillEvent(known))
        self.timings.step_done()
        self._journal_risk()

    def _journal_risk(self) -> None:
        """The risk engine's new rejections and resizes: a ``risk`` record each, and a log
        line (warning for a rejection), so an operator sees them where they look."""
        risk = self.risk
        if risk is None or len(risk.decisions) <= self._seen_decisions:
            return
        new = risk.decisions[self._seen_decisions:]
        self._seen_decisions = len(risk.decisions)
        for decision in new:
            record = {k: (finite(v) if isinstance(v, float) else v)
                      for k, v in decision.record().items()}
            self.journal.write("risk", record, int(decision.ts))
            rejected = not decision.approved
            log.log(logging.WARNING if rejected else logging.INFO, "risk %s %s order %d: %s",
                    "REJECTED" if rejected else decision.outcome.value, decision.symbol,
                    decision.order_id, decision.message)

    # ------------------------------------------------------------------ end
    def finish(self) -> None:
        if not self._started:
            return
        engine = self.engine
        engine.finish()
        self.summary.orders = sum(1 for o in engine.orders)
        self.summary.fills = len(engine.fills)
        self.summary.stages = self.timings.summary()
        self.journal.write("end", {"bars": self.summary.bars, "orders": self.summary.orders,
                                   "fills": self.summary.fills,
                                   "reason": self.summary.stop_reason,
                                   "failed": self.summary.failed,
                                   "kill_latency_s": self.summary.kill_latency_s,
                                   "stages": self.summary.stages}, engine.ctx.now)
        self._started = False
        if self.publisher is not None:
            self.publisher.tick(self, final=True)


def _event_key(event: Bar | TradeTick | VenueFunding) -> tuple:
    """The engine's event order (``events.order_key``) of a bar, tick or venue funding."""
    return order_key(event.event if type(event) is VenueFunding else event)


def marked_equity(engine: Engine) -> float:
    """Cash plus every holding (positions, dust, fee-asset balances) at its mark (its
    average entry when no price is known yet; a perpetual at its unrealized PnL): the
    equity a session's PnL counts from, so coins held at the start are not profit."""
    portfolio = engine.portfolio
    marks = portfolio.marks()
    equity = portfolio.cash
    for symbol, amount in portfolio.holdings().items():
        price = marks.get(symbol)
        if price is None or price != price:
            price = portfolio.avg_entry(symbol)
        if portfolio.is_perp(symbol):  # a perpetual is worth its unrealized PnL
            equity += amount * (price - portfolio.avg_entry(symbol))
        else:
            equity += amount * price
    return equity


__all__ = [
    "LiveRunner",
    "RunSummary",
    "RunnerParts",
    "RunnerSettings",
    "SessionJournal",
    "degrade_symbols",
    "kill_engine",
    "marked_equity",
    "set_paused",
]
