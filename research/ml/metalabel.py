"""Meta-labeling: a primary rule proposes the trade, a secondary model decides and sizes it.

López de Prado, *Advances in Financial Machine Learning* (2018), ch. 3.6. The
primary model (here a simple, transparent rule) sets the *side*: go long or stay
out. The secondary model is trained only on the bars where the primary proposed a
long, with the label "did that long work out" (the configured label: the forward
return above its threshold, or the take-profit barrier first). Its calibrated
probability is then the confidence *in the primary's proposal*: the strategy takes
the trade when it is high enough and sizes the position by it.

Declared on the label (``LabelSpec(..., primary={"rule": "sma_cross", "params":
{"fast": 12, "slow": 48}})``, ``[label.primary]`` in a training config), so the
registry records which primary a model belongs to and the model cannot be used
with another:

- training: ``LabelSpec.compute`` leaves the label NaN where the primary proposes
  nothing, so those rows are dropped (``labels.align_training``);
- prediction: ``ConfidenceModel`` (batch and online alike) returns the model's
  probability where the primary is long and **0** elsewhere: no proposal, nothing
  to take. ``ConfidenceSized`` therefore trades a meta-labeled model unchanged.

Rules (causal: the side at bar t uses closes up to t, decided at t's close):

- ``sma_cross``: long while SMA(fast) > SMA(slow) of the close;
- ``momentum``: long while close > close ``lookback`` bars ago.

The batch side (numba indicators) and the streaming side (streaming indicators)
agree bit for bit, as every indicator does.

>>> import pandas as pd
>>> bars = pd.DataFrame({"ts": range(6), "close": [10.0, 11.0, 12.0, 11.0, 10.0, 9.0]})
>>> PrimarySpec("momentum", {"lookback": 2}).side(bars).tolist()
[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
>>> online = PrimarySpec("momentum", {"lookback": 2}).online()
>>> [online.update(c) for c in bars["close"]]
[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.indicators import registry as ind
from tradeloom.engine.indicators.base import check_period

__all__ = ["PRIMARY_RULES", "OnlineSide", "PrimarySpec"]

#: rule -> (parameter defaults)
PRIMARY_RULES: dict[str, dict[str, int]] = {
    "sma_cross": {"fast": 12, "slow": 48},
    "momentum": {"lookback": 24},
}


@dataclass(frozen=True)
class PrimarySpec:
    """A primary rule and its parameters (defaults filled, checked)."""

    rule: str
    params: Any = ()

    def __post_init__(self) -> None:
        if self.rule not in PRIMARY_RULES:
            raise ConfigError(f"primary rule {self.rule!r} is unknown; use one of "
                              f"{sorted(PRIMARY_RULES)}")
        given = dict(self.params.items() if isinstance(self.params, Mapping) else self.params)
        defaults = PRIMARY_RULES[self.rule]
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ConfigError(f"primary rule {self.rule!r} has no parameter(s) {unknown}; "
                              f"parameters: {sorted(defaults)}")
        full = {k: check_period(f"primary {self.rule}", k, given.get(k, v))
                for k, v in defaults.items()}
        if self.rule == "sma_cross" and full["fast"] >= full["slow"]:
            raise ConfigError(f"primary sma_cross: fast ({full['fast']}) must be below slow "
                              f"({full['slow']})")
        object.__setattr__(self, "params", tuple(sorted(full.items())))

    def spec(self) -> dict[str, Any]:
        """JSON-ready form (stored in the label spec)."""
        return {"rule": self.rule, "params": dict(self.params)}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> PrimarySpec:
        if "rule" not in spec or set(spec) - {"rule", "params"}:
            raise ConfigError(f"primary spec needs 'rule' (+ 'params'); got keys {sorted(spec)}")
        return cls(spec["rule"], spec.get("params", {}))

    @property
    def warmup(self) -> int:
        """Bars before the side can be 1."""
        p = dict(self.params)
        return p["slow"] - 1 if self.rule == "sma_cross" else p["lookback"]

    def side(self, bars: pd.DataFrame) -> np.ndarray:
        """1.0 where the primary is long at the bar's close, else 0.0 (one symbol's bars)."""
        if "close" not in bars.columns:
            raise DataError(f"primary {self.rule}: bars need a close column; they have "
                            f"{list(bars.columns)}")
        close = np.ascontiguousarray(bars["close"].to_numpy(dtype=np.float64))
        p = dict(self.params)
        with np.errstate(invalid="ignore"):
            if self.rule == "sma_cross":
                long = ind.sma(close, p["fast"]) > ind.sma(close, p["slow"])
            else:
                lag = np.full(close.size, np.nan)
                k = p["lookback"]
                lag[k:] = close[:-k] if close.size > k else lag[k:]
                long = close > lag
        return long.astype(np.float64)

    def online(self) -> OnlineSide:
        """A streaming twin of :meth:`side` for one symbol."""
        return OnlineSide(self)


class OnlineSide:
    """``update(close)`` -> the primary's side after this close (1.0 long, 0.0 out)."""

    __slots__ = ("_buf", "_fast", "_k", "_rule", "_slow")

    def __init__(self, spec: PrimarySpec) -> None:
        p = dict(spec.params)
        self._rule = spec.rule
        if spec.rule == "sma_cross":
            self._fast = ind.SMA(p["fast"])
            self._slow = ind.SMA(p["slow"])
        else:
            self._k = p["lookback"]
            self._buf: deque[float] = deque(maxlen=self._k + 1)

    def update(self, close: float) -> float:
        c = float(close)
        if self._rule == "sma_cross":
            f, s = self._fast.update(c), self._slow.update(c)
            return 1.0 if (not math.isnan(f) and not math.isnan(s) and f > s) else 0.0
        self._buf.append(c)
        if len(self._buf) <= self._k:
            return 0.0
        return 1.0 if c > self._buf[0] else 0.0
