"""Build a paper or live session from a ``LiveConfig``: the one place modes differ.

Why here: the runner, the strategy, the risk engine and the portfolio logic are the
same in both modes; the mode decides only which broker sits behind the engine
(``SimulatedBroker`` for paper, ``CcxtBroker`` for live) and what must be true
before starting. Live refuses, before any network call and in this order, without
``confirm_live``, without a risk profile, without credentials, or when another
runner holds the account's lock.

Operations wiring, the same in both modes: the runner gets the config's audit log
(``LiveConfig.audit_log_path``) for its kill entries and, with ``alerts`` set, an
``AlertRouter`` on the session's clock. Every session start is recorded in
``<state_dir>/sessions.jsonl``; a start in a state dir that already had a session
(a line there, or a journal under ``<state_dir>/journals``) appends a ``restart``
entry to the audit log, with the previous session and the config hash. A start whose
audit entry cannot be written is refused: an operator must be able to trust that log.
(The status publisher is attached by the CLI, ``tradeloom.cli.live``.)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ccxt
from tradeloom.adapters.ops.alert_sinks import SinkError
from tradeloom.adapters.ops.alerts import AlertRouter
from tradeloom.adapters.ops.audit import AuditKind, AuditLog
from tradeloom.adapters.clock import Clock, SystemClock
from tradeloom.adapters.ccxt.exchange import (
    Credentials,
    make_client,
    map_ccxt_error,
    market_specs_from_ccxt,
)
from tradeloom.adapters.live.journal import Journal
from tradeloom.adapters.ccxt.bar_feed import BarFeed, PollingBarFeed, WatchBarFeed
from tradeloom.adapters.live.recovery import (
    RunnerReconciler,
    opening_portfolio,
    order_ids_after,
    totals,
)
from tradeloom.adapters.live.paper import sim_engine
from tradeloom.adapters.live.recorder import LiveCommandRecorder
from tradeloom.adapters.live.runner import LiveRunner
from tradeloom.adapters.live.runner_parts import RunnerParts, RunnerSettings, SessionJournal
from tradeloom.adapters.live.safety import AccountLock, KillFlag
from tradeloom.adapters.secrets import redact_secrets_in_logs
from tradeloom.adapters.live.stage_timing import RiskProbe, StageTimings
from tradeloom.adapters.ccxt.trade_feed import TickFeed, TradeBarFeed, TradeStream
from tradeloom.research.universe.gate import UniverseGate
from tradeloom.engine.errors import ConfigError
from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.live.reconcile import ReconcileReport
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.ports import Broker, LiveBroker
from tradeloom.engine.run.wiring import wire_engine
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.strategy.sleeves import portfolio_risk
from tradeloom.engine.timeutil import format_utc_ms
from tradeloom.research.strategy_loader import load_strategy

from tradeloom.adapters.ops.alerts_config import load_alerts_config
from tradeloom.engine.config import config_hash
from tradeloom.app.live_config import LiveConfig, load_credentials
from tradeloom.adapters.config.risk_profiles import load_profile

if TYPE_CHECKING:
    from tradeloom.adapters.store.market_store import MarketStore

log = logging.getLogger(__name__)

#: ``(config, credentials, markets, run_id, state_dir) -> broker`` for live sessions.
BrokerFactory = Callable[[LiveConfig, Credentials, Mapping[str, MarketSpec], str, Path],
                         CcxtBroker]


@dataclass
class Session:
    """A built session: run it with ``await session.runner.run()``, then ``await session.close()``.

    ``broker`` is the broker behind the recorder: the ``SimulatedBroker`` of a paper
    session, the ``CcxtBroker`` of a live one.
    """

    runner: LiveRunner
    journal: Journal
    journal_path: Path
    client: Any
    lock: AccountLock | None
    run_id: str
    broker: Broker

    async def close(self) -> None:
        """Close the feed, the broker, the client and the journal; release the lock."""
        try:
            await self.runner.flush_alerts()
            await self.runner.feed.close()
            if self.runner.ticks is not None:
                await self.runner.ticks.close()
            if isinstance(self.broker, LiveBroker):  # a paper broker has nothing to stop
                self.broker.close()
            await self.client.close()
        finally:
            self.journal.close()
            if self.lock is not None:
                self.lock.release()


def build_risk(config: LiveConfig, *, required: bool) -> RiskEngine | None:
    if config.risk_profile is None:
        if required:
            raise ConfigError(
                "live trading refused: no risk_profile in the config; set one, e.g. "
                "risk_profile = 'conservative' (shipped: conservative, moderate) or a .toml path")
        return None
    return RiskEngine(load_profile(config.risk_profile), exchange=config.exchange.id)


def _run_id(config: LiveConfig, mode: str, clock: Clock) -> str:
    if config.run_id:
        return config.run_id
    stamp = format_utc_ms(clock.now_ms()).replace("-", "").replace(":", "")[:15]
    return f"{mode[0]}{stamp}"


def session_info(config: LiveConfig, mode: str, run_id: str, markets: Mapping[str, MarketSpec],
                 risk: RiskEngine | None, initial_cash: float) -> dict[str, Any]:
    """The journal's ``session`` record: what replay needs to rebuild the run."""
    return {
        "mode": mode, "run_id": run_id, "account": config.account,
        "strategy": config.strategy, "params": dict(config.params),
        "symbols": list(config.symbols), "timeframe": config.timeframe,
        "exchange": config.exchange.id, "seed": config.seed,
        "risk_profile": config.risk_profile,
        "risk": None if risk is None else risk.config.model_dump(mode="json"),
        "initial_cash": initial_cash,
        "markets": {s: dataclasses.asdict(markets[s]) for s in config.symbols},
        "config_hash": config_hash(config),
    }


def _feeds(config: LiveConfig, client: Any, clock: Clock,
           report: Callable[..., None]) -> tuple[BarFeed, TickFeed | None]:
    """The bar feed and (``runner.trades``) the tick feed, sharing one trade stream."""
    kind = config.runner.feed
    if kind == "auto":
        kind = ("watch" if client.has.get("watchOHLCV") else
                "trades" if client.has.get("watchTrades") else "poll")
    stream = (TradeStream(client, config.symbols, report=report)
              if config.runner.trades or kind == "trades" else None)
    ticks = TickFeed(stream) if config.runner.trades and stream is not None else None
    if kind == "trades":
        return TradeBarFeed(client, config.symbols, config.timeframe, clock=clock, stream=stream,
                            report=report), ticks
    return _feed(config, client, clock, report, kind), ticks


def _feed(config: LiveConfig, client: Any, clock: Clock, report: Callable[..., None],
          kind: str) -> BarFeed:
    if kind == "watch":
        return WatchBarFeed(client, config.symbols, config.timeframe, clock=clock, report=report)
    return PollingBarFeed(client, config.symbols, config.timeframe, clock=clock,
                          poll_delay_ms=config.runner.poll_delay_ms,
                          retry_delay_ms=config.runner.retry_delay_ms, report=report)


async def _markets(client: Any, symbols: list[str]) -> dict[str, MarketSpec]:
    try:
        await client.load_markets()
    except ccxt.BaseError as exc:
        raise map_ccxt_error(exc, context=f"{client.id} load_markets") from exc
    specs = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode)
    unknown = [s for s in symbols if s not in specs]
    if unknown:
        raise ConfigError(f"symbols {unknown} are not markets of {client.id}; check the spelling "
                          "(unified form, e.g. 'BTC/USDT')")
    return specs


def _runner_settings(config: LiveConfig, settings: RunnerSettings | None,
                     settle_orders: bool) -> RunnerSettings:
    """``settings`` (or the config's), with ``settle_orders`` applied either way."""
    if settings is None:
        return _settings(config, settle_orders)
    return dataclasses.replace(settings, settle_orders=settle_orders or settings.settle_orders)


def _settings(config: LiveConfig, settle_orders: bool) -> RunnerSettings:
    r = config.runner
    return RunnerSettings(kill_poll_s=r.kill_poll_s, drift_check_s=r.drift_check_s,
                          reconcile_every_s=r.reconcile_every_s,
                          max_drift_ms=r.max_drift_ms, broker_poll_s=r.broker_poll_s,
                          cancel_timeout_s=r.cancel_timeout_s, warmup_min_bars=r.warmup_min_bars,
                          settle_orders=settle_orders, error_alert_after=r.error_alert_after)


def _universe(config: LiveConfig, store: MarketStore | None, run_id: str) -> UniverseGate | None:
    """The session's universe gate (``LiveConfig.universe``); ``None`` without one."""
    section = config.universe
    if section is None:
        return None
    if config.risk_profile is None:
        raise ConfigError("[universe] refuses entries through the risk engine: set risk_profile "
                          "in the config (e.g. risk_profile = 'moderate')")
    return UniverseGate(section.load(), section.refresh_every, store, config.symbols,
                        exchange=config.exchange.id, timeframe=config.timeframe, run_id=run_id)


def _open_store(config: LiveConfig, store: MarketStore | None) -> MarketStore | None:
    if store is not None or config.store is None:
        return store
    from tradeloom.adapters.store.market_store import MarketStore  # imported when needed

    return MarketStore(config.store)


def alert_router(config: LiveConfig, clock: Clock) -> AlertRouter | None:
    """The config's ``alerts`` file as a router on ``clock``; ``None`` without one."""
    if config.alerts is None:
        return None
    alerts_cfg = load_alerts_config(config.alerts)
    try:
        return AlertRouter(alerts_cfg, clock=clock)
    except SinkError as exc:  # e.g. a webhook's token_env not set
        raise ConfigError(f"alerts config {config.alerts}: {exc}") from exc


def operator_name() -> str:
    """Who runs this process (the audit log's actor for restarts)."""
    return os.environ.get("USER") or os.environ.get("LOGNAME") or f"uid {os.getuid()}"


SESSIONS_FILE = "sessions.jsonl"


def previous_session(state_dir: Path, journal_path: Path) -> dict[str, Any] | None:
    """The last session recorded in ``state_dir`` (or any older journal there), if any."""
    registry = state_dir / SESSIONS_FILE
    if registry.is_file():
        lines = [ln for ln in registry.read_text(encoding="utf-8").splitlines() if ln.strip()]
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line (crash mid-write): the one before still counts
            if isinstance(entry, dict):
                return entry
    journals = state_dir / "journals"
    if journals.is_dir():
        older = sorted((p for p in journals.glob("*.jsonl") if p != journal_path),
                       key=lambda p: p.stat().st_mtime)
        if older:
            return {"journal": str(older[-1]), "run_id": older[-1].stem}
    return None


def record_session_start(config: LiveConfig, mode: str, run_id: str, journal_path: Path,
                         clock: Clock, audit: AuditLog) -> dict[str, Any] | None:
    """Register this session in ``<state_dir>/sessions.jsonl``; audit a ``restart``.

    Returns the previous session (``None`` on a first start). Raises ``ConfigError``
    when the audit entry cannot be written.
    """
    state_dir = config.state_dir
    previous = previous_session(state_dir, journal_path)
    now = clock.now_ms()
    chash = config_hash(config)
    if previous is not None:
        details = {"mode": mode, "account": config.account, "exchange": config.exchange.id,
                   "strategy": config.strategy, "config_hash": chash,
                   "journal": str(journal_path),
                   "previous": {k: previous.get(k) for k in
                                ("run_id", "mode", "account", "started_ms", "journal",
                                 "config_hash") if previous.get(k) is not None}}
        try:
            audit.append(AuditKind.RESTART, actor=operator_name(), ts_ms=now, subject=run_id,
                         details=details)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot write the restart entry to the audit log {audit.path} "
                              f"({exc}); fix its permissions or set audit_log in the config "
                              f"(check it with `tradeloom audit verify {audit.path}`)") from exc
    entry = {"run_id": run_id, "mode": mode, "account": config.account, "started_ms": now,
             "journal": str(journal_path), "config_hash": chash}
    try:
        with open(state_dir / SESSIONS_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write {state_dir / SESSIONS_FILE} ({exc}); the state_dir "
                          "must be writable") from exc
    return previous


async def open_paper(config: LiveConfig, *, clock: Clock | None = None,
                     store: MarketStore | None = None,
                     settle_orders: bool = False,
                     settings: RunnerSettings | None = None) -> Session:
    """A paper session: live market data, the backtest's ``SimulatedBroker``, virtual cash."""
    clock = clock or SystemClock()
    strategy = load_strategy(config.strategy)(**config.params)
    risk = portfolio_risk(strategy, build_risk(config, required=False))  # sleeve budgets
    run_id = _run_id(config, "paper", clock)
    router = alert_router(config, clock)
    audit = AuditLog(config.audit_log_path)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    journal_path = config.journal or config.state_dir / "journals" / f"{run_id}.jsonl"
    lock = AccountLock(config.state_dir, f"paper-{config.account}").acquire()
    try:
        record_session_start(config, "paper", run_id, journal_path, clock, audit)
    except BaseException:
        lock.release()
        raise
    client = make_client(config.exchange, async_=True)
    try:
        markets = await _markets(client, config.symbols)
        journal = Journal(journal_path)
    except BaseException:
        await client.close()
        lock.release()
        raise
    sj = SessionJournal(journal, clock)
    timings = StageTimings()
    engine = sim_engine(strategy, symbols=config.symbols, timeframe=config.timeframe,
                        markets=markets, initial_cash=config.paper.initial_cash, risk=risk,
                        emit=sj.emit, run_id=run_id, timings=timings, seed=config.seed)
    info = session_info(config, "paper", run_id, markets, risk, config.paper.initial_cash)
    feed, ticks = _feeds(config, client, clock, _reporter(sj))
    market_store = _open_store(config, store)
    parts = RunnerParts(feed=feed, client=client, journal=sj, clock=clock, timings=timings,
                        exchange_id=config.exchange.id, session=info, risk=risk, live=False,
                        kill_flag=KillFlag(config.state_dir, config.account),
                        store=market_store, audit=audit, alerts=router, ticks=ticks,
                        universe=_universe(config, market_store, run_id))
    runner = LiveRunner(engine, parts, _runner_settings(config, settings, settle_orders))
    return Session(runner, journal, journal_path, client, lock, run_id, runner.recorder.inner)


def _reporter(sj: SessionJournal) -> Callable[[str, dict[str, Any]], None]:
    def report(kind: str, payload: dict[str, Any]) -> None:
        sj.write(f"feed_{kind}", payload, None)

    return report


def preflight_live(config: LiveConfig, *, confirm_live: bool,
                   environ: Mapping[str, str] | None = None) -> tuple[RiskEngine, Credentials]:
    """The refusals that need no network: switch, risk profile, credentials."""
    if not confirm_live:
        raise ConfigError("live trading refused: pass --confirm-live to trade real money "
                          "(try `tradeloom paper CONFIG` first)")
    risk = build_risk(config, required=True)
    if risk is None:  # build_risk(required=True) raised already; this narrows the type
        raise ConfigError("live trading refused: no risk engine")
    return risk, load_credentials(config.credentials, environ)


async def open_live(config: LiveConfig, *, confirm_live: bool, broker_factory: BrokerFactory,
                    clock: Clock | None = None, store: MarketStore | None = None,
                    environ: Mapping[str, str] | None = None,
                    settle_orders: bool = False,
                    settings: RunnerSettings | None = None) -> Session:
    """A live session through ``broker_factory`` (the ``CcxtBroker``); see the module docstring."""
    clock = clock or SystemClock()
    risk, credentials = preflight_live(config, confirm_live=confirm_live, environ=environ)
    redact_secrets_in_logs(*_secret_strings(credentials))
    strategy = load_strategy(config.strategy)(**config.params)
    risk = portfolio_risk(strategy, risk)  # a portfolio's sleeve budgets and caps
    router = alert_router(config, clock)
    audit = AuditLog(config.audit_log_path)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    lock = AccountLock(config.state_dir, config.account).acquire()
    run_id = _run_id(config, "live", clock)
    journal_path = config.journal or config.state_dir / "journals" / f"{run_id}.jsonl"
    try:
        record_session_start(config, "live", run_id, journal_path, clock, audit)
    except BaseException:
        lock.release()
        raise
    client = make_client(config.exchange, credentials=credentials, async_=True)
    made: list[CcxtBroker] = []  # the broker, once built (closed again if the start fails)
    try:
        markets = await _markets(client, config.symbols)
        journal = Journal(journal_path, secrets=_secret_strings(credentials))
        made.append(broker_factory(config, credentials, markets, run_id, config.state_dir))
        broker = made[0]
        start = await _recover(config, client, broker, markets, clock)
    except BaseException:
        for built in made:
            built.close()
        await client.close()
        lock.release()
        raise
    sj = SessionJournal(journal, clock)
    sj.write("balance", {"total": start.totals, "positions": start.positions,
                         "restored_orders": start.restored}, None)
    timings = StageTimings()
    recorder = LiveCommandRecorder(broker, sj.emit, run_id=run_id, timings=timings)

    def recorded(markets: Mapping[str, MarketSpec], portfolio: Portfolio,
                 ids: Callable[[], int]) -> Broker:  # built before the portfolio: recovery
        return recorder

    engine = wire_engine(strategy, symbols=config.symbols, timeframe=config.timeframe,
                         markets=markets, broker=recorded, portfolio=start.portfolio,
                         risk=RiskProbe(risk, timings), seed=config.seed, id_source=start.ids)
    info = session_info(config, "live", run_id, markets, risk, start.portfolio.initial_cash)
    info["positions"] = start.positions
    info["position_entries"] = {s: start.portfolio.avg_entry(s) for s in start.positions}
    reconciler = (RunnerReconciler(broker, broker.store, every_s=config.runner.reconcile_every_s)
                  if start.report is not None else None)
    feed, ticks = _feeds(config, client, clock, _reporter(sj))
    market_store = _open_store(config, store)
    parts = RunnerParts(feed=feed, client=client, journal=sj, clock=clock, timings=timings,
                        exchange_id=config.exchange.id, session=info, risk=risk, live=True,
                        kill_flag=KillFlag(config.state_dir, config.account),
                        store=market_store, reconciler=reconciler, opening_report=start.report,
                        audit=audit, alerts=router, ticks=ticks,
                        universe=_universe(config, market_store, run_id))
    runner = LiveRunner(engine, parts, _runner_settings(config, settings, settle_orders))
    return Session(runner, journal, journal_path, client, lock, run_id, broker)


@dataclass
class _Start:
    """What a live session starts from (``adapters.live_recovery``)."""

    portfolio: Portfolio
    positions: dict[str, float]
    totals: dict[str, float]
    ids: Callable[[], int]
    restored: list[str]
    report: ReconcileReport


async def _recover(config: LiveConfig, client: Any, broker: CcxtBroker,
                   markets: Mapping[str, MarketSpec], clock: Clock) -> _Start:
    """Reconcile, restore working orders, open the portfolio from the exchange's balances."""
    store = broker.store
    report = await RunnerReconciler(broker, store)(clock.now_ms())
    ids = order_ids_after(store)
    restored = [o.client_id for o in broker.restore(store.orders(), ids)]
    balance = await _fetch(client, "fetch_balance")
    held = totals(balance)
    prices: dict[str, float] = {}
    for symbol in config.symbols:
        if held.get(markets[symbol].base, 0.0) > 0:
            rows = await _fetch(client, "fetch_ohlcv", symbol, config.timeframe, None, 2)
            prices[symbol] = float(rows[-1][4])  # the latest close: entry of last resort
    portfolio, positions = opening_portfolio(balance, markets, config.symbols, prices, store)
    return _Start(portfolio, positions, held, ids, restored, report)


async def _fetch(client: Any, method: str, *args: Any) -> Any:
    try:
        return await getattr(client, method)(*args)
    except ccxt.BaseError as exc:
        raise map_ccxt_error(exc, context=f"{client.id} {method} {args[0] if args else ''}".rstrip()) \
            from exc


def _secret_strings(credentials: Credentials) -> tuple[str, ...]:
    return tuple(s for s in (credentials.api_key, credentials.secret, credentials.password) if s)


__all__ = ["SESSIONS_FILE", "BrokerFactory", "Session", "alert_router", "build_risk",
           "open_live", "open_paper", "operator_name", "preflight_live", "previous_session",
           "record_session_start", "session_info"]
