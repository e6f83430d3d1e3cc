"""The backtest composition root: ``BacktestSettings`` in, a finished run out.

``tradeloom backtest``, ``tradeloom regress``, the pytest plugin and promotion evidence
all run a backtest through :func:`run_from_settings`, so the settings mean the same
thing wherever they are given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console

from tradeloom.engine.ports import FeeModel, SlippageModel
from tradeloom.engine.sim.config import BrokerSettings
from tradeloom.research.backtest_settings import BacktestSettings

if TYPE_CHECKING:
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.engine.risk.engine import RiskEngine
    from tradeloom.research.research_result import ResearchResult


def fee_and_slippage_models(
    broker: BrokerSettings,
) -> tuple[FeeModel | None, SlippageModel | None]:
    """The engine's fee and slippage model objects for the broker settings (``None``: the
    markets' maker/taker fees, no slippage).

    The fee model is the run's one truth about fees: the simulated broker charges fills
    with it and the risk engine's sizing plans fees with the same object (the engine
    binds the risk engine to ``broker.fees`` at start)."""
    from tradeloom.engine.costs.fees import MakerTakerFees
    from tradeloom.engine.costs.slippage import FixedBpsSlippage, VolumeParticipationSlippage

    fees = None
    if broker.fee_rate is not None or broker.maker_fee is not None or broker.taker_fee is not None:
        maker = broker.maker_fee if broker.maker_fee is not None else broker.fee_rate
        taker = broker.taker_fee if broker.taker_fee is not None else broker.fee_rate
        fees = MakerTakerFees(maker=maker, taker=taker)
    slippage = None
    if broker.slippage == "fixed_bps":
        slippage = FixedBpsSlippage(broker.slippage_bps)
    elif broker.slippage == "volume":
        slippage = VolumeParticipationSlippage()
    return fees, slippage


def run_from_settings(settings: BacktestSettings, store: MarketStore | str | os.PathLike[str], *,
                      show_progress: bool = False) -> ResearchResult:
    """Run the backtest a ``BacktestSettings`` describes against ``store``.

    With ``show_progress`` a rich progress bar (on stderr, gone when done) follows the
    run through bar time, for long multi-year minute-bar backtests.
    """

    fees, slippage = fee_and_slippage_models(settings.broker)
    risk: RiskEngine | None = None
    if settings.risk_profile:
        from tradeloom.adapters.config.risk_profiles import load_profile
        from tradeloom.engine.risk.engine import RiskEngine

        risk = RiskEngine(load_profile(settings.risk_profile))
    if show_progress:
        with _progress_bar() as advance:
            return _run(settings, store, fees, slippage, risk, advance)
    return _run(settings, store, fees, slippage, risk, None)


def _progress_bar():
    """A context manager yielding ``advance(first_ts, done_ts, last_ts)`` for run_backtest."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    @contextmanager
    def bar():
        with Progress(
            TextColumn("backtest"), BarColumn(), TextColumn("{task.percentage:>5.1f} %"),
            TimeElapsedColumn(), console=Console(stderr=True), transient=True,
        ) as progress:
            task = progress.add_task("backtest", total=1.0)

            def advance(first: int, done: int, last: int) -> None:
                span = max(last - first, 1)
                progress.update(task, completed=min(max(done - first, 0) / span, 1.0))

            yield advance

    return bar()


def _run(settings: BacktestSettings, store: MarketStore | str | os.PathLike[str],
         fees: FeeModel | None, slippage: SlippageModel | None, risk: RiskEngine | None,
         progress: Callable[[int, int, int], None] | None) -> ResearchResult:
    from tradeloom.research.backtest import run_backtest

    return run_backtest(
        settings.strategy,
        settings.symbols,
        settings.timeframe,
        settings.start,
        settings.end,
        settings.params,
        store,
        exchange=settings.exchange,
        initial_cash=settings.initial_cash,
        fees=fees,
        slippage=slippage,
        intrabar_rule=settings.broker.intrabar_rule,
        volume_share=settings.broker.volume_share,
        fee_asset=settings.broker.fee_asset_setting(),
        risk=risk,
        seed=settings.seed,
        progress=progress,
        market_rules=settings.broker.market_rules,
    )


__all__ = ["fee_and_slippage_models", "run_from_settings"]
