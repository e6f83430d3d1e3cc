"""Helpers for tests that drive the real ccxt client against the venue emulators.

>>> D(0.00999), D("1.50")
(Decimal('0.00999'), Decimal('1.50'))
>>> floor_step(D("0.01232766"), D("0.00001"))
Decimal('0.01232')
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

#: Credentials of the emulated accounts the scenario tests use.
API_KEY, SECRET, PASSPHRASE = "venue-test-key", "venue-test-secret", "venue-test-pass"


def D(value: Any) -> Decimal:  # noqa: N802 - reads like a literal in arithmetic tables
    """A Decimal from ccxt's float (via its shortest text) or from text."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def floor_step(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step``."""
    return ((value / step).to_integral_value(rounding=ROUND_DOWN) * step).quantize(step)


def free(balance: dict[str, Any], asset: str) -> Decimal:
    """ccxt ``fetch_balance()[asset]['free']`` as a Decimal (0 when absent)."""
    entry = balance.get(asset) or {}
    return D(entry.get("free") or 0)


def total(balance: dict[str, Any], asset: str) -> Decimal:
    entry = balance.get(asset) or {}
    return D(entry.get("total") or 0)


def sellable(client: Any, symbol: str) -> tuple[Decimal, Decimal]:
    """(amount to sell, dust left): the free base balance floored to the market's
    amount step, and what the floor leaves behind."""
    market = client.market(symbol)
    held = free(client.fetch_balance(), market["base"])
    amount = floor_step(held, D(market["precision"]["amount"]))
    return amount, held - amount


async def until(predicate: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Yield to the loop until ``predicate()`` holds (polling every millisecond)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.001)
