"""Stateful breakers, kill switch and their resets: one hand-checkable table per breaker.

Times are UTC ms; ``D`` is one day, ``H`` one hour. Equity is fed through
``on_equity`` (the loop's once-per-step hook) unless a row says otherwise.
"""

from __future__ import annotations

import pytest
from risk_fakes import HOUR, FakeView, bar, order

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.orders import Fill, Liquidity, Side
from tradeloom.engine.risk.codes import ActionKind, RiskCode
from tradeloom.engine.risk.config import (
    ConsecutiveLossConfig,
    CooldownConfig,
    DailyLossConfig,
    DrawdownConfig,
    RiskConfig,
)
from tradeloom.engine.risk.engine import RiskEngine

H = HOUR
D = 24 * HOUR


def _run_equity(risk: RiskEngine, steps: list[tuple[int, float]]) -> list[bool]:
    """Feed (ts, equity) steps; after each, can a new BTC entry be placed?"""
    out = []
    for ts, equity in steps:
        risk.on_equity(ts, equity)
        out.append(risk.check(order(), FakeView(now=ts, cash=equity)).approved)
    return out


# -- daily loss -----------------------------------------------------------------------------
# limit 5 % of the start-of-day equity (the first equity seen in the day)
# fmt: off
DAILY_LOSS = [
    # (ts,    equity, entries allowed after this step)
    (0,       1000.0, True),   # start of day 0: 1000
    (2 * H,    960.0, True),   # -4 %
    (5 * H,    950.0, False),  # -5 %: trips
    (6 * H,   1100.0, False),  # recovering does not reset it
    (D,       1000.0, True),   # next day: reset, new start 1000
    (D + H,    951.0, True),   # -4.9 %
]
# fmt: on


def test_daily_loss_table() -> None:
    risk = RiskEngine(RiskConfig(daily_loss=DailyLossConfig(limit_pct=0.05)))
    allowed = _run_equity(risk, [(ts, eq) for ts, eq, _ in DAILY_LOSS])
    assert allowed == [ok for *_, ok in DAILY_LOSS]
    assert [(e["kind"], e["ts"], e["breaker"]) for e in risk.events] == [
        ("risk_trip", 5 * H, "daily_loss"),
        ("risk_reset", D, "daily_loss"),
    ]
    assert risk.events[0]["figures"] == {
        "start_equity": 1000.0,
        "equity": 950.0,
        "loss_pct": 0.05,
        "limit_pct": 0.05,
    }
    assert (
        risk.decisions[0].code is RiskCode.DAILY_LOSS
        and "next day boundary" in risk.decisions[0].message
    )


def test_daily_loss_day_boundary_hour() -> None:
    # days start at 08:00 UTC: 07:00 on day 1 is still day 0, so no reset until 08:00
    risk = RiskEngine(RiskConfig(day_start_hour_utc=8, daily_loss=DailyLossConfig(limit_pct=0.05)))
    allowed = _run_equity(
        risk, [(8 * H, 1000.0), (9 * H, 900.0), (D + 7 * H, 900.0), (D + 8 * H, 900.0)]
    )
    assert allowed == [True, False, False, True]


def test_daily_loss_manual_reset() -> None:
    risk = RiskEngine(RiskConfig(daily_loss=DailyLossConfig(limit_pct=0.05, reset="manual")))
    assert _run_equity(risk, [(0, 1000.0), (H, 900.0), (D + H, 900.0)]) == [True, False, False]
    risk.reset("daily_loss", ts=D + 2 * H)
    assert risk.check(order(), FakeView(now=D + 2 * H)).approved
    assert risk.events[-1] == {
        "ts": D + 2 * H,
        "kind": "risk_reset",
        "breaker": "daily_loss",
        "figures": {"rule": "manual"},
        "message": "breaker daily_loss reset (manual)",
    }


# -- max drawdown ---------------------------------------------------------------------------
# limit 15 % below the running peak; manual reset re-bases the peak
# fmt: off
DRAWDOWN = [
    # (ts,   equity, entries allowed after this step)
    (0,      1000.0, True),
    (H,      1200.0, True),   # new peak 1200
    (2 * H,  1030.0, True),   # -14.2 %
    (3 * H,  1020.0, False),  # -15 %: trips
    (D,      1300.0, False),  # manual reset only: no day reset
]
# fmt: on


def test_drawdown_table() -> None:
    risk = RiskEngine(RiskConfig(max_drawdown=DrawdownConfig(limit_pct=0.15)))
    assert _run_equity(risk, [(ts, eq) for ts, eq, _ in DRAWDOWN]) == [ok for *_, ok in DRAWDOWN]
    assert risk.events[0]["figures"] == {
        "peak_equity": 1200.0,
        "equity": 1020.0,
        "drawdown_pct": 0.15,
        "limit_pct": 0.15,
    }
    risk.reset("max_drawdown", ts=D + H)
    # the peak is re-based at the next equity: 1300 -> 1105 is -15 % and trips again
    assert _run_equity(risk, [(D + 2 * H, 1300.0), (D + 3 * H, 1200.0), (D + 4 * H, 1105.0)]) == [
        True,
        True,
        False,
    ]


def test_breaker_flatten_and_escalate() -> None:
    risk = RiskEngine(
        RiskConfig(max_drawdown=DrawdownConfig(limit_pct=0.1, flatten=True, escalate=True))
    )
    risk.on_equity(0, 1000.0)
    risk.on_equity(H, 900.0)
    actions = risk.pending_actions()
    assert [(a.kind, a.symbol) for a in actions] == [
        (ActionKind.FLATTEN, None),
        (ActionKind.CANCEL_ALL, None),
    ]
    assert risk.killed and risk.tripped() == ["max_drawdown", "kill_switch"]
    # a flatten order is a sell that reduces the long: allowed although killed
    assert risk.check(
        order("sell", 2.0, reduce_only=True), FakeView(now=H, positions={"BTC/USDT": 2.0})
    ).approved


# -- consecutive losses -----------------------------------------------------------------------


def _fill(
    side: str,
    price: float,
    amount: float = 1.0,
    ts: int = 0,
    symbol: str = "BTC/USDT",
    tag: str = "",
    fee: float = 0.0,
) -> Fill:
    return Fill(1, symbol, Side(side), ts, price, amount, fee, Liquidity.TAKER, tag=tag)


# limit 2 losing round trips in a row (fees count)
# fmt: off
STREAK = [
    # (fills of one round trip: (side, price, fee)),  streak after, tripped
    ([("buy", 100.0, 0.0), ("sell",  99.0, 0.0)],     1,            False),  # -1
    ([("buy", 100.0, 0.0), ("sell", 101.0, 0.0)],     0,            False),  # +1 resets the streak
    ([("buy", 100.0, 0.0), ("sell", 100.0, 0.5)],     1,            False),  # flat price, -0.5 fee
    ([("buy", 100.0, 0.0), ("sell",  99.5, 0.0)],     2,            True),   # second loss in a row
]
# fmt: on


def test_consecutive_losses_table() -> None:
    risk = RiskEngine(RiskConfig(consecutive_losses=ConsecutiveLossConfig(limit=2)))
    for i, (fills, streak, tripped) in enumerate(STREAK):
        for side, price, fee in fills:
            risk.on_fill(_fill(side, price, ts=i * H, fee=fee), None)
        assert risk._streak is not None and risk._streak.streak == streak
        assert ("consecutive_losses" in risk.tripped()) is tripped
    assert risk.events[0]["figures"] == {
        "losses_in_a_row": 2,
        "limit": 2,
        "last_symbol": "BTC/USDT",
        "last_pnl": -0.5,
    }
    assert risk.check(order(), FakeView(now=4 * H)).code is RiskCode.CONSECUTIVE_LOSSES
    assert risk.check(order(), FakeView(now=D)).approved  # next_day reset


def test_partial_exits_make_one_round_trip() -> None:
    # buy 2 @ 100, sell 1 @ 103 (+3), sell 1 @ 98 (-2): one trip of +1, not a loss
    risk = RiskEngine(RiskConfig(consecutive_losses=ConsecutiveLossConfig(limit=1)))
    for f in (_fill("buy", 100.0, 2.0), _fill("sell", 103.0), _fill("sell", 98.0)):
        risk.on_fill(f, None)
    assert risk.tripped() == []


# -- cooldown ---------------------------------------------------------------------------------


def _bars(risk: RiskEngine, first: int, last: int) -> None:
    for i in range(first, last + 1):
        risk.on_bar(bar("BTC/USDT", i * H, 100.0), FakeView(now=(i + 1) * H))


COOLDOWN_BARS = [
    # (bars closed after the losing exit, BTC entry allowed, ETH entry allowed)
    (0, False, True),
    (1, False, True),
    (2, True, True),
]


@pytest.mark.parametrize("after_exit,btc_ok,eth_ok", COOLDOWN_BARS)
def test_cooldown_in_bars_after_a_loss(after_exit: int, btc_ok: bool, eth_ok: bool) -> None:
    risk = RiskEngine(RiskConfig(cooldown=CooldownConfig(bars=2, after="loss")))
    _bars(risk, 0, 9)  # 10 BTC bars
    risk.on_fill(_fill("buy", 100.0, ts=10 * H), None)
    risk.on_fill(_fill("sell", 95.0, ts=10 * H), None)  # loss -> cooldown until bar 12
    _bars(risk, 10, 9 + after_exit)
    now = (10 + after_exit) * H
    assert risk.check(order(), FakeView(now=now)).approved is btc_ok
    assert risk.check(order(symbol="ETH/USDT"), FakeView(now=now)).approved is eth_ok


# fmt: off
STOP_OUTS = [
    # (fill tag,    cooldown after,  pnl of the exit, cooldown starts)
    ("stop_loss",   "stop",          +5.0,            True),   # a stop-out even at a profit
    ("bracket:sl",  "stop",          -5.0,            True),   # bracket stop leg
    ("target",      "stop",          -5.0,            False),  # a plain loss is not a stop-out
    ("target",      "loss_or_stop",  -5.0,            True),
    ("stop_loss",   "loss",          +5.0,            False),
]
# fmt: on


@pytest.mark.parametrize("tag,after,pnl,starts", STOP_OUTS)
def test_cooldown_triggers(tag: str, after: str, pnl: float, starts: bool) -> None:
    risk = RiskEngine(RiskConfig(cooldown=CooldownConfig(ms=30 * 60_000, after=after)))  # type: ignore[arg-type]
    risk.on_fill(_fill("buy", 100.0, ts=0), None)
    risk.on_fill(_fill("sell", 100.0 + pnl, ts=H, tag=tag), None)
    assert risk.check(order(), FakeView(now=H + 60_000)).approved is not starts
    assert risk.check(order(), FakeView(now=H + 30 * 60_000)).approved  # 30 min later: free
    assert [e["kind"] for e in risk.events] == (["risk_cooldown"] if starts else [])


def test_cooldown_manual_reset() -> None:
    risk = RiskEngine(RiskConfig(cooldown=CooldownConfig(bars=5)))
    risk.on_fill(_fill("buy", 100.0), None)
    risk.on_fill(_fill("sell", 90.0), None)
    assert not risk.check(order(), FakeView()).approved
    risk.reset("cooldown:BTC/USDT", ts=1)
    assert risk.check(order(), FakeView(now=1)).approved


# -- kill switch --------------------------------------------------------------------------------


def test_kill_at_triggers_on_the_first_event_at_or_after_it() -> None:
    risk = RiskEngine(RiskConfig(kill_at=3 * H, kill_flatten=True))
    _bars(risk, 0, 1)  # closes at 1h, 2h
    assert not risk.killed
    _bars(risk, 2, 2)  # closes at 3h
    assert risk.killed
    assert risk.events == [
        {
            "ts": 3 * H,
            "kind": "risk_kill",
            "breaker": "kill_switch",
            "figures": {"reason": f"kill_at {3 * H}"},
            "message": f"kill switch engaged: kill_at {3 * H}",
        }
    ]
    assert [a.kind for a in risk.pending_actions()] == [ActionKind.CANCEL_ALL, ActionKind.FLATTEN]


def test_kill_at_accepts_iso_time() -> None:
    assert RiskConfig(kill_at="2024-01-01T00:00:00Z").kill_at == 1704067200000


def test_reset_unknown_breaker_names_the_configured_ones() -> None:
    risk = RiskEngine(RiskConfig(daily_loss=DailyLossConfig(limit_pct=0.1)))
    with pytest.raises(
        ConfigError,
        match=r"reset\('drawdown'\): no such configured breaker; configured: daily_loss, kill_switch",
    ):
        risk.reset("drawdown", ts=0)


def test_breaker_events_are_json_plain() -> None:
    from tradeloom.engine.results.result import check_json

    risk = RiskEngine(
        RiskConfig(daily_loss=DailyLossConfig(limit_pct=0.01), cooldown=CooldownConfig(bars=1))
    )
    risk.on_equity(0, 1000.0)
    risk.on_equity(1, 900.0)
    risk.on_fill(_fill("buy", 100.0), None)
    risk.on_fill(_fill("sell", 90.0), None)
    risk.kill(2)
    assert [e["kind"] for e in risk.events] == ["risk_trip", "risk_cooldown", "risk_kill"]
    for i, e in enumerate(risk.events):
        check_json(e, f"events[{i}]")  # raises on anything a JSON result cannot hold
