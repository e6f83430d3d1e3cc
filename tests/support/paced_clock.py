"""A manual clock that also takes wall time, and an async wait-until, for sessions a
browser or a second process looks at while they run (status page, ops end to end)."""

from __future__ import annotations

import asyncio
import time

from tradeloom.adapters.clock import ManualClock


class PacedClock(ManualClock):
    """A ``ManualClock`` whose every sleep also takes ``real_s`` of wall time, so an hourly
    session advances about 1/real_s bars a second: running long enough to be looked at,
    with wall-clock event ages a healthy runner has."""

    def __init__(self, start_ms: int, real_s: float) -> None:
        super().__init__(start_ms)
        self.real_s = real_s

    async def sleep(self, seconds: float) -> None:
        self.set(self.now_ms() + max(0, round(seconds * 1000)))
        await asyncio.sleep(self.real_s)


async def _until(predicate, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
