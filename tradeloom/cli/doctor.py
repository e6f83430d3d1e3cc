"""``tradeloom doctor CONFIG [--json]``: check the exchange connection of a paper/live
config before trading (``tradeloom.app.doctor``). Exit code 0: every check passed
(warnings allowed); 1: a check failed (it says what to fix); 2: the config is invalid."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from tradeloom.cli.errors import fail as _fail
from tradeloom.engine.errors import TradeloomError

console = Console(highlight=False, soft_wrap=True)
_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skipped": "dim"}


def doctor(
    config: Path = typer.Argument(..., help="Paper/live config file (TOML)."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
    api_url: str | None = typer.Option(None, "--api-url", show_default=False,
                                       help="Replace the exchange's REST base URL."),
) -> None:
    """Test the exchange connection a session will use: reachability, markets, clock drift,
    credentials, permissions, rate-limit headroom, API-key age. Sends no order.

    Example:  TRADELOOM_API_KEY=... TRADELOOM_API_SECRET=... tradeloom doctor examples/live.toml

    Stops at the first failed check and says what to fix; exit code 1 then.
    """
    from tradeloom.app.doctor import diagnose
    from tradeloom.app.live_config import load_live_config
    from tradeloom.cli.session_run import override_urls

    try:
        cfg = override_urls(load_live_config(config), api_url, None)
        result = asyncio.run(diagnose(cfg))
    except TradeloomError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console.print(f"doctor: {cfg.exchange.id} account {cfg.account} ({config})")
        for check in result.checks:
            style = _STYLE[check.status.value]
            console.print(f"  [{style}]{check.status.value:<7}[/] {check.name:<15} "
                          f"{escape(check.detail)}")
            if check.fix:
                console.print(f"          {'':<15} fix: {escape(check.fix)}")
        console.print("ready to trade" if result.ok else "[bold red]not ready[/]: fix the "
                      "failed check and run the doctor again")
    raise typer.Exit(0 if result.ok else 1)


__all__ = ["doctor"]
