"""Order, fill and bar values shared by the simulated and live brokers.

Orders are the one mutable domain object: their status moves through a small state
machine (``VALID_TRANSITIONS``) and every other change is made by the broker that
owns them. Bars and fills are immutable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from tradeloom.engine.errors import IllegalTransition, InvalidFill

#: The largest maker rebate a venue pays, as a fraction of the notional (a maker fee of
#: -1 %); fee models and broker settings refuse rates beyond it, ``Fill`` fees beyond it.
MAX_MAKER_REBATE = 0.01
_INF = math.inf


class Side(str, Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is _SIDE_BUY else -1

    @property
    def opposite(self) -> Side:
        return _SIDE_SELL if self is _SIDE_BUY else _SIDE_BUY


# Members bound once: ``Side.BUY`` is a lookup through the enum's metaclass (~70 ns).
_SIDE_BUY, _SIDE_SELL = Side.BUY, Side.SELL


class OrderType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"  # stop-market: becomes a market order when the stop price trades
    STOP_LIMIT = "stop_limit"  # becomes a limit order at ``price`` when ``stop_price`` trades
    TRAILING_STOP = "trailing_stop"  # stop that follows the best price by ``trail_amount``/``trail_pct``


class TimeInForce(str, Enum):
    GTC = "GTC"  # good till cancelled
    IOC = "IOC"  # fill what you can on the first bar it meets, cancel the rest
    FOK = "FOK"  # fill everything on the first bar it meets, or cancel


class OrderStatus(str, Enum):
    NEW = "new"  # created by the strategy, not yet accepted by a broker
    OPEN = "open"  # accepted and working (includes untriggered stops and held bracket legs)
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"  # IOC/FOK remainder or end of run

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})

VALID_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.OPEN, OrderStatus.REJECTED}),
    OrderStatus.OPEN: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}


_VALID = VALID_TRANSITIONS  # module-global alias read on the hot path
_OPEN_STATES = (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)


class Liquidity(str, Enum):
    MAKER = "maker"
    TAKER = "taker"


@dataclass(slots=True, eq=True)
class Order:
    """An order and its life so far.

    ``amount`` is always positive (base units); ``side`` gives the direction.
    ``quote_amount`` (MARKET buys only, ``amount`` then 0) spends that much quote
    currency *including* the fee, sized at the fill price: ``amount = quote_amount /
    (price * (1 + fee))`` truncated to the lot step. This is how "all-in" orders stay
    payable when the next open differs from the close the decision saw.
    ``price`` is the limit price (LIMIT, STOP_LIMIT); ``stop_price`` the trigger
    (STOP, STOP_LIMIT, TRAILING_STOP's current level). ``parent_id`` marks a
    contingent leg that activates when its parent fills (bracket); legs sharing an
    ``oco_group`` cancel each other when one fills.

    ``target_pct`` (MARKET orders on a perpetual, from ``ctx.target_percent``): the
    broker sizes the order at the fill so that the position reaches that signed fraction
    of the equity marked at the fill price (the rule is in ``engine.sim.perp_funds``);
    ``amount`` is then the estimate made at the decision, which the risk gate sees.
    """

    id: int
    symbol: str
    side: Side
    type: OrderType
    amount: float
    created_ts: int
    price: float | None = None
    quote_amount: float | None = None
    stop_price: float | None = None
    trail_amount: float | None = None
    trail_pct: float | None = None
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    client_id: str = ""
    tag: str = ""
    strategy_id: str = ""
    parent_id: int | None = None
    oco_group: int | None = None
    status: OrderStatus = OrderStatus.NEW
    filled: float = 0.0
    avg_price: float = 0.0
    fee: float = 0.0
    triggered: bool = False
    updated_ts: int = 0
    reason: str = ""
    history: list[tuple[int, str]] = field(default_factory=list)
    target_pct: float | None = None

    @property
    def remaining(self) -> float:
        return self.amount - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in _OPEN_STATES

    def transition(self, new: OrderStatus, ts: int, reason: str = "") -> None:
        """Move to ``new`` if the state machine allows it, else raise ``IllegalTransition``."""
        if new not in _VALID[self.status]:
            raise IllegalTransition(
                f"order {self.id} ({self.symbol} {self.side.value} {self.type.value}): "
                f"cannot go from {self.status.value} to {new.value}"
            )
        self.status = new
        self.updated_ts = ts
        if reason:
            self.reason = reason
        # ``_value_`` is the member's value itself (the ``value`` property returns it through a
        # Python-level descriptor call: one per transition, two per order at least).
        self.history.append((ts, new._value_))


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: ``amount`` base units at ``price``, and the fee it paid.

    ``fee`` is the fee valued in the quote currency: what PnL, ``fees_paid`` and the
    reports count. ``fee_currency`` is the currency the venue charged it in (``""``,
    the default, means the quote currency) and ``fee_cost`` the amount charged in that
    currency (ignored for ``""``). A fee in the base currency changes the holding: a
    buy of ``amount`` adds ``amount - fee_cost`` (``base_change``); a fee in a third
    asset (BNB) is debited from that asset and valued at its price (see
    ``accounting.portfolio``).

    A fill cannot exist with impossible values (``InvalidFill`` names the field, the
    value and the fill): the price is finite and >= 0, the amount finite and > 0, the
    fee finite and >= 0 except a maker rebate (a maker fill's negative fee, at most
    ``MAX_MAKER_REBATE`` of the notional); ``fee_cost`` likewise finite, and negative
    only for a maker.

    >>> Fill(7, "BTC/USDT", Side.BUY, 0, 100.0, float("nan"), 0.1, Liquidity.TAKER)
    Traceback (most recent call last):
    ...
    tradeloom.engine.errors.InvalidFill: fill of order 7 (BTC/USDT buy at ts 0): amount nan is not a finite number > 0; the exchange's report (or the fill model) is wrong
    >>> Fill(7, "BTC/USDT", Side.BUY, 0, 100.0, 2.0, -0.02, Liquidity.MAKER).fee  # a rebate
    -0.02
    >>> Fill(8, "BTC/USDT", Side.BUY, 0, 30000.0, 0.01, 0.3, Liquidity.TAKER,
    ...      fee_currency="BTC", fee_cost=0.00001).base_change()
    0.00999
    """

    order_id: int
    symbol: str
    side: Side
    ts: int
    price: float
    amount: float
    fee: float
    liquidity: Liquidity
    client_id: str = ""
    tag: str = ""
    strategy_id: str = ""
    fee_currency: str = ""
    fee_cost: float = 0.0

    def __post_init__(self) -> None:
        price, amount, fee = self.price, self.amount, self.fee
        if 0.0 <= price < _INF and 0.0 < amount < _INF and 0.0 <= fee < _INF and (
            not self.fee_currency or 0.0 <= self.fee_cost < _INF
        ):
            return  # the common case in one chain of comparisons (NaN fails every one)
        problem = _fill_problem(price, amount, fee, self.liquidity)
        if not problem and self.fee_currency:
            problem = _fee_cost_problem(self.fee_cost, self.fee_currency, self.liquidity)
        if problem:
            raise InvalidFill(
                f"fill of order {self.order_id} ({self.symbol} {Side(self.side).value} at ts "
                f"{self.ts}): "
                f"{problem}; the exchange's report (or the fill model) is wrong"
            )

    @property
    def notional(self) -> float:
        return self.price * self.amount

    def base_fee(self) -> float:
        """The part of the fee charged in the symbol's base currency (0.0 otherwise)."""
        currency = self.fee_currency
        if currency and currency == self.symbol.partition("/")[0]:
            return self.fee_cost
        return 0.0

    def base_change(self) -> float:
        """Signed change of the base holding: ``+amount`` for a buy and ``-amount`` for a
        sell, less a fee charged in the base currency."""
        if Side(self.side) is _SIDE_BUY:
            return self.amount - self.base_fee()
        return -(self.amount + self.base_fee())


def _fill_init(
    self: Fill,
    order_id: int,
    symbol: str,
    side: Side,
    ts: int,
    price: float,
    amount: float,
    fee: float,
    liquidity: Liquidity,
    client_id: str = "",
    tag: str = "",
    strategy_id: str = "",
    fee_currency: str = "",
    fee_cost: float = 0.0,
) -> None:
    """``Fill.__init__``: the dataclass's own, with each field stored through its slot's
    setter instead of ``object.__setattr__(self, name, value)`` (how a frozen dataclass
    stores them: a call that looks the name up, per field), which made a fill cost three
    times an ``Order``; then ``__post_init__`` checks the values, as before. The instance
    stays frozen: assigning an attribute still raises ``FrozenInstanceError``."""
    _set_order_id(self, order_id)
    _set_symbol(self, symbol)
    _set_side(self, side)
    _set_ts(self, ts)
    _set_price(self, price)
    _set_amount(self, amount)
    _set_fee(self, fee)
    _set_liquidity(self, liquidity)
    _set_client_id(self, client_id)
    _set_tag(self, tag)
    _set_strategy_id(self, strategy_id)
    _set_fee_currency(self, fee_currency)
    _set_fee_cost(self, fee_cost)
    self.__post_init__()


_FILL_FIELDS = tuple(Fill.__dataclass_fields__)
if _FILL_FIELDS != _fill_init.__code__.co_varnames[1:1 + len(_FILL_FIELDS)]:
    # A field added, removed or moved in Fill must be stored by _fill_init too.
    raise TypeError(f"Fill's fields {_FILL_FIELDS} differ from _fill_init's parameters")
(_set_order_id, _set_symbol, _set_side, _set_ts, _set_price, _set_amount, _set_fee,
 _set_liquidity, _set_client_id, _set_tag, _set_strategy_id, _set_fee_currency,
 _set_fee_cost) = (getattr(Fill, name).__set__ for name in _FILL_FIELDS)
_fill_init.__qualname__ = "Fill.__init__"
Fill.__init__ = _fill_init  # type: ignore[method-assign]


def _fee_cost_problem(cost: float, currency: str, liquidity: Liquidity) -> str:
    """What is impossible about a fee charged in ``currency`` ("" when nothing is)."""
    if not math.isfinite(cost):
        return f"fee_cost {cost!r} {currency} is not a finite number"
    if cost < 0.0 and Liquidity(liquidity) is not Liquidity.MAKER:
        return (f"fee_cost {cost!r} {currency} is negative on a {Liquidity(liquidity).value} "
                "fill (only makers get rebates)")
    return ""


def _fill_problem(price: float, amount: float, fee: float, liquidity: Liquidity) -> str:
    """What is impossible about a fill's figures ("" when nothing is)."""
    if not (math.isfinite(price) and price >= 0.0):
        return f"price {price!r} is not a finite number >= 0"
    if not (math.isfinite(amount) and amount > 0.0):
        return f"amount {amount!r} is not a finite number > 0"
    if not math.isfinite(fee):
        return f"fee {fee!r} is not a finite number"
    if fee < 0.0:
        if Liquidity(liquidity) is not Liquidity.MAKER:
            return (f"fee {fee!r} is negative on a {Liquidity(liquidity).value} fill (only "
                    "makers get rebates)")
        notional = price * amount
        if fee < -MAX_MAKER_REBATE * notional * (1.0 + 1e-9):
            return (f"fee {fee!r} is a rebate of more than {MAX_MAKER_REBATE:.0%} of the "
                    f"notional {notional!r}")
    return ""


class Bar(NamedTuple):
    """One OHLCV bar. ``ts`` is the open time; the bar is known only at ``close_ts``.

    A NamedTuple rather than a frozen dataclass: it is built once per bar on the hot
    path and costs a quarter as much. Bars are validated in bulk when data is loaded
    (see the store's checks), not one by one here.
    """

    symbol: str
    ts: int
    close_ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float
