"""The one clock: the wall clock in production, a manual clock in tests.

Everything outside the engine that needs the time or a wait takes a :class:`Clock`:
the live runner and its feeds, the alert router, the retrain schedule, the status
publisher, the CLI commands that stamp audit entries and deployments. The engine
never reads a clock (bars carry their own time), which is why this module sits at
the adapters level: low enough for adapters, research and the CLI, above the pure
engine.

Why an injectable clock: the runner waits for bar closes (an hour for 1h bars) and
the schedule for cron times (a day); with :class:`ManualClock` a test advances time
instantly and deterministically (and can move an exchange emulator's clock along
with it), so no test ever waits for a real bar.

Latency measurements (``stage_timing``) use ``time.perf_counter_ns`` directly:
they measure this process's work, not market time.

>>> import asyncio
>>> clock = ManualClock(1_000)
>>> seen = []
>>> clock.on_advance(seen.append)
>>> asyncio.run(clock.sleep(2.5))
>>> clock.sleep_sync(0.5)
>>> clock.now_ms(), seen
(4000, [3500, 4000])
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Where time and waits come from."""

    def now_ms(self) -> int:
        """Local time, UTC epoch milliseconds."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (never negative) in asyncio code."""

    def sleep_sync(self, seconds: float) -> None:
        """Wait ``seconds`` (never negative), blocking: for loops outside asyncio."""


class SystemClock:
    """The machine's clock, ``asyncio.sleep`` and ``time.sleep``."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def sleep_sync(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when slept on (tests): ``sleep(s)`` jumps ``s`` seconds.

    ``on_advance(fn)`` calls ``fn(now_ms)`` after every jump, e.g. to set an exchange
    emulator's clock so exchange time and local time move together. ``sleep`` yields
    to the event loop once, so other tasks still run.
    """

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)
        self._hooks: list[Callable[[int], None]] = []

    def now_ms(self) -> int:
        return self._now

    def on_advance(self, hook: Callable[[int], None]) -> None:
        self._hooks.append(hook)

    def set(self, now_ms: int) -> None:
        """Jump to ``now_ms`` (forward only) and run the hooks."""
        if now_ms < self._now:
            raise ValueError(f"ManualClock cannot go back from {self._now} to {now_ms}")
        self._now = int(now_ms)
        for hook in self._hooks:
            hook(self._now)

    async def sleep(self, seconds: float) -> None:
        self.sleep_sync(seconds)
        await asyncio.sleep(0)

    def sleep_sync(self, seconds: float) -> None:
        self.set(self._now + max(0, round(seconds * 1000)))


__all__ = ["Clock", "ManualClock", "SystemClock"]
