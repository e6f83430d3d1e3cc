"""Running a paper/live session from the command line: URL overrides, the run itself
with its exit codes, and the ``--restart-on-crash`` supervisor.

Exit codes of ``tradeloom paper`` and ``tradeloom live`` (what the supervisor,
``tradeloom.app.supervisor``, and a systemd unit can act on): 0 stopped cleanly;
2 refused to start (a message says what to fix); 3 failed while trading (the journal's
``end`` record says why); 75 the exchange was unreachable at start (worth retrying).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from tradeloom.app.live_config import LiveConfig
from tradeloom.app.supervisor import (
    EXIT_FAILED,
    EXIT_REFUSED,
    EXIT_TEMPFAIL,
    RestartPolicy,
    Supervisor,
)
from tradeloom.cli import context as clictx
from tradeloom.engine.errors import TradeloomError, TransientExchangeError

console = Console()
err_console = Console(stderr=True)


def override_urls(cfg: LiveConfig, api_url: str | None, ws_url: str | None) -> LiveConfig:
    """``cfg`` with the exchange's REST/websocket base URLs replaced (validated)."""
    if api_url is None and ws_url is None:
        return cfg
    exchange = cfg.exchange.model_dump()
    if api_url is not None:
        exchange["api_url"] = api_url
    if ws_url is not None:
        exchange["ws_url"] = ws_url
    return LiveConfig.model_validate({**cfg.model_dump(), "exchange": exchange})


def print_summary(summary: Any, journal: Path) -> None:
    console.print(f"session ended ({summary.stop_reason or 'stopped'}): {summary.bars} bars, "
                  f"{summary.orders} orders, {summary.fills} fills; journal {journal}",
                  highlight=False, soft_wrap=True)
    for stage, stats in summary.stages.items():
        console.print(f"  {stage:<12} n={int(stats['count']):<6} p50 {stats['p50_ms']:.3f} ms  "
                      f"p95 {stats['p95_ms']:.3f} ms  p99 {stats['p99_ms']:.3f} ms")
    if summary.kill_latency_s is not None:
        console.print(f"  kill switch: {summary.kill_cancelled} orders cancelled "
                      f"{summary.kill_latency_s:.3f} s after the flag (or the start)")


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


def run_session(cfg: LiveConfig, open_session: Callable[[], Awaitable[Any]],
                announce: Callable[[Any], None]) -> None:
    """Open the session, announce it, run it to the end; exit with the documented code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    opened: list[Any] = []

    async def main() -> Any:
        session = await open_session()
        opened.append(session)
        announce(session)
        _publish_status(session, cfg.state_dir)
        return await _run(session)

    try:
        summary = asyncio.run(main())
    except TransientExchangeError as exc:
        if opened:
            _exit(f"session failed while trading: {exc}", EXIT_FAILED)
        _exit(f"{exc} (the exchange did not answer; start again, or use --restart-on-crash)",
              EXIT_TEMPFAIL)
    except TradeloomError as exc:
        _exit(f"session failed while trading: {exc}" if opened else str(exc),
              EXIT_FAILED if opened else EXIT_REFUSED)
    except Exception as exc:  # noqa: BLE001 - reported with its type, exit code 3
        if not opened:
            raise
        _exit(f"session failed while trading: {type(exc).__name__}: {exc}", EXIT_FAILED)
    print_summary(summary, opened[0].journal_path)
    if summary.failed:
        raise typer.Exit(EXIT_FAILED)


def _exit(message: str, code: int) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def supervise(args: Sequence[str], policy: RestartPolicy = RestartPolicy()) -> None:
    """Run ``tradeloom <args>`` (the same command without ``--restart-on-crash``) under
    the supervisor until it stops cleanly or refuses; exit with its last code."""
    argv = [sys.executable, "-m", "tradeloom", "--catalog", str(clictx.catalog_path()),
            *args]
    supervisor = Supervisor(argv, policy, env=dict(os.environ),
                            report=lambda m: console.print(m, highlight=False, soft_wrap=True))
    supervisor.install_signal_handlers()
    raise typer.Exit(supervisor.run())


__all__ = ["override_urls", "print_summary", "run_session", "supervise"]
