"""A paper session of a portfolio of strategies (two [[sleeve]]s sharing one account)
against the emulator: each sleeve trades its own symbol with orders carrying its id, the
session's risk engine holds the sleeves' budgets, and the journal replays with no
divergence."""

from __future__ import annotations

from runner_helpers import run_paper

from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.replay import replay
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.research.portfolio import PORTFOLIO_REF, StrategyPortfolio

SLEEVES = [
    {"id": "trend", "strategy": "tradeloom.research.strategies.sma_cross:SmaCross",
     "params": {"fast": 3, "slow": 8}, "symbols": ["BTC/USDT"], "budget_pct": 0.5},
    {"id": "reversion", "strategy": "tradeloom.research.strategies.rsi_reversion:RsiReversion",
     "params": {"period": 5, "oversold": 35.0, "exit_level": 55.0}, "symbols": ["ETH/USDT"],
     "budget_pct": 0.4},
]


def test_paper_runs_a_portfolio_of_sleeves_and_replays_equal(emulator, tmp_path):
    session, summary = run_paper(emulator, tmp_path, start=300, bars=150, strategy=None,
                                 params={}, symbols=[], sleeve=SLEEVES)
    records = read_journal(session.journal_path)
    info = next(r.payload for r in records if r.kind == "session")
    assert info["strategy"] == PORTFOLIO_REF and info["symbols"] == ["BTC/USDT", "ETH/USDT"]
    assert info["risk"]["strategy_budgets"] == {"reversion": 0.4, "trend": 0.5}
    orders = session.runner.engine.orders
    by_sleeve = {(o.strategy_id, o.symbol) for o in orders}
    assert by_sleeve == {("trend", "BTC/USDT"), ("reversion", "ETH/USDT")}
    first = orders[0]  # all-in within its sleeve: the sleeve's budget of 10,000, fee included
    assert first.quote_amount == {"trend": 5_000.0, "reversion": 4_000.0}[first.strategy_id]
    report = replay(session.journal_path, StrategyPortfolio(**info["params"]),
                    RiskConfig.model_validate(info["risk"]))
    assert report.ok and report.total_divergences == 0
    assert len([r for r in records if r.kind == "submit"]) == len(orders) >= 4
