"""Round-trip trades built from fills.

A *trade* is one round trip of a position in one symbol: it opens when the
position goes from flat to non-zero, may scale in and out over many fills, and
closes when the position returns to flat. Conventions, decided here once:

- **Direction.** A trade is ``long`` when it opened with a buy, ``short`` with a
  sell. A fill that takes the position through zero (a *flip*) closes the trade
  and opens a new one in the other direction with the remainder; the fill's fee
  is split between the two pro rata by amount.
- **Prices.** ``entry_price`` is the amount-weighted average price of every fill
  that added to the position; ``exit_price`` that of every fill that reduced it
  (plus, for an open trade, the remainder valued at the final mark).
- **Amount.** ``amount`` is the total entry amount (everything bought for a long,
  sold for a short), which equals the total exit amount of a closed trade;
  ``max_position`` is the largest absolute position held during the trade.
- **Fees and PnL.** ``gross_pnl = sign * (exit_notional - entry_notional)``, exact
  whatever the order of scale-ins and scale-outs. ``fees`` is every fee paid by
  the trade's fills (entry and exit), and ``pnl = gross_pnl - fees``. Because a
  trade runs from flat to flat, partial exits do not end it, so all entry fees are
  charged to it in full; this is the same as allocating entry fees to each
  partial exit pro rata by amount and summing. The only split is the flip above.
- **Return.** ``return_pct = pnl / (entry_notional + entry_fees)``: profit over
  what the trade cost to put on, entry fee included (a fraction, 0.05 = 5 %).
- **Open trades.** A position still held at the end is listed as a trade with
  ``is_open=True``, exit at the final mark and the run's last timestamp, no exit
  fee assumed, and ``exit_tag='open'``. Trade statistics (win rate, profit
  factor...) count closed trades only; open trades are reported separately.
- **Zero.** Positions are floats, so "back to flat" allows a relative tolerance
  of ``POSITION_RTOL`` times the larger of the position and the fill amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import DataError
from .orders import Fill

POSITION_RTOL = 1e-9
"""Relative tolerance under which a residual position counts as flat."""

OPEN_EXIT_TAG = "open"


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip; see the module docstring for every convention."""

    trade_id: int
    symbol: str
    side: str  # "long" | "short"
    is_open: bool
    entry_ts: int
    exit_ts: int
    duration_ms: int
    bars_held: int
    entry_price: float
    exit_price: float
    amount: float
    max_position: float
    open_amount: float  # still held at the end (0.0 for a closed trade)
    entry_notional: float
    exit_notional: float
    gross_pnl: float
    entry_fees: float
    exit_fees: float
    fees: float
    pnl: float
    return_pct: float
    n_fills: int
    entry_tag: str
    exit_tag: str


TRADE_COLUMNS: tuple[str, ...] = Trade.__slots__  # type: ignore[assignment]


@dataclass(slots=True)
class _Open:
    """Accumulator for the trade currently open in one symbol."""

    trade_id: int
    symbol: str
    sign: int
    entry_ts: int
    entry_tag: str
    position: float = 0.0  # absolute
    max_position: float = 0.0
    entry_qty: float = 0.0
    entry_notional: float = 0.0
    entry_fees: float = 0.0
    exit_qty: float = 0.0
    exit_notional: float = 0.0
    exit_fees: float = 0.0
    n_fills: int = 0
    exit_tag: str = ""

    def add(self, qty: float, price: float, fee: float) -> None:
        self.position += qty
        self.max_position = max(self.max_position, self.position)
        self.entry_qty += qty
        self.entry_notional += qty * price
        self.entry_fees += fee

    def reduce(self, qty: float, price: float, fee: float, tag: str) -> None:
        self.position -= qty
        self.exit_qty += qty
        self.exit_notional += qty * price
        self.exit_fees += fee
        self.exit_tag = tag

    def finish(self, exit_ts: int, timeframe_ms: int, is_open: bool) -> Trade:
        gross = self.sign * (self.exit_notional - self.entry_notional)
        fees = self.entry_fees + self.exit_fees
        pnl = gross - fees
        cost = self.entry_notional + self.entry_fees
        duration = exit_ts - self.entry_ts
        return Trade(
            trade_id=self.trade_id,
            symbol=self.symbol,
            side="long" if self.sign > 0 else "short",
            is_open=is_open,
            entry_ts=self.entry_ts,
            exit_ts=exit_ts,
            duration_ms=duration,
            bars_held=duration // timeframe_ms,
            entry_price=self.entry_notional / self.entry_qty,
            exit_price=self.exit_notional / self.exit_qty if self.exit_qty > 0 else float("nan"),
            amount=self.entry_qty,
            max_position=self.max_position,
            open_amount=self.position if is_open else 0.0,
            entry_notional=self.entry_notional,
            exit_notional=self.exit_notional,
            gross_pnl=gross,
            entry_fees=self.entry_fees,
            exit_fees=self.exit_fees,
            fees=fees,
            pnl=pnl,
            return_pct=pnl / cost if cost > 0 else float("nan"),
            n_fills=self.n_fills,
            entry_tag=self.entry_tag,
            exit_tag=self.exit_tag,
        )


def build_trades(
    fills: Iterable[Fill],
    *,
    timeframe_ms: int,
    final_ts: int | None = None,
    final_marks: Mapping[str, float] | None = None,
) -> list[Trade]:
    """Group ``fills`` into round-trip trades, ordered by when they opened.

    ``fills`` must be in execution order (non-decreasing ``ts`` per symbol).
    Trades still open at the end are closed at ``final_marks[symbol]`` and
    ``final_ts`` (default: the last fill's ts) with ``is_open=True``.

    >>> from tradeloom.engine.orders import Fill, Side, Liquidity
    >>> f = [Fill(1, "BTC/USDT", Side.BUY, 0, 100.0, 2.0, 0.2, Liquidity.TAKER, tag="entry"),
    ...      Fill(2, "BTC/USDT", Side.SELL, 3_600_000, 110.0, 2.0, 0.22, Liquidity.TAKER,
    ...           tag="take_profit")]
    >>> t = build_trades(f, timeframe_ms=3_600_000)[0]
    >>> (t.side, t.gross_pnl, round(t.pnl, 2), t.bars_held, t.exit_tag)
    ('long', 20.0, 19.58, 1, 'take_profit')
    """
    if timeframe_ms <= 0:
        raise DataError(f"timeframe_ms must be positive, got {timeframe_ms}")
    open_by_symbol: dict[str, _Open] = {}
    last_ts: dict[str, int] = {}
    done: list[Trade] = []
    next_id = 1
    run_last_ts: int | None = None

    for i, fill in enumerate(fills):
        if not fill.amount > 0 or not fill.price > 0:
            raise DataError(
                f"fill #{i} (order {fill.order_id}, {fill.symbol}): amount {fill.amount} and "
                f"price {fill.price} must both be positive"
            )
        prev = last_ts.get(fill.symbol)
        if prev is not None and fill.ts < prev:
            raise DataError(
                f"fill #{i} (order {fill.order_id}, {fill.symbol}): ts {fill.ts} is before the "
                f"previous fill's ts {prev}; pass fills in execution order"
            )
        last_ts[fill.symbol] = fill.ts
        run_last_ts = fill.ts if run_last_ts is None else max(run_last_ts, fill.ts)

        sign = fill.side.sign
        qty = fill.amount
        cur = open_by_symbol.get(fill.symbol)
        if cur is not None and cur.sign != sign:
            close_qty = min(qty, cur.position)
            rest = qty - close_qty
            tol = POSITION_RTOL * max(qty, cur.position)
            if rest <= tol:
                close_qty, rest = qty, 0.0
            close_fee = fill.fee * (close_qty / qty)
            cur.n_fills += 1
            cur.reduce(close_qty, fill.price, close_fee, fill.tag)
            if abs(cur.position) <= tol:
                done.append(cur.finish(fill.ts, timeframe_ms, is_open=False))
                del open_by_symbol[fill.symbol]
            if rest <= 0:
                continue
            qty = rest
            fee = fill.fee - close_fee
        else:
            fee = fill.fee
        cur = open_by_symbol.get(fill.symbol)
        if cur is None:
            cur = _Open(next_id, fill.symbol, sign, fill.ts, fill.tag)
            next_id += 1
            open_by_symbol[fill.symbol] = cur
        cur.n_fills += 1
        cur.add(qty, fill.price, fee)

    end_ts = final_ts if final_ts is not None else run_last_ts
    marks = final_marks or {}
    for symbol, cur in open_by_symbol.items():
        mark = marks.get(symbol)
        if mark is None or not mark > 0:
            raise DataError(
                f"{symbol}: position {cur.sign * cur.position} is still open at the end but "
                f"final_marks has no positive price for it (got {mark!r}); pass the last close "
                "of every symbol with an open position"
            )
        if end_ts is None or end_ts < cur.entry_ts:
            raise DataError(
                f"{symbol}: final_ts {end_ts} is before the open trade's entry_ts {cur.entry_ts}"
            )
        remainder = cur.position
        cur.exit_qty += remainder
        cur.exit_notional += remainder * mark
        cur.exit_tag = OPEN_EXIT_TAG
        trade = cur.finish(end_ts, timeframe_ms, is_open=True)
        done.append(trade)
    done.sort(key=lambda t: t.trade_id)
    return done


def open_positions(trades: Sequence[Trade]) -> dict[str, float]:
    """Signed position per symbol still held at the end, from the open trades.

    >>> open_positions([])
    {}
    """
    out: dict[str, float] = {}
    for t in trades:
        if t.is_open:
            out[t.symbol] = t.open_amount if t.side == "long" else -t.open_amount
    return out
