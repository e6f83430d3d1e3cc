"""The account: cash in one quote currency, spot holdings, perpetual positions, PnL, fees.

Perpetual swaps (markets with contract terms) are booked by ``accounting.perps``
(net long/short positions, margin, funding, liquidation); what follows is spot.

Accounting, applied once per fill. ``fill.fee`` is the fee valued in the quote
currency; ``fill.fee_currency`` says which balance pays it (``engine.orders.Fill``):

- **fee in the quote currency** (``""`` or the quote, e.g. Coinbase):
  buy ``cash -= price * amount + fee`` (the broker's cost expression, so its
  affordability check and this balance agree to the last bit); sell
  ``cash += price * amount - fee``;
- **fee in the base currency** (``fee_side = "get"`` buys on Binance/OKX/Bybit, or
  ``base``/``give`` markets): the holding moves by ``fill.base_change()`` (a buy of
  0.01 BTC with a 0.00001 BTC fee adds 0.00999 BTC) and cash by the notional only;
- **fee in a third asset** (BNB, when the account pays fees with it): cash and the
  holding move by the notional and the amount; the fee asset's holding is debited
  ``fee_cost``. The fee asset is a position like any other when the run trades its
  market (``BNB/USDT``), else a *fee-only holding* (live only), marked at the last
  valuation rate the broker reported.

Average entry is the volume-weighted cost of the holding: a fill adds what it cost net
of its fee (``price * amount - fee`` for a base-fee buy, so the fee counts once). A
sell realizes ``(price - avg_entry) * sold``, where ``sold`` includes a base fee; a
fee paid from a third asset realizes that asset's ``value - avg_entry * cost``. So
at every step ``equity = cash + sum(holding * mark)`` over every held asset and
``realized + unrealized - fees_paid == equity - initial_cash`` (up to float
rounding), where ``unrealized = sum(holding * (mark - avg_entry))``. Realized PnL is
gross of fees; fees are counted once, in ``fees_paid``.

**Dust.** With the run's markets given, a sell that leaves a holding no order could
sell (``MarketSpec.is_dust`` at the fill price: under the lot step, the minimum
amount or the minimum notional) is a dust candidate in ``dust_reports``; the engine
confirms it when the order had asked to sell the whole holding (an exit, not a
deliberate partial reduce) and calls ``set_dust`` (and reports a ``dust`` event). A
dust holding stays in the balances and in equity, but ``position()`` answers 0.0 and
``positions()`` leaves it out: the strategy sees a flat position and never retries an
exit the venue would refuse. The next buy merges it back (the whole holding is then
a position again). A fee-only holding is never a position either.

A fill that would leave a negative balance raises ``NegativeBalance``: the broker
is supposed to have refused it, so this is a bug to report, never to round away.

>>> p = Portfolio(1000.0, "USDT")
>>> from tradeloom.engine.orders import Liquidity
>>> p.apply_fill(Fill(1, "BTC/USDT", Side.BUY, 0, 100.0, 5.0, 0.5, Liquidity.TAKER))
>>> p.cash, p.position("BTC/USDT"), p.free("BTC")
(499.5, 5.0, 5.0)
>>> p.set_mark("BTC/USDT", 110.0)
>>> p.equity(), p.unrealized_pnl()
(1049.5, 50.0)
>>> p.apply_fill(Fill(2, "BTC/USDT", Side.SELL, 1, 120.0, 2.0, 0.24, Liquidity.TAKER))
>>> p.realized_pnl, round(p.fees_paid, 2)
(40.0, 0.74)

A fee charged in the coin bought (Binance spot), then an exit that leaves dust:

>>> spec = MarketSpec("BTC/USDT", lot_step=0.00001, min_notional=5.0, fee_side="get")
>>> q = Portfolio(1000.0, "USDT", markets={"BTC/USDT": spec})
>>> q.apply_fill(Fill(1, "BTC/USDT", Side.BUY, 0, 30000.0, 0.01234, 0.3702, Liquidity.TAKER,
...                   fee_currency="BTC", fee_cost=0.00001234))
>>> round(q.position("BTC/USDT"), 8), q.cash
(0.01232766, 629.8)
>>> q.apply_fill(Fill(2, "BTC/USDT", Side.SELL, 1, 30000.0, 0.01232, 0.3696, Liquidity.TAKER,
...                   fee_currency="USDT", fee_cost=0.3696))
>>> [round(a, 8) for _, a in q.dust_reports]  # a candidate: the engine checks the order
[7.66e-06]
>>> round(q.set_dust("BTC/USDT"), 8), q.position("BTC/USDT"), round(q.free("BTC"), 8)
(7.66e-06, 0.0, 7.66e-06)
"""

from __future__ import annotations

import math
from collections.abc import KeysView, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from tradeloom.engine.accounting.perps import PERP_VALUE_KEY, PerpAccount
from tradeloom.engine.errors import ConfigError, InsufficientFunds
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Side

#: A fill may overshoot a balance by this much, relative to its size (float rounding
#: of ``quote / (price * (1 + fee))``); the balance then becomes exactly zero. Positive
#: dust is never rounded away: the broker sells exactly the free balance on a full exit.
REL_TOLERANCE = 1e-9
_BUY = Side.BUY


class NegativeBalance(InsufficientFunds):
    """A fill would leave a negative cash or base balance (a broker bug: it must refuse)."""


@dataclass(slots=True)
class Position:
    """Holding of one symbol's base asset (spot: never negative).

    ``hidden`` holdings are in the balances and in equity but not a position the
    strategy sees: ``dust`` (unsellable, see the module docstring) or ``fee_only``
    (a fee asset held to pay fees, not a market of the run).
    """

    symbol: str
    amount: float = 0.0
    avg_entry: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0
    dust: bool = False
    fee_only: bool = False
    hidden: bool = False
    listed: int = 0  # which list holds it: 0 none (flat), 1 ``_held``, 2 ``_hidden``


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """Balances at one instant (used by tests and reports)."""

    cash: float
    equity: float
    positions: tuple[tuple[str, float], ...]
    realized_pnl: float
    unrealized_pnl: float
    fees_paid: float


class StepView(NamedTuple):
    """The engine step's declared fast interface to a portfolio (``Portfolio.step_view``).

    ``marks`` is the portfolio's own mark table: the step writes each bar's close into
    it, exactly as ``set_mark`` would, without a method call per bar. ``held`` is the
    list of non-zero positions and ``hidden`` that of the other holdings (dust, fee-only
    assets: part of equity, not of exposure); the step reads whether each is empty.
    All three objects live as long as the portfolio and are updated in place, never
    replaced.
    """

    marks: dict[str, float]
    held: list[Position]
    hidden: list[Position]


class Portfolio(PerpAccount):
    """Cash, positions, marks and PnL of one account in one quote currency.

    Implements the broker's ``AccountView`` (``free(asset)``): the quote currency
    answers with cash (with perpetuals open: the available balance, see
    ``accounting.perps``), a base asset with its whole holding (dust included).
    ``markets`` (the run's ``MarketSpec``s) turn on dust detection and declare which
    symbols are perpetuals.
    """

    __slots__ = (
        "_by_base",
        "_held",
        "_hidden",
        "_marks",
        "_perp_held",
        "_perp_value",
        "_perps",
        "_positions",
        "_specs",
        "cash",
        "dust_reports",
        "fees_paid",
        "funding",
        "funding_net",
        "initial_cash",
        "quote",
        "realized_pnl",
    )

    def __init__(self, initial_cash: float, quote: str = "USDT", *,
                 markets: Mapping[str, MarketSpec] | None = None) -> None:
        if not (math.isfinite(initial_cash) and initial_cash >= 0):
            raise ConfigError(f"initial_cash must be a finite number >= 0, got {initial_cash}")
        self.initial_cash = float(initial_cash)
        self.quote = quote
        self.cash = float(initial_cash)
        self.fees_paid = 0.0
        self.realized_pnl = 0.0
        self._positions: dict[str, Position] = {}
        self._by_base: dict[str, str] = {}
        self._marks: dict[str, float] = {}
        self._specs: dict[str, MarketSpec] = dict(markets or {})
        # Symbols with a non-zero position, in first-bought order (deterministic), and the
        # non-zero holdings the strategy does not see (dust, fee-only), in the same order.
        self._held: list[Position] = []
        self._hidden: list[Position] = []
        #: ``(fill, amount)`` for each sell fill that left an unsellable remainder,
        #: oldest first: dust candidates the engine confirms (``set_dust``) or drops,
        #: emptying the list after booking fills.
        self.dust_reports: list[tuple[Fill, float]] = []
        self._init_perps(self._specs)

    # -- AccountView -------------------------------------------------------------

    def free(self, asset: str) -> float:
        """Balance of ``asset``: cash for the quote currency (the available balance
        while perpetuals are open), else the whole holding."""
        if asset == self.quote:
            return self.cash if not self._perp_held else self.available()
        symbol = self._by_base.get(asset)
        return self._positions[symbol].amount if symbol is not None else 0.0

    # -- queries ---------------------------------------------------------------

    def perp_symbols(self) -> KeysView[str]:
        """The perpetual symbols as a live view: ``symbol in view`` is ``is_perp(symbol)``
        without a call (order entry asks it once per target)."""
        return self._perps.keys()

    def position(self, symbol: str) -> float:
        """Base units held as a position; 0.0 when flat, for dust and fee-only holdings;
        a perpetual's signed quantity (negative: short)."""
        pos = self._positions.get(symbol)
        if pos is None:
            perp = self._perps.get(symbol)
            return perp.qty if perp is not None else 0.0
        return pos.amount if not pos.hidden else 0.0

    def holding(self, symbol: str) -> float:
        """Base units of ``symbol`` held, whatever they are (dust and fee-only included)."""
        pos = self._positions.get(symbol)
        return pos.amount if pos is not None else 0.0

    def is_dust(self, symbol: str) -> bool:
        """True when what ``symbol``'s base holding is was reported as dust."""
        pos = self._positions.get(symbol)
        return pos is not None and pos.dust and pos.amount > 0.0

    def avg_entry(self, symbol: str) -> float:
        pos = self._positions.get(symbol)
        if pos is None:
            pos = self._perps.get(symbol)  # type: ignore[assignment]
        return pos.avg_entry if pos is not None else 0.0

    def get(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    def positions(self) -> dict[str, float]:
        """Non-zero positions by symbol, in the order they were first opened (dust and
        fee-only holdings are balances, not positions: see ``holdings``); perpetuals
        signed (negative: short)."""
        if self._perp_held:
            return {p.symbol: getattr(p, "qty", p.amount) for p in self._held}
        return {p.symbol: p.amount for p in self._held}

    def holdings(self) -> dict[str, float]:
        """Every non-zero holding by symbol (positions, dust, fee-only holdings;
        perpetual positions signed)."""
        held = self.positions()
        held.update((p.symbol, p.amount) for p in self._hidden if p.symbol != PERP_VALUE_KEY)
        return held

    def mark(self, symbol: str) -> float:
        """Last mark (close) seen for ``symbol``; NaN before the first bar."""
        return self._marks.get(symbol, math.nan)

    def marks(self) -> dict[str, float]:
        marks = dict(self._marks)
        marks.pop(PERP_VALUE_KEY, None)
        return marks

    def set_mark(self, symbol: str, price: float) -> None:
        self._marks[symbol] = price
        if self._perp_held and symbol in self._perps:
            self.refresh_perp_value()

    def step_view(self) -> StepView:
        """The mark table and the held positions, for the engine's per-bar step (see
        ``StepView``); everyone else uses ``set_mark``/``positions()``."""
        return StepView(self._marks, self._held, self._hidden)

    def position_value(self) -> float:
        """Sum of ``position * mark`` over the positions (the gross exposure, spot)."""
        marks = self._marks
        value = 0.0
        for p in self._held:
            value += p.amount * marks[p.symbol]
        return value

    def hidden_value(self) -> float:
        """Sum of ``holding * mark`` over dust and fee-only holdings (equity, not exposure)."""
        marks = self._marks
        value = 0.0
        for p in self._hidden:
            value += p.amount * marks[p.symbol]
        return value

    def equity(self) -> float:
        """``cash + sum(holding * mark)`` over every held asset: positions, then dust and
        fee-only holdings."""
        if self._hidden:
            return (self.cash + self.position_value()) + self.hidden_value()
        if not self._held:
            return self.cash
        return self.cash + self.position_value()

    def unrealized_pnl(self) -> float:
        """Spot holdings' ``amount * (mark - avg_entry)`` plus the perpetuals' ``qty *
        (mark - entry)``."""
        marks = self._marks
        spot = sum(p.amount * (marks[p.symbol] - p.avg_entry)
                   for p in (*self._held, *self._hidden)
                   if p.symbol not in self._perps and p.symbol != PERP_VALUE_KEY)
        return spot + self.perp_unrealized() if self._perp_held else spot

    def snapshot(self) -> PortfolioSnapshot:
        return PortfolioSnapshot(
            cash=self.cash,
            equity=self.equity(),
            positions=tuple(self.holdings().items()),
            realized_pnl=self.realized_pnl,
            unrealized_pnl=self.unrealized_pnl(),
            fees_paid=self.fees_paid,
        )

    # -- updates ---------------------------------------------------------------

    def _position_for(self, symbol: str) -> Position:
        pos = self._positions.get(symbol)
        if pos is None:
            base, _, rest = symbol.partition("/")
            quote = rest.split(":")[0]
            if quote != self.quote:
                raise ConfigError(
                    f"symbol {symbol} is quoted in {quote!r} but the portfolio's quote "
                    f"currency is {self.quote!r}; set quote_currency to {quote!r} or trade "
                    f"a {base}/{self.quote} market"
                )
            pos = Position(symbol)
            self._positions[symbol] = pos
            self._by_base[base] = symbol
        return pos

    def hold_fee_asset(self, asset: str, amount: float, price: float) -> None:
        """Hold ``amount`` of a fee asset that is not a market of the run (live: BNB to
        pay fees with), marked at ``price`` quote units; cash unchanged."""
        if not (math.isfinite(amount) and amount >= 0 and math.isfinite(price) and price > 0):
            raise ConfigError(f"fee asset {asset}: amount {amount} and price {price} must be "
                              "finite, the amount >= 0 and the price > 0")
        symbol = f"{asset}/{self.quote}"
        pos = self._position_for(symbol)
        pos.fee_only = pos.hidden = True
        pos.avg_entry = (pos.avg_entry * pos.amount + price * amount) / (pos.amount + amount) \
            if pos.amount + amount > 0 else 0.0
        pos.amount += amount
        self._marks[symbol] = price
        self._relist(pos)

    def _relist(self, pos: Position) -> None:
        """Put ``pos`` in the list its amount and visibility call for (see ``StepView``)."""
        want = 0 if pos.amount == 0.0 else (2 if pos.hidden else 1)
        if want == pos.listed:
            return
        if pos.listed == 1:
            self._held.remove(pos)
        elif pos.listed == 2:
            self._hidden.remove(pos)
        if want == 1:
            self._held.append(pos)
        elif want == 2:
            self._hidden.append(pos)
        pos.listed = want

    def apply_fill(self, fill: Fill) -> None:
        """Book one fill; raises ``NegativeBalance`` if a balance would go below zero."""
        price, amount, fee = fill.price, fill.amount, fill.fee
        if not (amount > 0 and price > 0 and math.isfinite(price) and math.isfinite(fee)):
            raise NegativeBalance(
                f"fill of order {fill.order_id} ({fill.symbol}): amount {amount}, price "
                f"{price}, fee {fee} are not a valid execution; the broker must not emit it"
            )
        symbol = fill.symbol
        pos = self._positions.get(symbol)
        if pos is None:
            perp = self._perps.get(symbol)
            if perp is not None:  # a perpetual: margined, not paid (accounting.perps)
                self._apply_perp_fill(perp, amount if fill.side is _BUY else -amount, price, fee)
                return
            pos = self._position_for(symbol)
        currency = fill.fee_currency
        if currency and currency != self.quote:
            self._apply_other_fee(fill, pos, currency)
            return
        notional = price * amount
        if fill.side is _BUY:
            cash = self.cash - (notional + fee)  # the broker's cost expression, bit for bit
            if cash < 0.0 and -cash > REL_TOLERANCE * (notional + abs(fee)):
                raise NegativeBalance(
                    f"buy fill of order {fill.order_id} ({fill.symbol} {amount} @ {price}, "
                    f"fee {fee}) costs {notional + fee:.8f} {self.quote} but cash is "
                    f"{self.cash:.8f}; the broker must size or refuse it"
                )
            new_amount = pos.amount + amount
            pos.avg_entry = (pos.avg_entry * pos.amount + notional) / new_amount
            pos.amount = new_amount
            if pos.dust:
                pos.dust = pos.hidden = False
            # Within the tolerance a venue's balance is exactly zero, never -1e-13.
            self.cash = cash if cash > 0.0 else 0.0
        else:
            if amount > pos.amount and amount - pos.amount > REL_TOLERANCE * amount:
                raise NegativeBalance(
                    f"sell fill of order {fill.order_id} sells {amount} {fill.symbol} but "
                    f"the position is {pos.amount}; spot cannot go short, the broker must "
                    f"refuse it (use reduce_only or size from ctx.position())"
                )
            realized = (price - pos.avg_entry) * amount
            pos.realized_pnl += realized
            self.realized_pnl += realized
            # Below zero only within the tolerance checked above: float noise of a full sell.
            left = max(pos.amount - amount, 0.0)
            pos.amount = left
            if left == 0.0:
                pos.avg_entry = 0.0
            elif self._specs:
                self._check_dust(fill, pos, left)
            self.cash = self.cash + (notional - fee)
        pos.fees += fee
        self.fees_paid += fee
        marks = self._marks
        if symbol not in marks:
            marks[symbol] = price
        if pos.listed != (0 if pos.amount == 0.0 else (2 if pos.hidden else 1)):
            self._relist(pos)

    def _apply_other_fee(self, fill: Fill, pos: Position, currency: str) -> None:
        """A fill whose fee is charged in the base currency or in a third asset."""
        price, amount, fee, cost = fill.price, fill.amount, fill.fee, fill.fee_cost
        symbol = fill.symbol
        notional = price * amount
        in_base = currency == symbol.partition("/")[0]
        base_fee = cost if in_base else 0.0
        if fill.side is _BUY:
            net = amount - base_fee
            if not net > 0.0:
                raise NegativeBalance(
                    f"buy fill of order {fill.order_id} ({symbol} {amount}) charges a fee of "
                    f"{cost} {currency}, all of what it bought; the fill report is wrong")
            cash = self.cash - notional
            if cash < 0.0 and -cash > REL_TOLERANCE * notional:
                raise NegativeBalance(
                    f"buy fill of order {fill.order_id} ({symbol} {amount} @ {price}) costs "
                    f"{notional:.8f} {self.quote} but cash is {self.cash:.8f}; the broker must "
                    "size or refuse it")
            new_amount = pos.amount + net
            # What the holding cost, its fee counted once (in fees_paid, not in the basis).
            paid = notional - fee if in_base else notional
            pos.avg_entry = (pos.avg_entry * pos.amount + paid) / new_amount
            pos.amount = new_amount
            if pos.dust:
                pos.dust = pos.hidden = pos.fee_only
            self.cash = cash if cash > 0.0 else 0.0  # zero, not float noise below it
        else:
            sold = amount + base_fee
            if sold > pos.amount and sold - pos.amount > REL_TOLERANCE * sold:
                raise NegativeBalance(
                    f"sell fill of order {fill.order_id} takes {sold} {symbol} (amount "
                    f"{amount} + fee {base_fee}) but the position is {pos.amount}; the "
                    "broker must size the sell so the fee fits in the holding")
            # Gross of fees: a base fee counts as base sold at the price, its value a fee.
            realized = notional + (fee if in_base else 0.0) - pos.avg_entry * sold
            pos.realized_pnl += realized
            self.realized_pnl += realized
            left = max(pos.amount - sold, 0.0)
            pos.amount = left
            if left == 0.0:
                pos.avg_entry = 0.0
            elif self._specs:
                self._check_dust(fill, pos, left)
            self.cash = self.cash + notional
        if not in_base:
            self._debit_fee_asset(fill, currency)
        pos.fees += fee
        self.fees_paid += fee
        marks = self._marks
        if symbol not in marks:
            marks[symbol] = price
        self._relist(pos)

    def _debit_fee_asset(self, fill: Fill, asset: str) -> None:
        """Pay ``fill.fee_cost`` of ``asset`` (valued ``fill.fee``) from its holding."""
        symbol = self._by_base.get(asset)
        holder = self._positions.get(symbol) if symbol is not None else None
        cost, value = fill.fee_cost, fill.fee
        have = holder.amount if holder is not None else 0.0
        if holder is None or (cost > have and cost - have > REL_TOLERANCE * max(cost, 1e-300)):
            raise NegativeBalance(
                f"fill of order {fill.order_id} ({fill.symbol}) pays a fee of {cost} {asset} "
                f"but {have} {asset} is held; the broker must charge the fee elsewhere")
        # The fee asset leaves at its value: realized = value - basis of what left.
        realized = value - holder.avg_entry * cost
        holder.realized_pnl += realized
        self.realized_pnl += realized
        left = max(holder.amount - cost, 0.0)
        holder.amount = left
        if cost > 0.0 and value > 0.0 and holder.fee_only:
            self._marks[holder.symbol] = value / cost  # the venue's rate: its latest mark
        if left == 0.0:
            holder.avg_entry = 0.0
        self._relist(holder)

    def _check_dust(self, fill: Fill, pos: Position, left: float) -> None:
        """A dust candidate when no order could sell what a sell left (see the module
        docstring); a holding already marked as dust is not reported again."""
        spec = self._specs.get(fill.symbol)
        if spec is not None and not pos.dust and spec.is_dust(left, fill.price):
            self.dust_reports.append((fill, left))

    def set_dust(self, symbol: str) -> float:
        """Mark ``symbol``'s holding as dust (hidden from the strategy); its amount."""
        pos = self._positions.get(symbol)
        if pos is None or pos.amount <= 0.0:
            return 0.0
        pos.dust = pos.hidden = True
        self._relist(pos)
        return pos.amount

    def update_markets(self, specs: Mapping[str, MarketSpec]) -> None:
        """New market rules for dust detection of later sells (a live refresh)."""
        self._specs.update(specs)

    def mark_dust(self, symbol: str, price: float) -> float:
        """Classify an opening holding of ``symbol`` (live start, replay) at ``price``:
        dust is hidden from the strategy. Returns the dust amount (0.0 when none)."""
        pos = self._positions.get(symbol)
        spec = self._specs.get(symbol)
        if pos is None or spec is None or not spec.is_dust(pos.amount, price):
            return 0.0
        return self.set_dust(symbol)
