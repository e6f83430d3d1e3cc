"""``tradeloom paper``, ``live``, ``replay`` and ``kill``: the trading commands.

Each command loads a strict ``LiveConfig``, builds the session in
``adapters.session`` and runs the one ``LiveRunner``. Errors are ``TradeloomError``s
printed in red with exit code 2 (``tradeloom.cli.main.main`` does that for every
command); ``replay`` exits 1 when the journal diverges.

The live broker is the exchange-side ``CcxtBroker`` with its SQLite
``LiveStateStore`` under ``state_dir``; it is imported only by ``live``.

``paper`` and ``live`` publish the runner's status to
``<state_dir>/status/<run_id>.json`` (``StatusPublisher``) for ``tradeloom serve`` and
``tradeloom status``; kills and restarts go to the config's audit log, alerts to the
sinks of its ``alerts`` file (see ``tradeloom.app.live_config``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from tradeloom.cli.errors import fail as _fail
from tradeloom.engine.errors import ConfigError, TradeloomError
from tradeloom.engine.market import MarketSpec

console = Console()
err_console = Console(stderr=True)


def _print_summary(summary: Any, journal: Path) -> None:
    console.print(f"session ended ({summary.stop_reason or 'stopped'}): {summary.bars} bars, "
                  f"{summary.orders} orders, {summary.fills} fills; journal {journal}")
    for stage, stats in summary.stages.items():
        console.print(f"  {stage:<12} n={int(stats['count']):<6} p50 {stats['p50_ms']:.3f} ms  "
                      f"p95 {stats['p95_ms']:.3f} ms  p99 {stats['p99_ms']:.3f} ms")
    if summary.kill_latency_s is not None:
        console.print(f"  kill switch: orders cancelled {summary.kill_latency_s:.3f} s after the flag")


def _publish_status(session: Any, state_dir: Path) -> None:
    """Attach the status publisher: ``<state_dir>/status/<run_id>.json``."""
    from tradeloom.adapters.ops.status_publisher import StatusPublisher

    publisher = StatusPublisher(state_dir, session.run_id)
    session.runner.attach_publisher(publisher)
    console.print(f"status: {publisher.path} (see `tradeloom serve --state-dir {state_dir}`)",
                  highlight=False, soft_wrap=True)


async def _run(session: Any) -> Any:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, session.runner.stop)
    try:
        return await session.runner.run()
    finally:
        await session.close()


def paper(
    config: Path = typer.Argument(..., help="Paper/live config file (TOML)."),
) -> None:
    """Paper trading: live market data, the backtest's simulated broker, virtual cash.

    Example:  tradeloom paper examples/paper.toml

    Stop with Ctrl-C (the session finishes cleanly and writes its journal's end record);
    check parity afterwards with `tradeloom replay <journal> --config examples/paper.toml`.
    """
    from tradeloom.app.session import open_paper
    from tradeloom.app.live_config import load_live_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        cfg = load_live_config(config)

        async def main() -> Any:
            session = await open_paper(cfg)
            console.print(f"paper session {session.run_id}: journal {session.journal_path}")
            _publish_status(session, cfg.state_dir)
            return session, await _run(session)

        session, summary = asyncio.run(main())
    except TradeloomError as exc:
        _fail(exc)
        return
    _print_summary(summary, session.journal_path)


def ccxt_broker_factory(config: Any, credentials: Any, markets: Mapping[str, MarketSpec],
                        run_id: str, state_dir: Path) -> Any:
    """The exchange-side ``CcxtBroker`` (sync ccxt client, SQLite state under ``state_dir``)."""
    from tradeloom.adapters.ccxt.broker import CcxtBroker
    from tradeloom.adapters.ccxt.exchange import make_client
    from tradeloom.adapters.live.state import LiveStateStore

    client = make_client(config.exchange, credentials=credentials, async_=False)
    client.load_markets()
    store = LiveStateStore(state_dir / f"{config.account}.sqlite", run_id=run_id)
    return CcxtBroker(client, dict(markets), store)


def live(
    config: Path = typer.Argument(..., help="Paper/live config file (TOML)."),
    confirm_live: bool = typer.Option(False, "--confirm-live",
                                      help="Required: this trades real money."),
) -> None:
    """Live trading through ccxt with the same strategy and risk engine as a backtest.

    Example:  TRADELOOM_API_KEY=... TRADELOOM_API_SECRET=... tradeloom live examples/live.toml --confirm-live

    Refuses to start without --confirm-live, without a risk_profile, without credentials
    (environment variables or the secrets_file the config names), or when another runner
    holds the account's lock. Stop trading at once with `tradeloom kill --account NAME`.
    """
    from tradeloom.app.session import open_live
    from tradeloom.app.live_config import load_live_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        cfg = load_live_config(config)

        async def main() -> Any:
            session = await open_live(cfg, confirm_live=confirm_live,
                                      broker_factory=ccxt_broker_factory)
            console.print(f"[bold]LIVE[/] session {session.run_id} on {cfg.exchange.id} "
                          f"account {cfg.account}: journal {session.journal_path}")
            _publish_status(session, cfg.state_dir)
            return session, await _run(session)

        session, summary = asyncio.run(main())
    except TradeloomError as exc:
        _fail(exc)
        return
    _print_summary(summary, session.journal_path)


def replay(
    journal: Path = typer.Argument(..., help="Journal (.jsonl) written by paper or live."),
    config: Path | None = typer.Option(
        None, "--config", help="Config to replay with (strategy, params, risk_profile); "
        "default: the strategy and risk settings recorded in the journal."),
    limit: int = typer.Option(10, "--limit", min=1, help="How many divergences to list."),
) -> None:
    """Replay a session journal through the backtest engine and diff the decisions.

    Example:  tradeloom replay state/journals/p20240101T0000.jsonl --config examples/paper.toml

    Exits 0 with "zero divergence" when every order (time, side, amount, price) matches,
    1 when they diverge (the first divergences are listed), 2 on errors.
    """
    from tradeloom.adapters.live.journal import read_journal
    from tradeloom.adapters.live.replay import replay as run_replay
    from tradeloom.engine.risk.config import RiskConfig
    from tradeloom.app.live_config import load_live_config
    from tradeloom.research.strategy_loader import load_strategy
    from tradeloom.adapters.config.risk_profiles import load_profile

    try:
        records = read_journal(journal)
        session = next((r.payload for r in records if r.kind == "session"), None)
        if session is None:
            raise ConfigError(f"{journal} has no session record; is it a tradeloom journal?")
        if config is not None:
            cfg = load_live_config(config)
            spec, params = cfg.strategy, dict(cfg.params)
            risk = load_profile(cfg.risk_profile) if cfg.risk_profile else None
        else:
            spec, params = session["strategy"], dict(session["params"])
            risk = RiskConfig.model_validate(session["risk"]) if session.get("risk") else None
        strategy = load_strategy(spec)(**params)
        if config is not None:  # a portfolio's sleeve budgets, as the session added them
            from tradeloom.engine.risk.engine import RiskEngine
            from tradeloom.engine.strategy.sleeves import portfolio_risk

            merged = portfolio_risk(strategy, RiskEngine(risk) if risk is not None else None)
            risk = merged.config if isinstance(merged, RiskEngine) else risk
        report = run_replay(journal, strategy, risk, limit=limit)
    except TradeloomError as exc:
        _fail(exc)
        return
    if report.ok:
        console.print(report.format())
        return
    err_console.print(f"[bold red]{report.format()}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def kill(
    account: str | None = typer.Option(None, "--account",
                                          help="Only this account's runner (default: every "
                                          "runner using the state directory)."),
    state_dir: Path = typer.Option(Path("state"), "--state-dir",
                                   help="The state_dir of the runners' config."),
    reason: str = typer.Option("operator kill", "--reason", help="Recorded in the journal."),
) -> None:
    """Kill switch: running runners cancel every open order and block new entries.

    Example:  tradeloom kill --account binance-main --state-dir state

    Writes the flag file (state/KILL or state/KILL.<account>); runners check it every
    second and cancel within 10 s. The flag stays until you delete it, so a restarted
    runner also starts killed.
    """
    from tradeloom.adapters.live.safety import write_kill_flag

    try:
        path = write_kill_flag(state_dir, account, reason)
    except TradeloomError as exc:
        _fail(exc)
        return
    console.print(f"kill flag written: {path} (delete it to allow trading again)")


__all__ = ["ccxt_broker_factory", "kill", "live", "paper", "replay"]
