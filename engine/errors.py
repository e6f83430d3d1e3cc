"""One small exception hierarchy, sorted by what the user or operator does next.

- ``ConfigError``: a setting is wrong; fix the config and re-run.
- ``DataError``: input data is malformed or missing; fix or re-import it.
- ``StrategyError``: user strategy code failed to import, validate or run.
- ``OrderError``: an order was invalid for the market (precision, minimums,
  bad state transition); the order is refused, the run goes on.
- ``ExchangeError``: the outside world failed. ``TransientExchangeError`` may be
  retried with backoff; every other subclass stops and needs a person.

Every message names the file/row/field/setting involved and what to do.
"""

from __future__ import annotations


class TradeloomError(Exception):
    """Base of every error tradeloom raises on purpose."""


class ConfigError(TradeloomError):
    """A configuration value is invalid; the message names the file and field path."""


class DataError(TradeloomError):
    """Market data is malformed, missing or inconsistent; the message names where."""


class StrategyError(TradeloomError):
    """A strategy could not be imported, parameterised or run."""


class OrderError(TradeloomError):
    """An order is invalid for its market or its current state."""


class InvalidOrder(OrderError):
    """The order breaks a market rule (min amount/notional, precision, post-only...)."""


class IllegalTransition(OrderError):
    """An order was asked to move to a state its state machine does not allow."""


class ExchangeError(TradeloomError):
    """An exchange (or its emulator) failed or refused a request."""


class TransientExchangeError(ExchangeError):
    """Network trouble, rate limits, 5xx: safe to retry with backoff."""


class ExchangeAuthenticationError(ExchangeError):
    """Credentials were refused; trading stops until they are fixed."""


class InsufficientFunds(ExchangeError):
    """The account cannot pay for the order; trading stops with a clear message."""


class VenueSettingRefused(ExchangeError):
    """The venue refused an account setting a session needs (a perpetual's leverage or
    margin mode): the session does not start; the message names the symbol, the setting
    and the venue's answer."""


class InvalidFill(DataError):
    """A fill's price, amount or fee is impossible: the exchange's report (or a fill
    model) is wrong, and booking it would corrupt the account."""


class UnknownSymbol(DataError):
    """A symbol is not known to the exchange or the store."""
