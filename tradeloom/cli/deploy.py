"""``tradeloom deploy-register``, ``deployments``, ``promote``, ``demote``, ``retire``, ``audit verify``.

The operator's lifecycle commands (see ``tradeloom/app/deployment.py``). This is the
only layer that reads the wall clock (``adapters.clock.SystemClock``) and ``$USER``;
everything below takes them as arguments. Deployments live in the catalog (``--catalog`` / ``$TRADELOOM_CATALOG``);
the audit log defaults to ``<catalog>/audit.jsonl`` (``$TRADELOOM_AUDIT_LOG`` or
``--audit-log`` override it); ``--alerts FILE`` (or ``$TRADELOOM_ALERTS``) sends a
``model_promotion`` alert through the configured sinks.

Exit codes: 0 done, 1 a promotion refused (every unmet gate printed) or an audit
log that fails verification, 2 an error (bad file, unknown deployment, a step
that is not allowed).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from tradeloom.adapters.clock import SystemClock
from tradeloom.cli import context as clictx
from tradeloom.engine.errors import TradeloomError

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
ENV_AUDIT = "TRADELOOM_AUDIT_LOG"
ENV_ALERTS = "TRADELOOM_ALERTS"

audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)

_BY = typer.Option(None, "--by", help="Who acts (default: $USER).", show_default=False)
_REASON = typer.Option("", "--reason", help="Why (recorded in the catalog and audit log).")
_AUDIT = typer.Option(None, "--audit-log", show_default=False,
                      help="Audit log file. Default: $TRADELOOM_AUDIT_LOG, else "
                      "<catalog>/audit.jsonl.")
_ALERTS = typer.Option(None, "--alerts", show_default=False,
                       help="Alerts config (TOML) for the model_promotion alert. "
                       "Default: $TRADELOOM_ALERTS, else none.")


def audit_path(option: Path | None) -> Path:
    """--audit-log, else $TRADELOOM_AUDIT_LOG, else <catalog>/audit.jsonl."""
    if option is not None:
        return option
    env = os.environ.get(ENV_AUDIT)
    return Path(env) if env else clictx.catalog_path() / "audit.jsonl"


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """TradeloomError / bad input -> red message on stderr, exit 2."""
    try:
        yield
    except (TradeloomError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))


def _actor(by: str | None, reason: str) -> Any:
    from tradeloom.app.deployment import Actor

    who = by or os.environ.get("USER") or ""
    return Actor(who, SystemClock().now_ms(), reason)


def _notify(audit_log: Path | None, alerts: Path | None) -> Any:
    from tradeloom.adapters.ops.audit import AuditLog
    from tradeloom.app.deployment import Notify

    router = None
    alerts = alerts or (Path(os.environ[ENV_ALERTS]) if os.environ.get(ENV_ALERTS) else None)
    if alerts is not None:
        from tradeloom.adapters.ops.alerts import AlertRouter
        from tradeloom.adapters.ops.alerts_config import load_alerts_config

        router = AlertRouter(load_alerts_config(alerts), clock=SystemClock())
    return Notify(AuditLog(audit_path(audit_log)), router)


def _store() -> Any:
    from tradeloom.research.promotion.deployments import DeploymentStore

    return DeploymentStore(clictx.catalog_path())


def deploy_register(
    file: Path = typer.Argument(..., help="Deployment file (TOML)."),
    by: str | None = _BY,
    reason: str = _REASON,
    audit_log: Path | None = _AUDIT,
) -> None:
    """Register a deployment (stage: research), or record a changed spec.

    Example:  tradeloom deploy-register examples/deployments/sma-btc.toml --reason "first version"

    A changed spec is accepted only while the deployment is at research (its hash goes
    into the audit log as a config change); demote it first otherwise.
    """
    from tradeloom.app.deployment import register
    from tradeloom.research.promotion.config import load_deployment

    with _errors():
        spec = load_deployment(file)
        event = register(_store(), spec, file.resolve(), _actor(by, reason),
                         _notify(audit_log, None))
    if event is None:
        console.print(f"{escape(spec.name)}: unchanged (same spec already registered)")
    else:
        done = {"register": "registered", "update": "spec updated"}[event.action.value]
        console.print(f"{escape(spec.name)}: {done}, stage "
                      f"{event.to_stage.value if event.to_stage else '?'}, spec "
                      f"{event.spec_hash[:12]}")


def deployments(
    name: str | None = typer.Argument(None, help="Show this deployment's history."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List deployments and their stages, or one deployment's history with its evidence.

    Example:  tradeloom deployments --json

    History of one:  tradeloom deployments sma-btc
    """
    with _errors():
        store = _store()
        if name is None:
            items = store.list()
            if as_json:
                typer.echo(json.dumps([d.to_dict() for d in items], indent=2, sort_keys=True))
                return
            if not items:
                console.print("no deployments; register one with `tradeloom deploy-register "
                              "FILE`")
            for d in items:
                console.print(f"{escape(d.name):<24} {d.stage.value:<18} "
                              f"{escape(d.spec.strategy)}  {d.spec_hash[:12]}")
            return
        store.get(name)
        events = store.events(name)
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in events], indent=2, sort_keys=True))
        return
    for e in events:
        move = f"{e.from_stage.value if e.from_stage else '-'} -> " \
               f"{e.to_stage.value if e.to_stage else '-'}"
        console.print(f"#{e.seq} {e.ts} {e.action.value:<8} {move:<34} by {escape(e.actor)}"
                      + (f": {escape(e.reason)}" if e.reason else ""))
        for g in e.gates:
            if not g["ok"]:
                console.print(f"    unmet {escape(g['gate'])}: {escape(g['detail'])}")


def promote(
    name: str = typer.Argument(..., help="Deployment name."),
    to: str = typer.Option(..., "--to", help="Target stage: backtest-approved, paper or live."),
    confirm_live: bool = typer.Option(False, "--confirm-live",
                                      help="Required with --to live: it trades real money."),
    journal: list[Path] | None = typer.Option(
        None, "--journal", help="Paper journal as evidence for --to live; repeat for several. "
        "Default: the journals of the deployment's live_config.", show_default=False),
    sample: bool = typer.Option(False, "--sample", help="Run the regress case on a temporary "
                                "catalog with only the bundled sample (as CI does)."),
    by: str | None = _BY,
    reason: str = _REASON,
    audit_log: Path | None = _AUDIT,
    alerts: Path | None = _ALERTS,
) -> None:
    """Promote a deployment one stage if every gate passes; list every unmet gate if not.

    Example:  tradeloom promote sma-btc --to backtest-approved --reason "goldens reviewed"

    To live:  tradeloom promote sma-btc --to live --confirm-live (paper journals found through
    the deployment's live_config, or --journal FILE)

    Gates: the regress case passes and is deterministic and backtests this deployment; the
    risk profile loads; for live also enough paper days, zero replay divergence and a
    tracking error under the deployment's [gates] thresholds. Exit 1 when refused.
    """
    from tradeloom.app.deployment import promote as do_promote
    from tradeloom.research.promotion.lifecycle import Stage

    with _errors():
        try:
            target = Stage(to)
        except ValueError:
            raise ValueError(f"--to {to!r}: use backtest-approved, paper or live") from None
        actor = _actor(by, reason)
        notify = _notify(audit_log, alerts)
        with _market_store(sample) as market_store:
            outcome = do_promote(_store(), name, target, actor, market_store=market_store,
                                 journals=journal, confirm_live=confirm_live, notify=notify)
    if outcome.promoted:
        console.print(escape(outcome.format()))
        return
    err_console.print(f"[bold red]refused:[/] {escape(outcome.format())}")
    raise typer.Exit(1)


@contextmanager
def _market_store(sample: bool) -> Iterator[Any]:
    if not sample:
        yield clictx.open_store()
        return
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.app.sample import load_sample

    folder = Path(tempfile.mkdtemp(prefix="tradeloom-promote-"))
    try:
        store = MarketStore(folder)
        load_sample(store)
        yield store
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def demote(
    name: str = typer.Argument(..., help="Deployment name."),
    reason: str = _REASON,
    by: str | None = _BY,
    audit_log: Path | None = _AUDIT,
    alerts: Path | None = _ALERTS,
) -> None:
    """Move a deployment one stage back at once (live -> paper -> backtest-approved -> research).

    Example:  tradeloom demote sma-btc --reason "tracking error after the fee change"
    """
    from tradeloom.app.deployment import demote as do_demote

    with _errors():
        event = do_demote(_store(), name, _actor(by, reason), _notify(audit_log, alerts))
    console.print(f"demoted {escape(name)}: {event.from_stage.value if event.from_stage else '?'}"
                  f" -> {event.to_stage.value if event.to_stage else '?'}")


def retire(
    name: str = typer.Argument(..., help="Deployment name."),
    reason: str = _REASON,
    by: str | None = _BY,
    audit_log: Path | None = _AUDIT,
    alerts: Path | None = _ALERTS,
) -> None:
    """Retire a deployment at once, from any stage (final; register a new name to restart).

    Example:  tradeloom retire sma-btc --reason "edge gone since the 2024 fee schedule"
    """
    from tradeloom.app.deployment import retire as do_retire

    with _errors():
        event = do_retire(_store(), name, _actor(by, reason), _notify(audit_log, alerts))
    console.print(f"retired {escape(name)} (was {event.from_stage.value if event.from_stage else '?'})")


@audit_app.command("verify")
def audit_verify(
    path: Path | None = typer.Argument(
        None, help="Audit log. Default: $TRADELOOM_AUDIT_LOG, else <catalog>/audit.jsonl.",
        show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check the audit log's hash chain; exit 1 and name the first bad line if tampered.

    Example:  tradeloom audit verify datasets/catalog/audit.jsonl
    """
    from tradeloom.adapters.ops.audit import verify

    with _errors():
        report = verify(audit_path(path))
    if as_json:
        typer.echo(json.dumps({"path": str(report.path), "ok": report.ok,
                               "entries": report.entries, "head_hash": report.head_hash,
                               "first_bad_line": report.first_bad_line,
                               "problem": report.problem}, indent=2, sort_keys=True))
    elif report.ok:
        console.print(escape(report.format()))
    else:
        err_console.print(f"[bold red]{escape(report.format())}[/]")
    if not report.ok:
        raise typer.Exit(1)


__all__ = ["audit_app", "audit_verify", "demote", "deploy_register", "deployments", "promote",
           "retire"]
