"""``tradeloom paper``, ``live``, ``replay`` and ``kill``: the trading commands.

Each command loads a strict ``LiveConfig``, builds the session in ``app.session``
and runs the one ``LiveRunner`` (``cli.session_run``: exit codes 0 stopped, 2
refused, 3 failed while trading, 75 exchange unreachable; ``--restart-on-crash`` runs
it under ``app.supervisor``). ``live`` first checks the deployment registry
(``app.live_gate``). ``replay`` exits 1 when the journal diverges; ``kill`` finds the
runner's flag from its config (``app.kill``).

The live broker is the exchange-side ``CcxtBroker`` with its SQLite
``LiveStateStore`` under ``state_dir``; it is imported only by ``live``.

``paper`` and ``live`` publish the runner's status to
``<state_dir>/status/<run_id>.json`` (``StatusPublisher``) for ``tradeloom serve`` and
``tradeloom status``; kills and restarts go to the config's audit log, alerts to the
sinks of its ``alerts`` file (see ``tradeloom.app.live_config``).
"""

from __future__ import annotations

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


_API_URL = typer.Option(None, "--api-url", show_default=False,
                        help="Replace the exchange's REST base URL (testnets, proxies, "
                        "emulators), e.g. http://127.0.0.1:8080.")
_WS_URL = typer.Option(None, "--ws-url", show_default=False,
                       help="Replace the exchange's websocket base URL.")
_RESTART = typer.Option(False, "--restart-on-crash",
                        help="Run the session under a supervisor that restarts it (with "
                        "backoff) when it crashes or is killed; the restart reconciles with "
                        "the exchange first.")


def _urls(args: list[str], api_url: str | None, ws_url: str | None) -> list[str]:
    return args + (["--api-url", api_url] if api_url else []) + \
        (["--ws-url", ws_url] if ws_url else [])


def paper(
    config: Path = typer.Argument(..., help="Paper/live config file (TOML)."),
    api_url: str | None = _API_URL,
    ws_url: str | None = _WS_URL,
    restart_on_crash: bool = _RESTART,
) -> None:
    """Paper trading: live market data, the backtest's simulated broker, virtual cash.

    Example:  tradeloom paper examples/paper.toml

    Stop with Ctrl-C (the session finishes cleanly and writes its journal's end record);
    check parity afterwards with `tradeloom replay <journal> --config examples/paper.toml`.
    Exit codes: 0 stopped, 2 refused to start, 3 failed while trading, 75 exchange
    unreachable at start.
    """
    from tradeloom.app.live_config import load_live_config
    from tradeloom.app.session import open_paper
    from tradeloom.cli.session_run import override_urls, run_session, supervise

    if restart_on_crash:
        supervise(_urls(["paper", str(config)], api_url, ws_url))
    try:
        cfg = override_urls(load_live_config(config), api_url, ws_url)
    except TradeloomError as exc:
        _fail(exc)
        return
    run_session(cfg, lambda: open_paper(cfg), lambda session: console.print(
        f"paper session {session.run_id}: journal {session.journal_path}", highlight=False,
        soft_wrap=True))


def ccxt_broker_factory(config: Any, credentials: Any, markets: Mapping[str, MarketSpec],
                        run_id: str, state_dir: Path) -> Any:
    """The exchange-side ``CcxtBroker`` (sync ccxt client, SQLite state under ``state_dir``)."""
    from tradeloom.adapters.ccxt.broker import CcxtBroker
    from tradeloom.adapters.ccxt.exchange import make_client
    from tradeloom.adapters.live.state import LiveStateStore
    from tradeloom.app.session_records import state_store_path

    client = make_client(config.exchange, credentials=credentials, async_=False)
    client.load_markets()
    store = LiveStateStore(state_store_path(state_dir, config.account), run_id=run_id)
    fee_assets = frozenset({config.fee_asset.asset}) if config.fee_asset is not None else frozenset()
    return CcxtBroker(client, dict(markets), store, fee_assets=fee_assets)


def live(
    config: Path = typer.Argument(..., help="Paper/live config file (TOML)."),
    confirm_live: bool = typer.Option(False, "--confirm-live",
                                      help="Required: this trades real money."),
    override_promotion: str | None = typer.Option(
        None, "--override-promotion", show_default=False,
        help="Start although no deployment promoted to live runs this config; the reason "
        "goes to the audit log."),
    api_url: str | None = _API_URL,
    ws_url: str | None = _WS_URL,
    restart_on_crash: bool = _RESTART,
) -> None:
    """Live trading through ccxt with the same strategy and risk engine as a backtest.

    Example:  TRADELOOM_API_KEY=... TRADELOOM_API_SECRET=... tradeloom live examples/live.toml --confirm-live

    Refuses to start without --confirm-live, without a risk_profile, without credentials
    (environment variables or the secrets_file the config names), unless a deployment
    promoted to live (tradeloom promote NAME --to live) runs this strategy, params,
    symbols and risk profile (or --override-promotion says why), or when another runner
    holds the exchange account's lock. Check the connection first with `tradeloom doctor
    CONFIG`; stop trading at once with `tradeloom kill CONFIG`. Exit codes: 0 stopped,
    2 refused to start, 3 failed while trading, 75 exchange unreachable at start.
    """
    from tradeloom.adapters.clock import SystemClock
    from tradeloom.app.live_config import load_live_config
    from tradeloom.app.live_gate import audit_override, authorize_live
    from tradeloom.app.session import open_live, preflight_live
    from tradeloom.cli import context as clictx
    from tradeloom.cli.session_run import override_urls, run_session, supervise
    from tradeloom.research.promotion.deployments import DeploymentStore

    if restart_on_crash:
        args = ["live", str(config)] + (["--confirm-live"] if confirm_live else []) + \
            (["--override-promotion", override_promotion] if override_promotion else [])
        supervise(_urls(args, api_url, ws_url))
    try:
        cfg = override_urls(load_live_config(config), api_url, ws_url)
        preflight_live(cfg, confirm_live=confirm_live)
        registry = DeploymentStore(clictx.catalog_path())
        auth = authorize_live(cfg, registry, override=override_promotion)
    except TradeloomError as exc:
        _fail(exc)
        return
    if auth.override is not None:
        err_console.print(f"[bold yellow]warning:[/] starting live trading of a config no "
                          f"live deployment covers; override: {auth.override}",
                          highlight=False, soft_wrap=True)

    async def open_session() -> Any:
        session = await open_live(cfg, confirm_live=confirm_live,
                                  broker_factory=ccxt_broker_factory)
        audit_override(cfg, auth, session.run_id, SystemClock().now_ms(), registry.path)
        return session

    run_session(cfg, open_session, lambda session: console.print(
        f"[bold]LIVE[/] session {session.run_id} on {cfg.exchange.id} account {cfg.account} "
        f"({auth.describe()}): journal {session.journal_path}", highlight=False,
        soft_wrap=True))


def replay(
    journal: Path = typer.Argument(..., help="Journal (.jsonl) written by paper or live."),
    config: Path | None = typer.Option(
        None, "--config", help="Config to replay with (strategy, params, risk_profile); "
        "default: the strategy and risk settings recorded in the journal."),
    limit: int = typer.Option(10, "--limit", min=1, help="How many divergences to list."),
    fills: str | None = typer.Option(
        None, "--fills", help="Where fills come from: 'journal' (the exchange's, the default "
        "for live sessions: did the decisions repeat?) or 'model' (the simulated broker's, "
        "the default for paper: where did the exchange fill differently?)."),
) -> None:
    """Replay a session journal through the backtest engine and diff the decisions.

    Example:  tradeloom replay examples/journals/paper-sma.jsonl --config examples/paper.toml

    Exits 0 with "zero divergence" when every order (time, side, amount, price) matches,
    1 when they diverge (the first divergences are listed), 2 on errors. A journal that
    holds several sessions (a restart appended to the config's journal file) replays
    each from its own start.
    """
    from tradeloom.adapters.config.risk_profiles import load_profile
    from tradeloom.adapters.live.journal import read_journal
    from tradeloom.adapters.live.replay import replay as run_replay
    from tradeloom.app.live_config import load_live_config
    from tradeloom.engine.risk.config import RiskConfig
    from tradeloom.research.strategy_loader import load_strategy

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
        if fills not in (None, "journal", "model"):
            raise ConfigError(f"--fills {fills!r}: use 'journal' or 'model'")
        report = run_replay(journal, strategy, risk, limit=limit, fills=fills)  # type: ignore[arg-type]
    except TradeloomError as exc:
        _fail(exc)
        return
    if report.ok:
        console.print(report.format())
        return
    err_console.print(f"[bold red]{report.format()}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def kill(
    config: Path | None = typer.Argument(
        None, help="The runner's config (TOML): its state_dir and account say where the "
        "flag goes."),
    account: str | None = typer.Option(None, "--account",
                                       help="Without a config: only this account's runner "
                                       "(default: every runner of --state-dir)."),
    state_dir: Path | None = typer.Option(None, "--state-dir",
                                          help="Without a config: the state_dir a runner "
                                          "has used."),
    all_orders: bool = typer.Option(False, "--all",
                                    help="Cancel every open order of the account, also those "
                                    "placed by hand or by other programs (default: only the "
                                    "runner's own, by client id)."),
    reason: str = typer.Option("operator kill", "--reason", help="Recorded in the journal."),
    wait_s: float = typer.Option(15.0, "--wait", min=0.0,
                                 help="Seconds to wait for a running runner to confirm (0: "
                                 "do not wait)."),
) -> None:
    """Kill switch: the runner cancels its open orders and blocks new entries.

    Example:  tradeloom kill examples/live.toml

    Example:  tradeloom kill examples/live.toml --all --reason "exchange incident"

    Writes the kill flag the runner of that config polls every second (its
    <state_dir>/KILL.<account>), waits for a running runner to confirm, and prints how
    many orders it really cancelled. Without a config, --state-dir must be a folder a
    runner has used. The flag stays until you delete it, so a restarted runner also
    starts killed.
    """
    from tradeloom.adapters.clock import SystemClock
    from tradeloom.app.kill import kill_target, running, wait_for_kill, write_flag

    clock = SystemClock()
    try:
        target = kill_target(config, state_dir=state_dir, account=account)
        live_now = running(target, clock.now_ms())
        path = write_flag(target, reason, all_orders=all_orders)
    except TradeloomError as exc:
        _fail(exc)
        return
    scope = "every open order of the account" if all_orders else "the runner's own orders"
    console.print(f"kill flag written: {path} ({scope}; delete it to allow trading again)",
                  highlight=False, soft_wrap=True)
    if not live_now:
        who = f"account {target.account}" if target.account else str(target.state_dir)
        console.print(f"no runner of {who} is running now; its next start begins killed",
                      highlight=False)
        return
    if wait_s <= 0:
        return
    done, waiting = wait_for_kill(target, live_now, timeout_s=wait_s, now_ms=clock.now_ms)
    for c in done:
        latency = "" if c.latency_s is None else f" in {c.latency_s:.3f} s"
        console.print(f"runner {c.runner_id} (account {c.account}): {c.cancelled} orders "
                      f"cancelled{latency}; new entries blocked", highlight=False)
    if waiting:
        err_console.print(f"[bold red]no confirmation within {wait_s:g} s from:[/] "
                          f"{', '.join(waiting)}; check `tradeloom status --state-dir "
                          f"{target.state_dir}` and the exchange", highlight=False)
        raise typer.Exit(1)


__all__ = ["ccxt_broker_factory", "kill", "live", "paper", "replay"]
