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
- **Fees in the base currency.** A fill whose fee is charged in the base currency
  (``Fill.fee_currency``, e.g. Binance's fee in the coin bought) moves the position by
  ``Fill.base_change()``: a buy of 0.01 BTC with a 0.00001 BTC fee opens 0.00999 BTC,
  and entry amount and notional count those 0.00999 (the fee's value is in ``fees``,
  counted once). A sell paying a base fee takes ``amount + fee`` from the position.
- **Dust.** A fill after which the engine reported dust (``dust``: fill index ->
  amount, from the run's ``dust`` events) closes its trade although the unsellable
  remainder is still held; the remainder is carried into the symbol's next trade,
  whose exit then sells it (its exit amount exceeds its entry amount by the dust).
- **Fees paid with a coin the run trades.** When another symbol's fill pays its fee
  with the coin of an open long (Binance's "pay fees with BNB" in a run that trades
  BNB/USDT), that coin leaves the long at the fee's quote value, as an exit with no fee
  of its own (the paying trade counts that value in its ``fees``): the trade's open
  amount stays the portfolio's holding. Fees that take the whole holding end the trade
  with ``exit_tag='fee'``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

from tradeloom.engine.errors import DataError
from tradeloom.engine.orders import Fill, Side

POSITION_RTOL = 1e-9
"""Relative tolerance under which a residual position counts as flat."""

OPEN_EXIT_TAG = "open"
FEE_EXIT_TAG = "fee"


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


def build_trades(
    fills: Iterable[Fill],
    *,
    timeframe_ms: int,
    final_ts: int | None = None,
    final_marks: Mapping[str, float] | None = None,
    dust: Mapping[int, float] | None = None,
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
    fills = fills if isinstance(fills, Sequence) else list(fills)
    cols = {name: list(map(attrgetter(name), fills)) for name in _FILL_FIELDS}
    rows = trade_rows(cols, timeframe_ms=timeframe_ms, final_ts=final_ts, final_marks=final_marks,
                      dust=dust)
    return [Trade(*row) for row in rows]


_FILL_FIELDS = ("order_id", "symbol", "side", "ts", "price", "amount", "fee", "tag",
                "fee_currency", "fee_cost")


def trade_rows(
    fill_columns: Mapping[str, Sequence[Any]],
    *,
    timeframe_ms: int,
    final_ts: int | None = None,
    final_marks: Mapping[str, float] | None = None,
    dust: Mapping[int, float] | None = None,
) -> list[tuple[Any, ...]]:
    """:func:`build_trades` as one tuple per trade (fields in ``TRADE_COLUMNS`` order).

    ``fill_columns`` holds one list per fill attribute (``order_id``, ``symbol``,
    ``side``, ``ts``, ``price``, ``amount``, ``fee``, ``tag``, and optionally
    ``fee_currency``/``fee_cost``), ``side`` as :class:`.orders.Side` members. Same
    arithmetic, in the same order, as the per-trade conventions in the module
    docstring; no per-trade objects.
    """
    if timeframe_ms <= 0:
        raise DataError(f"timeframe_ms must be positive, got {timeframe_ms}")
    # Per open trade, a list indexed by the _T* constants below.
    open_by_symbol: dict[str, list[Any]] = {}
    last_ts: dict[str, int] = {}
    done: list[tuple[Any, ...]] = []
    append = done.append
    next_id = 1
    run_last_ts: int | None = None
    rtol = POSITION_RTOL
    buy = Side.BUY
    get_open = open_by_symbol.get
    get_last = last_ts.get
    n_fills = len(fill_columns["symbol"])
    currencies = fill_columns.get("fee_currency") or [""] * n_fills
    costs = fill_columns.get("fee_cost") or [0.0] * n_fills
    bases: dict[str, str] = {}
    dust = dust or {}
    carry: dict[str, float] = {}  # dust a closed trade left, sold by the next trade

    for i, (symbol, side, ts, price, qty, fill_fee, tag, fee_ccy, fee_cost) in enumerate(
        zip(
            fill_columns["symbol"],
            fill_columns["side"],
            fill_columns["ts"],
            fill_columns["price"],
            fill_columns["amount"],
            fill_columns["fee"],
            fill_columns["tag"],
            currencies,
            costs,
        )
    ):
        if not qty > 0 or not price > 0:
            raise DataError(
                f"fill #{i} (order {fill_columns['order_id'][i]}, {symbol}): amount {qty} and "
                f"price {price} must both be positive"
            )
        prev = get_last(symbol)
        if prev is not None and ts < prev:
            raise DataError(
                f"fill #{i} (order {fill_columns['order_id'][i]}, {symbol}): ts {ts} is before "
                f"the previous fill's ts {prev}; pass fills in execution order"
            )
        last_ts[symbol] = ts
        if run_last_ts is None or ts > run_last_ts:
            run_last_ts = ts

        sign = 1 if side is buy else -1
        if fee_ccy:
            base = bases.get(symbol)
            if base is None:
                base = bases[symbol] = symbol.partition("/")[0]
            if fee_ccy == base:  # the position moves by the amount net of the base fee
                qty = qty - fee_cost if sign > 0 else qty + fee_cost
            elif fee_cost:  # paid with a coin the run trades (BNB): it leaves that trade
                payer = f"{fee_ccy}/{symbol.partition('/')[2].partition(':')[0]}"
                held = get_open(payer)
                if held is not None and held[2] > 0:
                    _spend_fee_coin(held, fee_cost, fill_fee)
                    if held[5] <= rtol * fee_cost:  # the fees took the whole holding
                        held[5], held[14] = 0.0, FEE_EXIT_TAG
                        append(_finish(held, ts, timeframe_ms, False))
                        del open_by_symbol[payer]
        cur = get_open(symbol)
        if cur is not None and cur[2] != sign:
            position = cur[5]
            close_qty = min(qty, position)
            rest = qty - close_qty
            tol = rtol * (max(qty, position))
            if rest <= tol:
                close_qty, rest = qty, 0.0
            close_fee = fill_fee * (close_qty / qty)
            cur[13] += 1
            position -= close_qty
            cur[5] = position
            cur[10] += close_qty
            cur[11] += close_qty * price
            cur[12] += close_fee
            cur[14] = tag
            if abs(position) <= tol:
                append(_finish(cur, ts, timeframe_ms, False))
                del open_by_symbol[symbol]
            elif i in dust:  # what is left cannot be sold: the trade is over
                carry[symbol] = position
                cur[5] = 0.0
                append(_finish(cur, ts, timeframe_ms, False))
                del open_by_symbol[symbol]
            if rest <= 0:
                continue
            qty = rest
            fee = fill_fee - close_fee
            cur = get_open(symbol)  # None: a flip always finishes the trade it closes
        else:
            fee = fill_fee
        if cur is None:
            #      id       symbol  sign  entry_ts tag  pos  max  eqty enot efee xqty xnot xfee n  xtag
            cur = [next_id, symbol, sign, ts, tag, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, ""]
            next_id += 1
            open_by_symbol[symbol] = cur
            if carry and sign > 0 and symbol in carry:
                cur[5] = carry.pop(symbol)  # earlier dust joins this position
        cur[13] += 1
        position = cur[5] + qty
        cur[5] = position
        cur[6] = max(cur[6], position)
        cur[7] += qty
        cur[8] += qty * price
        cur[9] += fee

    end_ts = final_ts if final_ts is not None else run_last_ts
    marks = final_marks or {}
    for symbol, cur in open_by_symbol.items():
        mark = marks.get(symbol)
        if mark is None or not mark > 0:
            raise DataError(
                f"{symbol}: position {cur[2] * cur[5]} is still open at the end but "
                f"final_marks has no positive price for it (got {mark!r}); pass the last close "
                "of every symbol with an open position"
            )
        if end_ts is None or end_ts < cur[3]:
            raise DataError(
                f"{symbol}: final_ts {end_ts} is before the open trade's entry_ts {cur[3]}"
            )
        remainder = cur[5]
        cur[10] += remainder
        cur[11] += remainder * mark
        cur[14] = OPEN_EXIT_TAG
        append(_finish(cur, end_ts, timeframe_ms, True))
    done.sort(key=itemgetter(0))
    return done


def _spend_fee_coin(cur: list[Any], cost: float, value: float) -> None:
    """Another symbol's fill paid its fee with ``cost`` of this long trade's coin (Binance's
    "pay fees with BNB"): the coin leaves the position at the fee's quote value ``value``,
    as the portfolio books it (``Portfolio._debit_fee_asset``): an exit of ``cost`` worth
    ``value``, with no fee of its own (the paying fill's trade counts ``value`` as its fee)."""
    cur[5] -= cost
    cur[10] += cost
    cur[11] += value


def _finish(cur: list[Any], exit_ts: int, timeframe_ms: int, is_open: bool) -> tuple[Any, ...]:
    """The ``Trade`` fields of a finished accumulator (see ``trade_rows``), as a tuple."""
    (
        trade_id,
        symbol,
        sign,
        entry_ts,
        entry_tag,
        position,
        max_position,
        entry_qty,
        entry_notional,
        entry_fees,
        exit_qty,
        exit_notional,
        exit_fees,
        n_fills,
        exit_tag,
    ) = cur
    gross = sign * (exit_notional - entry_notional)
    fees = entry_fees + exit_fees
    pnl = gross - fees
    cost = entry_notional + entry_fees
    duration = exit_ts - entry_ts
    return (
        trade_id,
        symbol,
        "long" if sign > 0 else "short",
        is_open,
        entry_ts,
        exit_ts,
        duration,
        duration // timeframe_ms,
        entry_notional / entry_qty,
        exit_notional / exit_qty if exit_qty > 0 else float("nan"),
        entry_qty,
        max_position,
        position if is_open else 0.0,
        entry_notional,
        exit_notional,
        gross,
        entry_fees,
        exit_fees,
        fees,
        pnl,
        pnl / cost if cost > 0 else float("nan"),
        n_fills,
        entry_tag,
        exit_tag,
    )


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
