"""Hand-built ``RunnerStatus`` values for the status, server and CLI tests."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from tradeloom.adapters.ops.status import (
    AlertRow,
    BreakerState,
    Counters,
    ExchangeLink,
    FillRow,
    LatencyHistogram,
    OrderRow,
    PositionRow,
    Reconciliation,
    RunnerStatus,
)

NOW = 1_800_000_000_000  # the wall clock the tests pretend it is
HOUR = 3_600_000


def make_status(**over: Any) -> RunnerStatus:
    """A healthy, fully populated paper runner at wall time ``NOW``; ``over`` replaces fields."""
    base = RunnerStatus(
        runner_id="p1", account="emu", mode="paper", state="running",
        strategy="research/strategies/sma_cross.py:SmaCross", symbols=("BTC/USDT", "ETH/USDT"),
        exchange="binance", timeframe="1h", timeframe_ms=HOUR, published_ms=NOW - 1_000,
        started_ms=NOW - 10 * HOUR, publish_interval_s=2.0, pid=4242,
        engine_ts=1_700_000_000_000, last_event_ts=1_700_000_000_000,
        last_event_local_ms=NOW - 60_000,
        link=ExchangeLink(last_ok_ms=NOW - 60_000, consecutive_errors=0),
        clock_drift_ms=12, max_drift_ms=1_000,
        breakers=(BreakerState("daily_loss", False), BreakerState("kill_switch", False)),
        reconciliation=Reconciliation("n/a"), quote="USDT", cash=5_000.0, equity=10_250.5,
        initial_equity=10_000.0, exposure=5_250.5,
        equity_history=tuple((1_700_000_000_000 + i * HOUR, 10_000.0 + 10 * i) for i in range(30)),
        positions=(PositionRow("BTC/USDT", 0.25, 20_000.0, 21_002.0, 5_250.5, 250.5),),
        open_orders=(OrderRow(7, "p1-7", "BTC/USDT", "buy", "limit", "open", 0.01, 0.0,
                              19_000.0, 1_700_000_000_000),),
        recent_orders=(OrderRow(3, "p1-3", "BTC/USDT", "buy", "market", "filled", 0.25, 0.25,
                                None, 1_699_990_000_000),),
        recent_fills=(FillRow(3, "BTC/USDT", "buy", 1_699_990_000_000, 20_000.0, 0.25, 5.0),),
        alerts=(AlertRow(NOW - 5_000, "warning", "feed_stall", "no bar for ETH/USDT"),),
        counters=Counters(bars=30, fills={"BTC/USDT": 1}, risk_decisions={"ok": 1, "max_order_pct": 2},
                          breaker_trips={}, errors={"feed_transient": 1}),
        latency={"decision": LatencyHistogram((0.001, 0.005, math.inf), (3, 4, 5), 0.012, 5,
                                              0.4, 4.0, 6.0)},
    )
    return dataclasses.replace(base, **over)
