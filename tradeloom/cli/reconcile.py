"""``tradeloom reconcile CONFIG [--accept]``: compare a live account with the runner's state,
and let a person accept the exchange's state after a real mismatch.

Why a command: a reconciliation mismatch (a deposit, a withdrawal, a manual trade, fees
the state could not explain) blocks new entries until someone has looked; the runner
reconciles afresh every ``reconcile_every_s`` and on every start, so a difference that
is explained later (trades that arrive) clears by itself, and one that never will needs
a decision. ``--accept`` records the decision: the exchange's balances become the
baseline later reconciliations start from, and an audit entry (``manual_action``,
subject ``<exchange>/<account>``) keeps who accepted what, from which figures. A
running runner picks it up at its next reconciliation and allows entries again.

Without ``--accept`` the command reconciles and prints the report (exit 1 on a
mismatch): orders and trades are brought up to date, balances are only compared.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from tradeloom.cli.errors import fail as _fail
from tradeloom.engine.errors import ConfigError, TradeloomError

console = Console()
err_console = Console(stderr=True)


def reconcile_command(
    config: Path = typer.Argument(..., help="The live config file (TOML) of the account."),
    accept: bool = typer.Option(False, "--accept",
                                help="Accept the exchange's balances as the truth (audited)."),
    actor: str | None = typer.Option(None, "--actor",
                                     help="Who accepts (the audit entry); default: $USER."),
) -> None:
    """Reconcile a live account with its state; --accept the exchange's state after a mismatch.

    Example:  tradeloom reconcile examples/live.toml --accept

    Needs the account's credentials (as `tradeloom live`) and its state under the config's
    state_dir. Prints every difference with the expected and the exchange's figures; exits
    1 when one is a mismatch (beyond the stated dust tolerances) or a check could not be
    made (funding payments still being settled), and --accept was not given.
    """
    from tradeloom.adapters.ccxt.broker import CcxtBroker
    from tradeloom.adapters.ccxt.exchange import make_client, market_specs_from_ccxt
    from tradeloom.adapters.live.reconcile import accept_exchange_state, reconcile
    from tradeloom.adapters.live.state import LiveStateStore
    from tradeloom.adapters.ops.audit import AuditKind, AuditLog
    from tradeloom.app.live_config import load_credentials, load_live_config
    from tradeloom.app.session import operator_name

    try:
        cfg = load_live_config(config)
        state = cfg.state_dir / f"{cfg.account}.sqlite"
        if not state.is_file():
            raise ConfigError(
                f"no live state for account {cfg.account!r} at {state}: nothing to reconcile "
                "(check account and state_dir in the config; `tradeloom live` creates it)")
        credentials = load_credentials(cfg.credentials, base_dir=config.parent)
        client = make_client(cfg.exchange, credentials=credentials)
        client.load_markets()
        specs = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode,
                                       exchange_id=client.id, fee_side=cfg.exchange.fee_side)
        unknown = [s for s in cfg.symbols if s not in specs]
        if unknown:
            raise ConfigError(f"symbols {unknown} are not markets of {client.id}")
        store = LiveStateStore(state)
        fee_assets = frozenset({cfg.fee_asset.asset}) if cfg.fee_asset is not None else frozenset()
        broker = CcxtBroker(client, {s: specs[s] for s in cfg.symbols}, store,
                            fee_assets=fee_assets)
        now = int(time.time() * 1000)
        try:
            if accept:
                who = actor or operator_name()
                report, totals = accept_exchange_state(broker, store, now, actor=who)
                AuditLog(cfg.audit_log_path).append(
                    AuditKind.MANUAL_ACTION, actor=who, ts_ms=now,
                    subject=f"{cfg.exchange.id}/{cfg.account}",
                    details={"action": "reconcile --accept", "run_id": store.run_id,
                             "accepted": _figures(report.mismatches),
                             "dust": _figures(report.dust), "balances": totals})
            else:
                report = reconcile(broker, store, now)
        finally:
            broker.close()
    except TradeloomError as exc:
        _fail(exc)
        return
    _print(report, accepted=accept)
    if not report.ok and not accept:
        raise typer.Exit(1)


def _figures(pairs: Any) -> dict[str, dict[str, float]]:
    return {a: {"expected": e, "exchange": x} for a, (e, x) in pairs.items()}


def _print(report: Any, *, accepted: bool) -> None:
    for asset, (want, have) in report.dust.items():
        console.print(f"  {asset}: expected {want:.10g}, exchange {have:.10g} "
                      f"({have - want:+.3g}): within the dust tolerance")
    if report.ok:  # no mismatch, every check made
        for problem in report.problems:  # notes, such as foreign orders left alone
            console.print(f"[yellow]  {problem}[/]", highlight=False, soft_wrap=True)
        console.print("reconciled: the exchange agrees with the state", highlight=False)
        return
    for problem in report.problems:
        style = "yellow" if accepted else "bold red"
        (console if accepted else err_console).print(f"[{style}]  {problem}[/]",
                                                     highlight=False, soft_wrap=True)
    if accepted:
        console.print("accepted: the exchange's balances are the new baseline (audited); a "
                      "running runner allows entries again at its next reconciliation",
                      highlight=False)
    elif report.mismatches:
        err_console.print("mismatch: new entries stay refused; if the exchange is right, run "
                          "`tradeloom reconcile CONFIG --accept`", highlight=False)
    else:
        err_console.print("not reconciled: a check could not be made (above); run "
                          "`tradeloom reconcile CONFIG` again in a minute", highlight=False)


__all__ = ["reconcile_command"]
