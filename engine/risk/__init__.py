"""The risk layer between every strategy and every broker: ``RiskEngine``, its
``RiskConfig``, reason codes, size limits, breakers and the gate the loop calls."""

from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.engine import RiskEngine

__all__ = ["RiskConfig", "RiskEngine"]
