"""What a strategy author uses: the ``Strategy`` base class, typed ``Param``s, the
``Context`` a strategy reads and acts through, and the bar history it may keep."""

from tradeloom.engine.strategy.base import Param, Strategy, StrategyError

__all__ = ["Param", "Strategy", "StrategyError"]
