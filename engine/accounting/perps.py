"""Perpetual-swap positions in the one account: net positions, margin, funding, liquidation.

``PerpAccount`` is a part of ``Portfolio`` (a mixin, to keep each module small): spot
holdings and linear perpetuals share one cash balance in the quote currency, which is
also the settle currency of every perpetual (USDT).

**Positions** are one-way (Binance ``positionSide=BOTH``): one signed quantity per symbol
that goes long or short through zero. A fill in the direction of the position (or
from flat) adds to it at the amount-weighted entry price ``(|q| * EP + a * p) / |q +
a|``; a fill against it closes ``min(a, |q|)`` and realizes ``(p - EP) * closed *
sign(q)``; what is left of the fill opens a position the other way at ``p``. A fill
moves cash only by its realized PnL and its fee (``cash += realized - fee``): the
notional is never paid, only margined.

**Equity** is ``cash + spot holdings at their marks + sum of unrealized PnL``, with
``unrealized = q * (mark - EP)``. The equity curve's ``exposure`` counts a perpetual
at its gross notional ``|q| * mark`` (the position is listed with ``amount = |q|``),
and one hidden entry, ``PERP_VALUE_KEY`` in the mark table, holds ``sum(q * (mark -
EP) - |q| * mark)`` so that ``cash + exposure + hidden`` is the equity. So the
identity of spot, ``realized + unrealized - fees_paid == equity - initial_cash``,
becomes ``realized + unrealized - fees_paid + funding_net == equity - initial_cash``.

**Margin** (``engine.accounting.margin``): each position uses ``initial margin = |q| *
EP / leverage`` (per symbol leverage, default 1; ``set_leverage``); the **available
balance** the broker checks orders against is ``cash - sum(initial margins) + sum(min(0,
unrealized) of cross positions)``: losses on cross positions eat into it, gains do not
add to it. Isolated positions keep their initial margin as their isolated wallet;
cross positions share ``cash - isolated margins``. Spot buys pay from the same
available balance, and spot holdings are not collateral (as on a Binance account whose
USDⓈ-M wallet is separate from its spot wallet).

**Funding** (``apply_funding``): at a funding time the position open at that instant
pays ``q * mark * rate`` (a positive rate: longs pay, shorts receive); flat symbols pay
nothing, and changes made between two funding times change nothing retroactively:
only the quantity held at the funding instant counts. Each payment is a
``FundingPayment`` row (``funding`` ledger), its own cash flow: never a fee, never
part of a fill.

**Liquidation** (``liquidation_price``, ``liquidation_fill``): Binance's formula with
the wallet of the position's margin mode; the engine closes the position at that price
with a clearance fee of ``liquidation_fee * |q| * LP``, capped at what is left of the
margin (isolated) or the cross wallet (the venue's insurance fund takes a bankrupt
position's remainder), see ``engine.run.perp_step`` for when it is judged.

>>> from tradeloom.engine.accounting.portfolio import Portfolio
>>> from tradeloom.engine.contracts import ContractSpec
>>> from tradeloom.engine.market import MarketSpec
>>> from tradeloom.engine.orders import Fill, Liquidity, Side
>>> perp = MarketSpec("BTC/USDT:USDT", taker_fee=0.0005, contract=ContractSpec())
>>> pf = Portfolio(1000.0, "USDT", markets={"BTC/USDT:USDT": perp})
>>> pf.apply_fill(Fill(1, "BTC/USDT:USDT", Side.SELL, 0, 100.0, 2.0, 0.1, Liquidity.TAKER))
>>> pf.perp_position("BTC/USDT:USDT"), pf.cash          # short 2 at 100, the fee paid
(-2.0, 999.9)
>>> pf.set_mark("BTC/USDT:USDT", 90.0)
>>> pf.unrealized_pnl(), round(pf.equity(), 9)            # 2 * (100 - 90)
(20.0, 1019.9)
>>> round(pf.apply_funding("BTC/USDT:USDT", 1, 0.0001, 90.0).amount, 12)  # shorts get 2*90*0.0001
0.018
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from tradeloom.engine.accounting.margin import liquidation_price, margin_ratio
from tradeloom.engine.contracts import ContractSpec, MarginMode
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec

if TYPE_CHECKING:
    from tradeloom.engine.accounting.portfolio import Position

#: Key of the mark table holding the perpetuals' hidden value (see the module docstring).
PERP_VALUE_KEY = "\x00perps"

#: A fill that leaves less than this fraction of its amount is a full close (float noise).
CLOSE_RTOL = 1e-12

_CROSS, _ISOLATED = MarginMode.CROSS, MarginMode.ISOLATED


class FundingPayment(NamedTuple):
    """One funding payment: ``amount`` is the cash flow (< 0 paid, > 0 received) of the
    position ``qty`` (signed, base units) marked at ``mark`` at funding time ``ts``."""

    ts: int
    symbol: str
    qty: float
    mark: float
    rate: float
    amount: float


class PerpPosition:
    """One symbol's net perpetual position and its settings.

    ``qty`` is signed (base units), ``amount`` its absolute value (what the equity
    curve's exposure reads, as for spot), ``avg_entry`` the entry price (0 when flat).
    ``hidden``/``dust``/``fee_only``/``listed`` follow the spot ``Position`` protocol
    of the portfolio's lists.
    """

    __slots__ = ("amount", "avg_entry", "contract", "dust", "fee_only", "fees", "funding",
                 "hidden", "leverage", "listed", "mode", "qty", "realized_pnl", "spec", "symbol")

    def __init__(self, spec: MarketSpec) -> None:
        if spec.contract is None:
            raise ConfigError(f"{spec.symbol} is not a perpetual (its MarketSpec has no contract)")
        self.spec = spec
        self.contract: ContractSpec = spec.contract
        self.symbol = spec.symbol
        self.qty = 0.0
        self.amount = 0.0
        self.avg_entry = 0.0
        self.leverage = 1.0
        self.mode = _CROSS
        self.realized_pnl = 0.0
        self.fees = 0.0
        self.funding = 0.0
        self.hidden = self.dust = self.fee_only = False
        self.listed = 0

    @property
    def margin(self) -> float:
        """Initial margin: ``|qty| * avg_entry / leverage``."""
        return self.amount * self.avg_entry / self.leverage

    def unrealized(self, mark: float) -> float:
        return self.qty * (mark - self.avg_entry)

    def book(self, signed: float, price: float) -> float:
        """Apply a fill of ``signed`` base units (+ buy, - sell) at ``price``; returns the
        realized PnL (``book_fill``)."""
        self.qty, self.avg_entry, realized = book_fill(self.qty, self.avg_entry, signed, price)
        self.amount = abs(self.qty)
        return realized


def book_fill(qty: float, entry: float, signed: float, price: float
              ) -> tuple[float, float, float]:
    """A fill of ``signed`` base units at ``price`` on a one-way position ``qty``
    entered at ``entry``: ``(new qty, new entry, realized PnL)`` (module docstring).

    >>> book_fill(2.0, 100.0, 1.0, 130.0)      # adds: entry (2 * 100 + 1 * 130) / 3
    (3.0, 110.0, 0.0)
    >>> book_fill(3.0, 110.0, -4.0, 120.0)     # closes 3 (+30) and opens 1 short at 120
    (-1.0, 120.0, 30.0)
    """
    if qty == 0.0 or (qty > 0.0) == (signed > 0.0):
        new = qty + signed
        return new, (abs(qty) * entry + abs(signed) * price) / abs(new), 0.0
    size, held = abs(signed), abs(qty)
    realized = (price - entry) * min(size, held) * (1.0 if qty > 0.0 else -1.0)
    left = size - held
    if abs(left) <= CLOSE_RTOL * size:
        return 0.0, 0.0, realized
    if left < 0.0:  # a partial close: the entry price stays
        return qty + signed, entry, realized
    return math.copysign(left, signed), price, realized  # through zero, the rest at price


class PerpTrial(NamedTuple):
    """``PerpAccount.perp_trial``'s answer: the symbol's quantity before and after the
    trial fill, the available balance and the equity after it."""

    before: float
    after: float
    available: float
    equity: float


class _Scratch:
    """A copy of a position's state for ``perp_trial`` (booked like the real one)."""

    __slots__ = ("entry", "leverage", "mode", "qty", "symbol")

    def __init__(self, pos: PerpPosition) -> None:
        self.symbol, self.qty, self.entry = pos.symbol, pos.qty, pos.avg_entry
        self.leverage, self.mode = pos.leverage, pos.mode

    def book(self, signed: float, price: float) -> float:
        self.qty, self.entry, realized = book_fill(self.qty, self.entry, signed, price)
        return realized


class PerpAccount:
    """The perpetual part of ``Portfolio`` (see the module docstring)."""

    __slots__ = ()
    # Portfolio's attributes used here.
    cash: float
    quote: str
    fees_paid: float
    realized_pnl: float
    funding_net: float
    funding: list[FundingPayment]
    _marks: dict[str, float]
    _held: list[Position]
    _hidden: list[Position]
    _perps: dict[str, PerpPosition]
    _perp_held: list[PerpPosition]
    _perp_value: Position

    def _init_perps(self, markets: Mapping[str, MarketSpec]) -> None:
        from tradeloom.engine.accounting.portfolio import Position

        self._perps = {s: PerpPosition(m) for s, m in sorted(markets.items()) if m.is_perp}
        for symbol in self._perps:
            if markets[symbol].quote != self.quote:
                raise ConfigError(
                    f"{symbol} settles in {markets[symbol].quote!r} but the portfolio's quote "
                    f"currency is {self.quote!r}; a run keeps one settle currency")
        self._perp_held = []
        self._perp_value = Position(PERP_VALUE_KEY, amount=1.0, hidden=True)
        self.funding_net = 0.0
        self.funding = []

    # -- queries -----------------------------------------------------------------

    @property
    def has_perps(self) -> bool:
        """True when the account's markets include a perpetual."""
        return bool(self._perps)

    def is_perp(self, symbol: str) -> bool:
        return symbol in self._perps

    def perp(self, symbol: str) -> PerpPosition:
        """The perpetual position record of ``symbol`` (``ConfigError`` when not one)."""
        try:
            return self._perps[symbol]
        except KeyError:
            raise ConfigError(f"{symbol} is not a perpetual of this run; perpetual symbols "
                              f"look like BTC/USDT:USDT and need contract terms") from None

    def perp_position(self, symbol: str) -> float:
        """Signed quantity of ``symbol``'s perpetual position (0.0 when flat)."""
        pos = self._perps.get(symbol)
        return pos.qty if pos is not None else 0.0

    def perp_positions(self) -> dict[str, float]:
        """Open perpetual positions by symbol (signed), in the order they were opened."""
        return {p.symbol: p.qty for p in self._perp_held}

    def signed_position(self, symbol: str) -> float:
        """``position(symbol)`` for spot, the signed quantity for a perpetual."""
        pos = self._perps.get(symbol)
        if pos is not None:
            return pos.qty
        return self.position(symbol)  # type: ignore[attr-defined]

    def perp_unrealized(self) -> float:
        marks = self._marks
        return sum(p.qty * (marks[p.symbol] - p.avg_entry) for p in self._perp_held)

    def used_margin(self) -> float:
        """Sum of the open positions' initial margins."""
        return sum(p.margin for p in self._perp_held)

    def maintenance_margin(self, symbol: str | None = None) -> float:
        """Maintenance margin of ``symbol``'s position (all positions' when ``None``)."""
        marks = self._marks
        held = [self._perps[symbol]] if symbol is not None else self._perp_held
        return sum(p.contract.maintenance_margin(p.amount * marks[p.symbol]) for p in held
                   if p.qty != 0.0)

    def available(self) -> float:
        """The balance orders are checked against (module docstring): cash less initial
        margins, less the unrealized losses of cross positions."""
        cash = self.cash
        if not self._perp_held:
            return cash
        marks = self._marks
        for p in self._perp_held:
            cash -= p.margin
            if p.mode is _CROSS:
                u = p.qty * (marks[p.symbol] - p.avg_entry)
                if u < 0.0:
                    cash += u
        return cash

    def _cross_context(self, symbol: str) -> tuple[float, float, float]:
        """``(cross wallet, other cross maintenance, other cross unrealized)`` for the
        cross liquidation price of ``symbol``."""
        marks = self._marks
        wallet = self.cash
        other_mm = other_upnl = 0.0
        for p in self._perp_held:
            if p.mode is _ISOLATED:
                wallet -= p.margin
            elif p.symbol != symbol:
                mark = marks[p.symbol]
                other_mm += p.contract.maintenance_margin(p.amount * mark)
                other_upnl += p.qty * (mark - p.avg_entry)
        return wallet, other_mm, other_upnl

    def liquidation_price(self, symbol: str) -> float:
        """The mark price at which ``symbol``'s position is liquidated (Binance's formula
        with the wallet of its margin mode; 0.0 long / inf short when none can)."""
        p = self.perp(symbol)
        side = 1.0 if p.qty > 0.0 else -1.0
        if p.qty == 0.0:
            return 0.0
        if p.mode is _ISOLATED:
            return liquidation_price(p.contract, side, p.amount, p.avg_entry, p.margin)
        wallet, other_mm, other_upnl = self._cross_context(symbol)
        return liquidation_price(p.contract, side, p.amount, p.avg_entry, wallet, other_mm,
                                 other_upnl)

    def margin_ratio(self, symbol: str | None = None) -> float:
        """Maintenance margin over margin balance: of one isolated position, or of the
        cross account (``symbol=None`` or a cross symbol). 1.0 means liquidation."""
        marks = self._marks
        if symbol is not None:
            p = self.perp(symbol)
            if p.mode is _ISOLATED:
                mark = marks.get(symbol, p.avg_entry)
                return margin_ratio(p.contract.maintenance_margin(p.amount * mark),
                                    p.margin + p.qty * (mark - p.avg_entry))
        wallet, _, _ = self._cross_context("")
        maint = upnl = 0.0
        for p in self._perp_held:
            if p.mode is _CROSS:
                mark = marks[p.symbol]
                maint += p.contract.maintenance_margin(p.amount * mark)
                upnl += p.qty * (mark - p.avg_entry)
        return margin_ratio(maint, wallet + upnl)

    # -- what-if, for the broker: balances after fills not booked yet ---------------

    def perp_trial(self, pending: list[tuple[str, float, float, float]], symbol: str,
                   signed: float, price: float, fee: float) -> PerpTrial:
        """The account after the ``pending`` fills ``(symbol, signed amount, price, fee)``
        of the broker's current call and then a fill of ``signed`` at ``price``, with
        ``symbol`` marked at ``price``: its quantity, available balance and equity. Used
        to size and check a perpetual fill before it is booked (nothing changes here)."""
        positions = {p.symbol: _Scratch(p) for p in self._perp_held}
        cash = self.cash
        for sym, amount, px, cost in pending:
            scratch = positions.get(sym)
            if scratch is None:
                scratch = positions[sym] = _Scratch(self._perps[sym])
            cash += scratch.book(amount, px) - cost
        scratch = positions.get(symbol)
        if scratch is None:
            scratch = positions[symbol] = _Scratch(self._perps[symbol])
        before = scratch.qty
        if signed:
            cash += scratch.book(signed, price) - fee
        marks = self._marks
        available = equity = cash
        for p in positions.values():
            if p.qty == 0.0:
                continue
            mark = price if p.symbol == symbol else marks[p.symbol]
            u = p.qty * (mark - p.entry)
            equity += u
            available -= abs(p.qty) * p.entry / p.leverage
            if p.mode is _CROSS and u < 0.0:
                available += u
        spot = self.position_value() - sum(p.amount * marks[p.symbol]  # type: ignore[attr-defined]
                                           for p in self._perp_held)
        return PerpTrial(before, scratch.qty, available, equity + spot + self._hidden_spot())

    def _hidden_spot(self) -> float:
        marks = self._marks
        return sum(h.amount * marks[h.symbol] for h in self._hidden
                   if h.symbol != PERP_VALUE_KEY)

    # -- settings -------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: float) -> None:
        """Per-symbol leverage (Binance ``POST /fapi/v1/leverage``): 1 to the bracket
        table's maximum, the open position must fit the leverage's notional cap, and the
        initial margin a lower leverage adds must be available, in cross and isolated mode
        alike (Binance -2028 "Leverage is smaller than permitted: insufficient margin
        balance")."""
        p = self.perp(symbol)
        if not (isinstance(leverage, (int, float)) and math.isfinite(leverage)
                and 1.0 <= leverage <= p.contract.max_leverage):
            raise ConfigError(
                f"leverage {leverage!r} for {symbol} is outside [1, {p.contract.max_leverage:g}] "
                "(the venue's leverage brackets)")
        cap = p.contract.max_notional(float(leverage))
        notional = p.amount * self._marks.get(symbol, p.avg_entry)
        if notional > cap:
            raise ConfigError(
                f"{symbol}: the open position's notional {notional:.2f} exceeds "
                f"{cap:.2f}, the largest allowed at {leverage:g}x; lower the leverage")
        if p.qty != 0.0:  # cross or isolated: the venue refuses it too (-2028)
            extra = p.amount * p.avg_entry * (1.0 / leverage - 1.0 / p.leverage)
            if extra > 0.0 and extra > self.available():
                raise ConfigError(
                    f"{symbol}: lowering the leverage to {leverage:g}x needs {extra:.2f} "
                    f"{self.quote} more {p.mode.value} margin than is available")
        p.leverage = float(leverage)

    def set_margin_mode(self, symbol: str, mode: MarginMode | str) -> None:
        """Isolated or cross margin for ``symbol``; refused while a position is open
        (Binance -4048: "Margin type cannot be changed if there exists position")."""
        p = self.perp(symbol)
        try:
            chosen = MarginMode(mode)
        except ValueError:
            raise ConfigError(f"margin mode {mode!r} is not one of isolated, cross") from None
        if chosen is not p.mode and p.qty != 0.0:
            raise ConfigError(
                f"{symbol}: the margin mode cannot change while a position is open "
                f"({p.qty:g}); close it first (the venue refuses too)")
        p.mode = chosen

    # -- updates --------------------------------------------------------------------

    def _apply_perp_fill(self, pos: PerpPosition, signed: float, price: float,
                         fee: float) -> float:
        """Book a perpetual fill (``apply_fill`` routes here); returns the realized PnL."""
        realized = pos.book(signed, price)
        pos.realized_pnl += realized
        self.realized_pnl += realized
        pos.fees += fee
        self.fees_paid += fee
        self.cash = self.cash + (realized - fee)
        marks = self._marks
        if pos.symbol not in marks:
            marks[pos.symbol] = price
        self._relist_perp(pos)
        return realized

    def _relist_perp(self, pos: PerpPosition) -> None:
        held = self._perp_held
        if pos.qty != 0.0 and pos not in held:
            held.append(pos)
        elif pos.qty == 0.0 and pos in held:
            held.remove(pos)
        self._relist(pos)  # type: ignore[attr-defined,arg-type]
        sentinel = self._perp_value
        if held and not sentinel.listed:
            self._relist(sentinel)  # type: ignore[attr-defined]
        elif not held and sentinel.listed:
            sentinel.amount = 0.0
            self._relist(sentinel)  # type: ignore[attr-defined]
            sentinel.amount = 1.0
        self.refresh_perp_value()

    def refresh_perp_value(self) -> None:
        """Recompute the hidden perpetual value (after a fill or a new mark)."""
        marks = self._marks
        value = 0.0
        for p in self._perp_held:
            mark = marks[p.symbol]
            value += p.qty * (mark - p.avg_entry) - p.amount * mark
        marks[PERP_VALUE_KEY] = value

    def apply_funding(self, symbol: str, ts: int, rate: float, mark: float,
                      amount: float | None = None) -> FundingPayment | None:
        """Pay or receive funding on the position open now (module docstring); ``None``
        when flat (nothing is paid). ``amount``: the cash flow a venue booked (a live
        account), instead of ``-(qty * mark * rate)``."""
        pos = self.perp(symbol)
        if pos.qty == 0.0:
            return None
        if amount is None:
            if not (math.isfinite(rate) and math.isfinite(mark) and mark > 0.0):
                raise ConfigError(f"funding of {symbol} at {ts}: rate {rate} and mark {mark} "
                                  "must be finite and the mark > 0")
            amount = -(pos.qty * mark * rate)
        elif not math.isfinite(amount):
            raise ConfigError(f"funding of {symbol} at {ts}: the booked amount {amount} must be "
                              "finite")
        self.cash = self.cash + amount
        pos.funding += amount
        self.funding_net += amount
        payment = FundingPayment(int(ts), symbol, pos.qty, float(mark), float(rate), amount)
        self.funding.append(payment)
        return payment

    def liquidation_fee(self, symbol: str, price: float) -> float:
        """The clearance fee of liquidating ``symbol``'s whole position at ``price``:
        ``liquidation_fee * |q| * price``, capped at what the liquidation leaves of the
        margin behind it (isolated margin or cross wallet), never below 0."""
        p = self.perp(symbol)
        full = p.contract.liquidation_fee * p.amount * price
        realized = p.qty * (price - p.avg_entry)
        if p.mode is _ISOLATED:
            room = p.margin + realized
        else:
            wallet, _, _ = self._cross_context(symbol)
            room = wallet + realized
        return min(full, max(room, 0.0))


__all__ = ["PERP_VALUE_KEY", "FundingPayment", "PerpAccount", "PerpPosition", "PerpTrial"]
