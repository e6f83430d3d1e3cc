"""Independent cross-check of shorts: the event engine on a perpetual and vectorbt
``Portfolio.from_signals(direction="both")`` agree on real data, without funding.

Data: the bundled Binance USDⓈ-M ``BTC/USDT:USDT`` 5m bars
(``datasets/sample/binance/BTC-USDT-USDT_5m.parquet``, 8,865 bars, see
``datasets/sample/PROVENANCE.md``) and, for a second series, ``ETH/USDT:USDT``.
Strategy: SMA(10, 50) crossings, always in the market after the first one: long on a
cross up, short on a cross down (a reversal through zero each time).

Alignment (each point one of ``notes/why-engines-disagree.md``'s rules, as in
``test_vectorbt_crosscheck.py`` for longs):

1. **Signals.** The batch ``indicators.sma`` on both sides (bit-for-bit the engine's
   streaming SMA, proven in ``test_vectorbt_crosscheck``); up when ``d[t-1] <= 0 <
   d[t]``, down when ``d[t-1] >= 0 > d[t]`` with ``d = fast - slow``.
2. **Fill time.** A signal at bar ``t``'s close executes at bar ``t+1``'s open: the
   engine's market orders by construction; vectorbt by shifting the signals one bar and
   ``price=open`` (``close=close`` values the portfolio).
3. **Size and reversal.** The engine's ``target_percent(+1 / -1)`` at 1x leverage sizes
   at the fill: ``N / L + r * |s * N - N0| = E / L`` (``engine.sim.perp_funds``): from
   flat ``E / (p * (1 + r))``, through zero the old position is closed first and the
   rest of the equity goes the other way. vectorbt ``size=np.inf`` with its default
   ``upon_opposite_entry="reversereduce"`` closes the position and opens the other side
   (with ``direction="both"`` an exit signal opens the short)
   with all the cash it has (a short's collateral is its cash at 1x): the same sizes.
4. **Fees.** 0.05 % (Binance's USDⓈ-M taker) of every fill's notional, in the settle
   currency (``fees=0.0005``); no slippage.
5. **No rounding, no minimums, no funding, no liquidation.** ``MarketSpec`` without tick,
   lot or minimums; no funding events; 1x cross on a 30-day window never comes near a
   liquidation price (the test checks that none happened).
6. **End of data.** The open position stays open, marked at the last close.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.indicators.registry import sma
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.strategy.base import Strategy

ROOT = Path(__file__).resolve().parents[2] / "datasets" / "sample" / "binance"
FEE = 0.0005
CASH = 10_000.0
FAST, SLOW = 10, 50
RTOL = 1e-9
FIVE_MIN = 300_000

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.rename")

DATASETS = {
    "BTC": (ROOT / "BTC-USDT-USDT_5m.parquet", "BTC/USDT:USDT"),
    "ETH": (ROOT / "ETH-USDT-USDT_5m.parquet", "ETH/USDT:USDT"),
}


def crossings(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = sma(close, FAST) - sma(close, SLOW)
    prev = np.concatenate([[np.nan], d[:-1]])
    with np.errstate(invalid="ignore"):
        return (prev <= 0.0) & (d > 0.0), (prev >= 0.0) & (d < 0.0)


class LongShortCross(Strategy):
    """Long on an SMA cross up, short on a cross down (the signals computed in batch)."""

    def __init__(self, up: np.ndarray, down: np.ndarray, symbol: str) -> None:
        super().__init__()
        self.up, self.down, self.symbol, self.i = up, down, symbol, -1

    def on_bar(self, ctx, bar):
        self.i += 1
        if self.up[self.i]:
            ctx.target_percent(self.symbol, 1.0)
        elif self.down[self.i]:
            ctx.target_percent(self.symbol, -1.0)


def run_ours(frame: pd.DataFrame, symbol: str) -> Any:
    spec = MarketSpec(symbol, tick_size=None, lot_step=None, min_amount=0.0, min_notional=0.0,
                      maker_fee=FEE, taker_fee=FEE, contract=ContractSpec())
    up, down = crossings(frame["close"].to_numpy())
    return backtest_arrays(LongShortCross(up, down, symbol), BarArrays.from_frame(frame),
                           timeframe="5m", symbol=symbol, markets={symbol: spec},
                           initial_cash=CASH)


def run_theirs(vbt: Any, frame: pd.DataFrame) -> Any:
    index = pd.DatetimeIndex(pd.to_datetime(frame["ts"].to_numpy(), unit="ms"))
    up, down = crossings(frame["close"].to_numpy())
    shift = lambda mask: np.concatenate([[False], mask[:-1]])  # noqa: E731
    return vbt.Portfolio.from_signals(
        close=pd.Series(frame["close"].to_numpy(), index=index),
        # direction="both": entries open (or reverse into) a long, exits a short
        entries=pd.Series(shift(up), index=index),
        exits=pd.Series(shift(down), index=index),
        price=pd.Series(frame["open"].to_numpy(), index=index),
        size=np.inf, fees=FEE, init_cash=CASH, direction="both", accumulate=False, freq="5min",
    )


@pytest.fixture(scope="module")
def vbt() -> Any:
    import vectorbt

    return vectorbt


@pytest.fixture(scope="module", params=sorted(DATASETS))
def case(request: pytest.FixtureRequest, vbt: Any) -> tuple[Any, Any, pd.DataFrame]:
    path, symbol = DATASETS[request.param]
    frame = pd.read_parquet(path)
    theirs = run_theirs(vbt, frame)
    return run_ours(frame, symbol), theirs, theirs.trades.records_readable


def rel_diff(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(b))
    return float(np.max(np.abs(a - b) / np.where(scale > 0, scale, 1.0), initial=0.0))


def test_the_same_trades_long_and_short(case) -> None:
    ours, _, theirs = case
    trades = ours.trades
    assert len(trades) == len(theirs) > 20
    assert set(trades["side"]) == {"long", "short"}
    assert list(trades["side"]) == [d.lower() for d in theirs["Direction"]]
    assert rel_diff(trades["entry_price"], theirs["Avg Entry Price"]) < RTOL
    assert rel_diff(trades["exit_price"].to_numpy()[:-1], theirs["Avg Exit Price"].to_numpy()[:-1]) < RTOL
    assert rel_diff(trades["amount"], theirs["Size"]) < RTOL
    notional = trades["entry_notional"].to_numpy()
    assert np.max(np.abs(trades["pnl"].to_numpy() - theirs["PnL"].to_numpy()) / notional) < RTOL
    assert ours.liquidations.empty and ours.funding.empty


def test_the_same_equity_at_every_bar(case) -> None:
    ours, portfolio, _ = case
    assert rel_diff(ours.equity["equity"], portfolio.value().to_numpy()) < RTOL
    final = float(ours.equity["equity"].iloc[-1])
    assert abs(final - float(portfolio.final_value())) / final < RTOL
