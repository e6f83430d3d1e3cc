"""Build a paper or live session from a ``LiveConfig``: the one place modes differ.

Why here: the runner, the strategy, the risk engine and the portfolio logic are the
same in both modes; the mode decides only which broker sits behind the engine
(``SimulatedBroker`` for paper, ``CcxtBroker`` for live) and what must be true
before starting. Live refuses, before any network call and in this order, without
``confirm_live``, without a risk profile, without credentials, or when another
runner holds the exchange account's lock (``adapters.live.safety``: keyed by the
exchange and a hash of the API key, not by the state folder).

A start does everything that can fail first (markets, credentials, the state
store, reconciliation) and writes the session's journal and its
``sessions.jsonl``/audit entries last (``app.session_records``): a start that fails
before trading leaves the state directory as it found it.

The run id is the config's, else the account's stored one, else derived from the
exchange, account and strategy (``session_records.resolve_run_id``), so a config
without ``run_id`` starts and a restart resumes the same state. Each session
journals to its own file (or, with ``journal`` set, its own segment of that file).

Operations wiring, the same in both modes: the runner gets the config's audit log
(``LiveConfig.audit_log_path``) for its kill entries and, with ``alerts`` set, an
``AlertRouter`` on the session's clock; an API key older than
``credentials.rotate_after_days`` is warned about (log, journal). The status
publisher is attached by the CLI (``tradeloom.cli.live``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ccxt

from tradeloom.adapters.ccxt.bar_feed import BarFeed, PollingBarFeed, WatchBarFeed
from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import (
    Credentials,
    make_client,
    map_ccxt_error,
    market_specs_from_ccxt,
)
from tradeloom.adapters.ccxt.funding import FundingSource
from tradeloom.adapters.ccxt.positions import positions_from_ccxt, positions_params
from tradeloom.adapters.ccxt.trade_feed import TickFeed, TradeBarFeed, TradeStream
from tradeloom.adapters.ccxt.user_stream import UserStream, supports_user_stream
from tradeloom.adapters.ccxt.wallets import Wallet, futures_wallet, wallet_layout
from tradeloom.adapters.clock import Clock, SystemClock
from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import Journal
from tradeloom.adapters.live.journal_codec import market_payload, restored_payload
from tradeloom.adapters.live.paper import sim_engine
from tradeloom.adapters.live.perp_settings import apply_perp_settings
from tradeloom.adapters.live.reconcile import ReconcileReport
from tradeloom.adapters.live.recorder import LiveCommandRecorder
from tradeloom.adapters.live.recovery import (
    RunnerReconciler,
    opening_portfolio,
    order_ids_after,
    totals,
)
from tradeloom.adapters.live.runner import LiveRunner
from tradeloom.adapters.live.runner_parts import (
    MarketSource,
    RunnerParts,
    RunnerSettings,
    SessionJournal,
)
from tradeloom.adapters.live.safety import AccountLock, KillFlag, live_lock_key, paper_lock_key
from tradeloom.adapters.live.stage_timing import RiskProbe, StageTimings
from tradeloom.adapters.ops.alert_sinks import SinkError
from tradeloom.adapters.ops.alerts import AlertRouter
from tradeloom.adapters.ops.alerts_config import load_alerts_config
from tradeloom.adapters.ops.audit import AuditLog
from tradeloom.adapters.secrets import redact_secrets_in_logs
from tradeloom.app.key_rotation import key_age_warning
from tradeloom.app.live_config import LiveConfig, load_credentials
from tradeloom.app.session_records import (
    SESSIONS_FILE,
    StartResidue,
    open_session_journal,
    operator_name,
    previous_session,
    record_session_start,
    resolve_run_id,
)
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.config import config_hash
from tradeloom.engine.contracts import is_perp_symbol
from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.ports import Broker, LiveBroker
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.wiring import wire_engine
from tradeloom.engine.strategy.sleeves import portfolio_risk
from tradeloom.research.strategy_loader import load_strategy
from tradeloom.research.universe.gate import UniverseGate

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
            if self.runner.user_stream is not None:
                await self.runner.user_stream.close()
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
                "risk_profile = 'conservative' (shipped: conservative, moderate, perps) or a .toml path")
        return None
    return RiskEngine(load_profile(config.risk_profile), exchange=config.exchange.id)


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
        "markets": {s: market_payload(markets[s]) for s in config.symbols},
        "config_hash": config_hash(config),
        "fee_asset": (config.fee_asset.model_dump(mode="json")
                      if config.fee_asset is not None else None),
        "perps": config.perps.model_dump(mode="json"),
    }


def venue_perp_settings(broker: CcxtBroker, config: LiveConfig) -> None:
    """Live: the config's ``[perps]`` margin mode and leverage set on the venue, per
    perpetual symbol, before anything else is written (a refusal raises
    ``VenueSettingRefused`` naming the symbol, the setting and the venue's message)."""
    perps = config.perps
    for symbol in config.symbols:
        if not is_perp_symbol(symbol):
            continue
        if perps.margin_mode is not None:
            broker.set_margin_mode(symbol, perps.margin_mode)
        if symbol in perps.leverage:
            broker.set_leverage(symbol, perps.leverage[symbol])


def _fee_asset(config: LiveConfig) -> FeeAsset | None:
    """The config's ``[fee_asset]`` as the simulated broker's setting (paper, replay)."""
    section = config.fee_asset
    return FeeAsset(section.asset, section.discount) if section is not None else None


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


async def _markets(client: Any, symbols: list[str],
                   fee_side: str | None = None) -> dict[str, MarketSpec]:
    """The exchange's market rules; perpetuals with the venue's leverage tiers (live: a
    refusal fails the start; paper without credentials: the engine's default brackets,
    logged, the contract's ``source`` saying so)."""
    try:
        await client.load_markets()
    except ccxt.BaseError as exc:
        raise map_ccxt_error(exc, context=f"{client.id} load_markets") from exc
    perps = [s for s in symbols if is_perp_symbol(s)]
    tiers = await _leverage_tiers(client, perps) if perps else {}
    specs = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode,
                                   exchange_id=client.id, fee_side=fee_side, tiers=tiers)
    unknown = [s for s in symbols if s not in specs]
    if unknown:
        raise ConfigError(f"symbols {unknown} are not markets of {client.id}; check the spelling "
                          "(unified form, e.g. 'BTC/USDT', perpetuals 'BTC/USDT:USDT')")
    return specs


async def _leverage_tiers(client: Any, perps: list[str]) -> dict[str, Any]:
    """ccxt ``fetch_leverage_tiers`` of ``perps`` (Binance: a signed request, so a paper
    client without keys gets ``{}``: default brackets)."""
    if not client.apiKey:
        log.warning("%s: no API key, so no leverage tiers for %s (a signed request on the "
                    "venue): the engine's default brackets apply (20x, 0.5 %% maintenance "
                    "margin)", client.id, perps)
        return {}
    unknown = [s for s in perps if s not in client.markets]
    if unknown:
        raise ConfigError(f"symbols {unknown} are not markets of {client.id}; check the spelling "
                          "(unified form, perpetuals 'BTC/USDT:USDT')")
    return dict(await _fetch(client, "fetch_leverage_tiers", perps))


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
                          settle_orders=settle_orders, error_alert_after=r.error_alert_after,
                          markets_ttl_s=r.markets_ttl_s)


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


async def open_paper(config: LiveConfig, *, clock: Clock | None = None,
                     store: MarketStore | None = None,
                     settle_orders: bool = False,
                     settings: RunnerSettings | None = None) -> Session:
    """A paper session: live market data, the backtest's ``SimulatedBroker``, virtual cash."""
    clock = clock or SystemClock()
    strategy = load_strategy(config.strategy)(**config.params)
    risk = portfolio_risk(strategy, build_risk(config, required=False))  # sleeve budgets
    run_id = resolve_run_id(config, "paper")
    router = alert_router(config, clock)
    audit = AuditLog(config.audit_log_path)
    market_store = _open_store(config, store)
    universe = _universe(config, market_store, run_id)
    lock = AccountLock(paper_lock_key(config.exchange.id, config.account, config.state_dir),
                       config.account, state_dir=config.state_dir).acquire()
    client = make_client(config.exchange, async_=True)
    residue = StartResidue(config)
    try:
        markets = await _markets(client, config.symbols, config.exchange.fee_side)
        sj = SessionJournal(None, clock)
        timings = StageTimings()
        engine = sim_engine(strategy, symbols=config.symbols, timeframe=config.timeframe,
                            markets=markets, initial_cash=config.paper.initial_cash, risk=risk,
                            emit=sj.emit, run_id=run_id, timings=timings, seed=config.seed,
                            fee_asset=_fee_asset(config))
        apply_perp_settings(engine.portfolio, config.perps.model_dump(), markets)
        info = session_info(config, "paper", run_id, markets, risk, config.paper.initial_cash)
        feed, ticks = _feeds(config, client, clock, _reporter(sj))
        funding = FundingSource(client, markets, live=False, report=_reporter(sj))
        config.state_dir.mkdir(parents=True, exist_ok=True)
        journal, journal_path = open_session_journal(config, "paper", run_id, clock, audit)
    except BaseException:
        await client.close()
        residue.clean()
        lock.release()
        raise
    sj.journal = journal
    parts = RunnerParts(feed=feed, client=client, journal=sj, clock=clock, timings=timings,
                        exchange_id=config.exchange.id, session=info, risk=risk, live=False,
                        kill_flag=KillFlag(config.state_dir, config.account),
                        store=market_store, audit=audit, alerts=router, ticks=ticks,
                        universe=universe, funding=funding,
                        markets=_market_source(client, config.symbols,
                                               fee_side=config.exchange.fee_side,
                                               markets=markets))
    runner = LiveRunner(engine, parts, _runner_settings(config, settings, settle_orders))
    return Session(runner, journal, journal_path, client, lock, run_id, runner.recorder.inner)


def _reporter(sj: SessionJournal) -> Callable[[str, dict[str, Any]], None]:
    def report(kind: str, payload: dict[str, Any]) -> None:
        sj.write(f"feed_{kind}", payload, None)

    return report


def _market_source(client: Any, symbols: list[str], broker: CcxtBroker | None = None,
                   fee_side: str | None = None,
                   markets: Mapping[str, MarketSpec] | None = None) -> MarketSource:
    """Reload the exchange's markets (the runner's refresh every ``markets_ttl_s``): the
    session's async client, and the live broker's own client on its sender thread, so
    ccxt's own rounding uses the new filters too. ``markets``: the start's rules, whose
    perpetual contracts (with the venue's leverage tiers) are kept."""
    contracts = {s: spec.contract for s, spec in (markets or {}).items()}

    async def reload() -> dict[str, MarketSpec]:
        try:
            await client.load_markets(True)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc, context=f"{client.id} load_markets") from exc
        if broker is not None:
            await asyncio.to_thread(broker.call, lambda c: c.load_markets(True))
        specs = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode,
                                       exchange_id=client.id, fee_side=fee_side)
        # the leverage tiers read at start stay (load_markets does not carry them)
        return {s: (dataclasses.replace(specs[s], contract=contracts[s])
                    if contracts.get(s) is not None else specs[s])
                for s in symbols if s in specs}

    return reload


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
    secrets = _secret_strings(credentials)
    redact_secrets_in_logs(*secrets)
    strategy = load_strategy(config.strategy)(**config.params)
    risk = portfolio_risk(strategy, risk)  # a portfolio's sleeve budgets and caps
    router = alert_router(config, clock)
    audit = AuditLog(config.audit_log_path)
    run_id = resolve_run_id(config, "live")
    market_store = _open_store(config, store)
    universe = _universe(config, market_store, run_id)
    key_warning = key_age_warning(config.credentials, clock.now_ms())
    lock = AccountLock(live_lock_key(config.exchange.id, credentials.api_key), config.account,
                       state_dir=config.state_dir).acquire()
    client = make_client(config.exchange, credentials=credentials, async_=True)
    residue = StartResidue(config)
    made: list[CcxtBroker] = []  # the broker, once built (closed again if the start fails)
    try:
        markets = await _markets(client, config.symbols, config.exchange.fee_side)
        await _fetch(client, "fetch_balance")  # refused keys fail here, before any state
        config.state_dir.mkdir(parents=True, exist_ok=True)
        made.append(broker_factory(config, credentials, markets, run_id, config.state_dir))
        broker = made[0]
        await asyncio.to_thread(venue_perp_settings, broker, config)  # refused: no start
        start = await _recover(config, client, broker, markets, clock)
        sj = SessionJournal(None, clock)
        timings = StageTimings()
        recorder = LiveCommandRecorder(broker, sj.emit, run_id=run_id, timings=timings)

        def recorded(markets: Mapping[str, MarketSpec], portfolio: Portfolio,
                     ids: Callable[[], int]) -> Broker:  # built before the portfolio: recovery
            return recorder

        engine = wire_engine(strategy, symbols=config.symbols, timeframe=config.timeframe,
                             markets=markets, broker=recorded, portfolio=start.portfolio,
                             risk=RiskProbe(risk, timings), seed=config.seed,
                             id_source=start.ids)
        apply_perp_settings(engine.portfolio, config.perps.model_dump(), markets)
        feed, ticks = _feeds(config, client, clock, _reporter(sj))
        funding = FundingSource(client, markets, live=True, report=_reporter(sj),
                                holds=lambda s: engine.portfolio.perp_position(s) != 0.0)
        journal, journal_path = open_session_journal(config, "live", run_id, clock, audit,
                                                     secrets=secrets)
    except BaseException:
        for built in made:
            built.close()
        await client.close()
        residue.clean()
        lock.release()
        raise
    sj.journal = journal
    opening: dict[str, Any] = {"total": start.totals, "positions": start.positions,
                               "restored_orders": [o["client_id"] for o in start.restored]}
    if start.wallets:
        opening["wallets"] = start.wallets
    sj.write("balance", opening, None)
    if key_warning:
        log.warning("%s", key_warning)
        sj.write("warning", {"where": "credentials", "warning": key_warning}, None)
    info = session_info(config, "live", run_id, markets, risk, start.portfolio.initial_cash)
    info["positions"] = start.positions
    info["position_entries"] = {s: start.portfolio.avg_entry(s) for s in start.positions}
    info["perp_opening"] = {s: {"leverage": start.portfolio.perp(s).leverage,
                                "margin_mode": start.portfolio.perp(s).mode.value}
                            for s in start.positions if start.portfolio.is_perp(s)}
    if start.wallets:
        info["wallets"] = start.wallets
    info["restored_orders"] = start.restored
    info["next_order_id"] = start.next_id
    info["dust"] = sorted(s for s in start.positions if start.portfolio.is_dust(s))
    info["fee_holdings"] = {s: [start.portfolio.holding(s), start.portfolio.mark(s)]
                            for s in start.portfolio.holdings()
                            if s not in config.symbols}
    reconciler = RunnerReconciler(broker, broker.store, every_s=config.runner.reconcile_every_s)
    stream = (UserStream(client, broker, config.symbols,
                         report=lambda kind, payload: sj.write(kind, payload, None))
              if config.runner.user_stream == "auto" and supports_user_stream(client) else None)
    parts = RunnerParts(feed=feed, client=client, journal=sj, clock=clock, timings=timings,
                        exchange_id=config.exchange.id, session=info, risk=risk, live=True,
                        kill_flag=KillFlag(config.state_dir, config.account),
                        store=market_store, reconciler=reconciler, opening_report=start.report,
                        audit=audit, alerts=router, ticks=ticks, user_stream=stream,
                        universe=universe, funding=funding,
                        markets=_market_source(client, config.symbols, broker,
                                               fee_side=config.exchange.fee_side,
                                               markets=markets))
    runner = LiveRunner(engine, parts, _runner_settings(config, settings, settle_orders))
    return Session(runner, journal, journal_path, client, lock, run_id, broker)


@dataclass
class _Start:
    """What a live session starts from (``adapters.live.recovery``)."""

    portfolio: Portfolio
    positions: dict[str, float]
    totals: dict[str, float]
    ids: Callable[[], int]
    next_id: int
    restored: list[dict[str, Any]]
    report: ReconcileReport
    #: The quote currency in each wallet at start, when the session trades from two
    #: (``adapters.ccxt.wallets``); the portfolio's cash is their sum.
    wallets: dict[str, float]


async def _recover(config: LiveConfig, client: Any, broker: CcxtBroker,
                   markets: Mapping[str, MarketSpec], clock: Clock) -> _Start:
    """Reconcile, restore working orders, open the portfolio from the exchange's balances.

    The restored orders (with their engine ids) and the next engine order id go into
    the session record, so ``replay`` rebuilds the same book and the same ids.
    """
    store = broker.store
    report = await RunnerReconciler(broker, store)(clock.now_ms())
    source = order_ids_after(store)
    restored = [restored_payload(o) for o in broker.restore(store.orders(), source)]
    next_id = source()  # adopted orders took ids from the source: continue after them
    layout = wallet_layout(client.id, markets)
    balance = await _fetch(client, "fetch_balance", layout.params(layout.wallets[0]))
    futures = (await _fetch(client, "fetch_balance", layout.params(Wallet.FUTURES))
               if layout.separate else None)
    held = totals(balance)
    prices: dict[str, float] = {}
    for symbol in config.symbols:
        if held.get(markets[symbol].base, 0.0) > 0:
            rows = await _fetch(client, "fetch_ohlcv", symbol, config.timeframe, None, 2)
            prices[symbol] = float(rows[-1][4])  # the latest close: entry of last resort
    fee_asset = config.fee_asset.asset if config.fee_asset is not None else None
    fee_rate = None
    quote = markets[config.symbols[0]].quote
    if fee_asset is not None and held.get(fee_asset, 0.0) > 0 and \
            f"{fee_asset}/{quote}" not in config.symbols:
        fee_rate = await _venue_rate(client, f"{fee_asset}/{quote}")
    perps = {s: markets[s].lot_step for s in config.symbols if markets[s].contract is not None}
    venue = (positions_from_ccxt(await _fetch(client, "fetch_positions", sorted(perps),
                                              positions_params(client.id)), perps)
             if perps else {})
    portfolio, positions = opening_portfolio(balance, markets, config.symbols, prices, store,
                                             fee_asset=fee_asset, fee_rate=fee_rate,
                                             perp_positions=venue, futures_balance=futures)
    wallets = ({Wallet.SPOT.value: held.get(quote, 0.0),
                Wallet.FUTURES.value: futures_wallet(futures, quote)}
               if futures is not None else {})
    return _Start(portfolio, positions, held, itertools.count(next_id).__next__, next_id,
                  restored, report, wallets)


async def _venue_rate(client: Any, symbol: str) -> float | None:
    """The mid of ``symbol``'s best bid and ask on the venue (a fee asset's valuation);
    None when the venue has no such market."""
    if symbol not in (client.markets or {}):
        return None
    book = await _fetch(client, "fetch_order_book", symbol, 5)
    bids, asks = book.get("bids") or [], book.get("asks") or []
    if bids and asks:
        return (float(bids[0][0]) + float(asks[0][0])) / 2
    return float((bids or asks)[0][0]) if (bids or asks) else None


async def _fetch(client: Any, method: str, *args: Any) -> Any:
    try:
        return await getattr(client, method)(*args)
    except ccxt.BaseError as exc:
        raise map_ccxt_error(exc, context=f"{client.id} {method} {args[0] if args else ''}".rstrip()) \
            from exc


def _secret_strings(credentials: Credentials) -> tuple[str, ...]:
    return tuple(s for s in (credentials.api_key, credentials.secret, credentials.password) if s)


__all__ = ["SESSIONS_FILE", "BrokerFactory", "MarketSource", "Session", "alert_router",
           "build_risk", "venue_perp_settings",
           "open_live", "open_paper", "operator_name", "preflight_live", "previous_session",
           "record_session_start", "session_info"]
