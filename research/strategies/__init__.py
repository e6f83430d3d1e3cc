"""Example strategies: the users' first templates (each module's docstring explains it)."""

from tradeloom.research.strategies.breakout_bracket import BreakoutBracket
from tradeloom.research.strategies.funding_carry import FundingCarry
from tradeloom.research.strategies.long_short import LongShortMomentum
from tradeloom.research.strategies.momentum_rotation import MomentumRotation
from tradeloom.research.strategies.rsi_reversion import RsiReversion
from tradeloom.research.strategies.sma_cross import SmaCross
from tradeloom.research.strategies.trend_filter import TrendFilter

__all__ = ["BreakoutBracket", "FundingCarry", "LongShortMomentum", "MomentumRotation", "RsiReversion", "SmaCross", "TrendFilter"]
