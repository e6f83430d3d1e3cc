"""The RiskEngine inside real backtests: breakers trip at the right bar, kill_at, and a property.

Synthetic hourly bars are *continuous* (each bar opens at the previous close), so a
market order placed at a bar's close fills at the price the risk check saw: the
limits can then be checked exactly against the portfolio after every fill.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.orders import OrderStatus, Side
from tradeloom.engine.risk.config import DailyLossConfig, RiskConfig
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.strategy.base import Strategy

H = 3_600_000
D = 24 * H
SYM = "BTC/USDT"


def continuous(closes: list[float]) -> BarArrays:
    """Hourly bars from t=0 with open = previous close, high/low spanning open and close."""
    c = np.asarray(closes, dtype=np.float64)
    o = np.concatenate([c[:1], c[:-1]])
    return BarArrays(
        np.arange(len(c), dtype=np.int64) * H,
        o,
        np.maximum(o, c),
        np.minimum(o, c),
        c,
        np.full(len(c), 1e9),
    )


class Churn(Strategy):
    """Flat -> buy with 90 % of cash; long -> sell everything. One entry every other bar."""

    def on_bar(self, ctx: Any, bar: Any) -> None:
        if ctx.open_orders(bar.symbol):
            return
        if ctx.position(bar.symbol) == 0:
            ctx.buy(bar.symbol, quote=ctx.cash * 0.9)
        else:
            ctx.sell(bar.symbol, ctx.position(bar.symbol))


# 30 hourly bars: flat at 100, a crash to 80 between 05:00 and 08:00, flat at 80 after.
CRASH = [100.0] * 5 + [95.0, 90.0, 85.0] + [80.0] * 22


def test_daily_loss_trips_at_the_right_bar_and_resets_next_day() -> None:
    risk = RiskEngine(RiskConfig(daily_loss=DailyLossConfig(limit_pct=0.05)))
    res = backtest_arrays(
        Churn(), continuous(CRASH), timeframe="1h", symbol=SYM, initial_cash=10_000.0, risk=risk
    )
    eq = res.equity
    # the bar at which equity first is 5 % under the day's start (10 000), read off the equity curve
    first_breach = int(eq.loc[eq["equity"] <= 0.95 * 10_000.0, "ts"].iloc[0])
    kinds = [(e["kind"], e["ts"]) for e in res.events if e["kind"].startswith("risk_")]
    assert kinds == [("risk_trip", first_breach), ("risk_reset", D)]
    orders = res.orders
    buys = orders[orders["side"] == "buy"]
    blocked = buys[(buys["created_ts"] >= first_breach) & (buys["created_ts"] < D)]
    assert len(blocked) > 0 and (blocked["status"] == "rejected").all()
    assert set(res.risk_decisions["code"]) == {"daily_loss"}
    # exits were never blocked: after the trip the last position was sold
    sells = orders[(orders["side"] == "sell") & (orders["created_ts"] >= first_breach)]
    assert (sells["status"] != "rejected").all()
    # trading resumes at the day boundary: the first buy placed at 24:00 is accepted and fills
    after = buys[buys["created_ts"] >= D]
    assert after.iloc[0]["created_ts"] == D and after.iloc[0]["status"] == "filled"


class PatientBuyer(Strategy):
    """Keeps one far limit buy resting, and enters/exits with market orders on alternate bars."""

    def on_bar(self, ctx: Any, bar: Any) -> None:
        if not any(o.price is not None for o in ctx.open_orders(bar.symbol)):
            ctx.buy(bar.symbol, 0.01, price=bar.close * 0.5, tag="resting")
        if ctx.position(bar.symbol) == 0:
            ctx.buy(bar.symbol, 1.0, tag="entry")
        else:
            ctx.sell(bar.symbol, ctx.position(bar.symbol), tag="exit")


def test_kill_at_cancels_open_orders_and_refuses_entries() -> None:
    kill_at = 10 * H  # the close of the 10th bar
    risk = RiskEngine(RiskConfig(kill_at=kill_at))
    res = backtest_arrays(
        PatientBuyer(),
        continuous([100.0] * 20),
        timeframe="1h",
        symbol=SYM,
        initial_cash=10_000.0,
        risk=risk,
    )
    assert [(e["kind"], e["ts"]) for e in res.events if e["kind"].startswith("risk_")] == [
        ("risk_kill", kill_at)
    ]
    orders = res.orders
    resting_before = orders[(orders["tag"] == "resting") & (orders["created_ts"] < kill_at)]
    assert (resting_before["status"] == "canceled").all() and len(resting_before) == 1
    after = orders[orders["created_ts"] >= kill_at]
    entries_after = after[after["side"] == "buy"]
    assert len(entries_after) > 0 and (entries_after["status"] == "rejected").all()
    assert set(res.risk_decisions["code"]) == {"kill_switch"}
    # the position held at the kill can still be exited
    assert res.final_positions.get(SYM, 0.0) == 0.0


def test_kill_flatten_closes_the_position() -> None:
    kill_at = 9 * H  # the strategy is long after odd bars: 09:00 close finds it long
    risk = RiskEngine(RiskConfig(kill_at=kill_at, kill_flatten=True))

    class HoldForever(Strategy):
        def on_bar(self, ctx: Any, bar: Any) -> None:
            if ctx.position(bar.symbol) == 0 and not ctx.open_orders(bar.symbol):
                ctx.buy(bar.symbol, 1.0)

    res = backtest_arrays(
        HoldForever(),
        continuous([100.0] * 20),
        timeframe="1h",
        symbol=SYM,
        initial_cash=10_000.0,
        risk=risk,
    )
    flatten = res.orders[res.orders["tag"] == "risk:flatten"]
    assert (
        len(flatten) == 1
        and flatten.iloc[0]["created_ts"] == kill_at
        and flatten.iloc[0]["status"] == "filled"
    )
    assert res.final_positions.get(SYM, 0.0) == 0.0


# -- property: random order streams through the real engine ------------------------------------


@st.composite
def risk_configs(draw: Any) -> RiskConfig:
    exposure = draw(st.none() | st.floats(0.1, 1.0))
    order_pct = draw(st.none() | st.floats(0.05, exposure if exposure is not None else 1.0))
    return RiskConfig(
        max_order_pct=order_pct,
        max_exposure_pct=exposure,
        max_position_pct=exposure,
        max_notional=draw(st.none() | st.floats(500.0, 8000.0)),
        long_only=draw(st.booleans()),
        no_pyramiding=draw(st.booleans()),
        fee_aware_sizing=draw(st.booleans()),
        on_size_breach=draw(st.sampled_from(["reject", "resize"])),
    )


class Scripted(Strategy):
    """Places the order the script gives for each bar and checks the limits after every fill."""

    def on_bar(self, ctx: Any, bar: Any) -> None:
        i = bar.ts // H
        if i >= len(self.script):
            return
        side, frac, quote_sized = self.script[i]
        before = (ctx.cash, ctx.equity, ctx.position(SYM))
        if side is Side.BUY:
            size = frac * ctx.equity
            o = ctx.buy(SYM, quote=size) if quote_sized else ctx.buy(SYM, size / bar.close)
        else:
            held = ctx.position(SYM)
            o = ctx.sell(SYM, max(held * frac * 2, 0.001))
        if o.status is OrderStatus.REJECTED and o.reason.startswith("risk:"):
            self.rejected.add(o.id)
            assert (ctx.cash, ctx.equity, ctx.position(SYM)) == before

    def on_fill(self, ctx: Any, fill: Any) -> None:
        assert fill.order_id not in self.rejected
        if fill.side is not Side.BUY:
            return
        cfg: RiskConfig = self.cfg
        equity = ctx.equity  # marks are the previous close == this bar's open == the fill price
        value = ctx.position(SYM) * fill.price
        slack = 1 + 1e-9
        if cfg.max_exposure_pct is not None:
            assert value <= cfg.max_exposure_pct * equity * slack
        if cfg.max_order_pct is not None:
            assert fill.notional <= cfg.max_order_pct * equity * slack
        if cfg.max_notional is not None:
            assert fill.notional <= cfg.max_notional * slack
        self.checked += 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cfg=risk_configs(),
    moves=st.lists(st.floats(0.9, 1.1), min_size=5, max_size=25),
    script=st.lists(
        st.tuples(
            st.sampled_from([Side.BUY, Side.BUY, Side.SELL]), st.floats(0.05, 0.9), st.booleans()
        ),
        min_size=5,
        max_size=25,
    ),
)
def test_random_streams_never_breach_a_limit(
    cfg: RiskConfig, moves: list[float], script: list[Any]
) -> None:
    closes = list(100.0 * np.cumprod(moves))
    strategy = Scripted()
    strategy.script, strategy.cfg, strategy.rejected, strategy.checked = script, cfg, set(), 0
    risk = RiskEngine(cfg)
    res = backtest_arrays(
        strategy, continuous(closes), timeframe="1h", symbol=SYM, initial_cash=10_000.0, risk=risk
    )
    rejected = (
        set(res.orders.loc[res.orders["status"] == "rejected", "id"]) if len(res.orders) else set()
    )
    assert strategy.rejected <= rejected
    assert not (set(res.fills["order_id"]) & strategy.rejected) if len(res.fills) else True
    assert len(res.risk_decisions) == len(risk.decisions)
    buy_fills = int((res.fills["side"] == "buy").sum()) if len(res.fills) else 0
    assert strategy.checked == buy_fills  # the limits were checked after every entry fill


class BracketTrader(Strategy):
    """Flat -> a market entry with a stop-loss 5 % under the close."""

    def on_bar(self, ctx: Any, bar: Any) -> None:
        if ctx.position(bar.symbol) == 0 and not ctx.open_orders(bar.symbol):
            ctx.bracket(bar.symbol, 1.0, stop_loss=bar.close * 0.95)


def test_stop_out_cooldown_in_bars() -> None:
    # bar 6 (06:00-07:00) falls from 100 to 90: the stop at 95 fills; the engine learns it at 07:00.
    # cooldown 3 bars: entries refused at 07:00, 08:00, 09:00; the bar closing at 10:00 is the third.
    from tradeloom.engine.risk.config import CooldownConfig

    risk = RiskEngine(RiskConfig(cooldown=CooldownConfig(bars=3, after="stop")))
    res = backtest_arrays(
        BracketTrader(),
        continuous([100.0] * 6 + [90.0] * 8),
        timeframe="1h",
        symbol=SYM,
        initial_cash=10_000.0,
        risk=risk,
    )
    assert [
        (e["kind"], e["ts"], e["figures"]["trigger"])
        for e in res.events
        if e["kind"] == "risk_cooldown"
    ] == [("risk_cooldown", 7 * H, "stop")]
    entries = res.orders[(res.orders["side"] == "buy")]
    after = entries[entries["created_ts"] >= 7 * H][["created_ts", "status"]].values.tolist()
    assert after[:4] == [
        [7 * H, "rejected"],
        [8 * H, "rejected"],
        [9 * H, "rejected"],
        [10 * H, "filled"],
    ]
    assert list(res.risk_decisions["code"]) == ["cooldown"] * 3


def test_conservative_profile_on_sample_data_blocks_entries_while_tripped() -> None:
    """Real BTC hourly sample, the shipped conservative profile: every buy placed while any
    breaker (or the kill switch) is tripped is rejected, and every decision names its setting."""
    import math
    from pathlib import Path

    import pandas as pd

    from tradeloom.adapters.config.risk_profiles import load_profile

    path = Path(__file__).resolve().parents[3] / "datasets/sample/binance/BTC-USDT_1h.parquet"
    df = pd.read_parquet(path).iloc[:2000]
    data = BarArrays(*(df[c].to_numpy() for c in ("ts", "open", "high", "low", "close", "volume")))
    risk = RiskEngine(load_profile("conservative"))
    res = backtest_arrays(
        Churn(), data, timeframe="1h", symbol=SYM, initial_cash=10_000.0, risk=risk
    )
    windows: list[tuple[str, int, float]] = []
    open_since: dict[str, int] = {}
    for e in res.events:
        if e["kind"] in ("risk_trip", "risk_kill"):
            open_since[e["breaker"]] = e["ts"]
        elif e["kind"] == "risk_reset" and e["breaker"] in open_since:
            windows.append((e["breaker"], open_since.pop(e["breaker"]), e["ts"]))
    windows += [(name, start, math.inf) for name, start in open_since.items()]
    assert windows, "the sample should trip at least one breaker under the conservative profile"
    buys = res.orders[res.orders["side"] == "buy"]
    for name, start, end in windows:
        inside = buys[(buys["created_ts"] >= start) & (buys["created_ts"] < end)]
        assert (inside["status"] == "rejected").all(), (name, start, end)
    assert (res.risk_decisions["setting"] != "").all()
    assert risk.summary().startswith(f"risk: {risk.checked} orders checked")
