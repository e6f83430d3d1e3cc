"""Example strategies: the users' first templates (each module's docstring explains it)."""

from .breakout_bracket import BreakoutBracket
from .momentum_rotation import MomentumRotation
from .rsi_reversion import RsiReversion
from .sma_cross import SmaCross

__all__ = ["BreakoutBracket", "MomentumRotation", "RsiReversion", "SmaCross"]
