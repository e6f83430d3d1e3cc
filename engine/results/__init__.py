"""Results of a run: the ``BacktestResult`` and its frames, round-trip trades, metrics."""

from tradeloom.engine.results.result import BacktestResult, EquityCurve

__all__ = ["BacktestResult", "EquityCurve"]
