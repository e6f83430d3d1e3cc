"""Balances of one emulated account: ``free`` and ``locked`` per asset, never negative.

Venue-neutral bookkeeping only: which asset pays a fee, when funds are locked and
how much a fill moves are venue rules and live in each venue's package. A move that
would drive a balance below zero raises :class:`WalletInvariantError`: that is an
emulator bug (the venue rules must have rejected the order first), never a client
error, so it must not be turned into an API answer.

>>> w = Wallet({"USDT": "100"})
>>> w.lock("USDT", dec("30")); w.free("USDT"), w.locked("USDT")
(Decimal('70'), Decimal('30'))
>>> w.spend_locked("USDT", dec("30")); w.credit("BTC", dec("0.001")); w.total("USDT")
Decimal('70')
>>> w.debit("BTC", dec("1"))
Traceback (most recent call last):
...
venues.common.wallet.WalletInvariantError: BTC free would become -0.999
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from venues.common.money import ZERO, Decimal, Number, dec


class WalletInvariantError(AssertionError):
    """A balance would go negative: the emulator broke its own venue rules."""


@dataclass(slots=True)
class _Row:
    free: Decimal = ZERO
    locked: Decimal = ZERO


class Wallet:
    """Free and locked amounts per asset (not thread-safe: callers hold the venue lock)."""

    def __init__(self, balances: Mapping[str, Number] | None = None) -> None:
        self._rows: dict[str, _Row] = {}
        for asset, amount in (balances or {}).items():
            self.set(asset, dec(amount))

    def assets(self) -> list[str]:
        """Every asset the account ever held, sorted."""
        return sorted(self._rows)

    def touch(self, assets: Iterable[str]) -> None:
        """Make sure ``assets`` are listed (at zero) in balance answers."""
        for asset in assets:
            self._rows.setdefault(asset, _Row())

    def free(self, asset: str) -> Decimal:
        return self._rows.get(asset, _Row()).free

    def locked(self, asset: str) -> Decimal:
        return self._rows.get(asset, _Row()).locked

    def total(self, asset: str) -> Decimal:
        row = self._rows.get(asset, _Row())
        return row.free + row.locked

    def set(self, asset: str, free: Decimal, locked: Decimal = ZERO) -> None:
        """Overwrite a balance (test set-up, a deposit)."""
        if free < 0 or locked < 0:
            raise ValueError(f"{asset}: balances cannot be negative ({free}, {locked})")
        self._rows[asset] = _Row(free, locked)

    def credit(self, asset: str, amount: Decimal) -> None:
        self._move(asset, free=amount)

    def debit(self, asset: str, amount: Decimal) -> None:
        self._move(asset, free=-amount)

    def lock(self, asset: str, amount: Decimal) -> None:
        self._move(asset, free=-amount, locked=amount)

    def unlock(self, asset: str, amount: Decimal) -> None:
        self._move(asset, free=amount, locked=-amount)

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        self._move(asset, locked=-amount)

    def _move(self, asset: str, free: Decimal = ZERO, locked: Decimal = ZERO) -> None:
        row = self._rows.setdefault(asset, _Row())
        new_free, new_locked = row.free + free, row.locked + locked
        if new_free < 0:
            raise WalletInvariantError(f"{asset} free would become {new_free}")
        if new_locked < 0:
            raise WalletInvariantError(f"{asset} locked would become {new_locked}")
        row.free, row.locked = new_free, new_locked
