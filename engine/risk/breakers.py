"""Stateful circuit breakers of the ``RiskEngine``: daily loss, drawdown, loss streak, cooldowns, rates.

Each breaker is a small object fed by the engine's hooks with event time only
(never the wall clock), so the same object behaves the same in a backtest and
live. A breaker that trips returns the figures of the trip; the ``RiskEngine``
turns them into an event, refuses entries while it is tripped and resets it by
its configured rule (``next_day`` at the UTC day boundary, or ``manual``).

>>> from tradeloom.engine.risk.config import DailyLossConfig
>>> b = DailyLossBreaker(DailyLossConfig(limit_pct=0.05))
>>> b.observe(0, 1000.0) is None       # start-of-day equity 1000
True
>>> b.observe(1, 960.0) is None        # 4 % down: under the limit
True
>>> b.observe(2, 950.0)                # 5 % down: trips
{'start_equity': 1000.0, 'equity': 950.0, 'loss_pct': 0.05, 'limit_pct': 0.05}
>>> b.tripped
True
"""

from __future__ import annotations

from collections import deque
from typing import Any

from tradeloom.engine.risk.codes import RiskCode
from tradeloom.engine.risk.config import (
    ConsecutiveLossConfig,
    CooldownConfig,
    DailyLossConfig,
    DrawdownConfig,
)
from tradeloom.engine.timeframes import MS_PER_DAY

HOUR_MS = 3_600_000


def day_index(ts: int, start_hour_utc: int) -> int:
    """Index of the trading day containing ``ts`` when days start at ``start_hour_utc``.

    >>> day_index(86_400_000 - 1, 0), day_index(86_400_000, 0)
    (0, 1)
    >>> day_index(86_400_000 + 3 * HOUR_MS, 4)   # 03:00 on day 1 is still day 0 when days start at 04:00
    0
    """
    return (ts - start_hour_utc * HOUR_MS) // MS_PER_DAY


class Breaker:
    """Common state: tripped or not, since when, with which figures."""

    __slots__ = ("code", "config", "figures", "name", "since", "tripped")

    def __init__(
        self,
        name: str,
        code: RiskCode,
        config: DailyLossConfig | DrawdownConfig | ConsecutiveLossConfig,
    ) -> None:
        self.name = name
        self.code = code
        self.config = config
        self.tripped = False
        self.since: int | None = None
        self.figures: dict[str, Any] = {}

    @property
    def setting(self) -> str:
        return f"risk.{self.name}"

    def _trip(self, ts: int, figures: dict[str, Any]) -> dict[str, Any]:
        self.tripped = True
        self.since = ts
        self.figures = figures
        return figures

    def clear(self) -> None:
        """Reset to not tripped (subclasses also re-base their measure)."""
        self.tripped = False
        self.since = None
        self.figures = {}


class DailyLossBreaker(Breaker):
    """Loss from the start-of-day equity (the first equity seen in the day) reaching ``limit_pct``."""

    __slots__ = ("start_equity",)

    def __init__(self, config: DailyLossConfig) -> None:
        super().__init__("daily_loss", RiskCode.DAILY_LOSS, config)
        self.start_equity: float | None = None

    def new_day(self) -> None:
        """The day rolled over: the next equity seen becomes the start-of-day equity."""
        self.start_equity = None

    def observe(self, ts: int, equity: float) -> dict[str, Any] | None:
        if self.start_equity is None:
            self.start_equity = equity
        if self.tripped or self.start_equity <= 0:
            return None
        loss = (self.start_equity - equity) / self.start_equity
        limit = self.config.limit_pct  # type: ignore[union-attr]
        if loss >= limit - 1e-12:
            return self._trip(
                ts,
                {
                    "start_equity": self.start_equity,
                    "equity": equity,
                    "loss_pct": round(loss, 12),
                    "limit_pct": limit,
                },
            )
        return None


class DrawdownBreaker(Breaker):
    """Drawdown from the running equity peak reaching ``limit_pct``; a reset re-bases the peak."""

    __slots__ = ("peak",)

    def __init__(self, config: DrawdownConfig) -> None:
        super().__init__("max_drawdown", RiskCode.MAX_DRAWDOWN, config)
        self.peak: float | None = None

    def observe(self, ts: int, equity: float) -> dict[str, Any] | None:
        if self.peak is None or equity > self.peak:
            self.peak = equity
        if self.tripped or self.peak <= 0:
            return None
        dd = (self.peak - equity) / self.peak
        limit = self.config.limit_pct  # type: ignore[union-attr]
        if dd >= limit - 1e-12:
            return self._trip(
                ts,
                {
                    "peak_equity": self.peak,
                    "equity": equity,
                    "drawdown_pct": round(dd, 12),
                    "limit_pct": limit,
                },
            )
        return None

    def clear(self) -> None:
        super().clear()
        self.peak = None


class LossStreakBreaker(Breaker):
    """``limit`` losing round trips in a row; a winning (or break-even) one resets the count."""

    __slots__ = ("streak",)

    def __init__(self, config: ConsecutiveLossConfig) -> None:
        super().__init__("consecutive_losses", RiskCode.CONSECUTIVE_LOSSES, config)
        self.streak = 0

    def on_round_trip(self, ts: int, symbol: str, pnl: float) -> dict[str, Any] | None:
        self.streak = self.streak + 1 if pnl < 0 else 0
        limit = self.config.limit  # type: ignore[union-attr]
        if not self.tripped and self.streak >= limit:
            return self._trip(
                ts,
                {
                    "losses_in_a_row": self.streak,
                    "limit": limit,
                    "last_symbol": symbol,
                    "last_pnl": pnl,
                },
            )
        return None

    def clear(self) -> None:
        super().clear()
        self.streak = 0


class Cooldowns:
    """Per-symbol entry blocks after a loss or a stop-out, in bars of the symbol or in ms.

    In bars: entries stay refused until ``bars`` bars of the symbol have closed
    *after* the moment the loss was learnt (a bar closing at that same moment does
    not count: it is the bar whose step reported the fill).

    >>> from tradeloom.engine.risk.config import CooldownConfig
    >>> c = Cooldowns(CooldownConfig(bars=2))
    >>> c.start("BTC/USDT", ts=100)
    {'symbol': 'BTC/USDT', 'bars': 2}
    >>> c.on_bar("BTC/USDT", 100); c.on_bar("BTC/USDT", 200)
    >>> c.blocking("BTC/USDT", ts=200)
    '1 more bar(s)'
    >>> c.on_bar("BTC/USDT", 300); c.blocking("BTC/USDT", ts=300) is None
    True
    """

    __slots__ = ("_left", "_since", "config")

    def __init__(self, config: CooldownConfig) -> None:
        self.config = config
        self._since: dict[str, int] = {}  # symbol -> ts the cooldown started
        self._left: dict[str, int] = {}  # symbol -> bars (or ms deadline) left

    def triggered_by(self, loss: bool, stop: bool) -> bool:
        after = self.config.after
        return (loss and after != "stop") or (stop and after != "loss")

    def is_stop(self, tag: str) -> bool:
        return tag in self.config.stop_tags or tag.endswith(":sl")

    def start(self, symbol: str, ts: int) -> dict[str, Any]:
        self._since[symbol] = ts
        if self.config.bars is not None:
            self._left[symbol] = self.config.bars
            return {"symbol": symbol, "bars": self.config.bars}
        self._left[symbol] = ts + int(self.config.ms or 0)
        return {"symbol": symbol, "until_ts": self._left[symbol]}

    def on_bar(self, symbol: str, close_ts: int) -> None:
        """Count a closed bar of ``symbol`` (bar cooldowns only)."""
        if self.config.bars is not None and symbol in self._left and close_ts > self._since[symbol]:
            self._left[symbol] -= 1
            if self._left[symbol] <= 0:
                self.clear(symbol)

    def blocking(self, symbol: str, ts: int) -> str | None:
        """A description of what is left of the symbol's cooldown, or None when it is free."""
        left = self._left.get(symbol)
        if left is None:
            return None
        if self.config.bars is not None:
            return f"{left} more bar(s)"
        return f"{left - ts} more ms" if left > ts else None

    def clear(self, symbol: str | None = None) -> None:
        if symbol is None:
            self._since.clear()
            self._left.clear()
        else:
            self._since.pop(symbol, None)
            self._left.pop(symbol, None)


class RateWindow:
    """Count of events in the rolling window ``(ts - window_ms, ts]``.

    >>> w = RateWindow(HOUR_MS)
    >>> w.add(0); w.add(1_000)
    >>> w.count(HOUR_MS - 1), w.count(HOUR_MS + 500)
    (2, 1)
    """

    __slots__ = ("_times", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._times: deque[int] = deque()

    def count(self, ts: int) -> int:
        times = self._times
        while times and times[0] <= ts - self.window_ms:
            times.popleft()
        return len(times)

    def add(self, ts: int) -> None:
        self._times.append(ts)
