"""Finished event-engine runs with every kind of order history, for tests that compare two
ways of building the same result (``engine.results``' fast paths against their general rule).

``varied_engine(case)`` runs ``Chaos`` - a seeded strategy that sends market, quote-sized,
limit, stop, stop-limit, trailing, bracket and OCO orders, cancels and replaces some, and
oversells on purpose (rejections) - on one of ``CASES``: spot with quote fees, the fee in
the coin received (``fee_side="get"``) with lot rounding and dust, partial fills
(``volume_share``), two symbols, and a perpetual going
long and short. ``simple_engine`` is a plain alternating SMA cross (every order opens or
closes a whole round trip: the common case).
"""

from __future__ import annotations

import numpy as np

from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.errors import StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Side
from tradeloom.engine.run.backtest import build_engine, drive
from tradeloom.engine.run.feeds import BarArrays, merge_bars
from tradeloom.engine.run.loop import Engine
from tradeloom.engine.strategy.base import Strategy
from tradeloom.research.strategies import SmaCross

H = 3_600_000
PERP = "BTC/USDT:USDT"
CASES = ("spot", "fee_in_base", "partial_fills", "two_symbols", "perp")


def walk(n: int, seed: int, start: float) -> BarArrays:
    """Hourly OHLC random walk with a wide range (stops and limits trigger often)."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.015, n)))
    open_ = np.r_[start, close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.0, 0.01, n))
    return BarArrays(np.arange(n, dtype=np.int64) * H, open_, high, low, close,
                     rng.uniform(0.5, 5.0, n))


class Chaos(Strategy):
    """One seeded random action per symbol and bar; errors the engine raises at submission
    (a StrategyError) are part of the mix and ignored."""

    def __init__(self, seed: int, short: bool = False):
        super().__init__()
        self.rng = np.random.default_rng(seed)
        self.short = short

    def on_bar(self, ctx, bar):
        rng, s, px = self.rng, bar.symbol, bar.close
        pos = ctx.position(s)
        r = rng.random()
        size = float(rng.choice([0.01, 0.05, 0.2, 1.0]))
        try:
            if r < 0.12:
                ctx.buy(s, size, tag="mkt")
            elif r < 0.18:
                ctx.buy(s, quote=float(px * size), tag="quote")
            elif r < 0.30:
                amount = abs(pos) * float(rng.choice([0.5, 1.0, 1.5])) if pos else size
                if self.short or pos > 0:
                    ctx.sell(s, amount if self.short else min(amount, pos * 1.5), tag="exit")
            elif r < 0.38:
                ctx.buy(s, size, price=px * (1 - 0.01 * rng.random()), tag="lim")
            elif r < 0.44:
                ctx.buy(s, size, stop=px * 1.01, tag="stp")
            elif r < 0.48:
                ctx.buy(s, size, stop=px * 1.01, price=px * 1.015, tag="stplim")
            elif r < 0.54:
                side = Side.SELL if self.short and rng.random() < 0.5 else Side.BUY
                k = -1 if side is Side.SELL else 1
                ctx.bracket(s, size, stop_loss=px * (1 - k * 0.02),
                            take_profits=[(px * (1 + k * 0.01), 0.5), (px * (1 + k * 0.03), 0.5)],
                            side=side)
            elif r < 0.60 and pos > 0:
                ctx.oco(s, pos, price=px * 1.02, stop=px * 0.98)
            elif r < 0.64 and pos > 0:
                ctx.trailing_stop(s, pos, trail_pct=0.01)
            elif r < 0.74:
                working = ctx.open_orders(s)
                if working:
                    ctx.cancel(working[int(rng.integers(len(working)))].id)
            elif r < 0.78:
                working = [o for o in ctx.open_orders(s) if o.price is not None]
                if working:
                    ctx.replace(working[0].id, price=px * 0.995)
            elif r < 0.84:
                ctx.target_percent(s, float(rng.choice([0.0, 0.3, 0.6])))
            elif r < 0.86:
                ctx.sell(s, 50.0, tag="oversell")  # more than held or affordable: rejected
        except StrategyError:
            pass


def varied_engine(case: str, seed: int = 7, n: int = 400, known: bool = True) -> Engine:
    """A finished engine of ``Chaos`` on one of ``CASES`` (``known=False``: the bars as a
    plain iterator, so nothing is derived from knowing them up front)."""
    symbols = ["BTC/USDT"]
    markets = None
    kwargs: dict = {}
    short = False
    if case == "fee_in_base":
        markets = {"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.00001, tick_size=0.01,
                                          min_notional=5.0, fee_side="get")}
    elif case == "partial_fills":
        kwargs["volume_share"] = 0.1
    elif case == "two_symbols":
        symbols = ["BTC/USDT", "ETH/USDT"]
    elif case == "perp":
        symbols = [PERP]
        markets = {PERP: MarketSpec(PERP, maker_fee=0.0002, taker_fee=0.0005,
                                    contract=ContractSpec())}
        short = True
    elif case != "spot":
        raise ValueError(f"unknown case {case!r}; one of {CASES}")
    data = {s: walk(n, seed + i, 100.0 * (i + 1)) for i, s in enumerate(symbols)}
    engine = build_engine(Chaos(seed, short=short), symbols=symbols, timeframe="1h",
                          markets=markets, initial_cash=100_000.0, **kwargs)
    bars = merge_bars(data, H)
    drive(engine, bars if known else iter(list(bars)))
    return engine


def simple_engine(seed: int = 3, n: int = 3_000, symbols: tuple[str, ...] = ("BTC/USDT",),
                  known: bool = True) -> Engine:
    """A finished engine of an SMA cross: whole round trips, market orders only."""
    data = {s: walk(n, seed + i, 100.0 * (i + 1)) for i, s in enumerate(symbols)}
    engine = build_engine(SmaCross(fast=5, slow=20), symbols=list(symbols), timeframe="1h",
                          initial_cash=10_000.0)
    bars = merge_bars(data, H)
    drive(engine, bars if known else iter(list(bars)))
    return engine
