"""``tradeloom serve`` and ``tradeloom status``: the operator's view of running sessions.

Both read the status files runners publish under ``<state_dir>/status/``
(``adapters.status``); ``serve`` adds HTTP (``tradeloom.serve.server``). ``status`` exits
0 when every runner is healthy, 1 when one is not (or none publishes), 2 on an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tradeloom.adapters.clock import SystemClock
from tradeloom.cli import context as clictx
from tradeloom.cli.errors import fail as _fail
from tradeloom.engine.errors import TradeloomError

console = Console()
err_console = Console(stderr=True)

_STATE_COLORS = {"running": "green", "paused": "yellow", "killed": "red", "stopped": "red"}


def serve(
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to bind; anything but loopback needs a token."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port."),
    state_dir: Path = typer.Option(Path("state"), "--state-dir",
                                   help="The state_dir of the runners' configs."),
    token_file: Path | None = typer.Option(None, "--token-file",
                                           help="File holding the access token (chmod 600); "
                                           "default: $TRADELOOM_TOKEN."),
    rules_dir: Path = typer.Option(Path("rules"), "--rules-dir",
                                   help="Where the strategy builder saves rule files."),
) -> None:
    """Health, Prometheus metrics, the status page (with kill buttons) and the strategy builder.

    Example:  tradeloom serve --state-dir state

    Then open http://127.0.0.1:8765/ ; GET /health answers 200 when every runner is
    healthy, 503 otherwise; GET /metrics is for Prometheus.

    Example:  TRADELOOM_TOKEN=$(cat ~/.tradeloom-token) tradeloom serve --host 0.0.0.0

    Off 127.0.0.1 every endpoint but /health needs the token (header
    'Authorization: Bearer <token>', or the page's login form).

    http://127.0.0.1:8765/builder is the strategy builder: pick symbols, indicators
    and conditions, see the rule file it writes, save it to --rules-dir, backtest it
    on the catalog (the global --catalog) and read the report.
    """
    from tradeloom.serve.server import ServerSettings, bind_policy, load_token, serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        token = load_token(token_file)
        bind_policy(host, token)
        settings = ServerSettings(state_dir=state_dir, token=token,
                                  catalog=clictx.catalog_path(), rules_dir=rules_dir)
        asyncio.run(serve_forever(settings, host, port, announce=lambda m: console.print(
            escape(m), highlight=False)))
    except TradeloomError as exc:
        _fail(exc)
    except OSError as exc:  # port in use, address not available
        err_console.print(f"[bold red]error:[/] cannot listen on {escape(host)}:{port}: "
                          f"{escape(exc.strerror or str(exc))}; pick another --port",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("server stopped")


def status(
    state_dir: Path = typer.Option(Path("state"), "--state-dir",
                                   help="The state_dir of the runners' configs."),
    as_json: bool = typer.Option(False, "--json", help="Print the /api/status JSON instead."),
) -> None:
    """Every runner's state, health, equity, positions, orders and alerts on the terminal.

    Example:  tradeloom status --state-dir state

    Example:  tradeloom status --state-dir state --json | jq '.runners[].health'

    Exit code 0: every runner healthy; 1: a runner is not (or none publishes); 2: error.
    """
    from tradeloom.serve.server import status_report

    try:
        report = status_report(state_dir, SystemClock().now_ms())
    except TradeloomError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report, state_dir)
    raise typer.Exit(0 if report["healthy"] else 1)


def _print_report(report: dict[str, Any], state_dir: Path) -> None:
    for problem in report["problems"]:
        console.print(Text(problem, style="yellow"))
    if not report["runners"]:
        console.print(Text(f"no runner publishes a status in {state_dir / 'status'}",
                           style="yellow"))
    for r in report["runners"]:
        console.print(_runner_table(r))
        if r["positions"]:
            console.print(_rows("positions", ["symbol", "amount", "avg entry", "mark", "value"],
                                [[p["symbol"], f"{p['amount']:.6g}", f"{p['avg_entry']:.2f}",
                                  _num(p["mark"]), f"{p['value']:.2f}"] for p in r["positions"]]))
        if r["open_orders"]:
            console.print(_rows("open orders", ["id", "symbol", "side", "type", "amount", "price"],
                                [[str(o["order_id"]), o["symbol"], o["side"], o["type"],
                                  f"{o['amount']:.6g}", _num(o["price"])]
                                 for o in r["open_orders"]]))
        if r["alerts"]:
            console.print(_rows("alerts", ["level", "message"],
                                [[a["level"], a["message"]] for a in r["alerts"][-5:]]))


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _runner_table(r: dict[str, Any]) -> Table:
    h = r["health"]
    title = Text(f"{r['runner_id']} ")
    title.append(r["state"], style=f"bold {_STATE_COLORS.get(r['state'], 'white')}")
    title.append(f"  {r['mode']} · account {r['account']} · {r['exchange']} {r['timeframe']}")
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="dim")
    table.add_column("value")
    verdict = Text("healthy", style="green") if h["healthy"] else Text(
        "unhealthy: " + "; ".join(h["problems"]), style="red")
    age = h["last_event_age_s"]
    ex = h["exchange"]
    trips = [name for name, b in h["breakers"].items() if b["tripped"]]
    pnl = r["equity"] - r["initial_equity"]
    rows = [
        ("health", verdict),
        ("strategy", Text(f"{r['strategy']} on {', '.join(r['symbols'])}")),
        ("last event", Text("-" if age is None else f"{age:.1f} s ago")),
        ("exchange", Text(f"{ex['consecutive_errors']} errors since last ok"
                          + (f" ({ex['last_error']})" if ex["last_error"] else ""))),
        ("clock drift", Text(f"{r['clock_drift_ms']} ms (limit {r['max_drift_ms']})")),
        ("breakers", Text(", ".join(trips) + " TRIPPED", style="red") if trips else Text("ok")),
        ("reconciliation", Text(r["reconciliation"]["status"])),
        ("equity", Text(f"{r['equity']:.2f} {r['quote']} (PnL {pnl:+.2f}, exposure "
                        f"{r['exposure']:.2f})")),
        ("activity", Text(f"{r['counters']['bars']} bars, "
                          f"{sum(r['counters']['fills'].values())} fills, "
                          f"{len(r['open_orders'])} open orders")),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _rows(title: str, header: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=Text(title), title_justify="left")
    for name in header:
        table.add_column(name)
    for row in rows:
        table.add_row(*[Text(str(cell)) for cell in row])
    return table


__all__ = ["serve", "status"]
